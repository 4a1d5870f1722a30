"""Facts about the preprocess outputs (manifest, PNG tree, arrays), measured against the raw CSV.

Paths and file layouts are those of the stage contract in DESIGN.md; they are written out here
rather than imported from the preprocess code, so that the gate checks the contract, not the
implementation it is meant to catch.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from ferflow import EMOTIONS, IMAGE_SIZE, SPLITS
from ferflow.errors import FerflowError
from ferflow.layout import ARRAYS, MANIFEST, arrays_file
from ferflow.validation.csv_rows import CsvFacts

MANIFEST_COLUMNS = ("path", "label", "emotion", "split", "row")
MANIFEST_DERIVED = ("manifest_line", "expected_path", "csv_label", "csv_emotion", "csv_split",
                    "png_exists", "png_width", "png_height", "png_mode", "png_matches_csv")

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# (colour type, bit depth) → PIL's mode name, for the report.
_PNG_MODES = {(0, 1): "1", (0, 8): "L", (0, 16): "I;16", (2, 8): "RGB", (3, 8): "P",
              (4, 8): "LA", (6, 8): "RGBA"}


def contract_path(split: str, label: int, row: int) -> str:
    """Where the contract puts the PNG of CSV data row `row` (relative to the data dir)."""
    return f"images/{split}/{EMOTIONS[label]}/{row:05d}.png"


def missing_input(path: Path) -> FerflowError:
    return FerflowError(f"{path}: not found; the validate stage checks the preprocess outputs, "
                        "so run the preprocess stage first (dvc repro preprocess)")


def png_size_and_mode(path: str) -> tuple[int, int, str] | None:
    """Width, height and PIL mode from a PNG's header (a 29-byte read); None if no file.

    Reading the IHDR chunk directly is ~4x faster than opening every file with PIL.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(29)
    except (FileNotFoundError, IsADirectoryError):
        return None
    if len(head) < 29 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        return 0, 0, "not a PNG"
    width, height, depth, colour = struct.unpack(">IIBB", head[16:26])
    return width, height, _PNG_MODES.get((colour, depth), f"colour type {colour}/{depth} bit")


def read_manifest(data_dir: Path) -> pd.DataFrame:
    path = data_dir / MANIFEST
    if not path.is_file():
        raise missing_input(path)
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise FerflowError(f"{path}: not a readable CSV ({exc}); re-run the preprocess stage "
                           "(dvc repro preprocess --force)") from None


def _csv_row_index(values: pd.Series, n_rows: int) -> np.ndarray:
    """The manifest's `row` column as CSV row indices; -1 where it is not a valid row."""
    numbers = pd.to_numeric(values, errors="coerce")
    valid = numbers.notna() & (numbers == numbers.round()) & (numbers >= 0) & (numbers < n_rows)
    return np.where(valid, numbers.fillna(-1), -1).astype(np.int64)


def manifest_frame(manifest: pd.DataFrame, data_dir: Path, csv: CsvFacts,
                   png_sample: int) -> pd.DataFrame:
    """The manifest's own columns plus, per row, what the CSV says and what the PNG holds.

    `png_matches_csv` is True/False for `png_sample` rows spread evenly over the manifest (the
    PNG decoded and compared pixel by pixel with the CSV row) and empty for the others.
    """
    n = len(manifest)

    def column(name: str) -> pd.Series:
        return manifest[name] if name in manifest else pd.Series([""] * n, dtype=object)

    rows = _csv_row_index(column("row"), len(csv))
    at = np.where(rows >= 0, rows, len(csv))  # a row the CSV lacks reads the sentinel at the end
    csv_label = np.append(csv.labels, -1)[at]
    csv_split = np.append(csv.splits, "")[at]
    comparable_pixels = np.append(csv.pixels_ok, False)[at]
    valid = (csv_label >= 0) & (csv_split != "")
    expected_path = [contract_path(s, int(y), int(r)) if v else ""
                     for s, y, r, v in zip(csv_split, csv_label, rows, valid, strict=True)]

    paths = column("path").tolist()
    headers = [png_size_and_mode(os.path.join(data_dir, p)) if p else None for p in paths]
    exists = np.array([h is not None for h in headers], dtype=bool)

    matches: list[bool | None] = [None] * n
    comparable = np.flatnonzero(exists & comparable_pixels)
    if png_sample and len(comparable):
        picks = np.unique(np.linspace(0, len(comparable) - 1, min(png_sample, len(comparable)))
                          .round().astype(int))
        for i in comparable[picks]:
            matches[i] = _png_equals(data_dir / paths[i], csv.images[rows[i]])

    frame = manifest.copy()
    frame["manifest_line"] = np.arange(2, n + 2, dtype=np.int64)
    frame["expected_path"] = expected_path
    frame["csv_label"] = [str(y) if y >= 0 else "" for y in csv_label]
    frame["csv_emotion"] = [EMOTIONS[y] if y >= 0 else "" for y in csv_label]
    frame["csv_split"] = list(csv_split)
    frame["png_exists"] = exists
    frame["png_width"] = pd.array([h[0] if h else None for h in headers], dtype="Int64")
    frame["png_height"] = pd.array([h[1] if h else None for h in headers], dtype="Int64")
    frame["png_mode"] = pd.Series([h[2] if h else None for h in headers], dtype=object)
    frame["png_matches_csv"] = pd.Series(matches, dtype=object)
    return frame


