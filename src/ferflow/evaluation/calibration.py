"""How far predicted probabilities are from the observed frequencies: expected calibration
error (ECE) and the reliability diagram's data, in plain numpy.

Both bin the predictions by confidence (the top class's probability) into equal-width bins of
[0, 1]; a calibrated model's accuracy in every bin matches its mean confidence there. ECE is
the mean of |accuracy - confidence| over the bins, weighted by their share of the images
(Naeini et al. 2015; Guo et al. 2017).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BINS = 15
"""Guo et al.'s choice: fine enough to see a shape, coarse enough to fill on a test split."""


@dataclass(frozen=True)
class Reliability:
    """Per confidence bin: the bin's edges, its images, their mean confidence and accuracy
    (NaN for an empty bin)."""

    edges: np.ndarray
    counts: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray

    @property
    def ece(self) -> float:
        total = self.counts.sum()
        if total == 0:
            return 0.0
        filled = self.counts > 0
        gaps = np.abs(self.accuracy[filled] - self.confidence[filled])
        return float((gaps * self.counts[filled]).sum() / total)


def reliability(labels: np.ndarray, probabilities: np.ndarray, bins: int = BINS) -> Reliability:
    """The reliability diagram's data of `probabilities` (N, classes) against `labels` (N,)."""
    labels = np.asarray(labels, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 2 or len(probabilities) != len(labels):
        raise ValueError(f"probabilities {probabilities.shape} and labels {labels.shape} do "
                         "not match")
    if bins < 1:
        raise ValueError(f"bins must be at least 1; got {bins}")
    confidence = probabilities.max(axis=1) if len(labels) else np.zeros(0)
    correct = (probabilities.argmax(axis=1) == labels) if len(labels) else np.zeros(0)
    edges = np.linspace(0.0, 1.0, bins + 1)
    # Bin i holds (edges[i], edges[i + 1]]; a confidence of exactly 0 goes to the first.
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(index, confidence, bins) / counts
        accuracy = np.bincount(index, correct.astype(np.float64), bins) / counts
    return Reliability(edges, counts, mean_confidence, accuracy)


def expected_calibration_error(labels: np.ndarray, probabilities: np.ndarray,
                               bins: int = BINS) -> float:
    """ECE of `probabilities` (N, classes) against `labels` (N,) over `bins` equal bins."""
    return reliability(labels, probabilities, bins).ece


def at_temperature(probabilities: np.ndarray, ratio: float) -> np.ndarray:
    """The probabilities softmax(z / T) would have been at temperature T / `ratio`:
    softmax(`ratio` · log p), exact up to the float precision of p. With a model's fitted T as
    `ratio` it gives the uncalibrated softmax(z) back from the calibrated output."""
    with np.errstate(divide="ignore"):
        logits = ratio * np.log(np.asarray(probabilities, dtype=np.float64))
    logits -= logits.max(axis=1, keepdims=True)
    out = np.exp(logits)
    return out / out.sum(axis=1, keepdims=True)
