"""A throwaway git + DVC repository for tests that run `dvc exp run` the way a user does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DVC = (sys.executable, "-m", "dvc")


def repo_env() -> dict[str, str]:
    """This environment without MLflow/DVC/git settings of the caller, with a git identity, and
    the venv first on PATH (DVC's queue workers call `dvc` and stages call `python`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVC_", "GIT_"))}
    env.update(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t", DVC_NO_ANALYTICS="1",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return env


def run_checked(*args: str, cwd: Path, env: dict[str, str]) -> str:
    """Run a command; fail the test with its output unless it exits 0. Returns stdout."""
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def init_repo(repo: Path, env: dict[str, str]) -> None:
    """`git init` and `dvc init` in `repo`."""
    run_checked("git", "init", "-q", cwd=repo, env=env)
    run_checked(*DVC, "init", "-q", cwd=repo, env=env)


def commit_all(repo: Path, env: dict[str, str], message: str) -> None:
    run_checked("git", "add", "-A", cwd=repo, env=env)
    run_checked("git", "commit", "-q", "-m", message, cwd=repo, env=env)
