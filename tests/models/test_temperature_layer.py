"""Temperature scaling inside a real Keras model: a tiny net trained a few steps on the
synthetic faces, calibrated, saved, and read back by what serves it (`load_classifier`,
`predict_probabilities`), for both heads and both Keras backends."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from calibration_child import LABELS, calibration_faces, train_and_calibrate
from keras_backends import backend_variables

from ferflow.models.calibration import (
    TemperatureScaling,
    fit_temperature,
    model_temperature,
    negative_log_likelihood,
    with_temperature,
)
from ferflow.models.inference import load_classifier, predict_probabilities, predict_scores

CHILD = Path(__file__).resolve().with_name("calibration_child.py")


def _train_and_calibrate(head: str, target: Path, backend: str | None) -> None:
    """In this process (the suite's backend), or in a child on `backend`."""
    if backend is None:
        train_and_calibrate(head, target)
        return
    done = subprocess.run([sys.executable, str(CHILD), head, str(target)],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, **backend_variables(backend)})
    assert done.returncode == 0, done.stdout + done.stderr


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def val_faces() -> tuple[np.ndarray, np.ndarray]:
    return calibration_faces(), LABELS


# The softmax head is calibrated by the real train stage in tests/training/test_train_run.py.
@pytest.mark.parametrize(("head", "backend"), [
    ("l2svm", None), pytest.param("l2svm", "jax", marks=pytest.mark.slow)])  # child: ~25 s
# The JAX child also loads here on TensorFlow: a model calibrated on one backend serves on both.
def test_a_calibrated_model_reloads_and_predicts_softmax_of_its_scores_over_t(
        head: str, backend: str | None, tmp_path: Path, val_faces) -> None:
    target = tmp_path / "model.keras"
    _train_and_calibrate(head, target, backend)
    faces, labels = val_faces
    raw = np.load(f"{target}.scores.npy")  # the trained net's own scores, before scaling

    model = load_classifier(target)
    temperature = model_temperature(model)
    assert isinstance(model.layers[-1], TemperatureScaling)
    assert temperature != 1.0 and temperature == pytest.approx(fit_temperature(raw, labels))
    probs = predict_probabilities(model, faces)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(probs, _softmax(raw.astype(np.float64) / temperature),
                               atol=1e-4)
    assert (probs.argmax(axis=1) == raw.argmax(axis=1)).all()  # accuracy cannot move
    assert (negative_log_likelihood(raw, labels, temperature)
            <= negative_log_likelihood(raw, labels))


def test_a_model_saved_without_a_temperature_loads_as_t_1(tmp_path: Path, val_faces) -> None:
    from ferflow.models.zoo import create_model

    net = create_model("cpu_net", width=0.125, seed=0).model
    net.save(tmp_path / "old.keras")
    old = load_classifier(tmp_path / "old.keras")
    assert model_temperature(old) == 1.0
    faces, _ = val_faces
    raw = predict_scores(old, faces)
    np.testing.assert_allclose(predict_probabilities(old, faces), _softmax(raw), atol=1e-5)

    # Calibrating twice replaces the temperature rather than stacking a second one.
    twice = with_temperature(with_temperature(old, 2.0), 4.0)
    assert model_temperature(twice) == 4.0
    assert sum(isinstance(layer, TemperatureScaling) for layer in twice.layers) == 1
    assert twice.count_params() == old.count_params() and twice.name == old.name
    np.testing.assert_allclose(predict_scores(twice, faces), raw / 4.0, rtol=1e-5, atol=1e-6)


def test_a_temperature_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        TemperatureScaling(0.0)
    assert keras.saving.get_registered_object("ferflow>TemperatureScaling") is TemperatureScaling
