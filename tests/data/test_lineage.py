"""The data lineage read back from the download stage's source.json and the arrays."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ferflow.data.lineage import DataLineage, read_lineage
from ferflow.layout import Layout


def _write_labels(layout: Layout, split: str, n: int) -> None:
    layout.arrays_dir.mkdir(parents=True, exist_ok=True)
    np.savez(layout.arrays(split), x=np.zeros((n, 48, 48), np.uint8), y=np.zeros(n, np.uint8),
             row=np.arange(n, dtype=np.int64))


def test_lineage_has_the_source_record_and_the_rows_of_each_split(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    assert read_lineage(layout) is None  # no download stage ran: nothing to name
    layout.raw_dir.mkdir(parents=True)
    layout.source_json.write_text(json.dumps({"source": "url", "origin": "https://x/fer.csv",
                                              "sha256": "cd" * 32, "rows": 12}))
    for split, n in (("test", 3), ("train", 7)):  # no val arrays: that split is left out
        _write_labels(layout, split, n)
    assert read_lineage(layout) == DataLineage(source="url", origin="https://x/fer.csv",
                                               sha256="cd" * 32, rows={"train": 7, "test": 3})
    assert list(read_lineage(layout).rows) == ["train", "test"]
