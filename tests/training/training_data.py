"""Tiny learnable data sets and params for training tests (random pixels, never real rows)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ferflow.config import parse_params


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


def tiny_params(**train: Any) -> Any:
    """Params for a fast cpu_net run; keyword arguments override `train.*`."""
    models = train.pop("models", {"cpu_net": {"width": 0.25, "dropout": 0.1}})
    recipe = {"backbones": list(models), "epochs": 2, "batch_size": 16, "optimizer": "adam",
              "learning_rate": 0.003, "early_stopping_patience": 0,
              "augment": {"rotation": 0, "zoom": 0}, **train}
    return parse_params({"train": recipe, "models": models, "mlflow": {"experiment": "tests"}})


@pytest.fixture
def arrays(tmp_path: Path) -> Path:
    return write_arrays(tmp_path / "data" / "arrays")


@pytest.fixture
def sqlite_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A real SQLite MLflow store in tmp_path, also as MLFLOW_TRACKING_URI."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri
