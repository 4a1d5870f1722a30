"""FER+ labels: majority votes replace FER2013's labels in preprocess, FER+'s non-faces, unknowns,
contempt and ties are dropped, and a votes file that does not line up is refused naming the row."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from fer_tables import random_table

from ferflow import EMOTIONS
from ferflow.config import ValidateParams, parse_params
from ferflow.data import preprocess
from ferflow.data.fer_csv import make_table, write_fer2013_csv
from ferflow.data.ferplus import (
    FULL_ROWS,
    HEADER,
    VOTE_COLUMNS,
    FerPlusVotes,
    alignment_problem,
    majority_labels,
    read_ferplus_csv,
)
from ferflow.data.preprocess import preprocess_csv
from ferflow.errors import FerflowError
from ferflow.layout import Layout
from ferflow.validation import format_summary, validate_dataset

COLUMN_OF = {"angry": "anger", "disgust": "disgust", "fear": "fear", "happy": "happiness",
             "sad": "sadness", "surprise": "surprise", "neutral": "neutral"}
BASE = 42  # random_table: every class twice in every split
CHANGED = 21  # rows 0..20 get FER+ label (label + 1) % 7: every class stays in every split

# The drop rules, one extra row each (image name, votes by column): reason.
DROPPED_ROWS: list[tuple[str, dict[str, int], str]] = [
    ("", {"happiness": 9, "neutral": 1}, "not_face"),  # empty name wins over the votes
    ("fer0099990.png", {}, "no_votes"),
    ("fer0099991.png", {"anger": 4, "sadness": 4, "neutral": 2}, "tie"),
    ("fer0099992.png", {"contempt": 6, "neutral": 4}, "contempt"),
    ("fer0099993.png", {"unknown": 7, "fear": 3}, "unknown"),
    ("fer0099994.png", {"NF": 10}, "not_face"),
]
PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"
GATE = ValidateParams(min_rows=10)  # the default min_rows is the synthetic 70


def _votes_line(usage: str, name: str, votes: dict[str, int]) -> str:
    return ",".join([usage, name, *(str(votes.get(c, 0)) for c in VOTE_COLUMNS)])


def _write_files(root: Path) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    """fer2013.csv (BASE random faces + one per drop rule) and its fer2013new.csv.

    Returns both paths, the FER2013 labels and the expected FER+ labels (-1 = dropped)."""
    base = random_table(BASE, seed=3)
    extra = len(DROPPED_ROWS)
    usages = np.concatenate([base.usages, np.array(["Training", "PublicTest",
                                                    "PrivateTest"])[np.arange(extra) % 3]])
    rng = np.random.default_rng(4)
    images = np.concatenate([base.images, rng.integers(0, 256, (extra, 48, 48), dtype=np.uint8)])
    labels = np.concatenate([base.labels, np.arange(extra) % 7]).astype(np.int64)
    csv = root / "data" / "raw" / "fer2013.csv"
    write_fer2013_csv(csv, make_table(images, labels, usages))

    expected = labels.copy()
    expected[:CHANGED] = (labels[:CHANGED] + 1) % 7
    expected[BASE:] = -1
    lines = [",".join(HEADER)]
    for row in range(BASE):
        # A strict majority, with minority votes (also unknown and NF) that must not matter.
        votes = {COLUMN_OF[EMOTIONS[expected[row]]]: 6, "unknown": 1, "NF": 1,
                 COLUMN_OF[EMOTIONS[(expected[row] + 3) % 7]]: 2}
        lines.append(_votes_line(usages[row], f"fer{row:07d}.png", votes))
    for row, (name, votes, _) in enumerate(DROPPED_ROWS, start=BASE):
        lines.append(_votes_line(usages[row], name, votes))
    ferplus = root / "fer2013new.csv"
    ferplus.write_text("\n".join(lines) + "\n")
    return csv, ferplus, labels, expected


def _edit_votes(ferplus: Path, drop_last: bool = False, flip_row: int | None = None) -> None:
    lines = ferplus.read_text().splitlines()
    if drop_last:
        lines.pop()
    if flip_row is not None:  # data row `flip_row` (1-based) is line flip_row + 1
        usage, rest = lines[flip_row].split(",", 1)
        lines[flip_row] = ("PrivateTest" if usage != "PrivateTest" else "Training") + "," + rest
    ferplus.write_text("\n".join(lines) + "\n")


def test_majority_rules_on_every_case(tmp_path: Path) -> None:
    _, ferplus, _, expected = _write_files(tmp_path)
    found = majority_labels(read_ferplus_csv(ferplus))
    np.testing.assert_array_equal(found.labels, expected)
    assert list(found.reasons[BASE:]) == [reason for *_, reason in DROPPED_ROWS]
    assert found.dropped() == {"not_face": 2, "unknown": 1, "contempt": 1, "tie": 1,
                               "no_votes": 1}


def test_preprocess_applies_ferplus_labels_and_drops_rows(tmp_path: Path) -> None:
    csv, ferplus, labels, expected = _write_files(tmp_path)
    layout = Layout(tmp_path)
    counts = preprocess_csv(csv, layout.data_dir, workers=1, ferplus_path=ferplus)

    kept = np.flatnonzero(expected >= 0)
    manifest = pd.read_csv(layout.manifest)
    assert manifest["row"].tolist() == kept.tolist()
    assert manifest["label"].tolist() == expected[kept].tolist()
    assert all(f"/{EMOTIONS[y]}/" in p for p, y in zip(manifest["path"], manifest["label"],
                                                         strict=True))
    assert sum(n for per_class in counts.values() for n in per_class.values()) == BASE
    assert len(list(layout.images_dir.rglob("*.png"))) == BASE
    for split in ("train", "val", "test"):
        with np.load(layout.arrays(split)) as arrays:
            np.testing.assert_array_equal(arrays["y"], expected[arrays["row"]])
            assert set(arrays["row"].tolist()) <= set(kept.tolist())

    record = json.loads(layout.labels_record.read_text())
    assert record["labels"] == "ferplus"
    assert record["labels_changed"] == CHANGED == int(np.sum(expected[kept] != labels[kept]))
    assert record["rows_dropped"] == {"not_face": 2, "unknown": 1, "contempt": 1, "tie": 1,
                                      "no_votes": 1}
    assert record["ferplus_path"] == str(ferplus) and len(record["ferplus_sha256"]) == 64

    # The gate reads the votes itself, agrees with preprocess and reports the relabelling.
    reports = tmp_path / "reports"
    result = validate_dataset(csv, layout.data_dir, reports, GATE, ferplus)
    assert result.success, [o.title for o in result.failures]
    report = json.loads((reports / "validation.json").read_text())
    assert report["labels"] == "ferplus"
    assert report["labels_changed"] == CHANGED
    assert report["rows_dropped"] == record["rows_dropped"]
    assert {k: v["success"] for k, v in report["label_checks"].items()} == {
        "ferplus_rows_align": True, "labels_record_matches": True}
    assert (f"FER+ labels: {CHANGED} changed; dropped not_face 2, unknown 1, contempt 1, "
            "tie 1, no_votes 1") in format_summary(result)

    # Judged as plain FER2013 labels, the same outputs fail: the gate is not fooled.
    plain = validate_dataset(csv, layout.data_dir, tmp_path / "plain", GATE)
    assert not plain.success
    assert {"labels_record_matches", "expect_table_row_count_to_equal"} <= {
        o.key for o in plain.failures}


def test_ferplus_labels_in_parallel_chunks_equal_serial(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    csv, ferplus, _, _ = _write_files(tmp_path)
    preprocess_csv(csv, tmp_path / "serial", workers=1, ferplus_path=ferplus)
    # 7 chunks of 7 rows over 2 worker processes: each chunk gets its slice of the labels.
    monkeypatch.setattr(preprocess, "plan_chunks",
                        functools.partial(preprocess.plan_chunks, rows_per_chunk=7))
    preprocess_csv(csv, tmp_path / "parallel", workers=2, ferplus_path=ferplus)

    def files(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}

    assert files(tmp_path / "serial") == files(tmp_path / "parallel")


def test_fer2013_labels_leave_a_plain_record(tmp_path: Path) -> None:
    csv, _, _, _ = _write_files(tmp_path)
    layout = Layout(tmp_path)
    preprocess_csv(csv, layout.data_dir, workers=1)
    assert json.loads(layout.labels_record.read_text()) == {
        "labels": "fer2013", "labels_changed": 0, "rows_dropped": {}}


def test_a_votes_file_with_another_row_count_is_refused(tmp_path: Path) -> None:
    csv, ferplus, _, _ = _write_files(tmp_path)
    _edit_votes(ferplus, drop_last=True)
    rows = BASE + len(DROPPED_ROWS)
    with pytest.raises(FerflowError) as error:
        preprocess_csv(csv, tmp_path / "data", workers=1, ferplus_path=ferplus)
    message = str(error.value)
    assert f"{ferplus} has {rows - 1} data rows but {csv} has {rows}" in message
    assert "35,887-row fer2013.csv" in message and "data.labels: fer2013" in message
    assert not (tmp_path / "data" / "manifest.csv").exists()


def test_a_votes_file_with_a_usage_flipped_is_refused_naming_the_row(tmp_path: Path) -> None:
    csv, ferplus, _, _ = _write_files(tmp_path)
    layout = Layout(tmp_path)
    preprocess_csv(csv, layout.data_dir, workers=1, ferplus_path=ferplus)
    before = layout.manifest.read_text()
    _edit_votes(ferplus, flip_row=17)  # data row 17 is row index 16: PublicTest
    with pytest.raises(FerflowError) as error:
        preprocess_csv(csv, layout.data_dir, workers=1, ferplus_path=ferplus)
    message = str(error.value)
    assert (f"data row 17 (line 18) has Usage 'PrivateTest' in {ferplus} but 'PublicTest' in "
            f"{csv}") in message
    assert layout.manifest.read_text() == before  # the previous outputs stand

    result = validate_dataset(csv, layout.data_dir, tmp_path / "reports", GATE,
                              ferplus)
    (check,) = [o for o in result.outcomes if o.key == "ferplus_rows_align"]
    assert not result.success and not check.success
    assert "data row 17 (line 18)" in check.observed


def test_the_dev_copy_is_refused_with_both_counts() -> None:
    dev_rows = 32_298
    votes = FerPlusVotes(Path("fer2013new.csv"), "", np.full(FULL_ROWS, "Training", dtype=object),
                         np.full(FULL_ROWS, "x.png", dtype=object),
                         np.zeros((FULL_ROWS, len(VOTE_COLUMNS)), dtype=np.int64))
    problem = alignment_problem(votes, np.full(dev_rows, "Training", dtype=object),
                                "fer2013-dev.csv")
    assert problem is not None
    assert "fer2013new.csv has 35,887 data rows but fer2013-dev.csv has 32,298" in problem


def test_ferplus_labels_need_the_votes_file() -> None:
    raw = yaml.safe_load(PARAMS.read_text())
    assert parse_params(raw).data.ferplus_file is None  # the default: FER2013's own labels
    raw["data"]["labels"] = "ferplus"
    with pytest.raises(FerflowError, match="data.ferplus_path is empty"):
        parse_params(raw)
    raw["data"]["ferplus_path"] = "x/fer2013new.csv"
    assert parse_params(raw).data.ferplus_file == Path("x/fer2013new.csv")


def test_a_malformed_votes_file_names_row_and_field(tmp_path: Path) -> None:
    _, ferplus, _, _ = _write_files(tmp_path)
    lines = ferplus.read_text().splitlines()
    lines[5] = lines[5].rsplit(",", 1)[0] + ",many"
    ferplus.write_text("\n".join(lines) + "\n")
    with pytest.raises(FerflowError, match=r"data row 5 \(line 6\): NF is 'many'"):
        read_ferplus_csv(ferplus)
