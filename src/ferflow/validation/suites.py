"""The expectation suites and their run through Great Expectations (GX Core 1.x).

Each table the gate derives (CSV rows, manifest rows, classes per split, splits) is one pandas
data asset with one suite, validated by a Checkpoint whose UpdateDataDocsAction renders the
results into a local Data Docs site. GX does all the judging; ferflow only prepares the tables.
One Checkpoint per table, because a Checkpoint hands the same batch (dataframe) to all its
validation definitions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ferflow import EMOTIONS, PIXELS_PER_IMAGE, USAGE_TO_SPLIT
from ferflow.config import ValidateParams
from ferflow.validation.csv_rows import DERIVED, HEADER
from ferflow.validation.images import MANIFEST_COLUMNS, MANIFEST_DERIVED

DOCS_SITE = "ferflow"


@dataclass(frozen=True)
class Table:
    """A dataframe, the suite judging it, and the columns that name an offending record."""

    name: str
    frame: pd.DataFrame
    expectations: list[Any]
    index_columns: list[str]


def _gx() -> Any:
    """great_expectations, imported on first use: the import alone takes ~3.5 s, which a usage
    error or `ferflow --help` should not pay. Analytics off unless the user set the variable."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    return gx


def csv_table(frame: pd.DataFrame, params: ValidateParams) -> Table:
    """The raw CSV, one row per data row: structure, labels, usages, pixel counts and range."""
    gxe = _gx().expectations

    return Table("fer2013_csv", frame, [
        gxe.ExpectTableColumnsToMatchOrderedList(column_list=[*HEADER, *DERIVED]),
        gxe.ExpectTableRowCountToBeBetween(min_value=params.min_rows, max_value=params.max_rows),
        gxe.ExpectColumnValuesToBeBetween(column="field_count", min_value=3, max_value=3),
        gxe.ExpectColumnValuesToBeInSet(column="emotion",
                                        value_set=[str(i) for i in range(len(EMOTIONS))]),
        gxe.ExpectColumnValuesToBeInSet(column="Usage", value_set=list(USAGE_TO_SPLIT)),
        gxe.ExpectColumnValuesToBeBetween(column="pixel_count", min_value=PIXELS_PER_IMAGE,
                                          max_value=PIXELS_PER_IMAGE),
        gxe.ExpectColumnValuesToBeBetween(column="non_integer_pixels", min_value=0, max_value=0),
        gxe.ExpectColumnValuesToBeBetween(column="pixel_min", min_value=0, max_value=255),
        gxe.ExpectColumnValuesToBeBetween(column="pixel_max", min_value=0, max_value=255),
    ], ["line"])


def images_table(frame: pd.DataFrame, csv_rows: int) -> Table:
    """The manifest, one row per image: agreement with the CSV, the PNG's presence and format."""
    gxe = _gx().expectations

    index = ["manifest_line", "path"] if "path" in frame else ["manifest_line"]
    return Table("images", frame, [
        gxe.ExpectTableColumnsToMatchOrderedList(
            column_list=[*MANIFEST_COLUMNS, *MANIFEST_DERIVED]),
        gxe.ExpectTableRowCountToEqual(value=csv_rows),
        gxe.ExpectColumnValuesToBeUnique(column="row"),
        gxe.ExpectColumnPairValuesToBeEqual(column_A="path", column_B="expected_path"),
        gxe.ExpectColumnPairValuesToBeEqual(column_A="label", column_B="csv_label"),
        gxe.ExpectColumnPairValuesToBeEqual(column_A="emotion", column_B="csv_emotion"),
        gxe.ExpectColumnPairValuesToBeEqual(column_A="split", column_B="csv_split"),
        gxe.ExpectColumnValuesToBeInSet(column="png_exists", value_set=[True]),
        gxe.ExpectColumnValuesToBeBetween(column="png_width", min_value=48, max_value=48),
        gxe.ExpectColumnValuesToBeBetween(column="png_height", min_value=48, max_value=48),
        gxe.ExpectColumnValuesToBeInSet(column="png_mode", value_set=["L"]),
        gxe.ExpectColumnValuesToBeInSet(column="png_matches_csv", value_set=[True]),
    ], index)


def class_table(frame: pd.DataFrame, params: ValidateParams) -> Table:
    """One row per split and class: presence, share, and equal counts in CSV, PNGs, arrays."""
    gxe = _gx().expectations

    return Table("class_balance", frame, [
        gxe.ExpectColumnValuesToBeBetween(column="csv_rows", min_value=params.min_class_rows),
        gxe.ExpectColumnValuesToBeBetween(column="share", min_value=params.min_class_share,
                                          max_value=params.max_class_share),
        gxe.ExpectColumnPairValuesToBeEqual(column_A="csv_rows", column_B="manifest_rows"),
        gxe.ExpectColumnPairValuesToBeEqual(column_A="csv_rows", column_B="array_rows"),
    ], ["split", "emotion"])


def split_table(frame: pd.DataFrame, params: ValidateParams) -> Table:
    """One row per split: duplicate and blank shares, arrays and PNG tree against the CSV."""
    gxe = _gx().expectations

    return Table("splits", frame, [
        gxe.ExpectColumnValuesToBeBetween(column="cross_split_share",
                                          max_value=params.max_cross_split_duplicate_share),
        gxe.ExpectColumnValuesToBeBetween(column="within_split_share",
                                          max_value=params.max_within_split_duplicate_share),
        gxe.ExpectColumnValuesToBeBetween(column="blank_share", max_value=params.max_blank_share),
        gxe.ExpectColumnValuesToBeBetween(column="array_mismatches", min_value=0, max_value=0),
        gxe.ExpectColumnValuesToBeBetween(column="unlisted_pngs", min_value=0, max_value=0),
    ], ["split"])


def _context(docs_dir: Path) -> Any:
    """An in-memory GX context whose only Data Docs site is `docs_dir`; no analytics, no bars."""
    gx = _gx()
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
        data_docs_sites={DOCS_SITE: {
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                              "base_directory": str(docs_dir.resolve())},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }},
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def run_suites(tables: list[Table], docs_dir: Path, examples: int) -> dict[str, Any]:
    """Validate every table; build Data Docs into `docs_dir`. Returns suite → validation result."""
    gx = _gx()
    from great_expectations.core.run_identifier import RunIdentifier

    context = _context(docs_dir)
    source = context.data_sources.add_pandas("ferflow")
    run_id = RunIdentifier(run_name="ferflow-validate")
    results = {}
    for table in tables:
        batch = source.add_dataframe_asset(table.name).add_batch_definition_whole_dataframe(
            table.name)
        suite = context.suites.add(gx.ExpectationSuite(name=table.name,
                                                       expectations=table.expectations))
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=table.name, data=batch, suite=suite))
        checkpoint = context.checkpoints.add(gx.Checkpoint(
            name=table.name,
            validation_definitions=[definition],
            actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs",
                                                        site_names=[DOCS_SITE])],
            result_format={"result_format": "SUMMARY",
                           "unexpected_index_column_names": table.index_columns,
                           "partial_unexpected_count": examples},
        ))
        outcome = checkpoint.run(batch_parameters={"dataframe": table.frame}, run_id=run_id)
        (results[table.name],) = outcome.run_results.values()
    return results
