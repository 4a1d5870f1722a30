"""ResNet (He et al. 2016) for 48x48 inputs: basic blocks (ResNet18) and bottlenecks (ResNet50).

The ImageNet stem (7x7 stride-2 conv + max-pool) would shrink a 48x48 face to 12x12 before the
first residual block; a 3x3 stride-1 stem keeps the resolution, as the CIFAR variants do.
Stages 2-4 halve the map: 48 → 24 → 12 → 6, then global average pooling. Shortcuts that change
shape are ResNet-D's (average pool, then a 1x1 stride-1 conv; `common.projection_shortcut`).
"""

from __future__ import annotations

from functools import partial

import keras

from ferflow.models.common import (
    conv_bn,
    conv_bn_relu,
    pooled_features,
    projection_shortcut,
    scaled,
)

STEM_FILTERS = 64
STAGE_FILTERS: tuple[int, ...] = (64, 128, 256, 512)
RESNET18_BLOCKS: tuple[int, ...] = (2, 2, 2, 2)
RESNET50_BLOCKS: tuple[int, ...] = (3, 4, 6, 3)
BOTTLENECK_EXPANSION = 4


def _residual(
    x: keras.KerasTensor, branch: keras.KerasTensor, out_filters: int, strides: int, name: str
) -> keras.KerasTensor:
    """Add the branch to the input, projecting the input when its shape changes."""
    shortcut = x
    if strides != 1 or x.shape[-1] != out_filters:
        shortcut = projection_shortcut(x, out_filters, strides=strides, name=f"{name}_proj")
    y = keras.layers.Add(name=f"{name}_add")([shortcut, branch])
    return keras.layers.ReLU(name=f"{name}_out")(y)


def basic_block(x: keras.KerasTensor, filters: int, strides: int, name: str) -> keras.KerasTensor:
    """Two 3x3 convs (ResNet18/34)."""
    y = conv_bn_relu(x, filters, 3, strides=strides, name=f"{name}_1")
    y = conv_bn(y, filters, 3, name=f"{name}_2")
    return _residual(x, y, filters, strides, name)


def bottleneck_block(
    x: keras.KerasTensor, filters: int, strides: int, name: str
) -> keras.KerasTensor:
    """1x1 reduce → 3x3 (carries the stride, as in ResNet v1.5) → 1x1 expand (ResNet50+)."""
    y = conv_bn_relu(x, filters, 1, name=f"{name}_1")
    y = conv_bn_relu(y, filters, 3, strides=strides, name=f"{name}_2")
    y = conv_bn(y, filters * BOTTLENECK_EXPANSION, 1, name=f"{name}_3")
    return _residual(x, y, filters * BOTTLENECK_EXPANSION, strides, name)


def build_resnet(
    x: keras.KerasTensor,
    *,
    blocks: tuple[int, ...],
    bottleneck: bool,
    width: float,
    dropout: float,
) -> keras.KerasTensor:
    """3x3 stem, four stages of residual blocks (stride 2 from stage 2 on), GAP, dropout."""
    block = bottleneck_block if bottleneck else basic_block
    x = conv_bn_relu(x, scaled(STEM_FILTERS, width), 3, name="stem")
    for s, (filters, count) in enumerate(zip(STAGE_FILTERS, blocks, strict=True), start=1):
        for b in range(1, count + 1):
            strides = 2 if s > 1 and b == 1 else 1
            x = block(x, scaled(filters, width), strides, f"stage{s}_block{b}")
    return pooled_features(x, dropout=dropout)


build_resnet18 = partial(build_resnet, blocks=RESNET18_BLOCKS, bottleneck=False)
build_resnet50 = partial(build_resnet, blocks=RESNET50_BLOCKS, bottleneck=True)
