"""Turn a partial params file (e.g. configs/fer2013.yaml) into `dvc exp run -S` arguments.

    dvc exp run -n fer2013 $(ferflow overrides configs/fer2013.yaml)

DVC applies each `-S key=value` to params.yaml for that experiment only (the workspace file is
restored afterwards). The merged result is validated first, so a typo in the file stops here
with the key named, not hours later in a stage.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from ferflow.config import Params, load_params, merge_sections, parse_params
from ferflow.errors import FerflowError


def _yaml_scalar(value: Any) -> str:
    """`value` as YAML reads it back: 1e-05 needs a dot (1.0e-05) or YAML 1.1 reads a string."""
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    if value is None or isinstance(value, bool):
        return "null" if value is None else str(value).lower()
    if isinstance(value, float) and "e" in repr(value) and "." not in repr(value):
        mantissa, exponent = repr(value).split("e")
        return f"{mantissa}.0e{exponent}"
    return str(value)


def leaf_overrides(tree: dict[str, Any], existing: dict[str, Any] | None = None,
                   prefix: str = "") -> list[str]:
    """`key.path=value` for every leaf; lists and null in the YAML/Hydra flow syntax DVC reads.
    A key that `existing` (the params file as written) lacks gets Hydra's `+` (add), without
    which DVC refuses it."""
    existing = existing or {}
    out: list[str] = []
    for key, value in tree.items():
        path = f"{prefix}{key}"
        inner = existing.get(key)
        if isinstance(value, dict) and value:
            out += leaf_overrides(value, inner if isinstance(inner, dict) else {}, f"{path}.")
        else:
            text = _yaml_scalar(value)
            if any(c.isspace() for c in text):
                raise FerflowError(f"{path}: value {text!r} contains white space, which the "
                                   "shell would split; set this key with its own -S '...'")
            out.append(f"{'' if key in existing else '+'}{path}={text}")
    return out


def read_override_file(path: Path) -> dict[str, Any]:
    """The params tree of an override file such as configs/fer2013.yaml."""
    try:
        tree = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise FerflowError(f"{path}: override file not found") from None
    except yaml.YAMLError as exc:
        raise FerflowError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(tree, dict):
        raise FerflowError(f"{path}: expected a mapping of params sections")
    return tree


def params_with(tree: dict[str, Any], params: Path, source: str) -> Params:
    """`params` (params.yaml) merged with the override `tree`, validated; errors name `source`."""
    base = load_params(params).model_dump(by_alias=True)
    return parse_params(merge_sections(base, tree), f"{params} + {source}")


def overrides_for_file(path: Path, params: Path = Path("params.yaml")) -> list[str]:
    """The `-S` arguments for `path`, after checking params.yaml merged with it is valid."""
    tree = read_override_file(path)
    params_with(tree, params, str(path))
    written = yaml.safe_load(params.read_text(encoding="utf-8")) or {}
    args: list[str] = []
    for item in leaf_overrides(tree, written):
        args += ["-S", item]
    return args
