"""Where a model fails and what it is sensitive to, on one split: accuracy per brightness and
per contrast tercile of the input faces, the worst class recall, and how often the predicted
class survives a horizontal flip and a small brightness change (faces mean the same thing
mirrored or in a slightly brighter room, so a trustworthy model answers the same).

Terciles are cut on the split itself (mean pixel for brightness, pixel standard deviation for
contrast), so every backbone evaluated on the same split gets the same buckets, whose edges
are recorded with the accuracies.
"""

from __future__ import annotations

from typing import Any

import numpy as np

BRIGHTNESS_BUCKETS = ("dark", "mid", "bright")
CONTRAST_BUCKETS = ("low", "mid", "high")


def tercile_edges(values: np.ndarray) -> np.ndarray:
    """The two values that cut `values` into three equally filled buckets."""
    return np.quantile(np.asarray(values, dtype=np.float64), [1 / 3, 2 / 3])


def bucket_accuracy(
    values: np.ndarray, correct: np.ndarray, names: tuple[str, ...]
) -> dict[str, Any]:
    """Accuracy and image count per tercile of `values`, with the edges between terciles.

    A value equal to an edge goes to the upper bucket; an empty bucket (many equal values)
    has accuracy None.
    """
    edges = tercile_edges(values)
    bucket = np.searchsorted(edges, values, side="right")
    buckets = {}
    for i, name in enumerate(names):
        hits = np.asarray(correct)[bucket == i]
        buckets[name] = {"n": int(len(hits)),
                         "accuracy": float(hits.mean()) if len(hits) else None}
    return {"edges": [float(e) for e in edges], "buckets": buckets}


def brightened(images: np.ndarray, shift: float) -> np.ndarray:
    """Faces (pixels 0..255) with `shift` added to every pixel, clipped to 0..255."""
    return np.clip(np.asarray(images, dtype=np.float32) + shift, 0, 255)


def agreement(predicted: np.ndarray, other: np.ndarray) -> float:
    """Share of images whose predicted class is the same in both predictions."""
    return float(np.mean(np.asarray(predicted) == np.asarray(other)))


def worst_class(per_class: dict[str, dict[str, Any]]) -> tuple[str, float]:
    """The class with the lowest recall among those present in the split (support > 0)."""
    present = {name: s["recall"] for name, s in per_class.items() if s["support"] > 0}
    name = min(present, key=lambda n: (present[n], n))
    return name, float(present[name])


def slice_report(
    images: np.ndarray,
    y_true: np.ndarray,
    predicted: np.ndarray,
    per_class: dict[str, dict[str, Any]],
    *,
    flipped: np.ndarray,
    brighter: np.ndarray,
    brightness_shift: float,
) -> dict[str, Any]:
    """The slices and invariances of one split.

    `images` (N, 48, 48[, 1]) are the split's faces, `predicted` the classes predicted for
    them, `flipped` and `brighter` the classes predicted for their mirror images and for
    `brightened(images, brightness_shift)`; `per_class` is `classification_metrics`' section.
    """
    pixels = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
    correct = np.asarray(predicted) == np.asarray(y_true)
    name, recall = worst_class(per_class)
    return {
        "worst_class": name,
        "worst_class_recall": recall,
        "brightness": {"measure": "mean pixel",
                       **bucket_accuracy(pixels.mean(axis=1), correct, BRIGHTNESS_BUCKETS)},
        "contrast": {"measure": "pixel std",
                     **bucket_accuracy(pixels.std(axis=1), correct, CONTRAST_BUCKETS)},
        "flip_agreement": agreement(predicted, flipped),
        "brightness_shift": float(brightness_shift),
        "brightness_agreement": agreement(predicted, brighter),
    }


def flat_slice_metrics(slices: dict[str, Any], prefix: str) -> dict[str, float]:
    """The report's numbers as flat metric names: `<prefix>worst_class_recall`,
    `<prefix>flip_agreement`, `<prefix>accuracy_brightness_dark`, ... (empty buckets left
    out)."""
    flat = {f"{prefix}{key}": float(slices[key])
            for key in ("worst_class_recall", "flip_agreement", "brightness_agreement")}
    for measure in ("brightness", "contrast"):
        for bucket, scores in slices[measure]["buckets"].items():
            if scores["accuracy"] is not None:
                flat[f"{prefix}accuracy_{measure}_{bucket}"] = scores["accuracy"]
    return flat
