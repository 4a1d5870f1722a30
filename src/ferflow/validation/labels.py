"""The labels the preprocess outputs should carry: FER2013's own, or FER+'s majority votes.

With FER+ the gate reads fer2013new.csv itself, checks that it lines up with the raw CSV row by
row (the `ferplus_rows_align` check), and derives the labels and dropped rows it expects; the
manifest and arrays are then judged against those. `labels_record_matches` checks that
preprocess's `labels.json` says the same (source, labels changed, rows dropped per reason).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ferflow import USAGE_TO_SPLIT
from ferflow.data.ferplus import alignment_problem, majority_labels, read_ferplus_csv
from ferflow.data.label_record import read_label_record
from ferflow.validation.csv_rows import CsvFacts
from ferflow.validation.report import Outcome

SUITE = "labels"
_USAGE_OF_SPLIT = {split: usage for usage, split in USAGE_TO_SPLIT.items()}


@dataclass(frozen=True)
class LabelFacts:
    """`csv` with the labels preprocess should have applied (-1 for a dropped row)."""

    csv: CsvFacts
    dropped_rows: int
    outcomes: list[Outcome]
    report: dict[str, Any]  # validation.json's labels, labels_changed, rows_dropped


def _check(name: str, success: bool, observed: str) -> Outcome:
    return Outcome(SUITE, name, (), {}, success, observed)


def _record_check(record_path: Path, expected: dict[str, Any]) -> Outcome:
    record = read_label_record(record_path)
    got = {key: record.get(key) for key in expected}
    if got == expected:
        return _check("labels_record_matches", True, f"{record_path} agrees")
    return _check("labels_record_matches", False,
                  f"{record_path} says {got}, the gate derives {expected}; rerun preprocess "
                  "(dvc repro preprocess)")


def label_facts(csv: CsvFacts, raw_csv: Path, record_path: Path,
                ferplus_path: Path | None) -> LabelFacts:
    """The labels to expect; FerflowError only when the FER+ file is missing or unreadable."""
    if ferplus_path is None:
        expected: dict[str, Any] = {"labels": "fer2013", "labels_changed": 0, "rows_dropped": {}}
        return LabelFacts(csv, 0, [_record_check(record_path, expected)], expected)
    votes = read_ferplus_csv(ferplus_path)
    usages = np.array([_USAGE_OF_SPLIT.get(s, "") for s in csv.splits], dtype=object)
    problem = alignment_problem(votes, usages, raw_csv)
    if problem:
        report = {"labels": "ferplus", "labels_changed": None, "rows_dropped": None}
        return LabelFacts(csv, 0, [_check("ferplus_rows_align", False, problem)], report)
    ferplus = majority_labels(votes)
    # A row whose raw label is malformed keeps -1: the CSV suite fails it, preprocess refuses it.
    labels = np.where(csv.labels >= 0, ferplus.labels, -1).astype(np.int16)
    expected = {"labels": "ferplus", "labels_changed": ferplus.changed(csv.labels),
                "rows_dropped": ferplus.dropped()}
    aligned = _check("ferplus_rows_align", True,
                     f"{len(votes):,} rows, the same Usage on every row as {raw_csv}")
    return LabelFacts(dataclasses.replace(csv, labels=labels), int((~ferplus.kept).sum()),
                      [aligned, _record_check(record_path, expected)], expected)
