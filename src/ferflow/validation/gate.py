"""The data gate: raw CSV + preprocess outputs → GX suites → validation.json and Data Docs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ferflow import EMOTIONS, SPLITS
from ferflow.atomic import atomic_path, write_json
from ferflow.config import ValidateParams
from ferflow.errors import FerflowError
from ferflow.layout import (
    ARRAYS,
    DATA_DOCS,
    LABELS_RECORD,
    MANIFEST,
    VALIDATION_REPORT,
    arrays_file,
)
from ferflow.progress import Progress
from ferflow.validation.csv_rows import CsvFacts, read_csv_facts
from ferflow.validation.images import (
    array_facts,
    manifest_frame,
    read_manifest,
    unlisted_pngs,
)
from ferflow.validation.labels import label_facts
from ferflow.validation.quality import Quality, image_quality
from ferflow.validation.report import Outcome, ValidationResult, outcomes, plain
from ferflow.validation.suites import (
    class_table,
    csv_table,
    images_table,
    run_suites,
    split_table,
)


def _class_frame(csv: CsvFacts, manifest: pd.DataFrame,
                 arrays: dict[str, dict[str, Any]]) -> pd.DataFrame:
    labelled = csv.labels >= 0
    m_split = manifest["split"] if "split" in manifest else pd.Series([""] * len(manifest))
    m_label = manifest["label"] if "label" in manifest else pd.Series([""] * len(manifest))
    records = []
    for split in SPLITS:
        in_split = labelled & (csv.splits == split)
        total = int(in_split.sum())
        for label, emotion in enumerate(EMOTIONS):
            rows = int(np.sum(in_split & (csv.labels == label)))
            records.append({
                "split": split, "emotion": emotion, "label": label, "csv_rows": rows,
                "share": rows / total if total else 0.0,
                "manifest_rows": int(((m_split == split) & (m_label == str(label))).sum()),
                "array_rows": int(arrays[split]["class_rows"][label]),
            })
    return pd.DataFrame(records)


def _split_frame(quality: Quality, arrays: dict[str, dict[str, Any]],
                 unlisted: dict[str, list[str]]) -> pd.DataFrame:
    records = []
    for split in SPLITS:
        q = quality.per_split[split]
        records.append({
            "split": split, "rows": q.rows,
            "cross_split_duplicates": q.cross_split_duplicates,
            "cross_split_share": q.share(q.cross_split_duplicates),
            "within_split_duplicates": q.within_split_duplicates,
            "within_split_share": q.share(q.within_split_duplicates),
            "blank_images": q.blank_images,
            "blank_share": q.share(q.blank_images),
            "array_mismatches": int(arrays[split]["mismatches"]),
            "unlisted_pngs": len(unlisted[split]),
        })
    return pd.DataFrame(records)


def _report(success: bool, found: list[Outcome], checks: list[Outcome], csv: CsvFacts,
            classes: pd.DataFrame, quality: Quality, params: ValidateParams,
            unlisted: dict[str, list[str]]) -> dict[str, Any]:
    """The content of validation.json: verdicts per GX suite and expectation, the checks made
    outside GX (labels), then the facts."""
    suites: dict[str, dict[str, Any]] = {}
    for outcome in found:
        suite = suites.setdefault(outcome.suite, {"success": True, "expectations": {}})
        suite["success"] = suite["success"] and outcome.success
        key, n = outcome.key, 2
        while key in suite["expectations"]:
            key, n = f"{outcome.key}#{n}", n + 1
        suite["expectations"][key] = outcome.to_json()

    def per_split(count: str) -> dict[str, dict[str, float]]:
        return {s: {"rows": getattr(q, count), "share": round(q.share(getattr(q, count)), 6)}
                for s, q in quality.per_split.items()}

    def rows_of(group: list[tuple[int, str, int]]) -> list[dict[str, Any]]:
        return [{"line": line, "split": split, "label": label} for line, split, label in group]

    return plain({
        "success": success,
        "expectations": {"evaluated": len(found) + len(checks),
                         "failed": sum(not o.success for o in [*found, *checks])},
        "rows": {"csv": len(csv), **{s: int(np.sum(csv.splits == s)) for s in SPLITS}},
        "suites": suites,
        "label_checks": {o.key: o.to_json() for o in checks},
        "class_counts": {s: dict(zip(g["emotion"], g["csv_rows"], strict=True))
                         for s, g in classes.groupby("split", sort=False)},
        "class_shares": {s: dict(zip(g["emotion"], g["share"].round(6), strict=True))
                         for s, g in classes.groupby("split", sort=False)},
        "duplicates": {
            "cross_split": per_split("cross_split_duplicates"),
            "within_split": per_split("within_split_duplicates"),
            "duplicated_images": quality.duplicate_groups,
            "conflicting_label_images": quality.conflicting_label_groups,
            "cross_split_examples": [rows_of(g) for g in quality.cross_split_examples],
            "within_split_examples": [rows_of(g) for g in quality.within_split_examples],
        },
        "blanks": {
            "std_threshold": params.blank_std,
            **per_split("blank_images"),
            "examples": [{"line": line, "split": split, "std": std}
                         for line, split, std in quality.blank_examples],
        },
        "unlisted_pngs": {s: {"files": len(paths), "examples": paths[:params.examples]}
                          for s, paths in unlisted.items()},
    })


def _require_inputs(raw_csv: Path, data_dir: Path) -> None:
    needed = [raw_csv, data_dir / MANIFEST,
              *(arrays_file(data_dir / ARRAYS, split) for split in SPLITS)]
    missing = [str(path) for path in needed if not path.is_file()]
    if missing:
        raise FerflowError(f"{', '.join(missing)}: not found. The validate stage checks the raw "
                           "CSV (download stage) and the preprocess outputs: run those stages "
                           "first (dvc repro preprocess).")


def validate_dataset(raw_csv: Path, data_dir: Path, reports_dir: Path,
                     params: ValidateParams, ferplus_path: Path | None = None
                     ) -> ValidationResult:
    """Run the data gate; write `validation.json` and `data_docs/` under `reports_dir`.

    With `ferplus_path` (fer2013new.csv) the outputs are judged against FER+'s majority labels
    (ferflow.validation.labels).

    Raises FerflowError when an input is missing or unreadable (a usage error); a data set
    that breaks an expectation is not an error: the result says `success=False`.
    """
    raw_csv, data_dir, reports_dir = Path(raw_csv), Path(data_dir), Path(reports_dir)
    _require_inputs(raw_csv, data_dir)
    with Progress(total=5, desc="validate", unit="steps") as progress:
        labels = label_facts(read_csv_facts(raw_csv), raw_csv, data_dir / LABELS_RECORD,
                             ferplus_path)
        csv = labels.csv
        progress.update()
        manifest = read_manifest(data_dir)
        arrays = array_facts(data_dir, csv)
        images = manifest_frame(manifest, data_dir, csv, params.png_sample)
        unlisted = unlisted_pngs(data_dir, images["path"].tolist() if "path" in images else [])
        progress.update()
        usable = csv.usable
        lines = csv.frame["line"].to_numpy()
        quality = image_quality(csv.images[usable], csv.splits[usable], csv.labels[usable],
                                lines[usable], params.blank_std, params.examples)
        classes = _class_frame(csv, manifest, arrays)
        progress.update()
        kept_rows = len(csv) - labels.dropped_rows
        tables = [csv_table(csv.frame, params), images_table(images, kept_rows),
                  class_table(classes, params),
                  split_table(_split_frame(quality, arrays, unlisted), params)]
        with atomic_path(reports_dir / DATA_DOCS, directory=True) as docs:
            results = run_suites(tables, docs, params.examples)
            progress.update()
            found = [o for t in tables for o in outcomes(t.name, results[t.name],
                                                         t.index_columns)]
            success = all(o.success for o in [*found, *labels.outcomes])
            report = {**_report(success, found, labels.outcomes, csv, classes, quality, params,
                                unlisted),
                      **plain(labels.report)}
            write_json(reports_dir / VALIDATION_REPORT, report)
        progress.update()
    return ValidationResult(success, [*found, *labels.outcomes], report,
                            reports_dir / VALIDATION_REPORT, reports_dir / DATA_DOCS / "index.html")
