"""A small net that trains on a CPU: depthwise-separable residual blocks (after mini-Xception,
Arriaga et al. 2017, with Xception's middle-flow blocks), batch norm and a global-average-pooling
classifier.

Separable 3x3 convs cost about a ninth of full 3x3 convs, and the GAP head has no large dense
layer, so nearly all of the parameters sit in the convolutions. Measured on a 2-core CPU, one
stride-2 stem conv plus extra blocks at the small 12x12 and 6x6 maps buys more accuracy per
second than spending the same time on full-resolution stem convs (docs/benchmarks.md).
"""

from __future__ import annotations

import keras

from ferflow.models.common import (
    KERNEL_INIT,
    batch_norm,
    conv_bn_relu,
    pooled_features,
    projection_shortcut,
    scaled,
)

STEM_FILTERS = 32
"""One plain stride-2 3x3 conv: 48x48 → 24x24 with 32 channels keeps every pixel's detail
while cutting the cost of everything after it by four."""

STAGES: tuple[tuple[int, int], ...] = ((64, 1), (128, 2), (256, 2))
"""(filters, middle blocks) per stage: an entry block that halves the map (24 → 12 → 6 → 3),
then middle blocks that keep it."""

EXIT_FILTERS = 384


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


def entry_block(x: keras.KerasTensor, filters: int, name: str) -> keras.KerasTensor:
    """Two separable convs and a stride-2 max-pool, plus a pooled 1x1 projection shortcut."""
    shortcut = projection_shortcut(x, filters, strides=2, name=f"{name}_proj")
    y = _separable_bn(x, filters, f"{name}_1")
    y = keras.layers.ReLU(name=f"{name}_1_relu")(y)
    y = _separable_bn(y, filters, f"{name}_2")
    y = keras.layers.MaxPooling2D(3, strides=2, padding="same", name=f"{name}_pool")(y)
    return keras.layers.Add(name=f"{name}_add")([shortcut, y])


def middle_block(x: keras.KerasTensor, filters: int, name: str) -> keras.KerasTensor:
    """ReLU → separable conv → ReLU → separable conv, added to an identity shortcut."""
    y = keras.layers.ReLU(name=f"{name}_0_relu")(x)
    y = _separable_bn(y, filters, f"{name}_1")
    y = keras.layers.ReLU(name=f"{name}_1_relu")(y)
    y = _separable_bn(y, filters, f"{name}_2")
    return keras.layers.Add(name=f"{name}_add")([x, y])


def build_cpu_net(x: keras.KerasTensor, *, width: float, dropout: float) -> keras.KerasTensor:
    """Stem, stages of separable residual blocks, a separable exit conv, GAP and dropout."""
    x = conv_bn_relu(x, scaled(STEM_FILTERS, width), 3, strides=2, name="stem")
    for s, (filters, middle) in enumerate(STAGES, start=1):
        x = entry_block(x, scaled(filters, width), f"stage{s}_entry")
        for m in range(1, middle + 1):
            x = middle_block(x, scaled(filters, width), f"stage{s}_middle{m}")
    x = keras.layers.ReLU(name="exit_in_relu")(x)
    x = _separable_bn(x, scaled(EXIT_FILTERS, width), "exit")
    x = keras.layers.ReLU(name="exit_relu")(x)
    return pooled_features(x, dropout=dropout)
