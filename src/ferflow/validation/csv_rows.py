"""The raw FER2013 CSV as per-row facts for the gate.

The gate reads the CSV itself rather than trusting the preprocess stage, and it never stops at a
bad row: every row gets its facts (field count, raw emotion and Usage text, pixel count, pixel
range), and the expectations judge them, so one run lists every kind of fault at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ferflow import EMOTIONS, IMAGE_SIZE, PIXELS_PER_IMAGE, USAGE_TO_SPLIT
from ferflow.errors import FerflowError

HEADER = ("emotion", "pixels", "Usage")
# Derived per-row columns, after the CSV's own columns.
DERIVED = ("line", "field_count", "pixel_count", "non_integer_pixels", "pixel_min", "pixel_max")

_INTEGER = re.compile(rb"[+-]?[0-9]+")
_DIGITS_AND_SPACE = b"0123456789 "
_ROWS_PER_CHUNK = 2000  # bounds the memory of the vectorised parse (~20 MB of text a chunk)


@dataclass(frozen=True)
class CsvFacts:
    """One raw CSV: `frame` for the expectations, arrays for the image-level checks.

    `frame` has the CSV's own columns (named as in its header, values as text) followed by
    DERIVED. Row i is data row i (0-based, header excluded; file line = i + 2).
    """

    header: tuple[str, ...]
    frame: pd.DataFrame
    images: np.ndarray  # (N, 48, 48) uint8; zeros where the pixels field is malformed
    pixels_ok: np.ndarray  # (N,) bool: 2,304 integers 0-255
    labels: np.ndarray  # (N,) int16: the emotion 0-6, or -1
    splits: np.ndarray  # (N,) str: train/val/test, or "" for an unknown Usage

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def usable(self) -> np.ndarray:
        """Rows whose label, split and pixels are all valid (the rows preprocess keeps)."""
        return self.pixels_ok & (self.labels >= 0) & (self.splits != "")


def _clean(field: bytes) -> bytes:
    # The same leniency as the CSV codec: blanks and double quotes around a field.
    return field.strip().strip(b'"')


def _split_line(data: bytes, start: int, end: int) -> list[bytes]:
    """Fields of one line, sliced straight from `data` (one copy of the pixel text, not two)."""
    if data.count(b",", start, end) != 2:
        return [_clean(f) for f in data[start:end].split(b",")]
    first = data.find(b",", start, end)
    second = data.rfind(b",", start, end)
    return [_clean(data[start:first]), _clean(data[first + 1:second]),
            _clean(data[second + 1:end])]


def _lines(data: bytes) -> tuple[str, list[list[bytes]]]:
    """The header line (text) and the fields of every data line (a final empty line dropped)."""
    bounds = []
    start = 0
    while start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end
        stop = end - 1 if data[end - 1:end] == b"\r" else end
        bounds.append((start, stop))
        start = end + 1
    if not bounds:
        return "", []
    header = data[bounds[0][0]:bounds[0][1]].lstrip(b"\xef\xbb\xbf").decode(errors="replace")
    if len(bounds) > 1 and bounds[-1][0] == bounds[-1][1]:
        bounds.pop()
    return header, [_split_line(data, a, b) for a, b in bounds[1:]]


def _is_regular(field: bytes) -> bool:
    """2,304 tokens of digits separated by single spaces (the fast path's precondition)."""
    return (field.count(b" ") == PIXELS_PER_IMAGE - 1
            and not field.translate(None, _DIGITS_AND_SPACE)
            and b"  " not in field and field[:1] != b" " and field[-1:] != b" ")


def _parse_regular(fields: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Values (n, 2304) of regular pixel fields, and which rows hold a token of 4+ digits.

    Vectorised: each token's value is read at its last digit from the one or two digits before
    it, so there is no Python work per pixel (~2x faster than numpy's text parser).
    """
    buf = np.frombuffer(b"   " + b" ".join(fields) + b" ", dtype=np.uint8)
    digit = buf != ord(" ")
    ends = np.flatnonzero(digit[:-1] & ~digit[1:])
    values = buf.astype(np.int16)
    values -= ord("0")
    np.maximum(values, 0, out=values)  # a space counts as 0: a one-digit token gets no tens
    value = values[ends]
    value += values[ends - 1] * 10
    hundreds = digit[ends - 1] & digit[ends - 2]
    value += values[ends - 2] * hundreds * 100
    long_token = (hundreds & digit[ends - 3]).reshape(len(fields), -1).any(axis=1)
    return value.reshape(len(fields), PIXELS_PER_IMAGE), long_token


def _parse_slowly(field: bytes) -> tuple[int, int, np.ndarray]:
    """Token count, non-integer token count and the integer values of an irregular field."""
    tokens = field.split()
    integers = [t for t in tokens if _INTEGER.fullmatch(t)]
    return len(tokens), len(tokens) - len(integers), np.array([int(t) for t in integers],
                                                              dtype=np.int64)


def _pixel_facts(fields: list[bytes]) -> tuple[np.ndarray, ...]:
    """Per row: pixel count, non-integer count, min, max (NaN if no integer), image, ok."""
    n = len(fields)
    count = np.zeros(n, dtype=np.int64)
    non_integer = np.zeros(n, dtype=np.int64)
    low = np.full(n, np.nan)
    high = np.full(n, np.nan)
    images = np.zeros((n, PIXELS_PER_IMAGE), dtype=np.uint8)
    regular = np.flatnonzero([_is_regular(f) for f in fields])
    slow = sorted(set(range(n)) - set(regular.tolist()))
    for start in range(0, len(regular), _ROWS_PER_CHUNK):
        rows = regular[start:start + _ROWS_PER_CHUNK]
        values, long_token = _parse_regular([fields[i] for i in rows])
        slow.extend(rows[long_token].tolist())
        keep = ~long_token
        rows, values = rows[keep], values[keep]
        count[rows] = PIXELS_PER_IMAGE
        low[rows], high[rows] = values.min(axis=1), values.max(axis=1)
        images[rows] = np.clip(values, 0, 255)
    for i in slow:
        count[i], non_integer[i], values = _parse_slowly(fields[i])
        if values.size:
            low[i], high[i] = values.min(), values.max()
            if values.size == PIXELS_PER_IMAGE:
                images[i] = np.clip(values, 0, 255)
    ok = (count == PIXELS_PER_IMAGE) & (non_integer == 0) & (low >= 0) & (high <= 255)
    images[~ok] = 0
    return count, non_integer, low, high, images, ok


def read_csv_facts(path: Path) -> CsvFacts:
    """Read the raw FER2013 CSV into per-row facts; raise FerflowError only if it is unreadable."""
    if not path.is_file():
        raise FerflowError(f"{path}: file not found; run the download stage first "
                           "(dvc repro download)")
    header_text, rows = _lines(path.read_bytes())
    header = tuple(_clean(name.encode()).decode() for name in header_text.split(","))
    fields_per_row = [len(r) for r in rows]

    def column(i: int) -> list[bytes]:
        return [r[i] if len(r) > i else b"" for r in rows]

    emotion = [v.decode(errors="replace") for v in column(0)]
    pixels = column(1)
    usage = [v.decode(errors="replace") for v in column(2)]
    count, non_integer, low, high, images, ok = _pixel_facts(pixels)

    label_of = {str(i): i for i in range(len(EMOTIONS))}
    labels = np.array([label_of.get(e, -1) for e in emotion], dtype=np.int16)
    splits = np.array([USAGE_TO_SPLIT.get(u, "") for u in usage], dtype=object)

    # The CSV's own columns under its own header names (positionally), then the derived ones.
    raw: list[list[object]] = [emotion, pixels, usage]
    columns: dict[str, object] = {}
    for i, name in enumerate(header):
        columns[name] = raw[i] if i < len(raw) else [
            r[i].decode(errors="replace") if len(r) > i else "" for r in rows]
    columns.update({
        "line": np.arange(2, len(rows) + 2, dtype=np.int64),
        "field_count": np.array(fields_per_row, dtype=np.int64),
        "pixel_count": count,
        "non_integer_pixels": non_integer,
        "pixel_min": low,
        "pixel_max": high,
    })
    return CsvFacts(
        header=header,
        frame=pd.DataFrame(columns),
        images=images.reshape(-1, IMAGE_SIZE, IMAGE_SIZE),
        pixels_ok=ok,
        labels=labels,
        splits=splits,
    )
