"""Two machines, one store: clones of one repository train, register and share through one
PostgreSQL-backed tracking server behind basic auth, with artifacts and DVC data on S3."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import numpy as np
import pytest
from mlflow import MlflowClient
from model_server import post, serving
from PIL import Image
from team_project import Team, clone, make_origin, python

from ferflow import EMOTIONS

pytestmark = pytest.mark.slow
MODEL = "ferflow-emotion"


@pytest.fixture(scope="module")
def origin(team: Team, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_origin(tmp_path_factory.mktemp("project"), team.stack)


@pytest.fixture(scope="module")
def client(team: Team) -> Iterator[MlflowClient]:
    with pytest.MonkeyPatch.context() as env:
        for key, value in team.stack.client_env(team.password).items():
            env.setenv(key, value)
        yield MlflowClient(team.stack.tracking_url, registry_uri=team.stack.tracking_url)


@pytest.fixture(scope="module")
def clones(team: Team, origin: Path) -> tuple[Path, Path]:
    """Two clones that ran `dvc exp run` up to evaluation at the same time (the register stage
    is the next test's: both at once)."""
    a, b = clone(origin, origin.parent / "a"), clone(origin, origin.parent / "b")
    procs = [team.start(repo, *python("-m", "dvc", "exp", "run", "evaluate@shallow_cnn"))
             for repo in (a, b)]
    for proc in procs:
        team.finish(proc)
    return a, b


def _objects(team: Team) -> dict[str, bytes]:
    s3 = boto3.client("s3", endpoint_url=team.stack.s3_url, region_name="us-east-1",
                      aws_access_key_id="k", aws_secret_access_key="k")
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=team.stack.bucket) for o in page.get("Contents", [])]
    return {k: s3.get_object(Bucket=team.stack.bucket, Key=k)["Body"].read() for k in keys}


@pytest.mark.parametrize(("credentials", "command"), [
    ({}, ("pipeline/train.py", "shallow_cnn")),
    ({"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": "not-it"},
     ("-m", "ferflow", "predict", "--no-detect", "face.png")),
], ids=["none-train", "wrong-predict"])
def test_commands_refuse_to_start_without_the_right_account(
        team: Team, origin: Path, tmp_path: Path, credentials: dict[str, str],
        command: tuple[str, ...]) -> None:
    repo = clone(origin, tmp_path / "c")
    Image.new("L", (48, 48), 128).save(repo / "face.png")
    env = team.env()
    for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        env.pop(key)
    env.update(credentials)
    url = team.stack.tracking_url
    result = team.run(*python(*command), cwd=repo, env=env, check=False)
    assert result.returncode == 2, result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith(f"ferflow: error: the MLflow tracking server {url} refused")
    assert "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD" in error
    assert "Traceback" not in result.stderr
    assert not (repo / "models").exists()


def test_both_runs_land_in_the_server_with_artifacts_in_s3(
        team: Team, clones: tuple[Path, Path], client: MlflowClient) -> None:
    run_ids = {json.loads((repo / "models" / "shallow_cnn" / "run.json").read_text())["run_id"]
               for repo in clones}
    assert len(run_ids) == 2
    keys = _objects(team)
    for run_id in run_ids:
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED"
        assert "eval_test_accuracy" in run.data.metrics  # logged by evaluate, after training
        assert run.info.artifact_uri.startswith("mlflow-artifacts:/")
        assert any(f"/{run_id}/artifacts/training/history.json" in k for k in keys)
    assert any(k.startswith("mlartifacts/") and k.endswith("MLmodel") for k in keys)


def test_two_registers_at_once_make_one_champion_and_lose_no_version(
        team: Team, clones: tuple[Path, Path], client: MlflowClient) -> None:
    assert not client.search_model_versions(f"name='{MODEL}'")
    procs = [team.start(repo, *python("-m", "dvc", "repro", "register")) for repo in clones]
    for proc in procs:
        team.finish(proc)
    results = [json.loads((repo / "metrics" / "summary.json").read_text())["promotion"]
               for repo in clones]
    versions = {v.version for v in client.search_model_versions(f"name='{MODEL}'")}
    assert versions == {"1", "2"} == {r["version"] for r in results}
    aliases = {v: client.get_model_version(MODEL, v).aliases for v in versions}
    assert sorted(a for found in aliases.values() for a in found) in (
        ["champion"], ["challenger", "champion"])
    # One decision after the other: the second register saw the first one's champion.
    first, second = sorted(results, key=lambda r: r["previous_champion"] is not None)
    assert (first["alias"], first["previous_champion"]) == ("champion", None), results
    assert second["previous_champion"] == first["version"], results
    assert "champion" in aliases[second["version"] if second["alias"] == "champion"
                                 else first["version"]]
    assert not client.search_registered_models(f"name='{MODEL}.promotion-lock'")


def test_a_second_machine_pulls_the_outputs_and_has_nothing_to_rerun(
        team: Team, clones: tuple[Path, Path], tmp_path: Path) -> None:
    """And it uses the champion from the server: `ferflow predict` and `mlflow models serve`
    there give the same probabilities."""
    a = clones[0]
    team.run("git", "add", "-A", cwd=a)
    team.run("git", "commit", "-qm", "results of a", cwd=a)
    team.run("git", "push", "-q", "origin", "HEAD", cwd=a)
    team.dvc(a, "push")
    other = clone(a.parent / "origin.git", tmp_path / "laptop")
    team.dvc(other, "pull")
    assert (other / "models" / "shallow_cnn" / "model.keras").is_file()
    again = team.dvc(other, "repro")
    assert "Running stage" not in again.stdout, again.stdout
    assert "up to date" in again.stdout
    face = next((other / "data" / "images" / "test").rglob("*.png"))
    predicted = team.run(*python("-m", "ferflow", "predict", "--json", "--no-detect", str(face)),
                         cwd=other)  # the champion, from the server: no --model
    [answer] = json.loads(predicted.stdout)
    assert answer["error"] is None and answer["faces"][0]["emotion"] in EMOTIONS
    with serving(f"models:/{MODEL}@champion", team.env(), tmp_path / "serve.log",
                 cwd=other) as url:
        pixels = np.asarray(Image.open(face).convert("L")).reshape(1, -1).tolist()
        status, body = post(f"{url}/invocations", {"inputs": pixels})
    assert status == 200, body
    [served] = body["predictions"]
    expected = answer["faces"][0]["probabilities"]
    assert served.keys() == expected.keys()
    np.testing.assert_allclose([served[e] for e in EMOTIONS], [expected[e] for e in EMOTIONS],
                               atol=1e-4)


def test_the_password_is_written_nowhere(team: Team, clones: tuple[Path, Path]) -> None:
    """Last in the module: it greps what the tests above left."""
    secret = team.password.encode()
    roots = [*clones, clones[0].parent / "origin.git", Path(team.stack.root)]
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and not path.is_symlink():
                assert secret not in path.read_bytes(), path
    for key, body in _objects(team).items():
        assert secret not in body, key
    assert team.password not in team.stack.postgres_dump()
    assert (Path(team.stack.pg_data).parent / "postgres.log").is_file()
    assert secret not in (Path(team.stack.pg_data).parent / "postgres.log").read_bytes()
    assert team.logs and all(team.password not in log for log in team.logs)
