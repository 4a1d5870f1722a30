"""`metrics/eval/<b>.json`, the evaluate@<backbone> stage's scores: written by that stage, read
by the release step (without loading the evaluation's plotting and inference code)."""

from __future__ import annotations

from typing import Any

from ferflow.atomic import read_stage_json, write_json
from ferflow.layout import Layout


def write_eval_metrics(layout: Layout, backbone: str, result: dict[str, Any]) -> None:
    write_json(layout.eval_metrics(backbone), result)


def read_eval_metrics(layout: Layout, backbone: str) -> dict[str, Any]:
    """`metrics/eval/<b>.json`; FerflowError naming the file when it is missing or broken."""
    return read_stage_json(layout.eval_metrics(backbone), f"evaluate@{backbone}")
