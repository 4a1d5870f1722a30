"""Slices and invariances: accuracy per brightness / contrast tercile, worst class recall,
agreement under a flip and a brightness change."""

from __future__ import annotations

import numpy as np
import pytest

from ferflow.config import BootstrapParams, EvaluateParams
from ferflow.data.arrays import Split
from ferflow.evaluation.evaluate import score_slices, score_split
from ferflow.evaluation.metrics import classification_metrics
from ferflow.evaluation.slices import (
    agreement,
    brightened,
    bucket_accuracy,
    flat_slice_metrics,
    slice_report,
)
from ferflow.models.zoo import create_model


def test_terciles_split_the_values_evenly_and_score_each_bucket() -> None:
    values = np.arange(9.0)
    correct = np.array([1, 1, 1, 1, 0, 1, 0, 0, 0], dtype=bool)
    found = bucket_accuracy(values, correct, ("dark", "mid", "bright"))
    assert found["edges"] == pytest.approx([8 / 3, 16 / 3])
    assert found["buckets"] == {"dark": {"n": 3, "accuracy": 1.0},
                                "mid": {"n": 3, "accuracy": pytest.approx(2 / 3)},
                                "bright": {"n": 3, "accuracy": 0.0}}
    # Many equal values: a value on an edge goes up, and an empty bucket has no accuracy.
    flat = bucket_accuracy(np.array([5.0] * 6), np.ones(6, dtype=bool), ("a", "b", "c"))
    assert [flat["buckets"][k]["n"] for k in "abc"] == [0, 0, 6]
    assert flat["buckets"]["a"]["accuracy"] is None


def faces() -> tuple[np.ndarray, np.ndarray]:
    """Six faces: two dark, two mid, two bright; in each pair one flat, one striped."""
    images = np.empty((6, 48, 48, 1), dtype=np.float32)
    for i, level in enumerate((40, 40, 120, 120, 200, 200)):
        images[i] = level
        if i % 2:
            images[i, :, ::2] += 30
    return images, np.array([0, 1, 2, 3, 4, 5])


def test_slice_report_on_hand_made_faces() -> None:
    images, y = faces()
    predicted = np.array([0, 1, 2, 0, 0, 0])  # right on both dark faces and one mid
    per_class = classification_metrics(y, predicted)["per_class"]
    report = slice_report(images, y, predicted, per_class,
                          flipped=np.array([0, 1, 2, 0, 0, 1]),
                          brighter=np.array([0, 1, 1, 1, 0, 0]), brightness_shift=16)
    assert report["brightness"]["buckets"]["dark"] == {"n": 2, "accuracy": 1.0}
    assert report["brightness"]["buckets"]["mid"] == {"n": 2, "accuracy": 0.5}
    assert report["brightness"]["buckets"]["bright"] == {"n": 2, "accuracy": 0.0}
    # Pixel std 0 (flat) or 15 (striped), three of each: both edges fall on those values, and
    # a value on an edge goes to the bucket above it.
    assert report["contrast"]["edges"] == [0.0, 15.0]
    assert [report["contrast"]["buckets"][k]["n"] for k in ("low", "mid", "high")] == [0, 3, 3]
    assert report["flip_agreement"] == pytest.approx(5 / 6)
    assert report["brightness_agreement"] == pytest.approx(4 / 6)
    # Classes 3..5 are never found; "neutral" (6) has no face, so it cannot be the worst.
    assert (report["worst_class"], report["worst_class_recall"]) == ("happy", 0.0)
    flat = flat_slice_metrics(report, "eval_test_")
    assert flat["eval_test_flip_agreement"] == pytest.approx(5 / 6)
    assert flat["eval_test_accuracy_brightness_dark"] == 1.0


def test_brightened_faces_stay_in_pixel_range() -> None:
    x = np.array([[0.0, 100.0, 250.0]])
    assert brightened(x, 16).tolist() == [[16.0, 116.0, 255.0]]
    assert brightened(x, -16).tolist() == [[0.0, 84.0, 234.0]]
    assert agreement(np.array([1, 2, 3]), np.array([1, 2, 0])) == pytest.approx(2 / 3)


def test_a_real_model_agrees_with_itself_on_mirror_symmetric_faces() -> None:
    rng = np.random.default_rng(0)
    half = rng.integers(0, 256, (14, 48, 24, 1)).astype(np.float32)
    symmetric = np.concatenate([half, half[:, :, ::-1]], axis=2)  # flip(x) == x
    split = Split(symmetric, np.arange(14) % 7)
    model = create_model("cpu_net", width=0.125, seed=0).model
    params = EvaluateParams(tta=("none",), bootstrap=BootstrapParams(resamples=100, seed=0),
                            brightness_shift=16)
    metrics, plain = score_split(model, split, params)
    report = score_slices(model, split, metrics, plain, params)
    assert report["flip_agreement"] == 1.0
    assert 0.0 <= report["brightness_agreement"] <= 1.0
    assert sum(b["n"] for b in report["brightness"]["buckets"].values()) == 14
    assert metrics["accuracy_ci_low"] <= metrics["accuracy"] <= metrics["accuracy_ci_high"]
