"""The folder store: train and evaluate track into plain files on a host without MLflow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from params_data import params_tree, write_params

from ferflow.data.lineage import DataLineage
from ferflow.errors import FerflowError
from ferflow.tracking.connect import log_into_run, open_tracker
from ferflow.tracking.folder import FolderTracker

ROOT = Path(__file__).resolve().parents[2]
# Runs a stage script with `import mlflow` failing, as on a host that has no MLflow.
WITHOUT_MLFLOW = ("import runpy, sys; sys.modules['mlflow'] = None; sys.argv = sys.argv[1:]; "
                  "runpy.run_path(sys.argv[0], run_name='__main__')")


def test_runs_log_resume_and_fail_in_files(tmp_path: Path) -> None:
    uri = f"folder:{tmp_path / 'runs'}"
    tracker = open_tracker(uri, "exp")
    assert isinstance(tracker, FolderTracker)
    run = tracker.start_run("cpu_net", {"backbone": "cpu_net"})
    tracker.log_params(run, {"train.epochs": 3})
    tracker.log_epoch(run, 1, {"val_accuracy": 0.5, "loss": 1.2})
    tracker.log_epoch(run, 2, {"val_accuracy": 0.6, "loss": 1.0})
    assert tracker.logged_epochs(run, "val_accuracy") == 2
    with pytest.raises(RuntimeError), tracker.failed_on_error(run):
        raise RuntimeError("boom")
    meta = json.loads((tmp_path / "runs" / "exp" / run / "run.json").read_text())
    assert meta["status"] == "FAILED" and meta["params"] == {"train.epochs": "3"}
    assert meta["tags"] == {"backbone": "cpu_net"}
    assert tracker.resume_run(run) and not tracker.resume_run("gone")
    assert open_tracker(uri, "exp").logged_epochs(run, "loss") == 2


def test_datasets_go_into_run_json_and_system_metrics_are_not_recorded(tmp_path: Path) -> None:
    tracker = open_tracker(f"folder:{tmp_path}", "exp")
    run = tracker.start_run("cpu_net", {})
    with tracker.system_metrics(run):
        pass
    lineage = DataLineage(source="file", origin="fer2013.csv", sha256="ab" * 32,
                          rows={"val": 28, "test": 21})
    log_into_run(tracker.ref(run), {"eval_test_accuracy": 0.5}, [], "evaluation", lineage)
    meta = json.loads((tmp_path / "exp" / run / "run.json").read_text())
    assert meta["datasets"] == {
        split: {"source": "file", "origin": "fer2013.csv", "sha256": "ab" * 32, "rows": rows}
        for split, rows in (("val", 28), ("test", 21))}
    assert [m["key"] for m in tracker.metrics(run)] == ["eval_test_accuracy"]


def test_logging_into_a_missing_run_is_named(tmp_path: Path) -> None:
    tracker = open_tracker(f"folder:{tmp_path}", "exp")
    with pytest.raises(FerflowError, match="run nope not found"):
        log_into_run(tracker.ref("nope"), {"a": 1.0}, [], "evaluation")


@pytest.mark.slow
def test_train_and_evaluate_stages_run_and_track_without_mlflow(tmp_path: Path) -> None:
    arrays = tmp_path / "data" / "arrays"
    arrays.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 42), ("val", 14), ("test", 14)):
        np.savez(arrays / f"{split}.npz", x=rng.integers(0, 256, (n, 48, 48), dtype=np.uint8),
                 y=(np.arange(n) % 7).astype(np.uint8), row=np.arange(n, dtype=np.int64))
    write_params(tmp_path / "params.yaml", params_tree(
        train={"backbones": ["cpu_net"], "epochs": 2, "batch_size": 16},
        models={"cpu_net": {"width": 0.25}}, evaluate={"external": []},
        mlflow={"experiment": "window"}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVC_"))}
    env["MLFLOW_TRACKING_URI"] = f"folder:{tmp_path / 'runs'}"
    for stage in ("train", "evaluate"):
        done = subprocess.run([sys.executable, "-c", WITHOUT_MLFLOW,
                               str(ROOT / "pipeline" / f"{stage}.py"), "cpu_net"],
                              cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
    ref = json.loads((tmp_path / "models" / "cpu_net" / "run.json").read_text())
    tracker = FolderTracker(ref["tracking_uri"], ref["experiment_id"])
    meta = json.loads((tracker.folder / ref["run_id"] / "run.json").read_text())
    assert meta["status"] == "FINISHED" and meta["tags"]["backbone"] == "cpu_net"
    logged = {m["key"] for m in tracker.metrics(ref["run_id"])}
    assert {"val_accuracy", "best_val_accuracy", "eval_test_accuracy"} <= logged
    assert tracker.logged_epochs(ref["run_id"], "val_accuracy") == 2
    artifacts = tracker.folder / ref["run_id"] / "artifacts"
    assert (artifacts / "model" / "model.keras").is_file()
    assert (artifacts / "evaluation" / "confusion_matrix.png").is_file()
    assert json.loads((tmp_path / "metrics" / "eval" / "cpu_net.json").read_text())["test"]
