"""Every backbone with every head: builds for 48x48 grey input, trains a step, saves and loads."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from keras_backends import backend_variables

from ferflow.errors import FerflowError
from ferflow.models import HEADS, SquaredHinge, loss_for_head
from ferflow.models.common import PerImageStandardization
from ferflow.models.zoo import available_models, count_params, create_model

TINY = 0.125  # narrow enough that all 14 builds + steps stay quick on a shared CPU


def _batch(n: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, 48, 48, 1)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 7, size=n), 7)
    return x, y


def _scores(model: keras.Model, x: np.ndarray) -> np.ndarray:
    return keras.ops.convert_to_numpy(model(x, training=False))


def test_registry_lists_the_seven_backbones() -> None:
    assert available_models() == [
        "shallow_cnn",
        "alexnet",
        "vgg16",
        "vgg19",
        "resnet18",
        "resnet50",
        "cpu_net",
    ]


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("name", available_models())
def test_backbone_trains_a_step_and_round_trips(name: str, head: str, tmp_path: Path) -> None:
    built = create_model(name, head=head, width=TINY, seed=0)
    model = built.model
    assert built.head == head and built.pretrained_base is None and built.phase2_trainable == ()
    assert model.input_shape == (None, 48, 48, 1)
    assert model.output_shape == (None, 7)
    # Callers feed raw 0..255 pixels: the model standardises each face itself, first thing.
    assert isinstance(model.layers[1], PerImageStandardization)

    # Eager: one step checks shapes, gradients and the loss without paying for graph tracing
    # 14 times; the compiled path is exercised by the next test and the pretrained ones.
    model.compile(optimizer="adam", loss=loss_for_head(head), run_eagerly=True)
    x, y = _batch()
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss)
    scores = _scores(model, x)
    assert scores.shape == (4, 7) and np.isfinite(scores).all()

    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(_scores(loaded, x), scores, rtol=1e-5, atol=1e-5)
    assert isinstance(loaded.loss, SquaredHinge) == (head == "l2svm")


@pytest.mark.parametrize("head", HEADS)
def test_compiled_training_lowers_the_loss(head: str) -> None:
    """The graph-compiled path `fit` uses, with each head's loss, learns a fixed batch."""
    model = create_model("cpu_net", head=head, width=TINY, dropout=0.0, seed=0).model
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=loss_for_head(head))
    x, y = _batch(8)
    losses = [float(model.train_on_batch(x, y)) for _ in range(15)]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]


def test_l2svm_head_penalises_its_weights_and_softmax_does_not() -> None:
    svm = create_model("cpu_net", head="l2svm", width=TINY).model
    soft = create_model("cpu_net", head="softmax", width=TINY).model
    assert svm.get_layer("scores").kernel_regularizer is not None
    assert len(svm.losses) == 1 and float(svm.losses[0]) > 0
    assert soft.get_layer("scores").kernel_regularizer is None and soft.losses == []


def test_width_scales_channels_and_dense_layers_with_a_floor_of_8() -> None:
    full = create_model("shallow_cnn").model
    half = create_model("shallow_cnn", width=0.5).model
    tiny = create_model("shallow_cnn", width=0.01).model
    assert full.get_layer("block3_conv2").filters == 128
    assert half.get_layer("block3_conv2").filters == 64
    assert half.get_layer("fc1").units == 128
    assert tiny.get_layer("block1_conv1").filters == 8 and tiny.get_layer("fc1").units == 8
    assert count_params(half) < count_params(full)


@pytest.mark.parametrize("width", [0.01, 0.0625, 0.125, 0.25, 1.0])
@pytest.mark.parametrize("name", available_models())
def test_no_backbone_has_a_strided_1x1_convolution(name: str, width: float) -> None:
    # At 8 input channels and 48x48, its weight gradient crashed oneDNN's AVX-512 kernels
    # (TensorFlow 2.21). Shortcuts pool first, then convolve with stride 1 (ResNet-D).
    convs = [layer for layer in create_model(name, width=width).model.layers
             if isinstance(layer, keras.layers.Conv2D)]
    assert convs
    strided_1x1 = [c.name for c in convs if c.kernel_size == (1, 1) and c.strides != (1, 1)]
    assert strided_1x1 == []


