"""kill -9 in the middle of a training, start it again: it resumes, in the same MLflow run,
and a time-budgeted training keeps the plan its warm-up made (no second warm-up)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from mlflow import MlflowClient
from params_data import params_tree, write_params
from training_data import (
    checkpointed_epoch,
    start_train_stage,
    wait_for_checkpoint,
    write_arrays,
)

EPOCHS = 6


@pytest.mark.slow
def test_training_killed_with_sigkill_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    write_arrays(tmp_path / "data" / "arrays", rows=420)
    params = params_tree(
        train={"backbones": ["cpu_net"], "epochs": EPOCHS, "batch_size": 16, "optimizer": "sgd",
               "schedule": "cosine", "early_stopping_patience": 0,
               # An hour buys far more than EPOCHS: the plan is the cap, whatever the pace.
               "time_budget_s": 3600},
        models={"cpu_net": {"width": 0.25}}, mlflow={"experiment": "resume"})
    write_params(tmp_path / "params.yaml", params)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"

    first = start_train_stage(tmp_path, uri, merge_output=True)
    wait_for_checkpoint(first, tmp_path)
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed_after = checkpointed_epoch(tmp_path)
    assert 1 <= killed_after < EPOCHS, "the first run finished before it could be killed"
    assert not (tmp_path / "models" / "cpu_net").exists()
    # A SIGKILL runs no handler: the run is left RUNNING (not FAILED), for the rerun to resume.
    client = MlflowClient(uri)
    (killed,) = client.search_runs([client.get_experiment_by_name("resume").experiment_id])
    assert killed.info.status == "RUNNING"
    assert killed.data.params["budget.epochs"] == str(EPOCHS)

    second = start_train_stage(tmp_path, uri, merge_output=True)
    output = second.communicate(timeout=600)[0]
    assert second.returncode == 0, output
    assert f"resuming after epoch {killed_after}" in output
    assert f"3600 s (train.time_budget_s) bought {EPOCHS} epochs of " in output
    # Only the epochs after the checkpoint ran again.
    ran = [line for line in output.splitlines() if line.startswith("train cpu_net epoch ")]
    assert ran[0].startswith(f"train cpu_net epoch {killed_after + 1}/{EPOCHS}")

    history = json.loads((tmp_path / "models" / "cpu_net" / "history.json").read_text())
    assert history["epoch"] == list(range(1, EPOCHS + 1))
    assert len(history["val_accuracy"]) == len(history["loss"]) == EPOCHS
    # Cosine decay went on from the restored step count: the rate keeps falling, no restart.
    rates = history["learning_rate"]
    assert all(a > b for a, b in zip(rates, rates[1:], strict=False))
    metrics = json.loads((tmp_path / "metrics" / "train" / "cpu_net.json").read_text())
    assert metrics["epochs_run"] == EPOCHS
    assert metrics["best_val_accuracy"] == max(history["val_accuracy"])

    experiment = client.get_experiment_by_name("resume")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.info.run_id == json.loads(
        (tmp_path / "models" / "cpu_net" / "run.json").read_text())["run_id"]
    for key in ("loss", "val_accuracy"):
        steps = sorted(m.step for m in client.get_metric_history(run.info.run_id, key))
        assert steps == list(range(1, EPOCHS + 1)), key
    assert not (tmp_path / ".ferflow" / "resume" / "cpu_net").exists()
