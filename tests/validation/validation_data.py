"""A tiny contract-conformant data set (raw CSV + preprocess outputs) to validate, and to break."""

from __future__ import annotations

from pathlib import Path

from fer_tables import random_table

from ferflow.config import ValidateParams
from ferflow.data.fer_csv import FerTable, write_fer2013_csv
from ferflow.data.preprocess import preprocess_csv

# 42 random faces: every split has 14 rows, every class 2 rows in every split.
ROWS = 42


def build_dataset(root: Path, table: FerTable | None = None) -> tuple[Path, Path]:
    """Write `table` (default: ROWS random faces) as data/raw/fer2013.csv and preprocess it."""
    csv = root / "data" / "raw" / "fer2013.csv"
    write_fer2013_csv(csv, table if table is not None else random_table(ROWS, seed=7))
    preprocess_csv(csv, root / "data", workers=1)
    return csv, root / "data"


def edit_lines(path: Path, replace: dict[int, str] | None = None,
               append: list[str] | None = None) -> list[str]:
    """Replace whole lines (1-based) of a text file and/or append lines; return the old lines."""
    lines = path.read_text().splitlines()
    old = list(lines)
    for number, text in (replace or {}).items():
        lines[number - 1] = text
    path.write_text("\n".join(lines + (append or [])) + "\n")
    return old


def small_params(**overrides: object) -> ValidateParams:
    """Default bounds, but min_rows fits the tiny data set (the default is the synthetic 70)."""
    return ValidateParams(**{"min_rows": 10, **overrides})