def test_projection_shortcut_pools_then_convolves_with_stride_1() -> None:
    model = create_model("resnet18", width=0.125).model
    pool, conv = model.get_layer("stage2_block1_proj_pool"), model.get_layer(
        "stage2_block1_proj_conv")
    assert isinstance(pool, keras.layers.AveragePooling2D) and pool.strides == (2, 2)
    assert conv.strides == (1, 1) and conv.kernel_size == (1, 1)
    assert pool.output.shape == model.get_layer("stage2_block1_2_bn").output.shape[:3] + (8,)


def test_cpu_net_is_small() -> None:
    # Under a million parameters at full width: a pass over FER2013 takes minutes on 2 cores.
    assert 50_000 <= count_params(create_model("cpu_net").model) <= 1_000_000


def test_seed_makes_initial_weights_reproducible() -> None:
    def weights(seed: int) -> list[np.ndarray]:
        return create_model("cpu_net", width=TINY, seed=seed).model.get_weights()

    first, again, other = weights(7), weights(7), weights(8)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_num_classes_sets_the_score_width() -> None:
    assert create_model("cpu_net", width=TINY, num_classes=3).model.output_shape == (None, 3)


def test_unknown_model_lists_the_available_ones() -> None:
    with pytest.raises(FerflowError, match="unknown model 'vgg17'") as err:
        create_model("vgg17")
    assert all(name in str(err.value) for name in available_models())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"head": "svm"}, "unknown model head 'svm'.*softmax, l2svm"),
        ({"width": 0.0}, "width must be > 0"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
        ({"num_classes": 1}, "num_classes must be at least 2"),
        ({"weights": "w.h5"}, "'cpu_net' has no ImageNet version.*vgg16, resnet50"),
    ],
)
def test_bad_arguments_raise_ferflow_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(FerflowError, match=message):
        create_model("cpu_net", **kwargs)


def test_builds_and_trains_on_the_jax_backend() -> None:
    # JAX is a tested backend: requirements.lock pins it, so a missing jax fails, never skips.
    assert importlib.util.find_spec("jax") is not None, (
        "jax is not installed: run `make setup` (requirements.lock pins jax and jaxlib)")
    # The backend is fixed when keras is first imported, hence a fresh interpreter, which
    # cannot import TensorFlow (tests/keras_backends.py), as on a host with JAX only.
    script = (
        "import importlib, numpy as np, keras\n"
        "try:\n"
        "    importlib.import_module('tensorflow')\n"
        "    raise AssertionError('TensorFlow is importable in the JAX child')\n"
        "except ModuleNotFoundError:\n"
        "    pass\n"
        "from ferflow.models import loss_for_head, scores_to_probabilities\n"
        "from ferflow.models.zoo import create_model\n"
        "assert keras.backend.backend() == 'jax'\n"
        "for head in ('softmax', 'l2svm'):\n"
        "    m = create_model('cpu_net', head=head, width=0.125, seed=0).model\n"
        "    m.compile(optimizer='adam', loss=loss_for_head(head))\n"
        "    x = np.random.default_rng(0).integers(0, 256, (4, 48, 48, 1)).astype('float32')\n"
        "    loss = m.train_on_batch(x, np.eye(7, dtype='float32')[[0, 1, 2, 3]])\n"
        "    assert np.isfinite(loss), loss\n"
        "    p = scores_to_probabilities(m.predict(x, verbose=0))\n"
        "    assert p.shape == (4, 7) and np.allclose(p.sum(axis=1), 1, atol=1e-5)\n"
    )
    env = {**os.environ, **backend_variables("jax")}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_inputs_are_standardised_per_face() -> None:
    layer = PerImageStandardization()
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (3, 48, 48, 1)).astype("float32")
    darker = faces * 0.3 + 10  # the same faces, darker and with less contrast
    out, out_darker = (keras.ops.convert_to_numpy(layer(x)) for x in (faces, darker))
    assert np.allclose(out.mean(axis=(1, 2, 3)), 0, atol=1e-4)
    assert np.allclose(out.std(axis=(1, 2, 3)), 1, atol=1e-3)
    assert np.allclose(out, out_darker, atol=1e-3)
    flat = keras.ops.convert_to_numpy(layer(np.full((1, 48, 48, 1), 7.0, "float32")))
    assert np.all(flat == 0)  # a blank face stays finite
