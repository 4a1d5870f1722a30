"""Resume state of one training: saved atomically after every epoch, outside DVC's outputs.

DVC deletes a stage's declared outputs before it runs the stage, so a checkpoint kept there
would be gone exactly when it is needed. It lives in `.ferflow/resume/<backbone>/` instead
(gitignored) and is removed once the training has written its outputs.

Layout: `run.json` (the MLflow run, written when the run starts) and `checkpoint/` (replaced as
a whole each epoch): `state.json`, the net's last and best weights, the optimizer's variables.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from ferflow.atomic import atomic_path, write_json
from ferflow.training.state import TrainState

if TYPE_CHECKING:
    from ferflow.training.recipe import Recipe

STATE = "state.json"
LAST = "last.weights.h5"
BEST = "best.weights.h5"
OPTIMIZER = "optimizer.npz"


class Checkpoints:
    """The resume directory of one backbone."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.current = directory / "checkpoint"

    def run_for(self, fingerprint: str) -> str | None:
        """The MLflow run a previous, interrupted attempt with the same settings started."""
        data = _read_json(self.directory / "run.json")
        if data and data.get("fingerprint") == fingerprint:
            return str(data["run_id"])
        return None

    def remember_run(self, run_id: str, fingerprint: str) -> None:
        write_json(self.directory / "run.json", {"run_id": run_id, "fingerprint": fingerprint})

    def load(self, fingerprint: str) -> TrainState | None:
        """The last saved state, or None when there is none or it was made with other
        settings or data (then it is discarded: resuming it would mix two trainings)."""
        data = _read_json(self.current / STATE)
        if data is None or data.get("fingerprint") != fingerprint:
            return None
        return TrainState(**data)

    def restore(self, net: keras.Model, optimizer: keras.optimizers.Optimizer | None,
                trainable: list[Any]) -> None:
        """Load the last weights into `net` and, when given, the optimizer's variables."""
        net.load_weights(self.current / LAST)
        if optimizer is None:
            return
        optimizer.build(trainable)
        with np.load(self.current / OPTIMIZER) as saved:
            arrays = [saved[f"v{i}"] for i in range(len(saved.files))]
        if len(arrays) == len(optimizer.variables):
            for variable, value in zip(optimizer.variables, arrays, strict=True):
                variable.assign(value)

    def load_best(self, net: keras.Model) -> None:
        net.load_weights(self.current / BEST)

    def save(self, state: TrainState, net: keras.Model, optimizer: keras.optimizers.Optimizer,
             improved: bool) -> None:
        """Replace the checkpoint by this epoch's, in one rename."""
        previous_best = self.current / BEST
        with atomic_path(self.current, directory=True) as tmp:
            net.save_weights(tmp / LAST)
            if improved or not previous_best.exists():
                shutil.copyfile(tmp / LAST, tmp / BEST)
            else:
                _link_or_copy(previous_best, tmp / BEST)
            np.savez(tmp / OPTIMIZER, **{f"v{i}": np.asarray(keras.ops.convert_to_numpy(v))
                                         for i, v in enumerate(optimizer.variables)})
            (tmp / STATE).write_text(json.dumps(asdict(state)), encoding="utf-8")

    def clear(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(recipe: Recipe, arrays: list[Path], tracking: str) -> str:
    """What a checkpoint must match to be resumed: the effective recipe, the data, the store."""
    parts = {"recipe": recipe.flat(), "tracking": tracking,
             "data": [_file_digest(p) for p in arrays]}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
