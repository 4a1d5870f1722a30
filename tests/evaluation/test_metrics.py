from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_recall_fscore_support

from ferflow import EMOTIONS
from ferflow.evaluation.metrics import (
    accuracy,
    classification_metrics,
    confusion_matrix,
    row_normalised,
)

# Hand-made: classes 0..2 present, 3..6 absent.
Y_TRUE = np.array([0, 0, 1, 1, 2, 2, 2])
Y_PRED = np.array([0, 1, 1, 1, 2, 0, 2])


def test_confusion_matrix_rows_are_actual_columns_predicted() -> None:
    matrix = confusion_matrix(Y_TRUE, Y_PRED, 7)
    assert matrix.shape == (7, 7)
    assert matrix[:3, :3].tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 2]]
    assert matrix.sum() == 7 and matrix[3:].sum() == 0


def test_row_normalised_keeps_empty_rows_zero() -> None:
    shares = row_normalised(confusion_matrix(Y_TRUE, Y_PRED, 7))
    assert shares[0, :2].tolist() == [0.5, 0.5]
    assert shares[2, 0] == pytest.approx(1 / 3)
    assert shares[5].tolist() == [0.0] * 7


def test_classification_metrics_by_hand() -> None:
    m = classification_metrics(Y_TRUE, Y_PRED)
    assert m["accuracy"] == pytest.approx(5 / 7)
    assert m["n"] == 7
    angry, disgust, fear = (m["per_class"][name] for name in EMOTIONS[:3])
    assert (angry["precision"], angry["recall"], angry["f1"]) == pytest.approx((0.5, 0.5, 0.5))
    assert (disgust["precision"], disgust["recall"], disgust["f1"]) == pytest.approx(
        (2 / 3, 1.0, 0.8))
    assert (fear["precision"], fear["recall"], fear["f1"]) == pytest.approx((1.0, 2 / 3, 0.8))
    assert m["per_class"]["happy"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    # Absent classes count as 0 in the macro average over all 7.
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8 + 0.8) / 7)


def test_classification_metrics_match_scikit_learn() -> None:
    rng = np.random.default_rng(1)
    y_true, y_pred = rng.integers(0, 7, 500), rng.integers(0, 7, 500)
    y_pred[:200] = y_true[:200]
    m = classification_metrics(y_true, y_pred)
    labels = list(range(7))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0)
    assert m["macro_f1"] == pytest.approx(
        f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))
    for i, name in enumerate(EMOTIONS):
        got = m["per_class"][name]
        assert (got["precision"], got["recall"], got["f1"], got["support"]) == pytest.approx(
            (precision[i], recall[i], f1[i], support[i]))


def test_accuracy_from_probabilities() -> None:
    probs = np.eye(7)[[0, 1, 2, 3]]
    assert accuracy(np.array([0, 1, 0, 0]), probs) == 0.5
    assert accuracy(np.array([], dtype=int), np.zeros((0, 7))) == 0.0
