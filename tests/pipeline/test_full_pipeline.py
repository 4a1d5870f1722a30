"""The whole DAG on tiny synthetic data, run the way CI's retrain workflow runs it, then what a
user does with the result: the MLflow store and UI, a worse second run, the registered model."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_dvc_repro import _run, dvc, make_project

pytestmark = pytest.mark.slow

TINY = {
    "data.synthetic.rows": 280,
    "train.backbones": ["alexnet", "shallow_cnn"],
    "train.epochs": 2,
    "evaluate.tta": ["none", "flip"],
}
IMAGE_BASE = "https://github.com/team/ferflow/raw/retrain/42"
"""Where the retrain workflow says the pull request's branch serves the pictures."""
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--window-size=1600,1000",
                  "--virtual-time-budget=20000"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = make_project(tmp_path_factory.mktemp("full"), TINY)
    result = _run([sys.executable, "-m", "ferflow", "retrain", "--base", "HEAD",
                   "--summary", str(project / "step-summary.md"), "--image-base", IMAGE_BASE],
                  project)
    (project / "retrain.log").write_text(result.stdout + result.stderr)
    return project


def _store(project: Path) -> sqlite3.Connection:
    return sqlite3.connect(project / "mlflow.db")


def test_retrain_writes_the_job_summary(project: Path) -> None:
    summary = (project / "step-summary.md").read_text()
    assert summary == (project / "reports" / "retrain-summary.md").read_text()
    for heading in ("## Metrics vs `HEAD`", "## Params vs `HEAD`", "## Leaderboard",
                    "## Confusion matrix"):
        assert heading in summary
    assert "alexnet" in summary and "shallow_cnn" in summary
    assert "| true \\ predicted |" in summary


def test_retrain_summary_shows_the_pictures_it_leaves_for_the_pull_request(
        project: Path) -> None:
    from PIL import Image

    summary = (project / "reports" / "retrain-summary.md").read_text()
    selected = json.loads((project / "metrics" / "summary.json").read_text())["selected"]
    pictures = sorted(p.name for p in (project / "reports" / "retrain").iterdir())
    assert pictures == sorted(["curves-alexnet.png", "curves-shallow_cnn.png",
                               f"confusion-{selected}.png"])
    for name in pictures:
        path = project / "reports" / "retrain" / name
        with Image.open(path) as image:
            assert image.format == "PNG" and min(image.size) >= 200
        assert f"]({IMAGE_BASE}/reports/retrain/{name})" in summary
    assert "## Pictures" in summary and "**alexnet: learning curves**" in summary


def test_one_run_per_backbone_and_a_champion(project: Path) -> None:
    with _store(project) as db:
        runs = db.execute("select name, status from runs").fetchall()
        aliases = db.execute("select name, alias, version from registered_model_aliases").fetchall()
    assert sorted(runs) == [("alexnet", "FINISHED"), ("shallow_cnn", "FINISHED")]
    assert aliases == [("ferflow-emotion", "champion", 1)]
    summary = json.loads((project / "metrics" / "summary.json").read_text())
    assert summary["selected"] in {"alexnet", "shallow_cnn"}
    assert summary["val_accuracy_ci_low"] <= summary["val_accuracy"] <= summary[
        "val_accuracy_ci_high"]
    leaderboard = (project / "reports" / "leaderboard.md").read_text()
    assert "alexnet" in leaderboard and "shallow_cnn" in leaderboard
    assert "## Slices and invariances (test split)" in leaderboard
    assert "| alexnet | flip |" in leaderboard  # the TTA table, with intervals
    evaluated = json.loads((project / "metrics" / "eval" / "alexnet.json").read_text())
    assert {"accuracy_flip_ci_low", "macro_f1_flip_ci_high"} <= set(evaluated["test"])
    assert 0 <= evaluated["slices"]["flip_agreement"] <= 1


def test_nothing_changed_means_no_work(project: Path) -> None:
    result = dvc(project, "repro")
    assert "Running stage" not in result.stdout


def test_worse_second_run_registers_a_challenger(project: Path) -> None:
    dvc(project, "exp", "run", "-S", "train.epochs=1", "-S", "train.learning_rate=0.000001")
    with _store(project) as db:
        aliases = dict(db.execute("select alias, version from registered_model_aliases"))
    assert aliases == {"champion": 1, "challenger": 2}
    promotion = json.loads((project / "metrics" / "summary.json").read_text())["promotion"]
    gate = promotion["gate"]  # the paired bootstrap against the champion on the same val images
    assert gate["gain_ci_low"] <= gate["gain"] <= gate["gain_ci_high"]
    assert promotion["alias"] == "challenger"
    assert "## Champion gate" in (project / "reports" / "leaderboard.md").read_text()


def test_predict_with_the_champion(project: Path) -> None:
    face = next((project / "data" / "images" / "test").rglob("*.png"))
    result = _run([sys.executable, "-m", "ferflow", "predict", "--json", str(face)], project)
    answer = json.loads(result.stdout)
    assert answer[0]["faces"][0]["emotion"] in {"angry", "disgust", "fear", "happy", "sad",
                                               "surprise", "neutral"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        for folder in os.environ.get("PATH", "").split(os.pathsep) + ["/usr/bin"]:
            if (Path(folder) / name).exists():
                return str(Path(folder) / name)
    pytest.fail("Chromium is needed for the MLflow UI check: apt-get install chromium "
                "(.ci/run installs it)")


def test_mlflow_ui_lists_runs_and_champion_in_a_real_browser(project: Path, tmp_path: Path
                                                               ) -> None:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
         f"sqlite:///{project / 'mlflow.db'}", "--default-artifact-root",
         str(project / "mlartifacts"), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"], cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(f"http://127.0.0.1:{port}/health", server)
        with _store(project) as db:
            (experiment,) = db.execute(
                "select experiment_id from experiments where name = 'ferflow'").fetchone()
        base = f"http://127.0.0.1:{port}/#"
        # The experiment's page in the UI's "Model training" mode (MLflow 3.17 takes the mode
        # from its GenAI / Model training switch, GenAI in a new browser, or from this
        # parameter) opens on the runs table, whose Dataset column names each run's splits.
        experiment_page = f"{base}/experiments/{experiment}?workflowType=machine_learning"
        runs_page = _dump_dom(experiment_page, tmp_path)
        assert "alexnet" in runs_page and "shallow_cnn" in runs_page
        sha256 = json.loads((project / "data" / "raw" / "source.json").read_text())["sha256"]
        for split in ("train", "val", "test"):
            assert f"synthetic-{split} ({sha256[:12]})" in runs_page, split
        assert "ferflow-emotion" in _dump_dom(f"{base}/models", tmp_path)
        model_page = _dump_dom(f"{base}/models/ferflow-emotion", tmp_path)
        assert "champion" in model_page and "Version 1" in model_page
        shot = tmp_path / "mlflow-ui.png"
        subprocess.run([_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'p'}",
                        f"--screenshot={shot}", experiment_page],
                       capture_output=True, timeout=120, check=True)
        assert shot.stat().st_size > 10_000
    finally:
        server.terminate()
        server.wait(timeout=30)


def _wait_for(url: str, server: subprocess.Popen) -> None:
    import urllib.request

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert server.poll() is None, "mlflow server exited"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    pytest.fail(f"{url} did not answer within 120 s")


def _dump_dom(url: str, tmp_path: Path) -> str:
    result = subprocess.run([_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'p'}",
                             "--dump-dom", url], capture_output=True, text=True, timeout=120,
                            check=True)
    return result.stdout
