"""The preprocess stage: PNG tree, manifest and arrays; atomic and deterministic."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fer_tables import random_table
from PIL import Image

from ferflow import EMOTIONS
from ferflow.data import preprocess
from ferflow.data.fer_csv import write_fer2013_csv
from ferflow.data.png import encode_grey_png
from ferflow.errors import FerflowError


def _tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_png_encoder_round_trips_through_pil(tmp_path: Path) -> None:
    image = np.random.default_rng(1).integers(0, 256, (48, 48), dtype=np.uint8)
    path = tmp_path / "a.png"
    path.write_bytes(encode_grey_png(image))
    with Image.open(path) as decoded:
        assert decoded.mode == "L" and decoded.size == (48, 48)
        assert np.array_equal(np.asarray(decoded), image)


def test_outputs_match_the_csv(write_csv, tmp_path: Path) -> None:
    csv = write_csv(rows=42)
    table = random_table(42)
    counts = preprocess.preprocess_csv(csv, tmp_path / "data", workers=1)
    data = tmp_path / "data"

    manifest = pd.read_csv(data / "manifest.csv")
    assert list(manifest.columns) == ["path", "label", "emotion", "split", "row"]
    assert len(manifest) == 42 and list(manifest["row"]) == list(range(42))
    for record in manifest.itertuples():
        assert record.emotion == EMOTIONS[record.label]
        assert record.path == f"images/{record.split}/{record.emotion}/{record.row:05d}.png"
        with Image.open(data / record.path) as image:
            assert np.array_equal(np.asarray(image), table.images[record.row])

    for split, usage in [("train", "Training"), ("val", "PublicTest"), ("test", "PrivateTest")]:
        arrays = np.load(data / "arrays" / f"{split}.npz")
        keep = np.flatnonzero(table.usages == usage)
        assert arrays["x"].dtype == np.uint8 and arrays["x"].shape == (len(keep), 48, 48)
        assert np.array_equal(arrays["x"], table.images[keep])
        assert np.array_equal(arrays["y"], table.labels[keep])
        assert np.array_equal(arrays["row"], keep)
        assert sum(counts[split].values()) == len(keep)


def test_parallel_chunks_equal_serial_and_runs_are_deterministic(
        write_csv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    csv = write_csv(rows=50)
    preprocess.preprocess_csv(csv, tmp_path / "serial", workers=1)
    monkeypatch.setattr(preprocess, "ROWS_PER_CHUNK", 7)  # 8 chunks over 2 processes
    chunks = preprocess.plan_chunks(csv, None, 7)
    assert [c.rows for c in chunks] == [7] * 7 + [1]
    preprocess.preprocess_csv(csv, tmp_path / "parallel", workers=2)
    preprocess.preprocess_csv(csv, tmp_path / "again", workers=2)
    serial = _tree_digest(tmp_path / "serial")
    assert serial == _tree_digest(tmp_path / "parallel") == _tree_digest(tmp_path / "again")


def test_bad_row_in_a_late_chunk_leaves_previous_outputs(write_csv, tmp_path: Path) -> None:
    data = tmp_path / "data"
    good = write_csv(rows=30, name="good.csv")
    preprocess.preprocess_csv(good, data, workers=1)
    before = _tree_digest(data)

    bad = tmp_path / "bad.csv"
    table = random_table(30, seed=9)
    write_fer2013_csv(bad, table)
    lines = bad.read_text().split("\n")
    lines[29] = lines[29].replace(",Training", ",Nope").replace(",PublicTest", ",Nope") \
        .replace(",PrivateTest", ",Nope")
    bad.write_text("\n".join(lines))
    with pytest.raises(FerflowError, match=r"line 30 \(row 28\): Usage 'Nope'"):
        preprocess.preprocess_csv(bad, data, workers=2)
    assert _tree_digest(data) == before
    assert sorted(p.name for p in data.iterdir()) == ["arrays", "images", "labels.json",
                                                      "manifest.csv"]


def test_header_only_file_is_an_error(tmp_path: Path) -> None:
    csv = tmp_path / "empty.csv"
    csv.write_text("emotion,pixels,Usage\n")
    with pytest.raises(FerflowError, match="no data rows"):
        preprocess.preprocess_csv(csv, tmp_path / "data")
    assert not (tmp_path / "data" / "images").exists()


def _state(pid: int) -> str | None:
    """The process's state letter from /proc (Z = zombie: exited), None when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
    return found


def _run_preprocess(root: Path) -> subprocess.Popen[str]:
    """The stage's library call in its own process, with a pool of two workers."""
    code = ("from ferflow.data.preprocess import preprocess_csv; "
            "preprocess_csv('data/raw/fer2013.csv', 'data', workers=2)")
    return subprocess.Popen([sys.executable, "-c", code], cwd=root, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigkill_takes_the_workers_along_and_the_next_run_removes_the_temp_tree(
        tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_fer2013_csv(data / "raw" / "fer2013.csv", random_table(16000))
    stage = _run_preprocess(tmp_path)
    deadline = time.monotonic() + 120
    while not any(data.glob(".images.tmp-*/*/*/*.png")):
        assert stage.poll() is None, stage.communicate()[0]
        assert time.monotonic() < deadline, "no PNG written within 120 s"
        time.sleep(0.01)
    workers = _children(stage.pid)
    assert len(workers) == 2
    stage.kill()
    stage.wait()
    assert not (data / "images").exists(), "the run finished before it could be killed"

    deadline = time.monotonic() + 10
    while alive := [pid for pid in workers if _state(pid) not in (None, "Z")]:
        if time.monotonic() > deadline:
            for pid in alive:  # no orphans left behind by a failed check
                os.kill(pid, signal.SIGKILL)
            pytest.fail(f"workers {alive} outlived the killed stage by 10 s")
        time.sleep(0.05)
    (left,) = data.glob(".images.tmp-*")
    assert left.name.startswith(f".images.tmp-{stage.pid}-")

    again = _run_preprocess(tmp_path)
    output = again.communicate(timeout=300)[0]
    assert again.returncode == 0, output
    assert sorted(p.name for p in data.iterdir()) == ["arrays", "images", "labels.json",
                                                      "manifest.csv", "raw"]
