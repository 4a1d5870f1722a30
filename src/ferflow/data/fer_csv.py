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


# --- reading -----------------------------------------------------------------------------------

_LABELS = {str(i).encode(): i for i in range(7)}
_USAGE_BYTES = {u.encode(): u for u in USAGES}
_PIXELS = IMAGE_SIZE * IMAGE_SIZE


@dataclass(frozen=True)
class RowFault:
    """One problem in one data row (`row` is 0-based, header excluded; file line = row + 2)."""

    row: int
    problem: str

    def __str__(self) -> str:
        return f"line {self.row + 2} (row {self.row}): {self.problem}"


def _parse_pixels_slowly(field: bytes) -> np.ndarray | str:
    """Parse one pixels field token by token: the values, or what is wrong with them."""
    tokens = field.split()
    if len(tokens) != _PIXELS:
        return f"pixels has {len(tokens)} values, expected {_PIXELS}"
    for token in tokens:
        if not token.isdigit():
            return f"pixel value {token.decode(errors='replace')!r} is not an integer 0-255"
    values = np.array([int(t) for t in tokens], dtype=np.int64)
    if values.max() > 255:
        return f"pixel value {int(values.max())} is outside 0-255"
    return values.astype(np.uint8)


def parse_lines(lines: list[bytes], first_row: int = 0) -> tuple[FerTable, list[RowFault]]:
    """Parse FER2013 data lines (no header) into a table, collecting every faulty row.

    The fast path hands all well-formed pixel fields to numpy's C parser at once; rows that look
    odd, or a chunk where that parser fails, are parsed one by one to name the exact fault.
    """
    faults: list[RowFault] = []
    labels: list[int] = []
    usages: list[str] = []
    fields: list[bytes] = []
    field_rows: list[int] = []  # a row with the wrong field count has no pixels field
    for offset, line in enumerate(lines):
        row = first_row + offset
        parts = line.rstrip(b"\r").split(b",")
        if len(parts) != 3:
            faults.append(RowFault(row, f"has {len(parts)} comma-separated fields, expected 3 "
                                        "(emotion,pixels,Usage)"))
            continue
        label, pixels, usage = (p.strip().strip(b'"') for p in parts)
        if label not in _LABELS:
            faults.append(RowFault(row, f"emotion {label.decode(errors='replace')!r} is not "
                                        "one of 0-6"))
        if usage not in _USAGE_BYTES:
            faults.append(RowFault(row, f"Usage {usage.decode(errors='replace')!r} is not one of "
                                        + ", ".join(USAGES)))
        labels.append(_LABELS.get(label, 0))
        usages.append(_USAGE_BYTES.get(usage, ""))
        fields.append(pixels)
        field_rows.append(row)

    images = np.zeros((len(fields), _PIXELS), dtype=np.uint8)
    regular = [i for i, f in enumerate(fields) if f.count(b" ") == _PIXELS - 1]
    slow = set(range(len(fields))) - set(regular)
    try:
        values = np.fromstring(b" ".join(fields[i] for i in regular), dtype=np.int64, sep=" ")
        if values.size != len(regular) * _PIXELS:
            raise ValueError("token count")
        values = values.reshape(len(regular), _PIXELS)
        out_of_range = (values.max(axis=1) > 255) | (values.min(axis=1) < 0)
        slow.update(np.asarray(regular)[out_of_range].tolist())
        images[regular] = values.astype(np.uint8)
    except ValueError:  # a non-numeric token somewhere: find it row by row
        slow.update(regular)
    for i in sorted(slow):
        parsed = _parse_pixels_slowly(fields[i])
        if isinstance(parsed, str):
            faults.append(RowFault(field_rows[i], parsed))
        else:
            images[i] = parsed
    if faults:
        faults.sort(key=lambda f: f.row)
        return make_table(np.zeros((0, IMAGE_SIZE, IMAGE_SIZE)), [], []), faults
    return make_table(images.reshape(-1, IMAGE_SIZE, IMAGE_SIZE), labels, usages), []


def split_header(data: bytes, path: str | os.PathLike[str]) -> list[bytes]:
    """Check the header line and return the data lines (a trailing empty line dropped)."""
    from ferflow.errors import FerflowError

    lines = data.split(b"\n")
    header = lines[0].lstrip(b"\xef\xbb\xbf").rstrip(b"\r").decode(errors="replace")
    if header.replace(" ", "") != HEADER:
        raise FerflowError(f"{path}: first line is {header[:80]!r}, expected the FER2013 header "
                           f"{HEADER!r}. Is this the Kaggle fer2013.csv? Re-run the download "
                           "stage or point data.file.path at the right file.")
    if lines[-1] in (b"", b"\r"):
        lines.pop()
    return lines[1:]


def fault_report(path: str | os.PathLike[str], faults: list[RowFault], limit: int = 20) -> str:
    """One paragraph (plus one line per fault) for a FerflowError."""
    shown = "\n".join(f"  {fault}" for fault in faults[:limit])
    more = f"\n  ... and {len(faults) - limit} more" if len(faults) > limit else ""
    return (f"{path}: {len(faults)} malformed row(s); nothing was written.\n{shown}{more}\n"
            "Each row needs emotion 0-6, 2304 space-separated integers 0-255, and Usage "
            "Training/PublicTest/PrivateTest. Fix or delete these rows (or re-download) and run "
            "again.")


def read_fer2013_csv(path: str | os.PathLike[str]) -> FerTable:
    """Read and strictly check a FER2013 CSV; raise FerflowError listing every malformed row."""
    from ferflow.errors import FerflowError

    path = Path(path)
    if not path.is_file():
        raise FerflowError(f"{path}: file not found; run the download stage first (dvc repro "
                           "download)")
    table, faults = parse_lines(split_header(path.read_bytes(), path))
    if faults:
        raise FerflowError(fault_report(path, faults))
    return table
