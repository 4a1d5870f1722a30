"""AlexNet (Krizhevsky et al. 2012) scaled down to 48x48 grey faces.

Kept from the original: a large first kernel with a stride, a 5x5 second conv, three 3x3 convs,
overlapping 3x3/2 max-pools and three dense layers with dropout (the third is the head's scores
layer). Batch norm stands in for local response normalisation, which Keras does not ship and
which BN has replaced in practice.
"""

from __future__ import annotations

import keras

from ferflow.models.common import conv_bn_relu, dense_dropout_stack, scaled

# (filters, kernel, stride, max-pool after): 48 → 24 → 12 → 6 → 3.
CONV_LAYERS: tuple[tuple[int, int, int, bool], ...] = (
    (96, 7, 2, True),
    (256, 5, 1, True),
    (384, 3, 1, False),
    (384, 3, 1, False),
    (256, 3, 1, True),
)
DENSE_UNITS: tuple[int, ...] = (1024, 1024)


def build_alexnet(x: keras.KerasTensor, *, width: float, dropout: float) -> keras.KerasTensor:
    """Five conv layers and two hidden dense layers; the head adds the third dense layer."""
    for i, (filters, kernel, stride, pool) in enumerate(CONV_LAYERS, start=1):
        x = conv_bn_relu(x, scaled(filters, width), kernel, strides=stride, name=f"conv{i}")
        if pool:
            x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name=f"pool{i}")(x)
    return dense_dropout_stack(x, DENSE_UNITS, width=width, dropout=dropout)
