"""TrackingService against a real SQLite store: a run that fails ends FAILED, never RUNNING."""

from __future__ import annotations

from pathlib import Path

import pytest

from ferflow.errors import FerflowError
from ferflow.tracking.mlflow_service import TrackingService


@pytest.fixture
def tracker(tmp_path: Path) -> TrackingService:
    return TrackingService(f"sqlite:///{tmp_path / 'mlflow.db'}", "tests")


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
