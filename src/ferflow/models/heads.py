"""Classifier heads: the scores layer on top of a backbone, its loss, and scores → probabilities.

`softmax`: a linear Dense layer trained with cross-entropy on its logits.
`l2svm`: a linear Dense layer with an L2 weight penalty trained with the squared hinge loss, a
one-vs-rest L2-SVM as the top layer (Tang 2013, "Deep Learning using Linear SVMs").
Both heads output raw scores, never probabilities, so the loss sees unsquashed values.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from ferflow.errors import FerflowError

HEADS: tuple[str, ...] = ("softmax", "l2svm")

SVM_L2 = 5e-4
"""Weight of the L2 penalty on the SVM layer's kernel: the ½‖w‖² term of the SVM objective,
scaled to sit beside a hinge loss that is averaged over the batch and the classes."""


def check_head(head: str) -> None:
    """Raise FerflowError unless `head` is one of `HEADS`."""
    if head not in HEADS:
        raise FerflowError(
            f"unknown model head {head!r}: use one of {', '.join(HEADS)} "
            "(softmax = cross-entropy classifier, l2svm = linear SVM with squared hinge loss)"
        )


def attach_head(features: keras.KerasTensor, head: str, num_classes: int) -> keras.KerasTensor:
    """The linear scores layer, named `scores`; `l2svm` adds the L2 kernel penalty."""
    check_head(head)
    regularizer = keras.regularizers.L2(SVM_L2) if head == "l2svm" else None
    return keras.layers.Dense(
        num_classes, kernel_regularizer=regularizer, dtype="float32", name="scores"
    )(features)


@keras.saving.register_keras_serializable(package="ferflow")
class SquaredHinge(keras.losses.Loss):
    """One-vs-rest L2-SVM loss on one-hot targets: mean over classes of max(0, 1 - t·s)²,
    with t = +1 for the true class and -1 for the others, and s the raw scores.
    """

    def __init__(
        self,
        name: str = "squared_hinge",
        reduction: str | None = "sum_over_batch_size",
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        y_pred = ops.convert_to_tensor(y_pred)
        signs = 2.0 * ops.cast(y_true, y_pred.dtype) - 1.0
        margins = ops.maximum(1.0 - signs * y_pred, 0.0)
        return ops.mean(ops.square(margins), axis=-1)


def loss_for_head(head: str, label_smoothing: float = 0.0) -> keras.losses.Loss:
    """The training loss for `head`; targets are one-hot (N, num_classes).

    `label_smoothing` applies to `softmax` only: the hinge loss already stops pushing a score
    once its margin reaches 1, which is the over-confidence smoothing guards against, so the
    `l2svm` head ignores it.
    """
    check_head(head)
    if head == "l2svm":
        return SquaredHinge()
    return keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=label_smoothing)


def scores_to_probabilities(scores: Any) -> np.ndarray:
    """Softmax over the last axis, for both heads.

    A trained model's output is already divided by its fitted temperature
    (`ferflow.models.calibration`), so this gives calibrated probabilities for both heads; the
    raw scores of an `l2svm` model are margins, not log-odds, and only the temperature makes
    their softmax a probability.
    """
    logits = ops.convert_to_tensor(np.asarray(scores, dtype="float32"))
    return np.asarray(ops.convert_to_numpy(ops.softmax(logits, axis=-1)))
