"""What a model saw: where the raw data came from, its sha256 and the rows of each split, read
from the download stage's `source.json` and the preprocess stage's arrays. Training and
evaluation log it as the run's datasets; the register stage puts it on the model card."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ferflow import SPLITS
from ferflow.data.arrays import split_rows
from ferflow.data.source_record import read_source_record
from ferflow.layout import Layout


@dataclass(frozen=True)
class DataLineage:
    source: str
    """`data.source`: synthetic, file, url or kaggle."""
    origin: str
    """Where that source read it: the file path, the URL or the Kaggle competition."""
    sha256: str
    """Of the raw CSV (`data/raw/fer2013.csv`): the data's version."""
    rows: Mapping[str, int]
    """Faces per split, for the splits that have arrays, in `SPLITS` order."""


def read_lineage(layout: Layout) -> DataLineage | None:
    """The lineage of the data under `layout`; None without a sha256 in `source.json` (no
    download stage ran there), as there is then no data version to name."""
    record = read_source_record(layout.source_json)
    if "sha256" not in record:
        return None
    source = str(record.get("source", "unknown"))
    rows = {split: n for split in SPLITS
            if (n := split_rows(layout.arrays_dir, split)) is not None}
    return DataLineage(source=source, origin=str(record.get("origin", source)),
                       sha256=str(record["sha256"]), rows=rows)
