from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ferflow.errors import FerflowError
from ferflow.models.inference import (
    flip,
    load_classifier,
    predict_probabilities,
    tta_probabilities,
    tta_views,
)
from ferflow.models.zoo import create_model


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("model") / "model.keras"
    create_model("cpu_net", width=0.125, seed=3).model.save(path)
    return load_classifier(path)


def gradient(n: int = 2) -> np.ndarray:
    """Faces whose pixel value is the column index (0..47): crops are easy to tell apart."""
    return np.broadcast_to(np.arange(48, dtype=np.float32), (n, 48, 48))[..., None].copy()


def test_ten_crop_gives_five_crops_and_their_mirrors() -> None:
    views = list(tta_views(gradient(), "ten_crop", crop_size=44))
    assert len(views) == 10
    assert all(v.shape == (2, 48, 48, 1) and v.dtype == np.float32 for v in views)
    for crop, mirrored in zip(views[0::2], views[1::2], strict=True):
        np.testing.assert_array_equal(mirrored, flip(crop))
    left, right, centre = views[0], views[2], views[8]
    # Top-left crop spans columns 0..43, top-right 4..47, centre 2..45 (resized back to 48).
    assert left[0, 0, 0, 0] == pytest.approx(0, abs=0.6)
    assert left[0, 0, -1, 0] == pytest.approx(43, abs=0.6)
    assert right[0, 0, 0, 0] == pytest.approx(4, abs=0.6)
    assert right[0, 0, -1, 0] == pytest.approx(47, abs=0.6)
    assert centre[0, 0, 0, 0] == pytest.approx(2, abs=0.6)
    # Bottom corners of a column gradient equal the top ones.
    np.testing.assert_allclose(views[4], views[0], atol=1e-4)


def test_flip_mode_averages_the_face_and_its_mirror(model) -> None:
    faces = np.random.default_rng(0).integers(0, 256, (5, 48, 48)).astype(np.uint8)
    x = faces[..., None].astype(np.float32)
    expected = (predict_probabilities(model, x) + predict_probabilities(model, flip(x))) / 2
    got = tta_probabilities(model, faces, "flip", batch_size=2)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tta_probabilities(model, faces, "none"),
                               predict_probabilities(model, faces), rtol=1e-6)


def test_ten_crop_mode_averages_its_ten_views(model) -> None:
    faces = np.random.default_rng(1).integers(0, 256, (3, 48, 48)).astype(np.uint8)
    views = list(tta_views(faces[..., None].astype(np.float32), "ten_crop"))
    expected = np.mean([predict_probabilities(model, v) for v in views], axis=0)
    got = tta_probabilities(model, faces, "ten_crop")
    assert got.shape == (3, 7)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-5)


def test_unknown_mode_and_bad_shapes_are_refused(model) -> None:
    with pytest.raises(FerflowError, match="unknown test-time augmentation 'rotate'"):
        tta_probabilities(model, np.zeros((1, 48, 48)), "rotate")
    with pytest.raises(ValueError, match="48, 48"):
        predict_probabilities(model, np.zeros((1, 32, 32)))


def test_missing_or_broken_model_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FerflowError, match="model file not found"):
        load_classifier(tmp_path / "absent.keras")
    broken = tmp_path / "broken.keras"
    broken.write_text("not a model")
    with pytest.raises(FerflowError, match="not a readable Keras model"):
        load_classifier(broken)
