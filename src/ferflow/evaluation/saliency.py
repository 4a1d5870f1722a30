"""`plots/eval/<backbone>/saliency.png`: occlusion heatmaps (`ferflow.models.saliency`) of a
grid of correctly classified and misclassified test faces, the first row(s) right, the rest
wrong, each titled `actual → predicted (p)`.

Half the grid (`evaluate.saliency` faces) is mistakes, the other half correct faces; when a
split has too few of one kind the other fills the grid. Within each kind the most confident
come first, one class after another, so the grid shows several emotions rather than a row of
the majority class.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ferflow import EMOTIONS, IMAGE_SIZE
from ferflow.atomic import atomic_path
from ferflow.data.arrays import Split
from ferflow.models.inference import predict_scores
from ferflow.models.saliency import occlusion_saliency, overlay

COLUMNS = 8


def _by_class_in_turn(candidates: np.ndarray, confidence: np.ndarray, labels: np.ndarray,
                      limit: int) -> np.ndarray:
    """Up to `limit` of `candidates`: the most confident of each class, then the second most
    confident of each, and so on (stable: ties keep the split's order)."""
    order = candidates[np.argsort(-confidence[candidates], kind="stable")]
    rank = np.zeros(len(order), dtype=np.int64)
    seen: dict[int, int] = {}
    for i, index in enumerate(order):
        rank[i] = seen.get(int(labels[index]), 0)
        seen[int(labels[index])] = rank[i] + 1
    return order[np.argsort(rank, kind="stable")][:limit]


def saliency_examples(y_true: np.ndarray, probabilities: np.ndarray, count: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the faces in the grid, correct ones first, and whether each is correct."""
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    right = np.flatnonzero(predicted == y_true)
    wrong = np.flatnonzero(predicted != y_true)
    wrong_count = min(len(wrong), max(count // 2, count - len(right)))
    chosen_wrong = _by_class_in_turn(wrong, confidence, y_true, wrong_count)
    chosen_right = _by_class_in_turn(right, confidence, y_true, count - len(chosen_wrong))
    indices = np.concatenate([chosen_right, chosen_wrong]).astype(np.int64)
    return indices, np.arange(len(indices)) < len(chosen_right)


def write_saliency_png(
    target: str | os.PathLike[str],
    model: Any,
    split: Split,
    probabilities: np.ndarray,
    count: int,
    title: str,
    batch_size: int = 256,
) -> int:
    """Explain `count` faces of `split` (their `probabilities` already predicted) with
    `model`'s scores and draw the grid. Returns how many faces were drawn."""
    indices, correct = saliency_examples(split.y, probabilities, count)
    faces = np.asarray(split.x)[indices].reshape(-1, IMAGE_SIZE, IMAGE_SIZE)
    predicted = probabilities.argmax(axis=1)
    heat = occlusion_saliency(lambda x: predict_scores(model, x, batch_size), faces,
                              predicted[indices])
    cols = max(1, min(COLUMNS, len(indices)))
    rows = max(1, -(-len(indices) // cols))
    fig = Figure(figsize=(1.7 * cols, 2.0 * rows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, index, face, face_heat, right in zip(axes, indices, faces, heat, correct,
                                                 strict=False):
        guess = int(predicted[index])
        ax.imshow(overlay(face, face_heat))
        ax.set_title(f"{EMOTIONS[split.y[index]]} → {EMOTIONS[guess]}\n"
                     f"p={probabilities[index, guess]:.2f}", fontsize=8,
                     color="tab:green" if right else "tab:red")
    if len(indices) == 0:
        axes[0].text(0.5, 0.5, "no test faces", ha="center", va="center")
    fig.suptitle(f"{title}: what each decision rests on (occlusion saliency; green correct, "
                 "red wrong; actual → predicted)", fontsize=10)
    with atomic_path(target) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    return len(indices)
