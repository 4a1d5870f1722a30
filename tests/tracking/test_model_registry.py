"""Alias logic against a real SQLite model registry."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from ferflow.tracking.model_registry import (
    CHALLENGER,
    CHAMPION,
    Verdict,
    promote_if_better,
    register_version,
    version_by_alias,
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> MlflowClient:
    # One store for the module (creating its tables takes seconds); each test has its own model.
    uri = f"sqlite:///{tmp_path_factory.mktemp('registry')}/mlflow.db"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


_names = iter(range(10_000))


@pytest.fixture
def name() -> str:
    return f"ferflow-emotion-{next(_names)}"


def new_version(client: MlflowClient, name: str, tmp_path: Path, backbone: str) -> str:
    source = tmp_path / "models" / backbone
    source.mkdir(parents=True, exist_ok=True)
    version = register_version(client, name, model_uri=source.as_uri(), run_id=None,
                               model_id=None, tags={"backbone": backbone, "val_accuracy": 0.5},
                               description=f"{backbone} test version",
                               model_description="test model")
    return str(version.version)


def judge(better: bool, champion_accuracy: float, calls: list[str]):
    """A judge that records which champion it was asked about and answers `better`."""

    def decide(model_uri: str) -> Verdict:
        calls.append(model_uri)
        return Verdict(better, champion_accuracy, "the test says so", {"gain": 0.25})

    return decide


def test_register_version_creates_the_model_once_with_tags(client, name, tmp_path) -> None:
    assert new_version(client, name, tmp_path, "a") == "1"
    assert new_version(client, name, tmp_path, "b") == "2"
    assert client.get_registered_model(name).description == "test model"
    mv = client.get_model_version(name, "2")
    assert mv.tags == {"backbone": "b", "val_accuracy": "0.5"}
    assert mv.description == "b test version"


def test_first_version_becomes_champion_without_scoring(client, name, tmp_path) -> None:
    assert version_by_alias(client, name, CHAMPION) is None  # no model yet
    v1 = new_version(client, name, tmp_path, "a")
    assert version_by_alias(client, name, CHAMPION) is None  # model, no alias
    calls: list[str] = []
    decision = promote_if_better(client, name, v1, 0.40, judge=judge(False, 0.0, calls))
    assert (decision.alias, decision.previous_champion, decision.gate) == (CHAMPION, None, {})
    assert calls == []
    assert str(client.get_model_version_by_alias(name, CHAMPION).version) == v1


def test_better_version_takes_champion_and_clears_old_challenger(client, name, tmp_path) -> None:
    v1, v2, v3 = (new_version(client, name, tmp_path, b) for b in "abc")
    promote_if_better(client, name, v1, 0.50, judge=judge(True, 0.0, []))
    calls: list[str] = []
    # The judge finds v2 no better than v1 (re-scored today at 0.50) → challenger.
    d2 = promote_if_better(client, name, v2, 0.45, judge=judge(False, 0.50, calls))
    assert d2.alias == CHALLENGER and d2.previous_champion_val_accuracy == 0.50
    assert d2.reason == f"does not beat version {v1}: the test says so"
    assert d2.gate == {"gain": 0.25}
    assert calls == [f"models:/{name}/{v1}"]
    assert str(client.get_model_version_by_alias(name, CHALLENGER).version) == v2
    # v3 is better → champion; v2's challenger alias goes.
    d3 = promote_if_better(client, name, v3, 0.55, judge=judge(True, 0.50, calls))
    assert (d3.alias, d3.previous_champion) == (CHAMPION, v1)
    assert d3.reason == f"beats version {v1}: the test says so"
    assert str(client.get_model_version_by_alias(name, CHAMPION).version) == v3
    assert version_by_alias(client, name, CHALLENGER) is None


def test_rerun_on_the_champion_keeps_it(client, name, tmp_path) -> None:
    v1 = new_version(client, name, tmp_path, "a")
    promote_if_better(client, name, v1, 0.5, judge=judge(True, 0.0, []))
    calls: list[str] = []
    d = promote_if_better(client, name, v1, 0.5, judge=judge(False, 0.0, calls))
    assert d.alias == CHAMPION and calls == []
