"""Occlusion saliency on real Keras models: range and shape, where the heat goes for a model
that can only see one region, a trained model against a blank image, every backbone, and the
JAX backend giving the same maps as TensorFlow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from keras_backends import backend_variables

from ferflow.models.inference import predict_scores
from ferflow.models.saliency import occlusion_saliency, overlay, patch_starts
from ferflow.models.zoo import available_models, create_model

REPO = Path(__file__).resolve().parents[2]


def quadrant_model(seed: int = 0) -> keras.Model:
    """Scores that depend on the top-right quadrant (rows 0-23, columns 24-47) only: a fixed
    random linear map of its pixels. Top-right, not top-left: a map transposed or mirrored
    by mistake would move its heat to another quadrant."""
    inputs = keras.Input((48, 48, 1))
    corner = keras.layers.Cropping2D(((0, 24), (24, 0)))(inputs)
    scores = keras.layers.Dense(7)(keras.layers.Flatten()(corner))
    model = keras.Model(inputs, scores)
    rng = np.random.default_rng(seed)
    dense = model.layers[-1]
    dense.kernel.assign(rng.normal(0, 0.01, dense.kernel.shape).astype("float32"))
    dense.bias.assign(np.zeros(7, "float32"))
    return model


def faces(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 48, 48)).astype(np.float32)


def scores_of(model: keras.Model):
    return lambda x: predict_scores(model, x)


def test_patches_cover_every_pixel_and_end_at_the_edge() -> None:
    assert patch_starts() == list(range(0, 41, 4))  # 11 x 11 = 121 positions
    assert patch_starts(48, 12, 8) == [0, 8, 16, 24, 32, 36]
    with pytest.raises(ValueError, match="patch"):
        patch_starts(48, 0, 4)


def test_the_heat_of_a_model_that_sees_one_quadrant_lies_in_it() -> None:
    heat = occlusion_saliency(scores_of(quadrant_model()), faces(4))

    assert heat.shape == (4, 48, 48) and heat.dtype == np.float32
    assert heat.min() >= 0 and np.allclose(heat.max(axis=(1, 2)), 1)
    # Squares reaching into the quadrant start at row <= 20 and column >= 20.
    assert np.all(heat[:, 28:, :] == 0) and np.all(heat[:, :, :20] == 0)
    inside = heat[:, :24, 24:].sum(axis=(1, 2)) / heat.sum(axis=(1, 2))
    assert np.all(inside > 0.8), inside  # the rest: squares across its edges; evenly: 0.25
    # Explaining another class than the predicted one gives another map.
    other = occlusion_saliency(scores_of(quadrant_model()), faces(4), np.full(4, 6))
    assert not np.allclose(other, heat)


def test_a_blank_image_has_no_heat_and_a_face_has_some(trained_model) -> None:
    model, x, y = trained_model
    blank = np.full((1, 48, 48), 128.0, np.float32)
    heat = occlusion_saliency(scores_of(model), np.concatenate([blank, x[:7]]))

    assert np.all(heat[0] == 0)  # a grey square on grey changes nothing
    assert np.all(heat[1:].max(axis=(1, 2)) == pytest.approx(1))
    # The model the few steps trained must rest its correct decisions on the class's bright
    # band more than on the rest of the face.
    predicted = predict_scores(model, x[:7]).argmax(axis=1)
    assert (predicted == y[:7]).sum() >= 5
    for face_heat, label, guess in zip(heat[1:], y[:7], predicted, strict=True):
        if guess == label:
            band = face_heat[label * 6 : label * 6 + 8].mean()
            assert band > 2 * face_heat.mean(), (label, band, face_heat.mean())


def banded_faces(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noise faces whose class k is told by a bright band of rows 6k .. 6k+7 (as the
    training tests' arrays), labels cycling through the 7 classes."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 7
    x = rng.integers(0, 120, (n, 48, 48)).astype(np.float32)
    for row, label in enumerate(labels):
        x[row, label * 6 : label * 6 + 8] = 230
    return x, labels


@pytest.fixture(scope="module")
def trained_model():
    x, y = banded_faces(140, seed=0)
    model = create_model("shallow_cnn", width=0.25, dropout=0.0, seed=0).model
    model.compile(keras.optimizers.Adam(0.003),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x[..., None], y, batch_size=16, epochs=6, verbose=0)
    return (model, *banded_faces(14, seed=1))


@pytest.mark.parametrize("backbone", available_models())
def test_every_backbone_is_explained(backbone: str) -> None:
    model = create_model(backbone, width=0.0625, dropout=0.0, seed=0).model
    heat = occlusion_saliency(scores_of(model), faces(2), patch=12, stride=12)

    assert heat.shape == (2, 48, 48) and np.isfinite(heat).all()
    assert heat.min() >= 0 and heat.max() == pytest.approx(1)


def test_overlay_keeps_the_face_where_there_is_no_heat() -> None:
    face = np.arange(48 * 48, dtype=np.float64).reshape(48, 48) % 256
    heat = np.zeros((48, 48), np.float32)
    heat[:8, :8] = 1
    drawn = overlay(face, heat)

    assert drawn.shape == (48, 48, 3) and drawn.dtype == np.uint8
    np.testing.assert_array_equal(drawn[20:, 20:], np.repeat(face[20:, 20:, None], 3, axis=2))
    assert not np.array_equal(drawn[:4, :4, 0], drawn[:4, :4, 2])  # coloured where hot
    assert overlay(np.zeros((96, 120)), heat).shape == (96, 120, 3)  # heat resized to the box


_CHILD = """
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from test_saliency import faces, quadrant_model, scores_of
from ferflow.backend import backend_name
from ferflow.models.saliency import occlusion_saliency
print(json.dumps({"backend": backend_name(),
                  "heat": occlusion_saliency(scores_of(quadrant_model()), faces(2)).tolist()}))
"""


@pytest.mark.slow
def test_the_jax_backend_draws_the_same_maps() -> None:
    env = {**os.environ, **backend_variables("jax")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "tests"), env["PYTHONPATH"]])
    child = subprocess.run([sys.executable, "-c", _CHILD, str(Path(__file__).parent)], env=env,
                           capture_output=True, text=True, timeout=300, cwd=REPO)
    assert child.returncode == 0, child.stderr[-3000:]
    answer = json.loads(child.stdout.strip().splitlines()[-1])

    assert answer["backend"] == "jax"
    expected = occlusion_saliency(scores_of(quadrant_model()), faces(2))
    np.testing.assert_allclose(np.array(answer["heat"]), expected, atol=1e-4)
