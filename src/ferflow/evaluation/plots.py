"""Evaluation pictures and plot data: confusion matrix (PNG and DVC `confusion` CSV), a grid
of misclassified faces, and reliability diagrams.

Figures are drawn on `matplotlib.figure.Figure` directly (Agg canvas), so no GUI backend and no
pyplot global state is involved.
"""

from __future__ import annotations

import csv
import os

import numpy as np
from matplotlib.figure import Figure

from ferflow import EMOTIONS
from ferflow.atomic import atomic_path
from ferflow.evaluation.calibration import Reliability
from ferflow.evaluation.metrics import confusion_matrix, row_normalised


def write_confusion_csv(
    target: str | os.PathLike[str],
    y_true: np.ndarray,
    y_pred: np.ndarray,
    class_names: tuple[str, ...] = EMOTIONS,
) -> None:
    """One `actual,predicted` row (class names) per sample: the data of DVC's `confusion` plot."""
    with atomic_path(target) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["actual", "predicted"])
        names = np.asarray(class_names)
        writer.writerows(zip(names[y_true], names[y_pred], strict=True))


def _draw_matrix(ax, values: np.ndarray, labels: tuple[str, ...], title: str, fmt: str) -> None:
    image = ax.imshow(values, cmap="Blues", vmin=0)
    ticks = np.arange(len(labels))
    ax.set_xticks(ticks, labels, rotation=45, ha="right")
    ax.set_yticks(ticks, labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(title)
    # White text on dark cells, black on light ones.
    threshold = values.max() / 2 if values.max() > 0 else 1
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            colour = "white" if values[i, j] > threshold else "black"
            ax.text(j, i, format(values[i, j], fmt), ha="center", va="center",
                    color=colour, fontsize=8)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)


def write_confusion_png(
    target: str | os.PathLike[str],
    y_true: np.ndarray,
    y_pred: np.ndarray,
    title: str,
    class_names: tuple[str, ...] = EMOTIONS,
) -> None:
    """Counts and row-normalised (recall) confusion matrices side by side."""
    counts = confusion_matrix(y_true, y_pred, len(class_names))
    fig = Figure(figsize=(13, 5.5), layout="constrained")
    left, right = fig.subplots(1, 2)
    _draw_matrix(left, counts, class_names, "counts", "d")
    _draw_matrix(right, row_normalised(counts), class_names, "share of actual class (recall)",
                 ".2f")
    fig.suptitle(title)
    with atomic_path(target) as tmp:
        fig.savefig(tmp, dpi=100, format="png")


def most_confident_mistakes(
    y_true: np.ndarray, probabilities: np.ndarray, limit: int
) -> np.ndarray:
    """Indices of up to `limit` misclassified rows, most confident wrong prediction first."""
    predicted = np.argmax(probabilities, axis=1)
    wrong = np.flatnonzero(predicted != y_true)
    confidence = probabilities[wrong, predicted[wrong]]
    # Stable sort: equal confidences keep dataset order, so the grid is reproducible.
    return wrong[np.argsort(-confidence, kind="stable")][:limit]


def write_misclassified_png(
    target: str | os.PathLike[str],
    images: np.ndarray,
    y_true: np.ndarray,
    probabilities: np.ndarray,
    title: str,
    limit: int = 36,
    class_names: tuple[str, ...] = EMOTIONS,
) -> int:
    """A grid of the most confident mistakes, each titled `true → predicted (p)`.

    Returns how many faces were drawn (0 draws a figure that says there were no mistakes).
    """
    chosen = most_confident_mistakes(y_true, probabilities, limit)
    cols = max(1, min(6, len(chosen)))
    rows = max(1, -(-len(chosen) // cols))
    fig = Figure(figsize=(2.0 * cols, 2.2 * rows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, index in zip(axes, chosen, strict=False):
        predicted = int(np.argmax(probabilities[index]))
        ax.imshow(images[index], cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"{class_names[y_true[index]]} → {class_names[predicted]}\n"
                     f"p={probabilities[index, predicted]:.2f}", fontsize=9)
    if len(chosen) == 0:
        axes[0].text(0.5, 0.5, "no misclassified faces", ha="center", va="center")
    fig.suptitle(f"{title}: actual → predicted (most confident mistakes first)")
    with atomic_path(target) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    return len(chosen)


def write_reliability_png(
    target: str | os.PathLike[str],
    panels: list[tuple[str, Reliability]],
    title: str,
) -> None:
    """One reliability diagram per (`label`, data) in `panels`, side by side: each bin's
    accuracy as a bar over its confidence range, the diagonal a calibrated model would follow,
    each bin's mean confidence as a dot, and the share of images per bin underneath."""
    fig = Figure(figsize=(5.2 * len(panels), 5.6), layout="constrained")
    grid = fig.add_gridspec(2, len(panels), height_ratios=(4, 1))
    for column, (label, data) in enumerate(panels):
        top = fig.add_subplot(grid[0, column])
        bottom = fig.add_subplot(grid[1, column], sharex=top)
        widths = np.diff(data.edges)
        filled = data.counts > 0
        top.bar(data.edges[:-1][filled], data.accuracy[filled], width=widths[filled],
                align="edge", color="tab:blue", edgecolor="white", label="accuracy")
        top.plot(data.confidence[filled], data.confidence[filled], "o", color="tab:orange",
                 markersize=4, label="mean confidence")
        top.plot([0, 1], [0, 1], linestyle="--", color="grey", label="calibrated")
        top.set_xlim(0, 1)
        top.set_ylim(0, 1)
        top.set_ylabel("accuracy")
        top.set_title(f"{label}: ECE {data.ece:.3f}")
        top.legend(loc="upper left")
        total = max(int(data.counts.sum()), 1)
        bottom.bar(data.edges[:-1], data.counts / total, width=widths, align="edge",
                   color="tab:grey", edgecolor="white")
        bottom.set_xlabel("confidence (top class probability)")
        bottom.set_ylabel("share")
    fig.suptitle(title)
    with atomic_path(target) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
