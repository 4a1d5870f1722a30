"""Expected calibration error, the reliability data, and temperature scaling on toy scores."""

from __future__ import annotations

import numpy as np
import pytest

from ferflow.evaluation.calibration import (
    at_temperature,
    expected_calibration_error,
    reliability,
)
from ferflow.models.calibration import (
    MIN_TEMPERATURE,
    fit_temperature,
    negative_log_likelihood,
)
from ferflow.models.heads import scores_to_probabilities

CLASSES = 7


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _calibrated_sample(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from the very probabilities that are reported: calibrated by design."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 2.0, (n, CLASSES))
    probs = _softmax(logits)
    labels = np.array([rng.choice(CLASSES, p=p) for p in probs])
    return logits, labels


def test_ece_of_a_calibrated_sample_is_near_zero_and_of_an_overconfident_one_large() -> None:
    logits, labels = _calibrated_sample(20_000)
    assert expected_calibration_error(labels, _softmax(logits)) < 0.02
    # The same model, sharpened three times: same predictions, far too sure of them.
    overconfident = _softmax(3 * logits)
    assert expected_calibration_error(labels, overconfident) > 0.15
    assert (overconfident.argmax(1) == _softmax(logits).argmax(1)).all()


def test_ece_counts_each_bin_by_its_share_of_the_images() -> None:
    # Two faces at confidence 0.9, one right, one wrong (gap 0.4); two at 0.6, both right
    # (gap 0.4): ECE 0.4. A constant 1/7 row lands in the first bins without error.
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.4, 0.6]])
    labels = np.array([0, 1, 0, 1])
    data = reliability(labels, probs, bins=10)
    assert data.counts.sum() == 4 and data.counts[8] == 2 and data.counts[5] == 2
    assert data.accuracy[8] == 0.5 and data.confidence[5] == pytest.approx(0.6)
    assert data.ece == pytest.approx(0.4)
    assert np.isnan(data.accuracy[0])  # an empty bin has no accuracy, and weighs nothing
    assert expected_calibration_error(np.zeros(0, int), np.zeros((0, 3))) == 0.0
    with pytest.raises(ValueError, match="do not match"):
        reliability(labels[:3], probs)


def test_fitted_temperature_undoes_overconfidence_on_val_and_helps_on_test() -> None:
    logits, labels = _calibrated_sample(6_000, seed=1)
    scores = 3 * logits  # an overconfident model's scores: the right temperature is 3
    val, test = slice(0, 3_000), slice(3_000, None)
    temperature = fit_temperature(scores[val], labels[val])
    assert temperature == pytest.approx(3.0, rel=0.1)
    assert (negative_log_likelihood(scores[val], labels[val], temperature)
            < negative_log_likelihood(scores[val], labels[val]))
    before = expected_calibration_error(labels[test], _softmax(scores[test]))
    after = expected_calibration_error(labels[test], _softmax(scores[test] / temperature))
    assert after < 0.03 < 0.15 < before
    # Deterministic, and a positive temperature never changes a prediction.
    assert fit_temperature(scores[val], labels[val]) == temperature
    assert (_softmax(scores / temperature).argmax(1) == scores.argmax(1)).all()


def test_fitted_temperature_sharpens_underconfident_svm_margins() -> None:
    # Margins within about ±1, as the hinge loss leaves them: their plain softmax is too flat.
    logits, labels = _calibrated_sample(4_000, seed=2)
    margins = logits / 4
    temperature = fit_temperature(margins, labels)
    assert temperature == pytest.approx(0.25, rel=0.1)
    assert (expected_calibration_error(labels, _softmax(margins / temperature))
            < expected_calibration_error(labels, _softmax(margins)) / 3)


def test_a_separable_split_stops_at_the_lower_bound() -> None:
    scores = np.eye(CLASSES)[np.arange(70) % CLASSES] * 5
    labels = np.arange(70) % CLASSES
    assert fit_temperature(scores, labels) == pytest.approx(MIN_TEMPERATURE, rel=1e-6)
    assert fit_temperature(np.zeros((0, CLASSES)), np.zeros(0, int)) == 1.0


def test_probabilities_at_another_temperature_recover_the_uncalibrated_softmax() -> None:
    logits, _ = _calibrated_sample(50, seed=3)
    calibrated = scores_to_probabilities(logits / 2.5)
    np.testing.assert_allclose(at_temperature(calibrated, 2.5), _softmax(logits), atol=1e-5)
