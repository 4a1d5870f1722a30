"""Fixtures: a tiny project on disk, as the train stage leaves it: arrays, tiny models, real
MLflow runs in a SQLite store under tmp_path."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from ferflow.models.zoo import create_model


def _write_split(project: Path, split: str, x: np.ndarray, y: np.ndarray) -> None:
    arrays = project / "data" / "arrays"
    arrays.mkdir(parents=True, exist_ok=True)
    np.savez(arrays / f"{split}.npz", x=x.astype(np.uint8), y=y.astype(np.uint8),
             row=np.arange(len(y), dtype=np.int64))


@pytest.fixture
def write_split() -> Callable[[Path, str, np.ndarray, np.ndarray], None]:
    """Write `data/arrays/<split>.npz` under a project (x uint8 faces, y labels)."""
    return _write_split


@pytest.fixture
def tracking_uri(tmp_path: Path) -> str:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    mlflow.set_tracking_uri(uri)
    return uri


@pytest.fixture
def project(tmp_path: Path, tracking_uri: str) -> Path:
    """Random val/test arrays (labels cycle through all classes) and data/raw/source.json."""
    root = tmp_path / "project"
    rng = np.random.default_rng(0)
    for split, n in (("val", 28), ("test", 21)):
        _write_split(root, split, rng.integers(0, 256, (n, 48, 48)), np.arange(n) % 7)
    raw = root / "data" / "raw"
    raw.mkdir(parents=True)
    (raw / "source.json").write_text(json.dumps({"source": "synthetic", "sha256": "ab" * 32,
                                                 "rows": 49, "origin": "synthetic"}))
    return root


@pytest.fixture
def add_backbone(project: Path, tracking_uri: str) -> Callable[..., Path]:
    """Save a tiny untrained model as models/<name>/model.keras with a real MLflow run."""
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("ferflow")
    experiment_id = (experiment.experiment_id if experiment else client.create_experiment(
        "ferflow", artifact_location=(project.parent / "mlartifacts").as_uri()))

    def add(name: str, seed: int = 0, predicts: int | None = None) -> Path:
        """`predicts=k`: a model that answers class k for every face (zero scores kernel, bias
        on k), for tests that need to know which candidate wins where."""
        model_dir = project / "models" / name
        model_dir.mkdir(parents=True)
        model = create_model("cpu_net", width=0.125, seed=seed).model
        if predicts is not None:
            scores = model.get_layer("scores")
            scores.kernel.assign(np.zeros(scores.kernel.shape, dtype="float32"))
            scores.bias.assign(np.eye(7, dtype="float32")[predicts] * 4)
        model.save(model_dir / "model.keras")
        run = client.create_run(experiment_id, run_name=name)
        client.log_metric(run.info.run_id, "val_accuracy", 0.1, step=0)
        client.set_terminated(run.info.run_id)
        (model_dir / "run.json").write_text(json.dumps({
            "run_id": run.info.run_id, "experiment_id": experiment_id,
            "tracking_uri": tracking_uri}))
        train = project / "metrics" / "train"
        train.mkdir(parents=True, exist_ok=True)
        (train / f"{name}.json").write_text(json.dumps({"train_time_s": 12.5 + seed}))
        return model_dir

    return add
