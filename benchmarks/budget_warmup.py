"""Does the time budget's warm-up measure the pace the epochs then run at? For the cpu_net
recipe of a project whose preprocess stage has run: the step time that warm-ups of 2 + 8 and
3 + 30 steps measure (`training.loop.measure_budget`), then the wall time of each step of 300
steps of a real training, averaged over ranges of steps.

    .venv/bin/python benchmarks/budget_warmup.py PROJECT_DIR   # e.g. after the 30-minute run
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

import keras

from ferflow.config import load_params
from ferflow.data.arrays import load_split
from ferflow.layout import Layout
from ferflow.models.zoo import available_models
from ferflow.training.inputs import fit_inputs
from ferflow.training.loop import build_for_training, compile_phase, measure_budget
from ferflow.training.recipe import recipe_for

WARMUPS = ((2, 8), (3, 30))
STEPS = 300
RANGES = ((2, 10), (10, 40), (40, 100), (100, 200), (200, 300))


class StepTimes(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self.started = 0.0

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.started = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.seconds.append(time.perf_counter() - self.started)


def main(root: Path) -> None:
    params = load_params(root / "params.yaml")
    arrays = Layout(root).arrays_dir
    recipe = recipe_for(params, "cpu_net", available_models())
    train_set, val_set = load_split(arrays, "train"), load_split(arrays, "val")
    inputs = fit_inputs(train_set, val_set, recipe.train)
    for warmup, steps in WARMUPS:
        started = time.monotonic()
        plan = measure_budget(recipe, inputs, train_set, val_set, warmup=warmup, steps=steps)
        print(f"warm-up {warmup} + {steps} steps: {1000 * plan.step_s:.1f} ms a step, buys "
              f"{plan.epochs} epochs ({time.monotonic() - started:.1f} s)", flush=True)
    built, wrapper = build_for_training(recipe)
    compile_phase(wrapper, built, recipe.train, recipe.train.learning_rate, recipe.train.epochs,
                  inputs.steps, inputs.accuracy)
    clock = StepTimes()
    arguments = {k: v for k, v in inputs.arguments.items() if k != "validation_data"}
    wrapper.fit(**{**arguments, "steps_per_epoch": STEPS}, epochs=1, verbose=0,
                callbacks=[clock, *inputs.callbacks])
    for first, end in RANGES:
        part = clock.seconds[first:end]
        print(f"training steps {first}-{end}: mean {1000 * statistics.mean(part):.1f} ms, "
              f"median {1000 * statistics.median(part):.1f} ms")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
