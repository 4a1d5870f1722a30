"""Params for tests: the repository's params.yaml with a test's keys merged on top.

params.yaml is the one training recipe (the `train.*` keys have no defaults), so a test states
only the keys it is about and inherits every other one from there, as configs/*.yaml do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ferflow.config import Params, merge_sections, parse_params

PARAMS_YAML = Path(__file__).resolve().parents[1] / "params.yaml"


def params_tree(**sections: Any) -> dict[str, Any]:
    """params.yaml as written, with `sections` merged on top (nested mappings key by key)."""
    written = yaml.safe_load(PARAMS_YAML.read_text(encoding="utf-8"))
    return merge_sections(written, sections)


def params_with(**sections: Any) -> Params:
    """`params_tree(**sections)`, validated: e.g. `params_with(train={"epochs": 2})`."""
    return parse_params(params_tree(**sections), "params.yaml + test keys")


def write_params(path: Path, tree: dict[str, Any]) -> Path:
    """Write a params tree (e.g. from `params_tree`) as a params file for a stage script."""
    path.write_text(yaml.safe_dump(tree, sort_keys=False), encoding="utf-8")
    return path
