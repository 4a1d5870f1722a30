"""`ferflow benchmark train`: training throughput (images/s) per backbone and device count, and
the share of step time spent waiting for the next batch.

Each measurement is one `fit` epoch on random faces through the trainer's own input path
(`training.inputs.fit_inputs`: Keras' numpy input on one CPU device and TensorFlow, the
device-resident `DeviceBatches` on an accelerator or on several devices), so it times what a
training epoch does: the augmentation layers, the net, the loss, the optimizer and the input.
The first `warmup` steps (tracing, compiling, allocating) are not timed.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from typing import Any

import keras
import numpy as np

from ferflow import EMOTIONS, backend
from ferflow.config import AugmentParams, TrainParams
from ferflow.data.arrays import Split
from ferflow.training.augment import build_augmenter, training_model
from ferflow.training.inputs import fit_inputs
from ferflow.training.pace import time_steps

# Both augmentation layers, at configs/fer2013.yaml's strengths. What they cost hardly depends
# on those: each warps, or draws a rectangle and noise for, every image of every batch.
EVERY_AUGMENTATION = AugmentParams(flip=True, shift=0.1, rotation=10.0, zoom=0.1, erasing=0.25,
                                   erasing_max_area=0.2)
NO_AUGMENTATION = EVERY_AUGMENTATION.model_copy(
    update={"flip": False, "shift": 0.0, "rotation": 0.0, "zoom": 0.0, "erasing": 0.0})


@dataclass(frozen=True)
class Throughput:
    backbone: str
    devices: int
    batch_size: int
    """Images per step, over all devices."""
    params: int
    images_per_s: float
    input_wait_share: float | None
    """Share of the timed steps' wall time between one step's end and the next one's start,
    where the host fetches the next batch; None where the batch is fetched inside the compiled
    step (TensorFlow's input pipeline), so that no wait shows between steps."""
    input_path: str
    """`numpy` (Keras' input path from host arrays) or `device` (`DeviceBatches`)."""
    precision: str
    """Keras' dtype policy: float32, or mixed_bfloat16 / mixed_float16 on a GPU."""


def random_faces(images: int, seed: int) -> Split:
    rng = np.random.default_rng(seed)
    return Split(rng.integers(0, 256, (images, 48, 48, 1)).astype("float32"),
                 rng.integers(0, len(EMOTIONS), images))


def measure_training(backbone: str, train: TrainParams, *, devices: int, width: float,
                     batch_size: int, steps: int, warmup: int = 3, augment: bool = True,
                     precision: str | None = None) -> Throughput:
    """Images/s of `steps` timed steps of `batch_size` images on each of `devices` devices
    (data parallel), after `warmup` untimed ones, with `train`'s input path and precision (or
    the Keras dtype policy `precision`)."""
    from ferflow.models import loss_for_head
    from ferflow.models.zoo import count_params, create_model

    precision = (backend.set_precision(precision) if precision else
                 backend.configure_precision(train.mixed_precision))
    batch = batch_size * devices
    train = train.model_copy(update={"batch_size": batch, "accelerator_batch_size": batch,
                                     "class_weights": "none"})
    with backend.data_parallel_over(devices):
        built = create_model(backbone, width=width, seed=train.seed)
        augmenter = build_augmenter(EVERY_AUGMENTATION if augment else NO_AUGMENTATION,
                                    seed=train.seed)
        model = training_model(built.model, augmenter)
        model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True),
                      loss=loss_for_head("softmax"))
        inputs = fit_inputs(random_faces((warmup + steps) * batch, train.seed),
                            random_faces(devices, train.seed + 1), train)
        arguments = {k: v for k, v in inputs.arguments.items() if k != "validation_data"}
        pace = time_steps(model, arguments, inputs.callbacks, warmup=warmup, steps=steps)
    wait = pace.wait_share if backend.input_fetched_between_steps() else None
    return Throughput(backbone, devices, batch, count_params(built.model),
                      batch / pace.step_s, wait,
                      "device" if backend.input_on_device() else "numpy", precision)


def default_device_counts() -> list[int]:
    """1, then the powers of two up to this process's device count, and that count."""
    available = backend.local_device_count()
    counts = [1]
    while counts[-1] * 2 <= available:
        counts.append(counts[-1] * 2)
    return counts if counts[-1] == available else [*counts, available]


def benchmark_training(backbones: list[str], train: TrainParams, *, devices: list[int],
                       width: float, batch_size: int, steps: int, augment: bool = True,
                       precision: str | None = None) -> tuple[str, list[Throughput]]:
    """A table of training throughput per backbone and device count, headed by the device,
    backend and precision, and its rows."""
    for count in devices:
        backend.check_device_count(count)
    rows = []
    for b in backbones:
        for n in devices:
            # Progress on stderr, and the name of what was running if the process dies.
            print(f"benchmark train: {b} on {n} device{'s' if n > 1 else ''}", file=sys.stderr,
                  flush=True)
            rows.append(measure_training(b, train, devices=n, width=width,
                                         batch_size=batch_size, steps=steps, augment=augment,
                                         precision=precision))
    lines = [f"training throughput on {backend.device_description()} "
             f"(keras {keras.__version__}, {backend.backend_name()} backend, "
             f"{rows[0].precision}), "
             f"width {width}, batch {batch_size} per device, {steps} timed steps, "
             f"augmentation {'on' if augment else 'off'}",
             f"{'backbone':<12} {'devices':>7} {'batch':>6} {'params':>12} {'images/s':>10} "
             f"{'speed-up':>8} {'input wait':>10} {'input':>6}"]
    single = {r.backbone: r.images_per_s for r in rows if r.devices == 1}
    for r in rows:
        speedup = f"{r.images_per_s / single[r.backbone]:.2f}x" if r.backbone in single else "-"
        wait = "in step" if r.input_wait_share is None else f"{100 * r.input_wait_share:.1f}%"
        lines.append(f"{r.backbone:<12} {r.devices:>7} {r.batch_size:>6} {r.params:>12,} "
                     f"{r.images_per_s:>10.1f} {speedup:>8} {wait:>10} {r.input_path:>6}")
    return "\n".join(lines), rows


def as_records(rows: list[Throughput]) -> list[dict[str, Any]]:
    return [asdict(r) for r in rows]
