"""Tiny learnable data sets and params for training tests (random pixels, never real rows)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from params_data import params_with

from ferflow.config import Params


def write_arrays(directory: Path, rows: int = 70, seed: int = 0) -> Path:
    """train/val/test .npz like the preprocess stage's: each class brightens its own band of
    rows, so a small net learns something within an epoch or two."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", rows), ("val", max(14, rows // 3)), ("test", 14)):
        y = (np.arange(n) % 7).astype(np.uint8)
        x = rng.integers(0, 120, (n, 48, 48)).astype(np.uint8)
        for i, label in enumerate(y):
            x[i, label * 6:label * 6 + 8, :] = 230
        np.savez(directory / f"{split}.npz", x=x, y=y, row=np.arange(n, dtype=np.int64))
    return directory


def tiny_params(**train: Any) -> Params:
    """params.yaml cut down to a fast run of a narrow cpu_net: keyword arguments override
    `train.*`; `models=` gives the backbones to train instead, each section merged onto
    params.yaml's. The rate stays constant (plateau cannot fire in so few epochs) unless a
    test sets a schedule."""
    models = train.pop("models", {"cpu_net": {"width": 0.25, "dropout": 0.1}})
    recipe = {"backbones": list(models), "epochs": 2, "batch_size": 16, "optimizer": "adam",
              "learning_rate": 0.003, "schedule": "plateau", "early_stopping_patience": 0,
              "augment": {"rotation": 0, "zoom": 0}, **train}
    return params_with(train=recipe, models=models, mlflow={"experiment": "tests"})


@pytest.fixture
def arrays(tmp_path: Path) -> Path:
    return write_arrays(tmp_path / "data" / "arrays")


@pytest.fixture
def sqlite_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A real SQLite MLflow store in tmp_path, also as MLFLOW_TRACKING_URI."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


TRAIN_STAGE = Path(__file__).resolve().parents[2] / "pipeline" / "train.py"


def start_train_stage(root: Path, uri: str, backbone: str = "cpu_net", *,
                      merge_output: bool = False) -> subprocess.Popen[str]:
    """`python pipeline/train.py <backbone>` in `root` as DVC runs it, tracking into `uri`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVC_"))}
    env.update(MLFLOW_TRACKING_URI=uri, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, str(TRAIN_STAGE), backbone], cwd=root, env=env,
                            stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT if merge_output else subprocess.PIPE,
                            text=True)


def checkpointed_epoch(root: Path, backbone: str = "cpu_net") -> int:
    """The epoch of the resume checkpoint in `root` (0 before the first one)."""
    state = root / ".ferflow" / "resume" / backbone / "checkpoint" / "state.json"
    try:
        return json.loads(state.read_text())["epoch"]
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


def wait_for_checkpoint(stage: subprocess.Popen[str], root: Path, limit_s: float = 300) -> None:
    """Block until the running `stage` has checkpointed an epoch; fail if it ends first."""
    deadline = time.monotonic() + limit_s
    while checkpointed_epoch(root) < 1:
        assert stage.poll() is None, stage.communicate()
        assert time.monotonic() < deadline, f"no checkpoint within {limit_s} s"
        time.sleep(0.05)
