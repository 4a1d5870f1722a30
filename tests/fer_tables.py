"""Small FER2013-format tables from random pixels (never real rows), shared by the tests."""

from __future__ import annotations

import numpy as np

from ferflow.data.fer_csv import FerTable, make_table


def random_table(rows: int = 42, seed: int = 0) -> FerTable:
    """`rows` random faces cycling through all labels and all three usages."""
    rng = np.random.default_rng(seed)
    usages = np.array(["Training", "PublicTest", "PrivateTest"])[np.arange(rows) % 3]
    return make_table(rng.integers(0, 256, (rows, 48, 48)), np.arange(rows) % 7, usages)
