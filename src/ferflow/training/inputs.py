"""What `fit` trains and validates on: the splits as numpy arrays through Keras' own input path,
or, where the data can live on the devices (JAX on a GPU, several devices or hosts), the same
splits kept there (`backend.DeviceBatches`). The recipe is the same on both; only the batch
size may differ (`train.accelerator_batch_size`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import keras
import numpy as np
from keras import ops

from ferflow import EMOTIONS, backend
from ferflow.config import TrainParams
from ferflow.data.arrays import Split
from ferflow.training.recipe import balanced_class_weights


class OneHotAccuracy(keras.metrics.CategoricalAccuracy):
    """Categorical accuracy of the rows whose target is one-hot: a row with an all-zero target
    (`DeviceBatches`' padding of the validation split) counts for nothing. Keras' compiled
    metrics ignore sample weights, so the padding cannot be weighted out there."""

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        return super().update_state(y_true, y_pred, ops.sum(y_true, axis=-1))


@dataclass(frozen=True)
class FitInputs:
    """The data arguments of `fit`, the callbacks and accuracy metric they need, and an
    epoch's size."""

    arguments: dict[str, Any]
    """x, validation_data and the batching keywords."""
    callbacks: list[keras.callbacks.Callback]
    accuracy: type[keras.metrics.Metric]
    steps: int
    """Batches per epoch (the learning-rate schedule counts them)."""
    images: int
    """Images per epoch."""
    batch_size: int

    def limited_to(self, steps: int) -> FitInputs:
        """The same inputs, with epochs of only the first `steps` batches (of each epoch's
        order)."""
        return replace(self, arguments={**self.arguments, "steps_per_epoch": steps},
                       steps=steps, images=min(self.images, steps * self.batch_size))


def fit_inputs(train_set: Split, val_set: Split, train: TrainParams) -> FitInputs:
    """`fit`'s data for a training with `train`'s recipe on this machine's devices."""
    targets = keras.utils.to_categorical(train_set.y, len(EMOTIONS))
    val_targets = keras.utils.to_categorical(val_set.y, len(EMOTIONS))
    class_weight = (balanced_class_weights(train_set.y, len(EMOTIONS))
                    if train.class_weights == "balanced" else None)
    if not backend.input_on_device():
        batch = train.batch_size
        return FitInputs({"x": train_set.x, "y": targets, "batch_size": batch,
                          "validation_data": (val_set.x, val_targets),
                          "class_weight": class_weight, "shuffle": True},
                         [], keras.metrics.CategoricalAccuracy,
                         math.ceil(len(train_set.y) / batch), len(train_set.y), batch)
    batch = train.accelerator_batch_size or train.batch_size
    # Keras' class_weight → per-image weights, as its numpy path computes them for each batch.
    weights = (None if class_weight is None else
               np.array([class_weight[int(c)] for c in train_set.y], keras.config.floatx()))
    batches = backend.DeviceBatches((train_set.x, targets, weights), batch, seed=train.seed)
    val_batches = backend.DeviceBatches((val_set.x, val_targets, None), batch, seed=None)
    return FitInputs({"x": batches, "validation_data": val_batches, "shuffle": False},
                     [batches.epoch_callback()], OneHotAccuracy, len(batches), batches.images,
                     batch)