def _png_equals(path: Path, expected: np.ndarray) -> bool:
    try:
        with Image.open(path) as image:
            pixels = np.asarray(image)
    except (OSError, SyntaxError, ValueError):
        return False
    return pixels.shape == expected.shape and bool(np.array_equal(pixels, expected))


def unlisted_pngs(data_dir: Path, manifest_paths: list[str]) -> dict[str, list[str]]:
    """PNG files under images/{split}/{class}/ that the manifest does not list, per split."""
    listed = set(manifest_paths)
    found: dict[str, list[str]] = {}
    for split in SPLITS:
        found[split] = []
        top = data_dir / "images" / split
        folders = sorted(e.name for e in os.scandir(top) if e.is_dir()) if top.is_dir() else []
        for folder in folders:
            prefix = f"images/{split}/{folder}/"
            found[split] += sorted(prefix + name for name in os.listdir(top / folder)
                                   if name.endswith(".png") and prefix + name not in listed)
    return found


def array_facts(data_dir: Path, csv: CsvFacts) -> dict[str, dict[str, object]]:
    """Per split: rows the arrays miss, add or hold differently from the CSV; rows per class.

    `mismatches` counts CSV rows of the split absent from `arrays/{split}.npz`, array rows that
    are not rows of that split (or repeat one), and rows whose pixels or label differ.
    """
    facts: dict[str, dict[str, object]] = {}
    for split in SPLITS:
        path = arrays_file(data_dir / ARRAYS, split)
        if not path.is_file():
            raise missing_input(path)
        expected = np.flatnonzero(csv.usable & (csv.splits == split))
        try:
            with np.load(path) as arrays:
                x, y, rows = arrays["x"], arrays["y"], arrays["row"]
        except (KeyError, ValueError, OSError) as exc:
            raise FerflowError(f"{path}: not a readable arrays file with x, y and row ({exc}); "
                               "re-run the preprocess stage (dvc repro preprocess --force)"
                               ) from None
        n = len(rows)
        shape_ok = (x.shape == (n, IMAGE_SIZE, IMAGE_SIZE) and x.dtype == np.uint8
                    and y.shape == (n,) and rows.ndim == 1)
        if not shape_ok:
            facts[split] = {"mismatches": len(expected) + n, "class_rows": [0] * len(EMOTIONS),
                            "note": f"x {x.shape} {x.dtype}, y {y.shape}, row {rows.shape}"}
            continue
        wanted = set(expected.tolist())
        unique_rows, first = np.unique(rows, return_index=True)
        stray = n - len(first) + sum(1 for r in unique_rows.tolist() if r not in wanted)
        missing = len(wanted - set(unique_rows.tolist()))
        keep = first[np.isin(unique_rows, expected)]  # array positions of the wanted rows
        differ = int(np.sum((y[keep].astype(np.int64) != csv.labels[rows[keep]])
                            | (x[keep] != csv.images[rows[keep]]).any(axis=(1, 2))))
        class_rows = np.bincount(y[y < len(EMOTIONS)].astype(np.int64),
                                 minlength=len(EMOTIONS))
        facts[split] = {"mismatches": int(stray + missing + differ),
                        "class_rows": class_rows.tolist()}
    return facts
