"""95% percentile-bootstrap intervals of accuracy and macro-F1, and of the paired difference in
accuracy between two models scored on the same images.

Every resample draws the split's images with replacement; all the metrics of one split (each
TTA mode, and both models of a paired comparison) are computed on the same resampled rows, so
their intervals describe the same noise. The draws come from a seeded generator, so the same
predictions and seed give the same interval. Everything is vectorised over the resamples: a
(resamples, N) matrix of how often each image was drawn, and metrics as matrix products.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ferflow import EMOTIONS

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """A point estimate with the bounds of its bootstrap interval."""

    value: float
    low: float
    high: float


def resample_counts(n: int, resamples: int, seed: int) -> np.ndarray:
    """(resamples, n): how often each of the n images is drawn in each resample of n draws
    with replacement. Every metric of a resample is then a weighted count (a matrix product)."""
    if n <= 0 or resamples <= 0:
        raise ValueError(f"need at least one image and one resample, got n={n}, "
                         f"resamples={resamples}")
    drawn = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    drawn += (np.arange(resamples) * n)[:, None]
    return np.bincount(drawn.ravel(), minlength=resamples * n).reshape(resamples, n).astype(
        np.float32)


def _bounds(samples: np.ndarray) -> tuple[float, float]:
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = np.percentile(samples, [tail, 100 - tail])
    return float(low), float(high)


def _one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    return np.eye(num_classes, dtype=np.float32)[np.asarray(labels)]


def accuracy_samples(correct: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Accuracy of every resample (resamples,) from per-image correctness (N,)."""
    # Counts of images are exact in float32; the ratio is taken in float64, as the point one.
    return (counts @ np.asarray(correct, dtype=np.float32)).astype(np.float64) / counts.shape[1]


def macro_f1_samples(
    y_true: np.ndarray, y_pred: np.ndarray, counts: np.ndarray, num_classes: int
) -> np.ndarray:
    """Macro-F1 of every resample (resamples,), absent classes scoring 0 as in
    `classification_metrics`. Per class F1 = 2 TP / (support + predicted)."""
    actual = _one_hot(y_true, num_classes)
    predicted = _one_hot(y_pred, num_classes)
    hits = (counts @ (actual * predicted)).astype(np.float64)
    totals = (counts @ (actual + predicted)).astype(np.float64)
    f1 = np.divide(2 * hits, totals, out=np.zeros(totals.shape), where=totals > 0)
    return f1.mean(axis=1)


def metric_intervals(
    y_true: np.ndarray, y_pred: np.ndarray, counts: np.ndarray, suffix: str = "",
    num_classes: int = len(EMOTIONS),
) -> dict[str, float]:
    """`accuracy<suffix>_ci_low`, `_ci_high`, `macro_f1<suffix>_ci_low`, `_ci_high`: the 95%
    intervals of a prediction's accuracy and macro-F1 over the resamples `counts`."""
    correct = np.asarray(y_true) == np.asarray(y_pred)
    bounds = {
        "accuracy": _bounds(accuracy_samples(correct, counts)),
        "macro_f1": _bounds(macro_f1_samples(y_true, y_pred, counts, num_classes)),
    }
    out = {}
    for metric, (low, high) in bounds.items():
        out[f"{metric}{suffix}_ci_low"] = low
        out[f"{metric}{suffix}_ci_high"] = high
    return out


def paired_difference(
    correct_a: np.ndarray, correct_b: np.ndarray, counts: np.ndarray
) -> Interval:
    """Accuracy of A minus accuracy of B on the same images, with the 95% interval of that
    difference when both are scored on the same resamples (a paired bootstrap: what the two
    models get right or wrong together cancels out, only their disagreements count)."""
    a = np.asarray(correct_a, dtype=np.float32)
    b = np.asarray(correct_b, dtype=np.float32)
    if a.shape != b.shape:
        raise ValueError(f"per-image correctness of different lengths: {a.shape} and {b.shape}")
    low, high = _bounds((counts @ (a - b)).astype(np.float64) / counts.shape[1])
    return Interval(float(np.mean(a - b, dtype=np.float64)), low, high)
