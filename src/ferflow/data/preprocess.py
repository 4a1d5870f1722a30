"""CSV → PNG tree, manifest and per-split arrays (the preprocess stage).

Outputs under `data_dir` (see DESIGN.md):
- `images/{train,val,test}/{emotion}/{row:05d}.png`: one 48x48 grey PNG per CSV row;
- `manifest.csv`: `path,label,emotion,split,row` (path relative to `data_dir`);
- `arrays/{split}.npz`: `x` (N,48,48) uint8, `y` (N,) uint8, `row` (N,) int64, in CSV order.

The CSV is cut into chunks at line boundaries; worker processes parse a chunk and write its PNGs
into a temporary tree that replaces `images/` only when every row parsed. A malformed row anywhere
stops the stage with every fault listed and leaves the previous outputs untouched.

With FER+ labels (`ferplus_path`), each row takes the majority label of FER+'s votes and the
rows FER+ drops get no PNG, manifest line or array row; `labels.json` records the relabelling.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ferflow import EMOTIONS, SPLITS, USAGE_TO_SPLIT
from ferflow.atomic import atomic_path
from ferflow.data.arrays import write_split
from ferflow.data.fer_csv import FerTable, RowFault, fault_report, parse_lines, split_header
from ferflow.data.ferplus import (
    FerPlusLabels,
    check_alignment,
    check_row_count,
    majority_labels,
    read_ferplus_csv,
)
from ferflow.data.label_record import write_label_record
from ferflow.data.png import write_grey_png
from ferflow.errors import FerflowError
from ferflow.layout import ARRAYS, IMAGES, LABELS_RECORD, MANIFEST
from ferflow.progress import Progress

ROWS_PER_CHUNK = 2000


@dataclass(frozen=True)
class Chunk:
    """Lines [start, end) of the CSV's data (byte offsets), whose first data row is `first_row`."""

    path: str
    start: int
    end: int
    first_row: int
    rows: int
    images_dir: str | None
    labels: np.ndarray | None = None
    """FER+ labels of the chunk's rows (-1: no PNG), replacing the CSV's; None = the CSV's."""


@dataclass(frozen=True)
class ChunkResult:
    table: FerTable
    rows: np.ndarray
    faults: list[RowFault]


def image_relpath(split: str, label: int, row: int) -> str:
    return f"{IMAGES}/{split}/{EMOTIONS[label]}/{row:05d}.png"


def _process_chunk(chunk: Chunk) -> ChunkResult:
    with open(chunk.path, "rb") as f:
        f.seek(chunk.start)
        lines = f.read(chunk.end - chunk.start).split(b"\n")
    if lines and lines[-1] in (b"", b"\r"):
        lines.pop()
    table, faults = parse_lines(lines, chunk.first_row)
    rows = np.arange(chunk.first_row, chunk.first_row + len(table), dtype=np.int64)
    if not faults and chunk.images_dir is not None:
        labels = table.labels if chunk.labels is None else chunk.labels[:len(table)]
        for image, label, usage, row in zip(table.images, labels, table.usages, rows,
                                            strict=True):
            if label < 0:
                continue
            path = image_relpath(USAGE_TO_SPLIT[usage], int(label), int(row))
            write_grey_png(os.path.join(chunk.images_dir, path[len("images/"):]), image)
    return ChunkResult(table, rows, faults)


def plan_chunks(path: Path, images_dir: str | None, rows_per_chunk: int | None = None
                ) -> list[Chunk]:
    """Cut the CSV's data lines into chunks of about `rows_per_chunk` rows (default:
    ROWS_PER_CHUNK, read at call time; checks the header)."""
    rows_per_chunk = ROWS_PER_CHUNK if rows_per_chunk is None else rows_per_chunk
    data = path.read_bytes()
    header_end = data.find(b"\n") + 1 or len(data)
    split_header(data[:header_end], path)
    chunks, start, row = [], header_end, 0
    while start < len(data):
        end, taken = start, 0
        while taken < rows_per_chunk and end < len(data):
            end = data.find(b"\n", end) + 1 or len(data)
            taken += 1
        if data[end - 1:end] == b"\n" and end == len(data) and data[start:end].strip() == b"":
            break  # trailing blank line
        chunks.append(Chunk(str(path), start, end, row, taken, images_dir))
        start, row = end, row + taken
    return chunks


