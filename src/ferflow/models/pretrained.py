"""ImageNet bases (VGG16, ResNet50 from `keras.applications`) fine-tuned on 48x48 grey faces.

Weights come from a local file only: nothing is downloaded at run time, so a pipeline run never
depends on the network. The wrapper turns raw grey 0..255 pixels into what the base was trained
on: resize, repeat grey into three channels, then the caffe-style preprocessing of these two
applications (BGR channel order minus the ImageNet channel means, no scaling).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
from keras import ops

from ferflow.errors import FerflowError
from ferflow.models.common import pooled_features

IMAGENET_BGR_MEAN: tuple[float, float, float] = (103.939, 116.779, 123.68)
MIN_INPUT_SIZE = 32
"""The smallest input both applications accept (five stride-2 stages)."""


@dataclass(frozen=True)
class PretrainedSpec:
    application: Callable[..., keras.Model]
    weights_file: str
    """The file name Keras publishes the ImageNet no-top weights under."""
    top_block: str
    """Name prefix of the base's last conv block, the part unfrozen in fine-tuning phase 2."""


PRETRAINED: dict[str, PretrainedSpec] = {
    "vgg16": PretrainedSpec(
        keras.applications.VGG16, "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", "block5_"
    ),
    "resnet50": PretrainedSpec(
        keras.applications.ResNet50,
        "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "conv5_",
    ),
}


@keras.saving.register_keras_serializable(package="ferflow")
class GreyToRGB(keras.layers.Layer):
    """Repeat a single grey channel three times, for bases trained on colour images."""

    def call(self, inputs: Any) -> Any:
        return ops.repeat(inputs, 3, axis=-1)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (*input_shape[:-1], 3)


@keras.saving.register_keras_serializable(package="ferflow")
class CaffePreprocess(keras.layers.Layer):
    """RGB 0..255 → BGR minus the ImageNet channel means: the input keras.applications' VGG16
    and ResNet50 weights were trained on ("caffe" mode of their `preprocess_input`)."""

    def call(self, inputs: Any) -> Any:
        bgr = ops.flip(inputs, axis=-1)
        return bgr - ops.convert_to_tensor(IMAGENET_BGR_MEAN, dtype=bgr.dtype)


def build_pretrained_features(
    inputs: keras.KerasTensor,
    name: str,
    weights: str,
    *,
    input_size: int,
    dropout: float,
) -> tuple[keras.KerasTensor, keras.Model, tuple[str, ...]]:
    """Features from the ImageNet base of `name` loaded from `weights`.

    Returns the pooled, dropped-out features, the base (freeze it for phase 1) and the names
    of the base layers to unfreeze in phase 2.
    """
    spec = PRETRAINED.get(name)
    if spec is None:
        raise FerflowError(
            f"model {name!r} has no ImageNet version, so `weights` must be empty for it; "
            f"pretrained weights work with {', '.join(PRETRAINED)} only"
        )
    if input_size < MIN_INPUT_SIZE:
        raise FerflowError(
            f"pretrained_input_size is {input_size}, but the {name} ImageNet base needs at "
            f"least {MIN_INPUT_SIZE}x{MIN_INPUT_SIZE} pixels: raise it (96 is a good default)"
        )
    base = load_base(spec, name, Path(weights), input_size)

    x = keras.layers.Resizing(input_size, input_size, name="resize")(inputs)
    x = GreyToRGB(name="grey_to_rgb")(x)
    x = CaffePreprocess(name="imagenet_preprocess")(x)
    # training=False keeps the base's batch norms in inference mode even once unfrozen, so
    # fine-tuning on small batches does not overwrite their ImageNet statistics.
    x = base(x, training=False)
    return pooled_features(x, dropout=dropout), base, top_block_layers(base, spec.top_block)


def load_base(spec: PretrainedSpec, name: str, path: Path, input_size: int) -> keras.Model:
    """The application without its top, built at `input_size` and loaded from `path`."""
    if not path.is_file():
        raise FerflowError(
            f"{path}: ImageNet weights for {name} not found. ferflow downloads nothing at run "
            f"time: get Keras' no-top weights file {spec.weights_file} (keras.applications "
            f"release assets), put it at {path}, or point `weights` at where it is, or leave "
            "`weights` empty to train from scratch"
        )
    base = spec.application(
        include_top=False, weights=None, input_shape=(input_size, input_size, 3)
    )
    try:
        with warnings.catch_warnings():
            # Keras only warns when it skips part of a file; a half-loaded base is an error.
            warnings.simplefilter("error", UserWarning)
            base.load_weights(str(path))
    except Exception as exc:  # Keras and h5py raise several types; all mean "wrong file".
        detail = " ".join(str(exc).split())[:300] or "no detail"
        raise FerflowError(
            f"{path}: cannot load it as {name} ImageNet weights ({type(exc).__name__}: "
            f"{detail}). Use Keras' no-top "
            f"file {spec.weights_file}, or a .weights.h5/.keras file saved from "
            f"keras.applications.{spec.application.__name__}(include_top=False)"
        ) from None
    return base


def top_block_layers(base: keras.Model, prefix: str) -> tuple[str, ...]:
    """Names of the weighted layers in the base's last block, batch norms excepted.

    Batch norms stay frozen in phase 2: their ImageNet statistics and affine parameters are
    better than what a few epochs on small batches of faces would make of them.
    """
    return tuple(
        layer.name
        for layer in base.layers
        if layer.name.startswith(prefix)
        and layer.weights
        and not isinstance(layer, keras.layers.BatchNormalization)
    )
