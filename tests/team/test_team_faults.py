"""Faults in the shared store, with nothing lost: the tracking server stopped in the middle of
a training, PostgreSQL restarted between two stages, the S3 server down during `dvc push` and
`dvc pull`.
The tests run in order on one clone and one stack of their own."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient
from team_project import Team, clone, make_origin, python

pytestmark = pytest.mark.slow
EPOCHS = 16
NO_RETRIES = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
"""A server that is gone fails the next call at once (MLflow's default retries for minutes)."""
S3_NO_RETRIES = {"AWS_MAX_ATTEMPTS": "1"}
"""The same for DVC's S3 client (botocore retries a refused connection with back-off)."""


@pytest.fixture(scope="module")
def repo(team: Team, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("faults")
    return clone(make_origin(root, team.stack, {"train.epochs": EPOCHS}), root / "clone")


@pytest.fixture(scope="module")
def client(team: Team) -> Iterator[MlflowClient]:
    with pytest.MonkeyPatch.context() as env:
        for key, value in team.stack.client_env(team.password).items():
            env.setenv(key, value)
        yield MlflowClient(team.stack.tracking_url)


def _first_epoch_logged(client: MlflowClient, deadline_s: float = 300) -> str:
    """The id of the training run, once its first epoch is in the server."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        for run in client.search_runs(
                [e.experiment_id for e in client.search_experiments()], max_results=5):
            if client.get_metric_history(run.info.run_id, "val_accuracy"):
                return run.info.run_id
        time.sleep(0.2)
    raise AssertionError("no epoch reached the tracking server")


def test_tracking_server_stopped_mid_training_fails_clearly_then_resumes(
        team: Team, repo: Path, client: MlflowClient) -> None:
    team.dvc(repo, "repro", "preprocess")
    training = team.start_with(repo, team.env(**NO_RETRIES),
                               *python("-m", "dvc", "repro", "train@shallow_cnn"))
    run_id = _first_epoch_logged(client)
    team.stack.stop_tracking(crash=True)  # gone at once, as when its host dies
    out, _ = training.communicate(timeout=600)
    team.logs.append(out)
    assert training.returncode != 0, out
    # "connection refused", or "connection aborted" when the kill cut a request in flight.
    assert (f"ferflow: error: the MLflow tracking server {team.stack.tracking_url} cannot be "
            "reached (connection ") in out
    assert "Traceback" not in out
    assert not (repo / "models" / "shallow_cnn" / "model.keras").exists()

    team.stack.start_tracking(team.password)  # the same port, the same PostgreSQL and bucket
    again = team.dvc(repo, "repro", "train@shallow_cnn")
    assert "resuming after epoch" in again.stdout and run_id in again.stdout, again.stdout
    ref = json.loads((repo / "models" / "shallow_cnn" / "run.json").read_text())
    assert ref["run_id"] == run_id
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    epochs = int(run.data.metrics["epochs_run"])
    steps = sorted(m.step for m in client.get_metric_history(run_id, "val_accuracy"))
    assert steps == list(range(1, epochs + 1))  # every epoch logged once, none lost


def test_postgres_restarted_between_two_stages(team: Team, repo: Path,
                                               client: MlflowClient) -> None:
    team.stack.stop_postgres()
    team.stack.start_postgres()
    team.dvc(repo, "repro", "evaluate@shallow_cnn")
    run_id = json.loads((repo / "models" / "shallow_cnn" / "run.json").read_text())["run_id"]
    assert "eval_test_accuracy" in client.get_run(run_id).data.metrics


def test_s3_down_during_push_is_a_clear_error_and_a_retry_succeeds(team: Team,
                                                                   repo: Path) -> None:
    team.stack.stop_s3(crash=True)
    failed = team.dvc(repo, "push", check=False, env=team.env(**S3_NO_RETRIES))
    assert failed.returncode != 0
    assert "Could not connect to the endpoint URL" in failed.stderr, failed.stderr
    assert team.stack.s3_url in failed.stderr
    # moto keeps objects in memory: the restarted server has an empty bucket, and the retry
    # pushes everything.
    team.stack.start_s3()
    team.dvc(repo, "push")
    status = team.dvc(repo, "status", "--cloud")
    assert "in sync" in status.stdout, status.stdout


def test_s3_down_during_pull_is_a_clear_error_and_a_retry_succeeds(
        team: Team, repo: Path, tmp_path: Path) -> None:
    """A second machine pulls what the first pushed while the S3 server is down."""
    team.run("git", "add", "-A", cwd=repo)
    team.run("git", "commit", "-qm", "trained", cwd=repo)
    team.run("git", "push", "-q", "origin", "HEAD", cwd=repo)
    other = clone(repo.parent / "origin.git", tmp_path / "other")
    model = Path("models", "shallow_cnn", "model.keras")
    team.stack.stop_s3(crash=True)
    failed = team.dvc(other, "pull", check=False, env=team.env(**S3_NO_RETRIES))
    assert failed.returncode != 0
    assert "Could not connect to the endpoint URL" in failed.stderr, failed.stderr
    assert team.stack.s3_url in failed.stderr
    assert "Traceback" not in failed.stderr
    assert not (other / model).exists()
    # The restarted moto has an empty bucket: the first machine pushes again, then the same
    # pull, retried, gets every output.
    team.stack.start_s3()
    team.dvc(repo, "push")
    team.dvc(other, "pull")
    assert (other / model).read_bytes() == (repo / model).read_bytes()
    status = team.dvc(other, "status", "--with-deps", "evaluate@shallow_cnn")
    assert "up to date" in status.stdout, status.stdout
