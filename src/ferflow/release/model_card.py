"""The model card each registered version carries as its description (Markdown, as the MLflow
UI shows it): what the model scores, the data it saw, the code and the recipe that made it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ferflow.data.lineage import DataLineage
from ferflow.release.selection import Candidate

RECIPE_KEYS = ("model.head", "model.width", "model.dropout", "train.epochs", "budget.epochs",
               "train.batch_size", "train.optimizer", "train.learning_rate", "train.schedule",
               "train.weight_decay", "train.label_smoothing", "train.time_budget_s")
"""The training-run params that sum a recipe up (the run holds every other one)."""


def model_card(best: Candidate, candidates: int, lineage: DataLineage | None, commit: str,
               recipes: Mapping[str, Mapping[str, str]]) -> str:
    """The card of `best`, chosen among `candidates`; `recipes` holds each member backbone's
    training-run params."""
    return "\n\n".join([
        f"{best.name}: validation accuracy {best.val_accuracy:.4f} (chosen by it among "
        f"{candidates} candidates), test accuracy {best.test_accuracy:.4f}, macro-F1 "
        f"{best.test_macro_f1:.4f}.",
        _metrics_table(best),
        _data_line(lineage),
        f"**Code**: git commit `{commit}`.",
        _recipe_lines(best.members, recipes),
    ])


def _score(best: Candidate, key: str, value: float) -> str:
    """`value`, with its 95% interval where the evaluation measured one."""
    low, high = best.metrics.get(f"{key}_ci_low"), best.metrics.get(f"{key}_ci_high")
    if low is None or high is None:
        return f"{value:.4f}"
    return f"{value:.4f} [{low:.4f}, {high:.4f}]"


def _metrics_table(best: Candidate) -> str:
    return "\n".join([
        "| metric | validation | test |",
        "| --- | --- | --- |",
        f"| accuracy | {_score(best, 'val_accuracy', best.val_accuracy)} | "
        f"{_score(best, 'test_accuracy', best.test_accuracy)} |",
        f"| macro-F1 | {_score(best, 'val_macro_f1', best.val_macro_f1)} | "
        f"{_score(best, 'test_macro_f1', best.test_macro_f1)} |",
    ])


def _data_line(lineage: DataLineage | None) -> str:
    if lineage is None:
        return "**Data**: not recorded (no data/raw/source.json)."
    rows = ", ".join(f"{split} {n}" for split, n in lineage.rows.items())
    return (f"**Data**: `{lineage.source}` from `{lineage.origin}`, sha256 `{lineage.sha256}`; "
            f"rows: {rows}.")


def _recipe_lines(members: Sequence[str], recipes: Mapping[str, Mapping[str, str]]) -> str:
    lines = ["**Recipe**:"]
    for member in members:
        params = recipes.get(member, {})
        settings = ", ".join(f"{key}={params[key]}" for key in RECIPE_KEYS if key in params)
        lines.append(f"- `{member}`: {settings or 'not recorded in its training run'}")
    return "\n".join(lines)
