"""The from-scratch baseline of the FER2013 write-ups: a few conv/pool blocks and a dense layer."""

from __future__ import annotations

import keras

from ferflow.models.common import KERNEL_INIT, dense_dropout_stack, scaled

BLOCK_FILTERS: tuple[int, ...] = (32, 64, 128)
"""Two 3x3 ReLU convs then a 2x2 max-pool per entry: 48 → 24 → 12 → 6."""

DENSE_UNITS: tuple[int, ...] = (256,)


def build_shallow_cnn(x: keras.KerasTensor, *, width: float, dropout: float) -> keras.KerasTensor:
    """Plain convnet, no batch norm: the baseline the deeper families are measured against."""
    for b, filters in enumerate(BLOCK_FILTERS, start=1):
        for c in (1, 2):
            x = keras.layers.Conv2D(
                scaled(filters, width),
                3,
                padding="same",
                activation="relu",
                kernel_initializer=KERNEL_INIT,
                name=f"block{b}_conv{c}",
            )(x)
        x = keras.layers.MaxPooling2D(2, name=f"block{b}_pool")(x)
    return dense_dropout_stack(x, DENSE_UNITS, width=width, dropout=dropout)
