"""`ferflow benchmark train`: training throughput (images/s) per backbone on this device."""

from __future__ import annotations

import time
from dataclasses import dataclass

import keras
import numpy as np

from ferflow import EMOTIONS, backend
from ferflow.config import AugmentParams
from ferflow.training.augment import build_augmenter, training_model

# Both augmentation layers, at configs/fer2013.yaml's strengths. What they cost hardly depends
# on those: each warps, or draws a rectangle and noise for, every image of every batch.
EVERY_AUGMENTATION = AugmentParams(flip=True, shift=0.1, rotation=10.0, zoom=0.1, erasing=0.25,
                                   erasing_max_area=0.2)
NO_AUGMENTATION = EVERY_AUGMENTATION.model_copy(
    update={"flip": False, "shift": 0.0, "rotation": 0.0, "zoom": 0.0, "erasing": 0.0})


@dataclass(frozen=True)
class Throughput:
    backbone: str
    width: float
    batch_size: int
    params: int
    images_per_s: float


def measure_training(backbone: str, *, width: float, batch_size: int, steps: int,
                     warmup: int = 3, augment: bool = True, seed: int = 0) -> Throughput:
    """Images/s of `steps` timed SGD steps on random data, after `warmup` untimed steps
    (graph tracing and memory allocation happen there)."""
    from ferflow.models import loss_for_head
    from ferflow.models.zoo import count_params, create_model

    built = create_model(backbone, width=width, seed=seed)
    augmenter = build_augmenter(EVERY_AUGMENTATION if augment else NO_AUGMENTATION, seed=seed)
    model = training_model(built.model, augmenter)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True),
                  loss=loss_for_head("softmax"))
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 255, (batch_size, 48, 48, 1)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, len(EMOTIONS), batch_size), len(EMOTIONS))
    for _ in range(warmup):
        model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(steps):
        loss = model.train_on_batch(x, y)
    keras.ops.convert_to_numpy(loss)  # wait for asynchronous devices to finish
    elapsed = time.perf_counter() - start
    return Throughput(backbone, width, batch_size, count_params(built.model),
                      steps * batch_size / elapsed)


def benchmark_training(backbones: list[str], *, width: float, batch_size: int, steps: int,
                       augment: bool = True) -> str:
    """A table of training throughput per backbone, headed by the device and backend."""
    rows = [measure_training(b, width=width, batch_size=batch_size, steps=steps,
                             augment=augment) for b in backbones]
    lines = [f"training throughput on {backend.device_description()} "
             f"(keras {keras.__version__}, {backend.backend_name()} backend), width {width}, "
             f"batch {batch_size}, {steps} timed steps, augmentation "
             f"{'on' if augment else 'off'}",
             f"{'backbone':<12} {'params':>12} {'images/s':>10}"]
    lines += [f"{r.backbone:<12} {r.params:>12,} {r.images_per_s:>10.1f}" for r in rows]
    return "\n".join(lines)
