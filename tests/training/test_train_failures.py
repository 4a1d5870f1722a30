"""train@<backbone> failures: a bad weights file stops before any MLflow run; a failure once
the run has started (an error, Ctrl-C) ends it FAILED, and a rerun still resumes it."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from mlflow import MlflowClient
from params_data import params_tree, write_params
from training_data import (
    checkpointed_epoch,
    start_train_stage,
    tiny_params,
    wait_for_checkpoint,
    write_arrays,
)

from ferflow.errors import FerflowError
from ferflow.layout import Layout
from ferflow.tracking.mlflow_service import TrackingService
from ferflow.training.loop import train_backbone, watching_interrupts


def _runs(uri: str) -> list:
    client = MlflowClient(uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(ids) if ids else []


def _write_params(root: Path, train: dict, models: dict) -> None:
    write_params(root / "params.yaml", params_tree(
        train={"backbones": list(models), "batch_size": 16, "early_stopping_patience": 0,
               **train},
        models=models, mlflow={"experiment": "failures"}))


def test_missing_weights_file_stops_the_stage_before_any_run(tmp_path: Path) -> None:
    write_arrays(tmp_path / "data" / "arrays")
    _write_params(tmp_path, {"epochs": 1}, {"vgg16": {"weights": "weights/vgg16.h5",
                                                      "pretrained_input_size": 32}})
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    stage = start_train_stage(tmp_path, uri, "vgg16")
    out, err = stage.communicate(timeout=300)
    assert stage.returncode == 2, out + err
    # Keras and TensorFlow may log to stderr first; ours is the last paragraph, alone.
    message = err[err.index("ferflow: error: "):]
    assert message.startswith("ferflow: error: weights/vgg16.h5: ImageNet weights for vgg16 "
                              "not found") and message.count("\n") == 1
    assert "Traceback" not in err
    assert _runs(uri) == []
    assert not (tmp_path / "models").exists() and not (tmp_path / ".ferflow").exists()


def test_unloadable_weights_file_stops_before_any_run(tmp_path: Path, arrays: Path,
                                                      sqlite_uri: str) -> None:
    weights = tmp_path / "vgg16.h5"
    weights.write_bytes(b"not an HDF5 file")
    params = tiny_params(models={"vgg16": {"weights": str(weights),
                                           "pretrained_input_size": 32}})
    with pytest.raises(FerflowError, match="vgg16.h5: cannot load it as vgg16 ImageNet weights"):
        train_backbone("vgg16", params, layout=Layout(tmp_path),
                       tracker=TrackingService(sqlite_uri, "tests"))
    assert _runs(sqlite_uri) == []


def test_error_after_the_run_started_ends_it_failed_and_a_rerun_resumes_it(
        tmp_path: Path, arrays: Path, sqlite_uri: str) -> None:
    (tmp_path / "models").write_text("a file where the models folder belongs")
    layout = Layout(tmp_path)
    tracker = TrackingService(sqlite_uri, "tests")
    with pytest.raises(FileExistsError):
        train_backbone("cpu_net", tiny_params(), layout=layout, tracker=tracker)
    (run,) = _runs(sqlite_uri)
    assert run.info.status == "FAILED"

    (tmp_path / "models").unlink()
    train_backbone("cpu_net", tiny_params(), layout=layout, tracker=tracker)
    (again,) = _runs(sqlite_uri)
    assert again.info.run_id == run.info.run_id and again.info.status == "FINISHED"


@pytest.mark.slow
def test_ctrl_c_during_training_ends_the_run_failed(tmp_path: Path) -> None:
    write_arrays(tmp_path / "data" / "arrays")
    _write_params(tmp_path, {"epochs": 200}, {"cpu_net": {"width": 0.25}})
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    stage = start_train_stage(tmp_path, uri, "cpu_net")
    wait_for_checkpoint(stage, tmp_path)
    stage.send_signal(signal.SIGINT)
    out, err = stage.communicate(timeout=120)
    assert stage.returncode == 130, out + err
    assert err.rstrip().endswith("ferflow: interrupted; outputs were left as they were before "
                                 "this run")
    (run,) = _runs(uri)
    assert run.info.status == "FAILED"
    assert checkpointed_epoch(tmp_path) >= 1  # kept: the next attempt resumes this run


def test_ctrl_c_during_a_checkpoint_and_epoch_log_waits_for_them_to_finish() -> None:
    """Ctrl-C right after a checkpoint lands in the epoch's MLflow write: raising there once
    left SQLite locked by the interrupted write and the FAILED run waited on it."""
    finished = []
    with pytest.raises(KeyboardInterrupt), watching_interrupts() as interrupts:
        with interrupts.deferred():
            os.kill(os.getpid(), signal.SIGINT)
            finished.append("checkpoint and log")
        finished.append("after the block")
    assert finished == ["checkpoint and log"]
    with pytest.raises(KeyboardInterrupt), watching_interrupts():
        os.kill(os.getpid(), signal.SIGINT)  # outside a deferred block: at once, as before
        finished.append("never")
    assert finished == ["checkpoint and log"]
