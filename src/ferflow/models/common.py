"""Building blocks shared by the backbones: channel scaling and the usual conv/dense stacks."""

from __future__ import annotations

import keras

MIN_CHANNELS = 8
"""Narrowest layer `width` may produce, so tiny test models still have a few features."""

KERNEL_INIT = "he_normal"
"""He initialisation: the right scale for ReLU networks trained from scratch."""



# BN's running statistics are what inference uses. Keras' default momentum (0.99) needs several
# hundred steps to forget their initial values; short schedules (the embedded default trains for a
# few hundred steps) then evaluate with statistics that never matched the data. 0.9 tracks them
# within tens of steps and costs nothing on long schedules.
BN_MOMENTUM = 0.9


def batch_norm(name: str) -> keras.layers.BatchNormalization:
    """BatchNormalization with the momentum every ferflow backbone uses."""
    return keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=name)

def scaled(units: int, width: float) -> int:
    """`units` times the width multiplier, rounded, never below `MIN_CHANNELS`."""
    return max(MIN_CHANNELS, round(units * width))


def conv_bn(
    x: keras.KerasTensor,
    filters: int,
    kernel_size: int,
    *,
    strides: int = 1,
    name: str,
) -> keras.KerasTensor:
    """Conv (no bias: BN's beta replaces it) → BatchNorm, no activation."""
    x = keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=False,
        kernel_initializer=KERNEL_INIT,
        name=f"{name}_conv",
    )(x)
    return batch_norm(f"{name}_bn")(x)


def conv_bn_relu(
    x: keras.KerasTensor,
    filters: int,
    kernel_size: int,
    *,
    strides: int = 1,
    name: str,
) -> keras.KerasTensor:
    """Conv → BatchNorm → ReLU."""
    x = conv_bn(x, filters, kernel_size, strides=strides, name=name)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def projection_shortcut(
    x: keras.KerasTensor, filters: int, *, strides: int, name: str
) -> keras.KerasTensor:
    """The shortcut of a residual block whose output shape differs from its input.

    ResNet-D's form (He et al., "Bag of Tricks", 2019): average-pool to the new size, then a
    1x1 stride-1 conv. A strided 1x1 conv would drop three pixels in four, and on a narrow input
    (8 channels at 48x48) its weight gradient crashes oneDNN's AVX-512 kernels in TensorFlow
    2.21 (docs/benchmarks.md), so no ferflow backbone ever builds one.
    """
    if strides != 1:
        x = keras.layers.AveragePooling2D(strides, strides=strides, padding="same",
                                          name=f"{name}_pool")(x)
    return conv_bn(x, filters, 1, name=name)


def dense_dropout_stack(
    x: keras.KerasTensor, units: tuple[int, ...], *, width: float, dropout: float
) -> keras.KerasTensor:
    """Flatten, then `Dense → ReLU → Dropout` per entry of `units` (the classic FC classifier).

    The last dropout sits right before the scores layer the head adds.
    """
    x = keras.layers.Flatten(name="flatten")(x)
    for i, n in enumerate(units, start=1):
        x = keras.layers.Dense(
            scaled(n, width), activation="relu", kernel_initializer=KERNEL_INIT, name=f"fc{i}"
        )(x)
        x = keras.layers.Dropout(dropout, name=f"fc{i}_dropout")(x)
    return x


def pooled_features(x: keras.KerasTensor, *, dropout: float) -> keras.KerasTensor:
    """Global average pooling then dropout: the classifier input of the all-convolutional nets."""
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.layers.Dropout(dropout, name="gap_dropout")(x)


@keras.saving.register_keras_serializable(package="ferflow")
class PerImageStandardization(keras.layers.Layer):
    """Each face to zero mean, unit variance over its own pixels.

    FER2013 (and the synthetic faces) vary a lot in exposure and contrast; removing that per
    image lets short schedules learn expressions instead of lighting.
    """

    def call(self, inputs):
        mean = keras.ops.mean(inputs, axis=(1, 2, 3), keepdims=True)
        std = keras.ops.std(inputs, axis=(1, 2, 3), keepdims=True)
        return (inputs - mean) / keras.ops.maximum(std, 1.0)
