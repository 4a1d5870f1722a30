"""Queued DVC experiments trained two at a time all land in the repository's one SQLite store."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from git_dvc_repo import DVC, commit_all, init_repo, repo_env, run_checked
from mlflow import MlflowClient
from params_data import params_tree, write_params
from training_data import write_arrays

STAGE = Path(__file__).resolve().parents[2] / "pipeline" / "train.py"


@pytest.mark.slow
def test_two_queued_experiments_in_parallel_are_both_recorded(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    env = repo_env()
    init_repo(repo, env)
    write_arrays(repo / "data" / "arrays", rows=70)
    write_params(repo / "params.yaml", params_tree(
        train={"backbones": ["shallow_cnn"], "epochs": 1, "batch_size": 16, "seed": 1},
        models={"shallow_cnn": {"width": 0.25}}, mlflow={"experiment": "queue"}))
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"train": {
        "matrix": {"backbone": "${train.backbones}"},
        "cmd": f"{sys.executable} {STAGE} ${{item.backbone}}",
        "deps": ["data/arrays"],
        "params": ["train", "models", "mlflow"],
        "outs": ["models/${item.backbone}"],
        "metrics": [{"metrics/train/${item.backbone}.json": {"cache": False}}],
        "plots": [{"plots/train/${item.backbone}.csv": {"cache": False}}],
    }}}))
    (repo / ".gitignore").write_text("/models/\nmlflow.db*\nmlartifacts/\n.ferflow/\n"
                                     "/plots/train/*.png\n")
    commit_all(repo, env, "tiny pipeline")

    for seed in (2, 3):
        run_checked(*DVC, "exp", "run", "--queue", "-n", f"seed{seed}", "-S",
                    f"train.seed={seed}", cwd=repo, env=env)
    run_checked(*DVC, "queue", "start", "-j", "2", cwd=repo, env=env)
    deadline = time.monotonic() + 480
    try:
        while True:
            status = run_checked(*DVC, "queue", "status", cwd=repo, env=env)
            if "Queued" not in status and "Running" not in status:
                break
            assert time.monotonic() < deadline, status
            time.sleep(3)
    finally:
        subprocess.run([*DVC, "queue", "stop"], cwd=repo, env=env, capture_output=True)
    assert status.count("Success") == 2, status
    logs = "".join(run_checked(*DVC, "queue", "logs", f"seed{s}", cwd=repo, env=env)
                   for s in (2, 3))
    assert "database is locked" not in logs

    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("queue")
    assert experiment.artifact_location == (repo / "mlartifacts").as_uri()
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.data.params["train.seed"] for r in runs) == ["2", "3"]
    assert all(r.info.status == "FINISHED" for r in runs)
    assert {r.data.tags["dvc_experiment"] for r in runs} == {"seed2", "seed3"}
    for run in runs:
        assert client.list_artifacts(run.info.run_id, "training")
    assert not list((repo / ".dvc" / "tmp" / "exps").rglob("mlflow.db"))
    shown = json.loads(run_checked(*DVC, "exp", "show", "--json", cwd=repo, env=env))
    assert "seed2" in json.dumps(shown) and "seed3" in json.dumps(shown)
