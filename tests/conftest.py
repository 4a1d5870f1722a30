"""Shared fixtures: small FER2013-format tables built from random pixels (never real rows)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ferflow.data.fer_csv import FerTable, make_table, write_fer2013_csv


def random_table(rows: int = 42, seed: int = 0) -> FerTable:
    """`rows` random faces cycling through all labels and all three usages."""
    rng = np.random.default_rng(seed)
    usages = np.array(["Training", "PublicTest", "PrivateTest"])[np.arange(rows) % 3]
    return make_table(rng.integers(0, 256, (rows, 48, 48)), np.arange(rows) % 7, usages)


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[..., Path]:
    """Write a random FER2013 CSV into tmp_path and return its path."""

    def write(rows: int = 42, seed: int = 0, name: str = "fer2013.csv") -> Path:
        path = tmp_path / name
        write_fer2013_csv(path, random_table(rows, seed))
        return path

    return write
