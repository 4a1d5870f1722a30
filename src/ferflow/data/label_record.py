"""`data/labels.json`: where preprocess took the labels from and what that changed.

Written by the preprocess stage, read by the validate stage (which compares it with what it
derives from the files itself). Keys: `labels` (fer2013 | ferplus), `ferplus_path` and
`ferplus_sha256` (ferplus only), `labels_changed` (kept rows whose label differs from
FER2013's) and `rows_dropped` (per reason; see ferflow.data.ferplus.DROP_REASONS).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ferflow.atomic import read_json_record, write_json


def write_label_record(path: Path, record: dict[str, Any]) -> None:
    write_json(path, record)


def read_label_record(path: Path) -> dict[str, Any]:
    """`labels.json` as preprocess wrote it ({} when it is missing or unreadable)."""
    return read_json_record(path)
