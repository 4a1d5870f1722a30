"""A throwaway git + DVC repository for tests that run `dvc exp run` the way a user does."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

DVC = (sys.executable, "-m", "dvc")
REPO = Path(__file__).resolve().parents[1]


def copy_pipeline(dest: Path, overrides: dict[str, Any]) -> Path:
    """dvc.yaml, params.yaml, pipeline/ and src/ of this checkout copied into `dest`, with
    params.yaml's dotted keys `overrides` (`data.synthetic.rows`: 140) set and no backbone's
    own epoch count left."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(REPO / name, dest / name)
    for folder in ("pipeline", "src"):
        shutil.copytree(REPO / folder, dest / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    params = yaml.safe_load((dest / "params.yaml").read_text())
    # The embedded default gives some backbones their own epoch counts (shallow_cnn: 8); a
    # test's `train.epochs` is meant for every backbone it trains.
    for model in params["models"].values():
        model.pop("epochs", None)
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split(".")
        node = params
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return dest


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
