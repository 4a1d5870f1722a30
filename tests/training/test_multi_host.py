"""Multi-host training: two processes on 127.0.0.1 play two hosts (each its own project copy
and tracking store, as on two machines) of 2 devices each (forced CPU devices), joined by
FERFLOW_COORDINATOR, FERFLOW_NUM_PROCESSES and FERFLOW_PROCESS_ID, each running the real train
stage script on the JAX backend: data parallel over 4 devices.

Process 0 alone logs to MLflow and writes the stage outputs; a lost process 1 fails process 0
with a clear error, never a hang: a killed one at once (its peer's collective sees the
connection reset), a stopped one (SIGSTOP: no reset, the collective would wait for ever) after
FERFLOW_HEARTBEAT_TIMEOUT_S, through the peer watch in ferflow.backend.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from keras_backends import backend_variables
from mlflow import MlflowClient
from params_data import params_tree, write_params
from training_data import TRAIN_STAGE, checkpointed_epoch, write_arrays

from ferflow.layout import Layout

BACKBONE = "shallow_cnn"
"""The quickest backbone to compile on JAX's CPU build."""
HEARTBEAT_S = 10
LOST_WITHIN_S = HEARTBEAT_S + 20
"""How soon process 0 must fail after process 1 is lost: the heartbeat timeout, plus the peer
watch's one-second period and the time to end the MLflow run FAILED, with a wide margin."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_hosts(tmp_path: Path, epochs: int) -> tuple[list[Path], list[subprocess.Popen[str]]]:
    """Project copies host0/ and host1/ (arrays, params, data source) and one train stage
    process in each, joined as processes 0 and 1 of one training."""
    roots = [tmp_path / "host0", tmp_path / "host1"]
    port = _free_port()
    processes = []
    for index, root in enumerate(roots):
        # 42 faces in batches of 16: the last 10 leave out 2 (a batch must split over 4
        # devices); the 14 validation faces are padded to 16.
        write_arrays(root / "data" / "arrays", rows=42)
        (root / "data" / "raw").mkdir(parents=True)
        (root / "data" / "raw" / "source.json").write_text(json.dumps({"sha256": "ab" * 32}))
        write_params(root / "params.yaml", params_tree(
            train={"backbones": [BACKBONE], "batch_size": 8, "accelerator_batch_size": 16,
                   "optimizer": "adam", "learning_rate": 0.003, "schedule": "plateau",
                   "early_stopping_patience": 0, "augment": {"rotation": 0, "zoom": 0}},
            models={BACKBONE: {"width": 0.25, "dropout": 0.1, "epochs": epochs}},
            mlflow={"experiment": "hosts"}))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVC_"))}
        env.update(backend_variables("jax"), PYTHONUNBUFFERED="1",
                   XLA_FLAGS="--xla_force_host_platform_device_count=2",
                   MLFLOW_TRACKING_URI=f"sqlite:///{root / 'mlflow.db'}",
                   FERFLOW_COORDINATOR=f"127.0.0.1:{port}", FERFLOW_NUM_PROCESSES="2",
                   FERFLOW_PROCESS_ID=str(index), FERFLOW_HEARTBEAT_TIMEOUT_S=str(HEARTBEAT_S))
        processes.append(subprocess.Popen(
            [sys.executable, str(TRAIN_STAGE), BACKBONE], cwd=root, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    return roots, processes


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def _runs(uri: str) -> list:
    client = MlflowClient(uri)
    return client.search_runs([e.experiment_id for e in client.search_experiments()])


@pytest.mark.slow
def test_two_processes_train_together_and_only_process_0_writes(tmp_path: Path) -> None:
    roots, processes = _start_hosts(tmp_path, epochs=2)
    outputs = [p.communicate(timeout=600)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], "\n\n".join(outputs)[-8000:]

    layout = Layout(roots[0])
    metrics = json.loads(layout.train_metrics(BACKBONE).read_text())
    assert metrics["epochs_run"] == 2 and metrics["train_images"] == 42
    for path in (layout.model_file(BACKBONE), layout.history(BACKBONE),
                 layout.run_json(BACKBONE), layout.curves_csv(BACKBONE)):
        assert path.is_file(), path
    (run,) = _runs(f"sqlite:///{roots[0] / 'mlflow.db'}")
    assert run.info.status == "FINISHED" and run.data.tags["keras_backend"] == "jax"
    assert run.data.tags["device"].endswith("(4 devices, 2 processes)")
    assert run.data.params["train.accelerator_batch_size"] == "16"
    assert run.data.metrics["best_val_accuracy"] == pytest.approx(metrics["best_val_accuracy"])
    assert "epoch 2/2" in outputs[0]

    # Process 1 trained the same steps (its summary line is process 0's) but wrote nothing:
    # no outputs, no tracking store, no checkpoint left behind, no epoch lines.
    assert _files(roots[1]) == {"params.yaml", "data/raw/source.json", "data/arrays/train.npz",
                                "data/arrays/val.npz", "data/arrays/test.npz"}
    assert "epoch 1/2" not in outputs[1]
    summary = [line for line in outputs[0].splitlines() if line.startswith(f"{BACKBONE}: best")]
    assert summary and summary[-1].split(",")[0] in outputs[1]


@pytest.mark.slow
@pytest.mark.parametrize("how", ["killed", "stopped"])
def test_a_lost_process_fails_process_0_with_a_clear_error(tmp_path: Path, how: str) -> None:
    roots, (first, second) = _start_hosts(tmp_path, epochs=500)
    try:
        deadline = time.monotonic() + 300
        while checkpointed_epoch(roots[0], BACKBONE) < 1:
            assert first.poll() is None, first.communicate()[0][-5000:]
            assert time.monotonic() < deadline, "no epoch within 300 s"
            time.sleep(0.05)
        second.send_signal(signal.SIGKILL if how == "killed" else signal.SIGSTOP)
        lost = time.monotonic()
        output = first.communicate(timeout=LOST_WITHIN_S + 60)[0]
        took = time.monotonic() - lost
    finally:
        second.kill()
        second.communicate()
    assert first.returncode == 1, output[-5000:]
    assert took < LOST_WITHIN_S, f"{took:.1f} s"
    (error,) = [line for line in output.splitlines() if line.startswith("ferflow: error:")]
    # A killed peer is usually seen by the collective's reset connection; on a loaded machine
    # the heartbeat watch can notice first. Either is the clear error users need.
    stopped = f"process 1 stopped answering {HEARTBEAT_S} s ago"
    expected = ([stopped, "another process of this multi-host training is lost"]
                if how == "killed" else [stopped])
    assert error.startswith("ferflow: error: process 0 of 2: "), error
    assert any(message in error for message in expected), error
    assert "Fatal Python error" not in output  # ended by ferflow, not aborted by JAX
    (run,) = _runs(f"sqlite:///{roots[0] / 'mlflow.db'}")
    assert run.info.status == "FAILED"
