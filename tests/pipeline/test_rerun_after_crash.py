"""A stage that dies from a signal mid-`dvc repro` (as a native crash does) costs only itself:
the rerun redoes that stage and what depends on it, never the stages that had finished."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from test_dvc_repro import dvc, make_project

pytestmark = pytest.mark.slow

TINY = {"data.synthetic.rows": 140, "train.backbones": ["shallow_cnn", "alexnet"],
        "train.epochs": 1, "evaluate.tta": ["none"]}


def _start_repro(project: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}"}
    return subprocess.Popen([sys.executable, "-m", "dvc", "repro"], cwd=project, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for_child(parent: subprocess.Popen[str], fragment: str, limit_s: float) -> psutil.Process:
    """The first descendant of `parent` whose command line contains `fragment`."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and parent.poll() is None:
        for child in psutil.Process(parent.pid).children(recursive=True):
            try:
                if fragment in " ".join(child.cmdline()):
                    return child
            except psutil.NoSuchProcess:
                continue
        time.sleep(0.2)
    raise AssertionError(f"no {fragment!r} process within {limit_s} s")


def test_rerun_after_a_crashed_train_stage_redoes_only_that_stage(tmp_path: Path) -> None:
    project = make_project(tmp_path, TINY)
    repro = _start_repro(project)
    try:
        _wait_for_child(repro, "pipeline/train.py alexnet", 600).send_signal(signal.SIGSEGV)
        out, _ = repro.communicate(timeout=120)
    finally:
        repro.kill()
    assert repro.returncode != 0
    assert "failed to run: python pipeline/train.py alexnet, exited with -11" in out, out
    assert "Running stage 'train@shallow_cnn'" in out

    again = dvc(project, "repro").stdout
    ran = {line.split("'")[1] for line in again.splitlines() if line.startswith("Running stage")}
    assert {"download", "preprocess", "validate", "train@shallow_cnn"}.isdisjoint(ran), again
    assert {"train@alexnet", "evaluate@alexnet", "register"} <= ran, again
    assert "Data and pipelines are up to date" in dvc(project, "repro").stdout
