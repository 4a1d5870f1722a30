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
