"""Classification metrics from labels and predictions, in plain numpy."""

from __future__ import annotations

from typing import Any

import numpy as np

from ferflow import EMOTIONS


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts (num_classes, num_classes): row = actual class, column = predicted class."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"labels {y_true.shape} and predictions {y_pred.shape} differ in shape")
    flat = np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)


def row_normalised(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its sum (the recall view); an empty row stays all zeros."""
    totals = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    # 0/0 is reported as 0, as scikit-learn does with zero_division=0.
    return np.divide(num, den, out=np.zeros(num.shape), where=den > 0)


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, class_names: tuple[str, ...] = EMOTIONS
) -> dict[str, Any]:
    """Accuracy, macro-F1 and per-class precision, recall, F1 and support.

    Macro-F1 averages the per-class F1 over all classes, absent ones included (they score 0),
    so a model that never predicts the rare `disgust` class pays for it.
    """
    matrix = confusion_matrix(y_true, y_pred, len(class_names))
    hits = np.diag(matrix).astype(np.float64)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    precision = _safe_ratio(hits, predicted.astype(np.float64))
    recall = _safe_ratio(hits, support.astype(np.float64))
    f1 = _safe_ratio(2 * precision * recall, precision + recall)
    total = int(matrix.sum())
    return {
        "accuracy": float(hits.sum() / total) if total else 0.0,
        "macro_f1": float(f1.mean()),
        "n": total,
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(class_names)
        },
    }


def accuracy(y_true: np.ndarray, probabilities: np.ndarray) -> float:
    """Share of rows whose most probable class is the label."""
    y_true = np.asarray(y_true)
    if len(y_true) == 0:
        return 0.0
    return float(np.mean(np.argmax(probabilities, axis=1) == y_true))
