"""Bootstrap intervals: what a user reads next to every accuracy and macro-F1."""

from __future__ import annotations

import numpy as np
import pytest

from ferflow.evaluation.intervals import (
    macro_f1_samples,
    metric_intervals,
    paired_difference,
    resample_counts,
)
from ferflow.evaluation.metrics import classification_metrics


def predictions(n: int, right: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels over 7 classes and predictions that are right on about `right` of them."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 7, n)
    wrong = (y + rng.integers(1, 7, n)) % 7
    return y, np.where(rng.random(n) < right, y, wrong)


def test_intervals_cover_the_point_estimate_and_narrow_with_more_images() -> None:
    widths = {}
    for n in (100, 2000):
        y, pred = predictions(n, 0.7)
        point = classification_metrics(y, pred)
        found = metric_intervals(y, pred, resample_counts(n, 1000, seed=0))
        for metric in ("accuracy", "macro_f1"):
            assert found[f"{metric}_ci_low"] < point[metric] < found[f"{metric}_ci_high"]
        widths[n] = found["accuracy_ci_high"] - found["accuracy_ci_low"]
    # The width shrinks like 1/sqrt(n): 20x the images, about 4.5x narrower.
    assert widths[2000] < widths[100] / 3
    assert 0.1 < widths[100] < 0.25


def test_the_seed_reproduces_the_interval() -> None:
    y, pred = predictions(300, 0.6)
    first = metric_intervals(y, pred, resample_counts(300, 500, seed=7))
    assert metric_intervals(y, pred, resample_counts(300, 500, seed=7)) == first
    assert metric_intervals(y, pred, resample_counts(300, 500, seed=8)) != first


def test_resampled_macro_f1_is_the_metric_of_the_resampled_images() -> None:
    y, pred = predictions(50, 0.5, seed=3)
    y[y == 1] = 0  # class 1 absent: it scores 0 in the macro average, as in the point metric
    counts = resample_counts(50, 4, seed=1)
    for row, f1 in zip(counts, macro_f1_samples(y, pred, counts, 7), strict=True):
        drawn = np.repeat(np.arange(50), row.astype(int))
        assert f1 == pytest.approx(classification_metrics(y[drawn], pred[drawn])["macro_f1"],
                                   abs=1e-6)


def test_paired_difference_counts_only_disagreements() -> None:
    correct = np.random.default_rng(0).random(400) < 0.7
    counts = resample_counts(400, 1000, seed=0)
    same = paired_difference(correct, correct, counts)
    assert (same.value, same.low, same.high) == (0.0, 0.0, 0.0)
    better = correct.copy()
    better[np.flatnonzero(~correct)[:60]] = True
    gain = paired_difference(better, correct, counts)
    assert gain.value == pytest.approx(60 / 400)
    assert 0 < gain.low < gain.value < gain.high
    with pytest.raises(ValueError, match="different lengths"):
        paired_difference(correct, correct[:10], counts)
