"""A small net that trains on a CPU: depthwise-separable residual blocks (after mini-Xception,
Arriaga et al. 2017), batch norm and a global-average-pooling classifier.

Separable 3x3 convs cost about a ninth of full 3x3 convs, and the GAP head has no large dense
layer, so nearly all of the few parameters sit in the convolutions.
"""

from __future__ import annotations

import keras

from ferflow.models.common import (
    KERNEL_INIT,
    batch_norm,
    conv_bn,
    conv_bn_relu,
    pooled_features,
    scaled,
)

STEM: tuple[tuple[int, int], ...] = ((16, 1), (32, 2))
"""(filters, stride) of the plain 3x3 stem convs: the first reads full 48x48 detail, the second
halves the map, which cuts the cost of everything after it by four."""

BLOCK_FILTERS: tuple[int, ...] = (48, 96, 192)
"""One residual block per entry, each halving the map: 24 → 12 → 6 → 3."""

EXIT_FILTERS = 256


def _separable_bn(x: keras.KerasTensor, filters: int, name: str) -> keras.KerasTensor:
    x = keras.layers.SeparableConv2D(
        filters,
        3,
        padding="same",
        use_bias=False,
        depthwise_initializer=KERNEL_INIT,
        pointwise_initializer=KERNEL_INIT,
        name=f"{name}_sepconv",
    )(x)
    return batch_norm(f"{name}_bn")(x)


def separable_block(x: keras.KerasTensor, filters: int, name: str) -> keras.KerasTensor:
    """Two separable convs and a stride-2 max-pool, plus a strided 1x1 projection shortcut."""
    shortcut = conv_bn(x, filters, 1, strides=2, name=f"{name}_proj")
    y = _separable_bn(x, filters, f"{name}_1")
    y = keras.layers.ReLU(name=f"{name}_1_relu")(y)
    y = _separable_bn(y, filters, f"{name}_2")
    y = keras.layers.MaxPooling2D(3, strides=2, padding="same", name=f"{name}_pool")(y)
    return keras.layers.Add(name=f"{name}_add")([shortcut, y])


def build_cpu_net(x: keras.KerasTensor, *, width: float, dropout: float) -> keras.KerasTensor:
    """Stem, separable residual blocks, a separable exit conv, GAP and dropout."""
    for i, (filters, stride) in enumerate(STEM, start=1):
        x = conv_bn_relu(x, scaled(filters, width), 3, strides=stride, name=f"stem{i}")
    for b, filters in enumerate(BLOCK_FILTERS, start=1):
        x = separable_block(x, scaled(filters, width), f"block{b}")
    x = _separable_bn(x, scaled(EXIT_FILTERS, width), "exit")
    x = keras.layers.ReLU(name="exit_relu")(x)
    return pooled_features(x, dropout=dropout)
