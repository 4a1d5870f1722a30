"""VGG (Simonyan & Zisserman 2015) with batch norm, for 48x48 grey faces.

One builder serves VGG16 and VGG19; only the number of 3x3 convs per block differs.
"""

from __future__ import annotations

from functools import partial

import keras

from ferflow.models.common import conv_bn_relu, dense_dropout_stack, scaled

# (filters, convs) per block; each block ends in a 2x2 max-pool: 48 → 24 → 12 → 6 → 3 → 2.
VGG16_BLOCKS: tuple[tuple[int, int], ...] = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
VGG19_BLOCKS: tuple[tuple[int, int], ...] = ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4))
DENSE_UNITS: tuple[int, ...] = (512, 512)
"""ImageNet VGG's 4096-wide FC layers are overkill for 7 classes and 48x48 inputs."""


def build_vgg(
    x: keras.KerasTensor,
    *,
    blocks: tuple[tuple[int, int], ...],
    width: float,
    dropout: float,
) -> keras.KerasTensor:
    """Stacked 3x3 conv-BN-ReLU blocks, max-pool after each, two dense layers with dropout."""
    for b, (filters, convs) in enumerate(blocks, start=1):
        for c in range(1, convs + 1):
            x = conv_bn_relu(x, scaled(filters, width), 3, name=f"block{b}_conv{c}")
        # "same" so the 3x3 map of the last block pools to 2x2 instead of dropping a row/column.
        x = keras.layers.MaxPooling2D(2, padding="same", name=f"block{b}_pool")(x)
    return dense_dropout_stack(x, DENSE_UNITS, width=width, dropout=dropout)


build_vgg16 = partial(build_vgg, blocks=VGG16_BLOCKS)
build_vgg19 = partial(build_vgg, blocks=VGG19_BLOCKS)
