"""`data/raw/source.json`: what the download stage fetched (source, origin, sha256, rows).
Written by the download stage, read by training and the release step for their tags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ferflow.atomic import read_json_record, write_json


def write_source_record(path: Path, info: dict[str, Any]) -> None:
    write_json(path, info)


def read_source_record(path: Path) -> dict[str, Any]:
    """`source.json` as the download stage wrote it ({} when it is missing or unreadable)."""
    return read_json_record(path)


def data_sha256(path: Path) -> str:
    """The raw data's sha256 from `source.json` ("unknown" without it)."""
    return str(read_source_record(path).get("sha256", "unknown"))