def _default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def _exit_with_parent(parent: int) -> None:
    """Worker initializer: end this worker as soon as `parent` (the stage) is gone.

    A SIGKILL of the stage gives the pool no chance to stop its workers, and a forked worker
    holds both ends of the task pipe, so it never sees EOF: it would wait on it forever.
    """
    def watch() -> None:
        while os.getppid() == parent:  # an orphan is re-parented (to init or a subreaper)
            time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _run_chunks(chunks: list[Chunk], workers: int) -> list[ChunkResult]:
    results: list[ChunkResult] = []
    with Progress(sum(c.rows for c in chunks), "preprocess", unit="rows") as progress:
        if workers <= 1 or len(chunks) <= 1:
            for chunk in chunks:
                results.append(_process_chunk(chunk))
                progress.update(chunk.rows)
            return results
        # fork: the workers need nothing from the parent but the chunk description.
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_exit_with_parent,
                                 initargs=(os.getpid(),)) as pool:
            for chunk, result in zip(chunks, pool.map(_process_chunk, chunks), strict=True):
                results.append(result)
                progress.update(chunk.rows)
    return results


def _with_labels(chunks: list[Chunk], ferplus: FerPlusLabels | None) -> list[Chunk]:
    if ferplus is None:
        return chunks
    return [Chunk(c.path, c.start, c.end, c.first_row, c.rows, c.images_dir,
                  ferplus.labels[c.first_row:c.first_row + c.rows]) for c in chunks]


def _manifest_text(labels: np.ndarray, splits: np.ndarray, rows: np.ndarray) -> str:
    lines = ["path,label,emotion,split,row"]
    lines += [f"{image_relpath(s, int(y), int(r))},{int(y)},{EMOTIONS[int(y)]},{s},{int(r)}"
              for y, s, r in zip(labels, splits, rows, strict=True)]
    return "\n".join(lines) + "\n"


def preprocess_csv(
    csv_path: str | os.PathLike[str],
    data_dir: str | os.PathLike[str],
    workers: int | None = None,
    ferplus_path: str | os.PathLike[str] | None = None,
) -> dict[str, dict[str, int]]:
    """Turn a FER2013 CSV into the PNG tree, manifest and arrays; return counts per split/class.

    With `ferplus_path` (a fer2013new.csv), FER+'s majority labels replace the CSV's."""
    csv_path, data_dir = Path(csv_path), Path(data_dir)
    if not csv_path.is_file():
        raise FerflowError(f"{csv_path}: file not found; run the download stage first "
                           "(dvc repro download)")
    workers = workers or _default_workers()
    votes = read_ferplus_csv(ferplus_path) if ferplus_path is not None else None
    ferplus = majority_labels(votes) if votes is not None else None
    with atomic_path(data_dir / IMAGES, directory=True) as images_tmp:
        for split in SPLITS:
            for emotion in EMOTIONS:
                (images_tmp / split / emotion).mkdir(parents=True)
        chunks = plan_chunks(csv_path, str(images_tmp))
        if votes is not None:  # before any parsing; the Usage check needs the rows (below)
            check_row_count(votes, sum(c.rows for c in chunks), csv_path)
        results = _run_chunks(_with_labels(chunks, ferplus), workers)
        faults = [fault for result in results for fault in result.faults]
        if faults:
            raise FerflowError(fault_report(csv_path, faults))
        if not results or not sum(len(r.rows) for r in results):
            raise FerflowError(f"{csv_path}: has a header but no data rows; re-run the download "
                               "stage or check data.file.path")
        images = np.concatenate([r.table.images for r in results])
        labels = np.concatenate([r.table.labels for r in results])
        splits = np.array([USAGE_TO_SPLIT[u] for r in results for u in r.table.usages])
        rows = np.concatenate([r.rows for r in results])
        record: dict[str, object] = {"labels": "fer2013", "labels_changed": 0, "rows_dropped": {}}
        if votes is not None and ferplus is not None:
            check_alignment(votes, np.concatenate([r.table.usages for r in results]), csv_path)
            record = {"labels": "ferplus", "ferplus_path": str(votes.path),
                      "ferplus_sha256": votes.sha256,
                      "labels_changed": ferplus.changed(labels),
                      "rows_dropped": ferplus.dropped()}
            keep = ferplus.kept
            images, labels = images[keep], ferplus.labels[keep].astype(labels.dtype)
            splits, rows = splits[keep], rows[keep]
        with atomic_path(data_dir / ARRAYS, directory=True) as arrays_tmp:
            for split in SPLITS:
                keep = splits == split
                write_split(arrays_tmp, split, images[keep], labels[keep], rows[keep])
        with atomic_path(data_dir / MANIFEST) as manifest_tmp:
            manifest_tmp.write_text(_manifest_text(labels, splits, rows), encoding="utf-8")
        write_label_record(data_dir / LABELS_RECORD, record)
    return {
        split: {emotion: int(np.sum((splits == split) & (labels == i)))
                for i, emotion in enumerate(EMOTIONS)}
        for split in SPLITS
    }
