"""The data gate end to end through Great Expectations: each expectation passes on a clean data set
and catches a data set broken for it; reports and Data Docs are written."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
from fer_tables import random_table
from PIL import Image
from validation_data import ROWS, build_dataset, edit_lines, small_params

from ferflow import EMOTIONS
from ferflow.data.png import encode_grey_png
from ferflow.validation import ValidationResult, format_summary, validate_dataset

CSV_SUITE = {
    "expect_table_columns_to_match_ordered_list",
    "expect_table_row_count_to_be_between",
    "expect_column_values_to_be_between(field_count)",
    "expect_column_values_to_be_in_set(emotion)",
    "expect_column_values_to_be_in_set(Usage)",
    "expect_column_values_to_be_between(pixel_count)",
    "expect_column_values_to_be_between(non_integer_pixels)",
    "expect_column_values_to_be_between(pixel_min)",
    "expect_column_values_to_be_between(pixel_max)",
}
IMAGES_SUITE = {
    "expect_table_columns_to_match_ordered_list",
    "expect_table_row_count_to_equal",
    "expect_column_values_to_be_unique(row)",
    "expect_column_pair_values_to_be_equal(path,expected_path)",
    "expect_column_pair_values_to_be_equal(label,csv_label)",
    "expect_column_pair_values_to_be_equal(emotion,csv_emotion)",
    "expect_column_pair_values_to_be_equal(split,csv_split)",
    "expect_column_values_to_be_in_set(png_exists)",
    "expect_column_values_to_be_between(png_width)",
    "expect_column_values_to_be_between(png_height)",
    "expect_column_values_to_be_in_set(png_mode)",
    "expect_column_values_to_be_in_set(png_matches_csv)",
}


def _failed(result: ValidationResult) -> dict[str, set[str]]:
    failed: dict[str, set[str]] = {}
    for outcome in result.failures:
        failed.setdefault(outcome.suite, set()).add(outcome.key)
    return failed


def _examples(result: ValidationResult, suite: str, key: str) -> str:
    (outcome,) = [o for o in result.outcomes if o.suite == suite and o.key == key]
    return " | ".join(outcome.examples)


def test_clean_data_passes_and_writes_reports_and_data_docs(tmp_path: Path) -> None:
    csv, data = build_dataset(tmp_path)
    reports = tmp_path / "reports"
    result = validate_dataset(csv, data, reports, small_params())

    assert result.success and not result.failures
    assert len(result.outcomes) == 31
    report = json.loads((reports / "validation.json").read_text())
    assert report["success"] is True
    assert report["expectations"] == {"evaluated": 31, "failed": 0}
    assert report["rows"] == {"csv": ROWS, "train": 14, "val": 14, "test": 14}
    assert set(report["suites"]) == {"fer2013_csv", "images", "class_balance", "splits"}
    assert report["label_checks"] == {"labels_record_matches": {
        "success": True, "observed": f"{data / 'labels.json'} agrees"}}
    assert (report["labels"], report["labels_changed"], report["rows_dropped"]) == (
        "fer2013", 0, {})
    assert set(report["suites"]["fer2013_csv"]["expectations"]) == CSV_SUITE
    assert set(report["suites"]["images"]["expectations"]) == IMAGES_SUITE
    assert report["class_shares"]["val"] == {name: round(2 / 14, 6) for name in EMOTIONS}
    assert report["duplicates"]["cross_split"]["test"] == {"rows": 0, "share": 0.0}
    assert report["blanks"]["train"] == {"rows": 0, "share": 0.0}

    # Data Docs: an index whose links reach the rendered validation results.
    index = reports / "data_docs" / "index.html"
    html = index.read_text()
    links = set(re.findall(r"(?:expectations|validations)/[^\"'\s]+\.html", html))
    assert {link.split("/")[0] for link in links} == {"expectations", "validations"}
    assert len(links) == 8  # 4 suites, 4 validation results
    assert all((index.parent / link).is_file() for link in links)
    for suite in report["suites"]:
        assert suite in html
    assert not list(reports.glob(".*tmp*")), "no temporary directories left behind"
    assert "Data validation passed: 31 expectations on 42 CSV rows" in format_summary(result)


def test_csv_suite_catches_each_malformed_field(tmp_path: Path) -> None:
    csv, data = build_dataset(tmp_path)
    lines = csv.read_text().splitlines()

    def pixels_of(line: str) -> list[str]:
        return line.split(",")[1].split(" ")

    def row(line_number: int, emotion: str | None = None, pixels: list[str] | None = None,
            usage: str | None = None, extra: str = "") -> str:
        old_emotion, old_pixels, old_usage = lines[line_number - 1].split(",")
        return ",".join([emotion or old_emotion, " ".join(pixels or old_pixels.split(" ")),
                         usage or old_usage]) + extra

    edit_lines(csv, {
        1: "emotion,pixel,Usage",                                     # header misspelt
        2: row(2, emotion="7"),                                       # emotion outside 0-6
        3: row(3, usage="Validation"),                                # unknown Usage
        4: row(4, pixels=["300", *pixels_of(lines[3])[1:]]),          # pixel > 255
        5: row(5, pixels=["x", *pixels_of(lines[4])[1:]]),            # not an integer
        6: row(6, pixels=pixels_of(lines[5])[1:]),                    # 2303 pixels
        7: row(7, extra=",surplus"),                                  # four fields
        8: row(8, pixels=["-1", *pixels_of(lines[7])[1:]]),           # negative pixel
    })
    result = validate_dataset(csv, data, tmp_path / "reports", small_params(min_rows=ROWS + 1))

    assert not result.success
    assert _failed(result)["fer2013_csv"] == CSV_SUITE
    expected = {
        "expect_column_values_to_be_in_set(emotion)": "line 2 (row 0): emotion=7",
        "expect_column_values_to_be_in_set(Usage)": "line 3 (row 1): Usage=Validation",
        "expect_column_values_to_be_between(pixel_max)": "line 4 (row 2): pixel_max=300",
        "expect_column_values_to_be_between(non_integer_pixels)":
            "line 5 (row 3): non_integer_pixels=1",
        "expect_column_values_to_be_between(pixel_count)": "line 6 (row 4): pixel_count=2303",
        "expect_column_values_to_be_between(field_count)": "line 7 (row 5): field_count=4",
        "expect_column_values_to_be_between(pixel_min)": "line 8 (row 6): pixel_min=-1",
    }
    for key, example in expected.items():
        assert _examples(result, "fer2013_csv", key) == example
    outcomes = {o.key: o for o in result.outcomes if o.suite == "fer2013_csv"}
    assert outcomes["expect_table_row_count_to_be_between"].observed == ROWS
    assert outcomes["expect_table_columns_to_match_ordered_list"].observed[:3] == [
        "emotion", "pixel", "Usage"]
    summary = format_summary(result)
    assert summary.startswith("Data validation FAILED")
    assert "FAIL fer2013_csv: expect_column_values_to_be_between(pixel_max, min_value=0, " \
           "max_value=255)" in summary
    assert "observed: 1 of 42 rows unexpected (2.38%)" in summary
    assert "line 4 (row 2): pixel_max=300" in summary


def _save(path: Path, image: Image.Image) -> None:
    path.unlink()
    image.save(path)


def test_images_suite_catches_missing_wrong_and_altered_pngs_and_manifest_rows(
        tmp_path: Path) -> None:
    csv, data = build_dataset(tmp_path)
    manifest = pd.read_csv(data / "manifest.csv")
    path_of = dict(zip(manifest["row"], manifest["path"], strict=True))
    (data / path_of[10]).unlink()                                           # missing PNG
    _save(data / path_of[11], Image.new("RGB", (48, 48)))                   # colour PNG
    _save(data / path_of[12], Image.new("L", (40, 48)))                     # 40 wide
    _save(data / path_of[13], Image.new("L", (48, 40)))                     # 40 high
    (data / path_of[14]).write_bytes(encode_grey_png(np.zeros((48, 48), np.uint8)))  # altered

    lines = (data / "manifest.csv").read_text().splitlines()

    def fields(row: int) -> list[str]:
        return lines[row + 1].split(",")

    wrong_label = fields(15)
    wrong_label[1] = str((int(wrong_label[1]) + 1) % 7)
    wrong_emotion = fields(16)
    wrong_emotion[2] = "calm"
    wrong_split = fields(17)
    wrong_split[3] = "train" if wrong_split[3] != "train" else "val"
    wrong_path = fields(18)
    wrong_path[0] = "images/train/angry/99999.png"
    edited = {r + 2: ",".join(f) for r, f in
              [(15, wrong_label), (16, wrong_emotion), (17, wrong_split), (18, wrong_path)]}
    edit_lines(data / "manifest.csv", edited, append=[lines[20]])           # row 19 twice
    frame = pd.read_csv(data / "manifest.csv")
    frame["note"] = ""                                                      # extra column
    frame.to_csv(data / "manifest.csv", index=False)

    arrays = dict(np.load(data / "arrays" / "train.npz"))
    arrays["x"][0, 0, 0] ^= 1                                               # arrays differ
    np.savez(data / "arrays" / "train.npz", **arrays)

    result = validate_dataset(csv, data, tmp_path / "reports", small_params())

    assert _failed(result) == {
        "images": IMAGES_SUITE,
        "class_balance": {"expect_column_pair_values_to_be_equal(csv_rows,manifest_rows)"},
        "splits": {"expect_column_values_to_be_between(array_mismatches)",
                   "expect_column_values_to_be_between(unlisted_pngs)"},
    }
    def example(key: str) -> str:
        return _examples(result, "images", key)

    assert f"manifest line 12, {path_of[10]}: png_exists=False" in example(
        "expect_column_values_to_be_in_set(png_exists)")
    assert example("expect_column_values_to_be_in_set(png_mode)") == (
        f"manifest line 13, {path_of[11]}: png_mode=RGB")
    assert "png_width=40" in example("expect_column_values_to_be_between(png_width)")
    assert "png_height=40" in example("expect_column_values_to_be_between(png_height)")
    assert f"manifest line 16, {path_of[14]}" in example(
        "expect_column_values_to_be_in_set(png_matches_csv)")
    assert "manifest line 17" in example("expect_column_pair_values_to_be_equal(label,csv_label)")
    assert "emotion=calm" in example("expect_column_pair_values_to_be_equal(emotion,csv_emotion)")
    assert "manifest line 19" in example("expect_column_pair_values_to_be_equal(split,csv_split)")
    assert "99999.png" in example("expect_column_pair_values_to_be_equal(path,expected_path)")
    assert "row=19" in example("expect_column_values_to_be_unique(row)")
    report = result.report
    assert report["suites"]["splits"]["expectations"][
        "expect_column_values_to_be_between(array_mismatches)"]["examples"] == [
        "train: array_mismatches=1"]
    assert report["unlisted_pngs"][path_of[18].split("/")[1]] == {
        "files": 1, "examples": [path_of[18]]}


def test_balance_and_quality_suites_catch_missing_classes_leaks_repeats_and_blanks(
        tmp_path: Path) -> None:
    table = random_table(ROWS, seed=7)
    images, labels = table.images.copy(), table.labels.copy()
    split = np.array([{"Training": "train", "PublicTest": "val", "PrivateTest": "test"}[u]
                      for u in table.usages])
    train, val, test = (np.flatnonzero(split == s) for s in ("train", "val", "test"))
    labels[val[labels[val] == 1]] = 3                          # no disgust in val
    for label in (0, 1, 2, 4, 5, 6):                           # train: happy 8 of 14 rows
        labels[train[labels[train] == label][0]] = 3
    images[val[0]], images[val[1]] = images[train[0]], images[train[1]]  # leak train → val
    images[test[1]] = images[test[0]]                          # a repeat inside test
    images[test[2]] = 128                                      # near-constant test image
    images[test[2], 5, 5] = 131
    build_dataset(tmp_path, type(table)(images, labels, table.usages))

    result = validate_dataset(tmp_path / "data" / "raw" / "fer2013.csv", tmp_path / "data",
                              tmp_path / "reports", small_params())

    assert _failed(result) == {
        "class_balance": {"expect_column_values_to_be_between(csv_rows)",
                          "expect_column_values_to_be_between(share)"},
        "splits": {"expect_column_values_to_be_between(cross_split_share)",
                   "expect_column_values_to_be_between(within_split_share)",
                   "expect_column_values_to_be_between(blank_share)"},
    }
    assert _examples(result, "class_balance", "expect_column_values_to_be_between(csv_rows)") \
        == "val, disgust: csv_rows=0"
    shares = _examples(result, "class_balance", "expect_column_values_to_be_between(share)")
    assert "train, happy: share=0.5714" in shares and "val, disgust: share=0" in shares
    assert _examples(result, "splits", "expect_column_values_to_be_between(cross_split_share)"
                     ) == "train: cross_split_share=0.1429 | val: cross_split_share=0.1429"
    assert _examples(result, "splits", "expect_column_values_to_be_between(blank_share)") \
        == "test: blank_share=0.07143"

    report = result.report
    assert report["duplicates"]["cross_split"]["val"] == {"rows": 2, "share": round(2 / 14, 6)}
    assert report["duplicates"]["within_split"]["test"]["rows"] == 1
    assert report["blanks"]["test"]["rows"] == 1
    assert report["blanks"]["examples"][0]["line"] == test[2] + 2
    assert sorted(r["line"] for r in report["duplicates"]["cross_split_examples"][0]) == [
        train[0] + 2, val[0] + 2]
    assert report["class_counts"]["train"]["happy"] == 8
    summary = format_summary(result)
    assert "FAIL splits: expect_column_values_to_be_between(blank_share, max_value=0.005)" \
        in summary
    assert "test: blank_share=0.07143" in summary
