"""TrackingService against a real SQLite store: a run that fails ends FAILED, never RUNNING;
the experiment's kind, the datasets and the system metrics of a run."""

from __future__ import annotations

import json

import pytest

from ferflow.data.lineage import DataLineage
from ferflow.errors import FerflowError
from ferflow.tracking.mlflow_service import (
    EXPERIMENT_KIND_TAG,
    MODEL_DEVELOPMENT,
    TrackingService,
    dataset_source,
)


@pytest.fixture(scope="module")
def tracker(tmp_path_factory: pytest.TempPathFactory) -> TrackingService:
    # One store for the module (creating its tables takes seconds); each test has its own run.
    return TrackingService(f"sqlite:///{tmp_path_factory.mktemp('store') / 'mlflow.db'}",
                           "tests")


def _status(tracker: TrackingService, run_id: str) -> str:
    return tracker.client.get_run(run_id).info.status


@pytest.mark.parametrize("error", [FerflowError("bad input"), OSError("disk full"),
                                   KeyboardInterrupt()], ids=type)
def test_any_error_in_the_block_ends_the_run_failed_and_is_raised(
        tracker: TrackingService, error: BaseException) -> None:
    run_id = tracker.start_run("cpu_net", {})
    with pytest.raises(type(error)), tracker.failed_on_error(run_id):
        raise error
    assert _status(tracker, run_id) == "FAILED"


def test_a_block_that_succeeds_leaves_the_status_to_the_caller(tracker: TrackingService) -> None:
    run_id = tracker.start_run("cpu_net", {})
    with tracker.failed_on_error(run_id):
        pass
    assert _status(tracker, run_id) == "RUNNING"


def test_the_blocks_error_wins_over_one_from_the_store(tracker: TrackingService) -> None:
    with pytest.raises(FerflowError, match="bad input"), tracker.failed_on_error("no-such-run"):
        raise FerflowError("bad input")


def test_a_failed_run_can_be_resumed(tracker: TrackingService) -> None:
    run_id = tracker.start_run("cpu_net", {})
    with pytest.raises(KeyboardInterrupt), tracker.failed_on_error(run_id):
        raise KeyboardInterrupt
    assert tracker.resume_run(run_id) and _status(tracker, run_id) == "RUNNING"


def test_experiments_are_tagged_as_model_development_new_or_old(
        tracker: TrackingService) -> None:
    """The tag makes the MLflow UI open the experiment on its training runs."""
    client = tracker.client
    assert (client.get_experiment(tracker.experiment_id).tags[EXPERIMENT_KIND_TAG]
            == MODEL_DEVELOPMENT)
    older = client.create_experiment("made-by-an-older-ferflow")
    assert EXPERIMENT_KIND_TAG not in client.get_experiment(older).tags
    assert TrackingService(tracker.tracking_uri, "made-by-an-older-ferflow").experiment_id == older
    assert client.get_experiment(older).tags[EXPERIMENT_KIND_TAG] == MODEL_DEVELOPMENT


LINEAGE = DataLineage(source="url", origin="https://data.example/fer2013.csv",
                      sha256="0123456789abcdef" * 4, rows={"train": 70, "val": 28, "test": 21})


def test_each_split_is_a_dataset_input_with_digest_source_and_rows(
        tracker: TrackingService) -> None:
    run_id = tracker.start_run("cpu_net", {})
    tracker.log_datasets(run_id, LINEAGE)
    tracker.log_datasets(run_id, LINEAGE)  # again, as evaluate does: nothing doubles
    inputs = tracker.client.get_run(run_id).inputs.dataset_inputs
    assert len(inputs) == 3
    by_split = {tag.value: i.dataset for i in inputs for tag in i.tags
                if tag.key == "mlflow.data.context"}
    assert sorted(by_split) == ["test", "train", "val"]
    for split, dataset in by_split.items():
        assert dataset.name == f"fer2013-{split}" and dataset.digest == "0123456789ab"
        assert dataset.source_type == "http"
        assert json.loads(dataset.source) == {"url": "https://data.example/fer2013.csv"}
        profile = json.loads(dataset.profile)
        assert profile["num_rows"] == LINEAGE.rows[split]
        assert profile["sha256"] == LINEAGE.sha256 and profile["data.source"] == "url"


@pytest.mark.parametrize(("source", "origin", "expected"), [
    ("file", "data/fer2013.csv", ("local", {"uri": "data/fer2013.csv"})),
    ("kaggle", "fer-challenge", ("http", {"url": "https://www.kaggle.com/competitions/"
                                                "fer-challenge"})),
    ("synthetic", "synthetic", ("code", {"tags": {"data.source": "synthetic"}})),
])
def test_every_data_source_has_an_mlflow_source(source: str, origin: str,
                                                expected: tuple[str, dict]) -> None:
    assert dataset_source(source, origin) == expected


def test_system_metrics_reach_the_run_even_from_a_block_shorter_than_a_sample(
        tracker: TrackingService) -> None:
    run_id = tracker.start_run("cpu_net", {})
    with tracker.system_metrics(run_id):
        pass
    metrics = tracker.client.get_run(run_id).data.metrics
    assert {"system/cpu_utilization_percentage",
            "system/system_memory_usage_megabytes"} <= set(metrics)
