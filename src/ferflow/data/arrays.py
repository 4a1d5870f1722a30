"""`data/arrays/<split>.npz`, the preprocess stage's training view of the data: written here by
preprocess, read here by training, evaluation, the release step and the benchmarks.

Each file holds `x` (N, 48, 48) uint8 faces, `y` (N,) uint8 labels and `row` (N,) int64, the
faces' rows in the raw CSV, in CSV order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ferflow.errors import FerflowError
from ferflow.layout import arrays_file


@dataclass(frozen=True)
class Split:
    x: np.ndarray
    """(N, 48, 48, 1) float32 raw pixels 0..255."""
    y: np.ndarray
    """(N,) int labels."""


def write_split(arrays_dir: Path, split: str, images: np.ndarray, labels: np.ndarray,
                rows: np.ndarray) -> None:
    """Write one split's file into `arrays_dir` (a temporary folder renamed into place)."""
    np.savez(arrays_file(arrays_dir, split), x=images, y=labels, row=rows)


def load_split(arrays_dir: Path, split: str) -> Split:
    """`<arrays_dir>/<split>.npz`, as the model sees it; FerflowError naming a bad file."""
    path = arrays_file(arrays_dir, split)
    try:
        with np.load(path) as data:
            x, y = data["x"], data["y"]
    except FileNotFoundError:
        raise FerflowError(f"{path}: not found; the preprocess stage writes it "
                           "(dvc repro preprocess)") from None
    except (KeyError, ValueError, OSError) as exc:
        raise FerflowError(f"{path}: not a preprocess arrays file with x and y ({exc}); "
                           "rerun the preprocess stage") from None
    if len(y) == 0 or x.shape[1:] != (48, 48) or len(x) != len(y):
        raise FerflowError(f"{path}: expected x (N, 48, 48) and y (N,) with N > 0, got x "
                           f"{x.shape} and y {y.shape}; rerun the preprocess stage")
    return Split(x.astype("float32")[..., None], y.astype(np.int64))


def split_rows(arrays_dir: Path, split: str) -> int | None:
    """The number of faces in `<arrays_dir>/<split>.npz` (only its labels are read); None when
    there is no such file."""
    path = arrays_file(arrays_dir, split)
    if not path.is_file():
        return None
    try:
        with np.load(path) as data:
            return len(data["y"])
    except (KeyError, ValueError, OSError) as exc:
        raise FerflowError(f"{path}: not a preprocess arrays file with labels y ({exc}); "
                           "rerun the preprocess stage") from None
