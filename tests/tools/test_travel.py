"""Packing for a GPU window: arrays travel compressed and come back bit for bit; the size check
counts what the device tool sends."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from ferflow.data.synthetic import draw_faces
from ferflow.errors import FerflowError
from ferflow.tools.travel import (
    DEVICE_WHEELS,
    locked_versions,
    pack_arrays,
    travelling_bytes,
    unpack_arrays,
)

ROOT = Path(__file__).resolve().parents[2]


def _arrays(directory: Path) -> None:
    directory.mkdir(parents=True)
    for i, (split, n) in enumerate((("train", 40), ("val", 14), ("test", 14))):
        y = (np.arange(n) % 7).astype(np.uint8)
        x = draw_faces(y, noise=0.06, seed=i)
        np.savez(directory / f"{split}.npz", x=x, y=y, row=np.arange(n, dtype=np.int64) + 100 * i)


def test_arrays_come_back_bit_for_bit_and_smaller(tmp_path: Path) -> None:
    _arrays(tmp_path / "in")
    size = pack_arrays(tmp_path / "in", tmp_path / "pack" / "arrays.npz.xz")
    assert size < sum(p.stat().st_size for p in (tmp_path / "in").iterdir())
    rows = unpack_arrays(tmp_path / "pack" / "arrays.npz.xz", tmp_path / "out")
    assert rows == {"train": 40, "val": 14, "test": 14}
    for split in ("train", "val", "test"):
        with np.load(tmp_path / "in" / f"{split}.npz") as a, \
                np.load(tmp_path / "out" / f"{split}.npz") as b:
            for key in ("x", "y", "row"):
                assert a[key].dtype == b[key].dtype
                np.testing.assert_array_equal(a[key], b[key])


def test_a_missing_or_broken_pack_is_named(tmp_path: Path) -> None:
    with pytest.raises(FerflowError, match="nothing.npz.xz: not found"):
        unpack_arrays(tmp_path / "nothing.npz.xz", tmp_path / "out")
    (tmp_path / "bad.npz.xz").write_bytes(b"not xz")
    with pytest.raises(FerflowError, match="bad.npz.xz: not an xz file"):
        unpack_arrays(tmp_path / "bad.npz.xz", tmp_path / "out")


def test_device_wheels_are_pinned_by_the_lock() -> None:
    pins = locked_versions(ROOT / "requirements.lock", DEVICE_WHEELS)
    assert [p.split("==")[0] for p in pins] == list(DEVICE_WHEELS)
    assert all(p.split("==")[1] for p in pins)


def test_travelling_bytes_counts_tracked_untracked_and_carried_not_ignored(tmp_path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    (repo / ".gitignore").write_text("ignored/\n")
    (repo / "a.txt").write_bytes(b"x" * 100)
    (repo / "ignored").mkdir()
    (repo / "ignored" / "big.bin").write_bytes(b"y" * 1000)
    assert travelling_bytes(repo, []) == 100 + len("ignored/\n")
    assert travelling_bytes(repo, [repo / "ignored"]) == 100 + len("ignored/\n") + 1000
