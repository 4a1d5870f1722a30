"""The FER2013 CSV format: `emotion,pixels,Usage`, one 48x48 grey face per row.

`pixels` holds 2,304 space-separated integers 0-255 (row-major); `Usage` is Training,
PublicTest or PrivateTest.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ferflow import IMAGE_SIZE
from ferflow.atomic import atomic_path

HEADER = "emotion,pixels,Usage"
USAGES: tuple[str, ...] = ("Training", "PublicTest", "PrivateTest")

# "0".."255" as strings, so formatting a row is one lookup per pixel instead of a str() call.
_PIXEL_TEXT = np.array([str(v) for v in range(256)], dtype=object)


@dataclass(frozen=True)
class FerTable:
    """FER2013 rows in memory: images (N, 48, 48) uint8, labels (N,) uint8, usages (N,) str."""

    images: np.ndarray
    labels: np.ndarray
    usages: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.labels)
        if self.images.shape != (n, IMAGE_SIZE, IMAGE_SIZE) or len(self.usages) != n:
            raise ValueError(f"inconsistent FerTable shapes: images {self.images.shape}, "
                             f"labels {self.labels.shape}, usages {len(self.usages)}")

    def __len__(self) -> int:
        return len(self.labels)


def format_rows(table: FerTable) -> list[str]:
    """The CSV lines (without newline) of every row of `table`."""
    flat = table.images.reshape(len(table), -1)
    return [
        f"{int(label)},{' '.join(_PIXEL_TEXT[pixels])},{usage}"
        for label, pixels, usage in zip(table.labels, flat, table.usages, strict=True)
    ]


def write_fer2013_csv(path: str | os.PathLike[str], table: FerTable) -> None:
    """Atomically write `table` as a FER2013 CSV."""
    with atomic_path(Path(path)) as tmp, tmp.open("w", encoding="ascii", newline="\n") as out:
        out.write(HEADER + "\n")
        for line in format_rows(table):
            out.write(line + "\n")


def make_table(images: np.ndarray, labels: Sequence[int] | np.ndarray,
               usages: Sequence[str] | np.ndarray) -> FerTable:
    """Build a FerTable, coercing dtypes."""
    return FerTable(
        images=np.asarray(images, dtype=np.uint8),
        labels=np.asarray(labels, dtype=np.uint8),
        usages=np.asarray(usages, dtype=object),
    )
