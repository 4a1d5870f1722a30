"""`metrics/eval/<b>.json`, the evaluate@<backbone> stage's scores: written by that stage, read
by the release step (without loading the evaluation's plotting and inference code)."""

from __future__ import annotations

import json
from typing import Any

from ferflow.atomic import write_json
from ferflow.errors import FerflowError
from ferflow.layout import Layout


def write_eval_metrics(layout: Layout, backbone: str, result: dict[str, Any]) -> None:
    write_json(layout.eval_metrics(backbone), result)


def read_eval_metrics(layout: Layout, backbone: str) -> dict[str, Any]:
    """`metrics/eval/<b>.json`; FerflowError naming the file when it is missing or broken."""
    path = layout.eval_metrics(backbone)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FerflowError(f"{path}: not found; the evaluate@{backbone} stage writes it "
                           f"(dvc repro evaluate@{backbone})") from None
    except json.JSONDecodeError as exc:
        raise FerflowError(f"{path}: not valid JSON ({exc}); rerun evaluate@{backbone}") from None
