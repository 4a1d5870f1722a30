"""How fast `fit` trains: the wall time of its steps after a warm-up, and the gaps between
steps where the host fetches the next batch. Used by the time budget's warm-up
(`training.loop`) and by `ferflow benchmark train`."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import keras


class StepClock(keras.callbacks.Callback):
    """Wall time of the steps after the first `warmup`, and the gaps between them."""

    def __init__(self, warmup: int) -> None:
        super().__init__()
        self.warmup = warmup
        self.start = self.end = self.waited = 0.0

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        now = time.perf_counter()
        if batch == self.warmup:
            self.start = now
        elif batch > self.warmup:
            self.waited += now - self.end

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        # The step's loss on the host: an asynchronous device has finished the step.
        keras.ops.convert_to_numpy((logs or {}).get("loss", 0.0))
        self.end = time.perf_counter()


@dataclass(frozen=True)
class Pace:
    step_s: float
    """Wall seconds per timed step."""
    wait_share: float
    """Share of the timed steps' wall time spent between steps (fetching input)."""


def time_steps(model: keras.Model, arguments: dict[str, Any], callbacks: list[Any], *,
               warmup: int, steps: int) -> Pace:
    """Fit compiled `model` for `warmup` + `steps` steps of `arguments` (fit's data keywords,
    without validation) and time the last `steps`."""
    clock = StepClock(warmup)
    model.fit(**arguments, epochs=1, steps_per_epoch=warmup + steps, verbose=0,
              callbacks=[clock, *callbacks])
    elapsed = clock.end - clock.start
    return Pace(elapsed / steps, clock.waited / elapsed if elapsed > 0 else 0.0)
