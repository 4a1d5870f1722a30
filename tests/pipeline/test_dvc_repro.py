"""A real `dvc repro` of the pipeline in a temporary git repository, on tiny synthetic data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from git_dvc_repo import copy_pipeline

pytestmark = pytest.mark.slow


def _run(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    # Stage commands call `python`: make it this interpreter (the venv's).
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{cwd / 'mlflow.db'}"
    result = subprocess.run(args, cwd=cwd, env=env, text=True, capture_output=True, timeout=900)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n"
                             f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def make_project(tmp_path: Path, overrides: dict | None = None) -> Path:
    """Copy the pipeline into a fresh git + DVC repository with tiny params."""
    project = copy_pipeline(tmp_path / "project",
                            {"data.synthetic.rows": 140, **(overrides or {})})
    _run(["git", "init", "-q"], project)
    _run([sys.executable, "-m", "dvc", "init", "-q"], project)
    _run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A"], project)
    _run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"], project)
    return project


def dvc(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return _run([sys.executable, "-m", "dvc", *args], project, check)


def test_repro_data_stages_then_noop(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    dvc(project, "repro", "validate")
    manifest = (project / "data" / "manifest.csv").read_text().splitlines()
    assert len(manifest) == 141
    assert len(list((project / "data" / "images").rglob("*.png"))) == 140
    assert sorted(p.name for p in (project / "data" / "arrays").iterdir()) == [
        "test.npz", "train.npz", "val.npz"]
    mtime = (project / "data" / "manifest.csv").stat().st_mtime_ns

    again = dvc(project, "repro", "validate")
    assert "up to date" in again.stdout
    assert "Running stage" not in again.stdout
    assert (project / "data" / "manifest.csv").stat().st_mtime_ns == mtime
    assert (project / "reports" / "validation.json").exists()
    assert (project / "reports" / "data_docs" / "index.html").exists()


@pytest.mark.parametrize("backbones", [["cpu_nett"], []], ids=["unknown", "empty"])
def test_bad_backbone_list_stops_repro_in_its_first_stage(tmp_path: Path,
                                                          backbones: list[str]) -> None:
    """Not after the data stages with DVC's "Parameters 'models.cpu_nett' are missing", nor
    (for an empty matrix) in register after DVC removed its outputs."""
    project = make_project(tmp_path, {"train.backbones": backbones})
    failed = dvc(project, "repro", check=False)
    assert failed.returncode != 0
    assert "Running stage 'download'" in failed.stdout
    assert "Running stage 'preprocess'" not in failed.stdout
    assert "ferflow: error: params.yaml has invalid params:\n  train.backbones: " in failed.stderr
    assert "Traceback" not in failed.stderr and "are missing" not in failed.stderr
    assert not (project / "data").exists()
