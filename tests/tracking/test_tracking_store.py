"""Where the MLflow store is, and retries while SQLite is locked (real SQLite files)."""

from __future__ import annotations

import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest

from ferflow.tracking.store import (
    artifact_location,
    repo_root,
    retry_locked,
    sqlite_path,
    tracking_uri,
)


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_dvc_root_wins_so_queued_experiments_use_the_parent_repo(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DVC_ROOT", str(tmp_path / "repo"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert repo_root(tmp_path) == (tmp_path / "repo").resolve()
    assert tracking_uri() == f"sqlite:///{(tmp_path / 'repo').resolve() / 'mlflow.db'}"


def test_outside_dvc_the_main_checkout_of_git_is_the_root(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DVC_ROOT", raising=False)
    repo = tmp_path / "repo"
    (repo / "pipeline").mkdir(parents=True)
    _git("init", "-q", cwd=repo)
    _git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "x",
         cwd=repo)
    assert repo_root(repo / "pipeline") == repo.resolve()
    _git("worktree", "add", "-q", str(tmp_path / "wt"), cwd=repo)
    assert repo_root(tmp_path / "wt") == repo.resolve()
    plain = tmp_path / "plain"
    plain.mkdir()
    assert repo_root(plain) == plain.resolve()


def test_env_uri_wins_and_artifacts_sit_beside_a_sqlite_db(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert tracking_uri(tmp_path) == "http://127.0.0.1:5000"
    assert artifact_location("http://127.0.0.1:5000") is None
    uri = f"sqlite:///{tmp_path / 'x' / 'mlflow.db'}"
    assert sqlite_path(uri) == tmp_path / "x" / "mlflow.db"
    assert artifact_location(uri) == (tmp_path / "x" / "mlartifacts").as_uri()


def test_retry_locked_waits_out_a_real_sqlite_write_lock(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (v INTEGER)")
    holder.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(0.6, lambda: holder.execute("COMMIT"))
    release.start()
    attempts = []

    def write() -> int:
        attempts.append(time.monotonic())
        with sqlite3.connect(db, timeout=0) as conn:
            conn.execute("INSERT INTO t VALUES (1)")
        return len(attempts)

    assert retry_locked(write) > 1
    release.join()
    assert holder.execute("SELECT COUNT(*) FROM t").fetchone() == (1,)


def test_retry_locked_raises_other_errors_at_once_and_gives_up_on_a_lasting_lock() -> None:
    calls = []

    def broken() -> None:
        calls.append(1)
        raise ValueError("no such table: runs")

    with pytest.raises(ValueError):
        retry_locked(broken)
    assert len(calls) == 1

    def locked() -> None:
        raise sqlite3.OperationalError("database is locked")

    start = time.monotonic()
    with pytest.raises(sqlite3.OperationalError):
        retry_locked(locked, budget_s=0.5)
    assert time.monotonic() - start < 3
