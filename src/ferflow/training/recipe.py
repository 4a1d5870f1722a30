"""The training recipe: effective hyperparameters per backbone, optimizer, learning-rate
schedule and class weights."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import keras
import numpy as np

from ferflow.config import BUILD_KEYS, ModelParams, Params, TrainParams, backbone_recipe
from ferflow.errors import FerflowError


@dataclass(frozen=True)
class Recipe:
    """What train@<backbone> runs with: `train` after the backbone's overrides, and `model`."""

    backbone: str
    train: TrainParams
    model: ModelParams

    def with_epochs(self, epochs: int) -> Recipe:
        """The same recipe trained for `epochs` (a time budget's plan)."""
        return replace(self, train=self.train.model_copy(update={"epochs": epochs}))

    @property
    def pretrained(self) -> bool:
        return bool(self.model.weights)

    def phases(self) -> list[tuple[int, int, int, float]]:
        """(phase, first epoch, end epoch, learning rate) per phase; epochs 0-based, end
        exclusive. A pretrained model trains its head first (phase 1), then its top block."""
        t = self.train
        if not self.pretrained:
            return [(1, 0, t.epochs, t.learning_rate)]
        head = min(t.fine_tune.head_epochs, t.epochs)
        phases = [(1, 0, head, t.learning_rate)]
        if t.epochs > head:
            phases.append((2, head, t.epochs, t.learning_rate * t.fine_tune.lr_factor))
        return phases

    def flat(self) -> dict[str, Any]:
        """Every effective hyperparameter as `train.*` / `model.*` keys, for MLflow params."""
        out: dict[str, Any] = {"backbone": self.backbone}
        out.update(_flatten("train", self.train.model_dump(exclude={"backbones"})))
        out.update(_flatten("model", self.model.model_dump(include=set(BUILD_KEYS))))
        return out


def _flatten(prefix: str, data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_flatten(f"{prefix}.{key}", value))
        else:
            out[f"{prefix}.{key}"] = value
    return out


def check_backbone_names(params: Params, backbone: str, available: list[str]) -> None:
    """Raise FerflowError naming each of `backbone`, `train.backbones` and the `models`
    sections that the model zoo (`available`) lacks, and listing the zoo.

    Params are checked without the zoo (that would import Keras); this is the first place it
    is loaded. All names at once: the first train stage then stops before any backbone trains.
    """
    names = dict.fromkeys([backbone, *params.train.backbones, *params.models])
    unknown = [name for name in names if name not in available]
    if unknown:
        named = ", ".join(f"{name!r}{_written_at(params, name)}" for name in unknown)
        raise FerflowError(f"unknown backbone {named}: the model zoo has "
                           f"{', '.join(available)} (check the spelling in params.yaml)")


def _written_at(params: Params, name: str) -> str:
    places = [place for place, there in (("train.backbones", name in params.train.backbones),
                                         (f"models.{name}", name in params.models)) if there]
    return f" ({', '.join(places)})" if places else ""


def recipe_for(params: Params, backbone: str, available: list[str]) -> Recipe:
    """The effective recipe of `backbone`: `train.*` with `models.<backbone>`'s overrides,
    after checking every backbone name in `params` against the model zoo `available`."""
    check_backbone_names(params, backbone, available)
    model = params.models.get(backbone, ModelParams())
    return Recipe(backbone, backbone_recipe(params.train, model), model)


def make_optimizer(train: TrainParams, learning_rate: Any) -> keras.optimizers.Optimizer:
    """SGD with Nesterov momentum or Adam, both with decoupled weight decay."""
    decay = train.weight_decay or None
    if train.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=train.momentum, nesterov=True,
                                    weight_decay=decay)
    return keras.optimizers.Adam(learning_rate, weight_decay=decay)


class ResumedCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Cosine decay that is `progress` (0..1) of the way through its curve at step
    `anchor_step` and reaches the floor at `end_step`: a time budget's schedule after its
    horizon moved (`training.budget.replan`), continuous with the rate already reached. With
    anchor 0 and progress 0 it is Keras' `CosineDecay` over `end_step` steps."""

    def __init__(self, base_lr: float, floor: float, *, anchor_step: int, progress: float,
                 end_step: int) -> None:
        self.base_lr, self.floor = base_lr, floor
        self.anchor_step, self.progress, self.end_step = anchor_step, progress, end_step

    def __call__(self, step: Any) -> Any:
        ops = keras.ops
        step = ops.cast(step, "float32")
        span = float(max(1, self.end_step - self.anchor_step))
        share = ops.clip((step - self.anchor_step) / span, 0.0, 1.0)
        progress = self.progress + (1.0 - self.progress) * share
        cosine = 0.5 * (1.0 + ops.cos(np.pi * progress))
        return self.base_lr * (self.floor + (1.0 - self.floor) * cosine)

    def get_config(self) -> dict[str, Any]:
        return {"base_lr": self.base_lr, "floor": self.floor, "anchor_step": self.anchor_step,
                "progress": self.progress, "end_step": self.end_step}


def learning_rate_for(train: TrainParams, base_lr: float, epochs: int, steps_per_epoch: int,
                      *, anchor: tuple[int, float] = (0, 0.0)
                      ) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """Cosine decay over the phase's steps, or a constant that `PlateauSchedule` lowers.
    `anchor` (epoch, progress): a re-planned time budget's cosine, `progress` of the way
    through after that epoch and at the floor after `epochs`."""
    if train.schedule == "cosine":
        floor = min(train.min_learning_rate / base_lr, 1.0)
        total = max(1, epochs * steps_per_epoch)
        if anchor != (0, 0.0):
            return ResumedCosine(base_lr, floor, anchor_step=anchor[0] * steps_per_epoch,
                                 progress=anchor[1], end_step=total)
        return keras.optimizers.schedules.CosineDecay(base_lr, decay_steps=total, alpha=floor)
    return base_lr


def balanced_class_weights(labels: np.ndarray, num_classes: int) -> dict[int, float]:
    """n / (k · count_c) per class, so each class adds the same total weight to the loss
    (a class absent from the training split gets weight 1)."""
    counts = np.bincount(labels.astype(np.int64), minlength=num_classes)
    n, k = int(counts.sum()), int((counts > 0).sum())
    return {c: (n / (k * int(counts[c])) if counts[c] else 1.0) for c in range(num_classes)}
