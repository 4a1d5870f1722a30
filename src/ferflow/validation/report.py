"""GX validation results → outcomes, the validation.json metrics and a terminal summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

_TERMINAL_EXAMPLES = 3  # offending rows per failure in the summary (the JSON keeps `examples`)
# Expectation arguments shown in titles (the rest, e.g. result_format, is GX bookkeeping).
_SHOWN_ARGS = ("min_value", "max_value", "value", "value_set", "column_list")


def plain(value: Any) -> Any:
    """`value` with numpy scalars and containers made JSON-serialisable."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _short(value: Any) -> str:
    """`value` for one terminal line: floats to 4 digits, long lists cut, odd text escaped."""
    if isinstance(value, str):
        text = value if value.isprintable() else ascii(value)
        return text if len(text) <= 80 else text[:77] + "..."
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list) and len(value) > 12:
        return "[" + ", ".join(map(_short, value[:12])) + f", ... ({len(value)} items)]"
    if isinstance(value, list):
        return "[" + ", ".join(map(_short, value)) + "]"
    return str(value)


@dataclass(frozen=True)
class Outcome:
    """The verdict of one expectation."""

    suite: str
    expectation: str  # GX type, e.g. expect_column_values_to_be_between
    columns: tuple[str, ...]
    args: dict[str, Any]
    success: bool
    observed: Any = None  # a table-level expectation's observed value, or the GX error
    unexpected_count: int | None = None  # column expectations: values outside the expectation
    element_count: int | None = None
    examples: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.expectation}({','.join(self.columns)})" if self.columns else self.expectation

    @property
    def title(self) -> str:
        shown = [*self.columns, *(f"{k}={_short(v)}" for k, v in self.args.items())]
        return f"{self.suite}: {self.expectation}({', '.join(shown)})"

    @property
    def observed_text(self) -> str:
        if self.observed is not None or self.unexpected_count is None:
            return _short(self.observed)
        share = self.unexpected_count / self.element_count if self.element_count else 0.0
        return (f"{self.unexpected_count} of {self.element_count} rows unexpected "
                f"({100 * share:.2f}%)")

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"success": self.success}
        if self.observed is not None:
            data["observed"] = self.observed
        if self.unexpected_count is not None:
            data["unexpected_count"] = self.unexpected_count
        if self.examples:
            data["examples"] = self.examples
        return data


def _error(result: Any) -> str | None:
    info = result.exception_info or {}
    infos = [info] if "raised_exception" in info else list(info.values())
    for item in infos:
        if isinstance(item, dict) and item.get("raised_exception"):
            return f"error: {str(item.get('exception_message', '')).strip().splitlines()[0]}"
    return None


def _example(entry: dict[str, Any], index_columns: list[str]) -> str:
    where = []
    for name in index_columns:
        value = plain(entry.get(name))
        if name == "line":
            where.append(f"line {value} (row {value - 2})" if isinstance(value, int) else "line ?")
        elif name == "manifest_line":
            where.append(f"manifest line {value}")
        else:
            where.append(_short(value))
    values = ", ".join(f"{k}={_short(plain(v))}" for k, v in entry.items()
                       if k not in index_columns)
    return f"{', '.join(where)}: {values}"


def outcomes(suite: str, validation: Any, index_columns: list[str]) -> list[Outcome]:
    """One Outcome per expectation of a GX suite validation result."""
    found = []
    for result in validation.results:
        config = result.expectation_config
        kwargs = dict(config.kwargs)
        columns = tuple(kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs)
        args = {k: plain(kwargs[k]) for k in _SHOWN_ARGS if kwargs.get(k) is not None}
        details = result.result or {}
        observed = _error(result) or plain(details.get("observed_value"))
        unexpected = details.get("unexpected_count")
        examples = [_example(entry, index_columns)
                    for entry in details.get("partial_unexpected_index_list") or []]
        found.append(Outcome(
            suite, config.type, columns, args, bool(result.success), observed,
            None if unexpected is None else int(unexpected),
            None if unexpected is None else int(details.get("element_count") or 0), examples))
    return found


@dataclass(frozen=True)
class ValidationResult:
    """What `validate_dataset` found: the verdict, every outcome, and where the reports are."""

    success: bool
    outcomes: list[Outcome]
    report: dict[str, Any]  # the content of validation.json
    json_path: Path
    docs_index: Path

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success]


def _percent(share: float) -> str:
    return f"{100 * share:.1f}%"


def format_summary(result: ValidationResult) -> str:
    """A short terminal summary: the verdict, each failed expectation with a few offending rows."""
    report = result.report
    rows = report["rows"]
    splits = ", ".join(f"{s} {n:,}" for s, n in rows.items() if s != "csv")
    total = len(result.outcomes)
    lines = []
    if result.success:
        lines.append(f"Data validation passed: {total} expectations on {rows['csv']:,} CSV rows "
                     f"({splits}).")
    else:
        lines.append(f"Data validation FAILED: {len(result.failures)} of {total} expectations "
                     f"failed on {rows['csv']:,} CSV rows ({splits}).")
        for outcome in result.failures:
            lines.append(f"  FAIL {outcome.title}")
            lines.append(f"       observed: {outcome.observed_text}")
            lines.extend(f"       {example}" for example in outcome.examples[:_TERMINAL_EXAMPLES])
    if report.get("labels") == "ferplus" and report.get("rows_dropped") is not None:
        dropped = ", ".join(f"{why} {n:,}" for why, n in report["rows_dropped"].items())
        lines.append(f"  FER+ labels: {report['labels_changed']:,} changed; dropped {dropped}")
    dup = report["duplicates"]
    lines.append("  duplicates across splits: " + ", ".join(
        f"{s} {v['rows']} ({_percent(v['share'])})" for s, v in dup["cross_split"].items())
        + "; within a split: " + ", ".join(
        f"{s} {v['rows']} ({_percent(v['share'])})" for s, v in dup["within_split"].items()))
    blanks = report["blanks"]
    lines.append(f"  blank images (pixel std < {blanks['std_threshold']:g}): "
                 + ", ".join(f"{s} {blanks[s]['rows']}" for s in rows if s != "csv"))
    rarest = min(((share, split, name) for split, shares in report["class_shares"].items()
                  for name, share in shares.items()), default=None)
    if rarest:
        lines.append(f"  rarest class: {rarest[2]} {_percent(rarest[0])} of {rarest[1]}")
    lines.append(f"  report: {result.json_path}; Data Docs: {result.docs_index}")
    return "\n".join(lines)
