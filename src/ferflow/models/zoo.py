"""The model zoo: registry name → backbone builder, and `create_model` that assembles a full
classifier (input rescaling, backbone, head) the way timm's `create_model` does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import keras

from ferflow import IMAGE_SIZE
from ferflow.errors import FerflowError
from ferflow.models import alexnet, cpu_net, resnet, shallow_cnn, vgg
from ferflow.models.common import PerImageStandardization
from ferflow.models.heads import attach_head, check_head
from ferflow.models.pretrained import build_pretrained_features

Builder = Callable[..., keras.KerasTensor]
"""`builder(x, *, width, dropout) -> features`: x is the rescaled (N, 48, 48, 1) input; the
features come out flat and already dropped out, ready for the head's scores layer."""

BACKBONES: dict[str, Builder] = {
    "shallow_cnn": shallow_cnn.build_shallow_cnn,
    "alexnet": alexnet.build_alexnet,
    "vgg16": vgg.build_vgg16,
    "vgg19": vgg.build_vgg19,
    "resnet18": resnet.build_resnet18,
    "resnet50": resnet.build_resnet50,
    "cpu_net": cpu_net.build_cpu_net,
}


@dataclass(frozen=True)
class BuiltModel:
    """A classifier from `create_model` and what training needs to know about it."""

    model: keras.Model
    """Input (None, 48, 48, 1) float32 raw pixels 0..255; output (None, num_classes) raw scores."""
    head: str
    pretrained_base: keras.Model | None
    """The ImageNet base when weights were given: train phase 1 with it frozen."""
    phase2_trainable: tuple[str, ...]
    """Names of the base layers to unfreeze in phase 2 (its last conv block)."""


def available_models() -> list[str]:
    """Registry names, in the order of the zoo (small baselines first)."""
    return list(BACKBONES)


def create_model(
    name: str,
    *,
    head: Literal["softmax", "l2svm"] = "softmax",
    width: float = 1.0,
    dropout: float = 0.5,
    weights: str | None = None,
    pretrained_input_size: int = 96,
    num_classes: int = 7,
    seed: int | None = None,
) -> BuiltModel:
    """Build registry model `name` for 48x48 grey faces with the given head.

    `width` multiplies every channel and dense-layer size (at least 8 each); it does not apply
    to an ImageNet base, whose shape the weights fix. `weights` is a local file of Keras' no-top
    ImageNet weights (vgg16 and resnet50 only); the base then sees the faces resized to
    `pretrained_input_size`. `seed` seeds Keras' global random state (python, numpy, backend)
    so the initial weights are reproducible.
    """
    builder = BACKBONES.get(name)
    if builder is None:
        raise FerflowError(f"unknown model {name!r}: available models are {', '.join(BACKBONES)}")
    check_head(head)
    if not width > 0:
        raise FerflowError(f"model width must be > 0 (1.0 = the published sizes); got {width}")
    if not 0 <= dropout < 1:
        raise FerflowError(f"model dropout must be in [0, 1); got {dropout}")
    if num_classes < 2:
        raise FerflowError(f"num_classes must be at least 2; got {num_classes}")
    if seed is not None:
        keras.utils.set_random_seed(seed)

    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), dtype="float32", name="pixels")
    base: keras.Model | None = None
    phase2: tuple[str, ...] = ()
    if weights:
        features, base, phase2 = build_pretrained_features(
            inputs, name, weights, input_size=pretrained_input_size, dropout=dropout
        )
    else:
        x = PerImageStandardization(name="standardize")(inputs)
        features = builder(x, width=width, dropout=dropout)
    scores = attach_head(features, head, num_classes)
    model = keras.Model(inputs, scores, name=name)
    return BuiltModel(model=model, head=head, pretrained_base=base, phase2_trainable=phase2)


def set_training_phase(built: BuiltModel, phase: Literal[1, 2]) -> None:
    """Freeze for two-phase fine-tuning: phase 1 freezes the whole ImageNet base (only the new
    head learns); phase 2 also unfreezes `phase2_trainable`. Recompile the model afterwards.
    A model without a pretrained base is left fully trainable.
    """
    base = built.pretrained_base
    if base is None:
        return
    if phase not in (1, 2):
        raise FerflowError(f"fine-tuning phase must be 1 or 2; got {phase}")
    base.trainable = phase == 2
    if phase == 2:
        unfrozen = set(built.phase2_trainable)
        for layer in base.layers:
            layer.trainable = layer.name in unfrozen


def count_params(model: keras.Model) -> int:
    """All parameters, trainable and not (batch-norm statistics included)."""
    return int(model.count_params())
