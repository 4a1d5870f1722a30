"""Shared fixtures: small FER2013-format tables built from random pixels (never real rows)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fer_tables import random_table

from ferflow.data.fer_csv import write_fer2013_csv


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[..., Path]:
    """Write a random FER2013 CSV into tmp_path and return its path."""

    def write(rows: int = 42, seed: int = 0, name: str = "fer2013.csv") -> Path:
        path = tmp_path / name
        write_fer2013_csv(path, random_table(rows, seed))
        return path

    return write


LONGEST_FIRST = ("pipeline/test_full_pipeline.py", "team/test_team_store.py",
                 "models/test_crash_canary.py", "team/test_team_faults.py",
                 "pipeline/test_rerun_after_crash.py", "training/test_multi_host.py",
                 "training/test_device_input.py", "training/test_parallel_queue.py",
                 "training/test_train_failures.py", "training/test_resume.py")
"""Test files that take a minute or more, longest first. `make test` runs one worker per core
and keeps each file on one worker: starting these first lets the short files fill the other
workers, instead of the whole-DAG file starting last and running alone."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.path.as_posix()
        return next((i for i, name in enumerate(LONGEST_FIRST) if path.endswith(name)),
                    len(LONGEST_FIRST))

    items.sort(key=rank)  # stable: every file keeps its own order
