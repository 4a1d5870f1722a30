"""Params checks that must hold before any stage does work: the recipe's keys, the backbone list."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from params_data import PARAMS_YAML, params_tree, params_with, write_params
from pydantic import BaseModel

from ferflow.config import TrainParams, load_params, parse_params
from ferflow.errors import FerflowError

REPO = Path(__file__).resolve().parents[1]
FERFLOW = Path(sys.executable).parent / "ferflow"
WRITTEN = yaml.safe_load(PARAMS_YAML.read_text(encoding="utf-8"))


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVC_"))}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _leaf_keys(tree: dict[str, Any], prefix: str = "") -> list[str]:
    return [key for name, value in tree.items()
            for key in (_leaf_keys(value, f"{prefix}{name}.") if isinstance(value, dict)
                        else [f"{prefix}{name}"])]


def _without(tree: dict[str, Any], dotted: str) -> dict[str, Any]:
    """A copy of `tree` without the key at the dotted path."""
    head, _, rest = dotted.partition(".")
    return {name: (_without(value, rest) if name == head and rest else value)
            for name, value in tree.items() if rest or name != head}


def test_checking_params_does_not_import_keras() -> None:
    done = subprocess.run([sys.executable, "-c", "import sys, ferflow.config; "
                           "print('keras' in sys.modules)"], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr


def _required_everywhere(model: type[BaseModel], prefix: str) -> list[str]:
    """The fields of `model` and of its nested models that have a default."""
    found = []
    for name, field in model.model_fields.items():
        if not field.is_required():
            found.append(f"{prefix}{name}")
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            found += _required_everywhere(field.annotation, f"{prefix}{name}.")
    return found


def test_the_recipe_has_no_defaults_and_params_yaml_sets_every_key() -> None:
    """params.yaml is the one recipe: no TrainParams field (augment.*, fine_tune.* included)
    has a default to fall back to, and params.yaml's train section is exactly those fields."""
    assert _required_everywhere(TrainParams, "train.") == []
    schema = load_params(PARAMS_YAML).train.model_dump()
    assert sorted(_leaf_keys(WRITTEN["train"])) == sorted(_leaf_keys(schema))


@pytest.mark.parametrize("key", _leaf_keys({"train": WRITTEN["train"]}))
def test_a_params_file_without_a_recipe_key_fails_naming_it(key: str) -> None:
    with pytest.raises(FerflowError) as missing:
        parse_params(_without(WRITTEN, key), "params.yaml")
    assert str(missing.value) == (f"params.yaml has invalid params:\n  {key}: missing; every "
                                  "train.* recipe key is set in params.yaml (see README 'Params')")


def test_load_params_names_each_missing_recipe_key(tmp_path: Path) -> None:
    tree = _without(_without(WRITTEN, "train.epochs"), "train.augment.zoom")
    path = write_params(tmp_path / "params.yaml", tree)
    with pytest.raises(FerflowError) as missing:
        load_params(path)
    assert str(missing.value).splitlines()[1:] == [
        "  train.epochs: missing; every train.* recipe key is set in params.yaml (see README "
        "'Params')",
        "  train.augment.zoom: missing; every train.* recipe key is set in params.yaml (see "
        "README 'Params')"]
    with pytest.raises(FerflowError, match=r"\n  train: missing; every train\.\* recipe key"):
        parse_params({"data": {"seed": 1}})


def test_the_other_sections_keep_their_defaults() -> None:
    params = parse_params({"train": WRITTEN["train"],
                           "models": {name: {} for name in WRITTEN["train"]["backbones"]}})
    assert params.data.source == "synthetic" and params.registry.model_name == "ferflow-emotion"
    assert params.models["vgg16"].width == 1.0


def _models_renamed(old: str, new: str) -> dict[str, Any]:
    """params.yaml with the section models.<old> written as models.<new>."""
    return {**WRITTEN, "models": {new if name == old else name: section
                                  for name, section in WRITTEN["models"].items()}}


@pytest.mark.parametrize(("tree", "named"), [
    (params_tree(train={"backbones": ["cpu_nett"]}),
     "train.backbones: lists cpu_nett without a models.cpu_nett section"),
    (params_tree(train={"backbones": ["cpu_net", "vgg1"]}),
     "train.backbones: lists vgg1 without a models.vgg1 section"),
    (params_tree(train={"backbones": []}),
     "train.backbones: is empty: list at least one backbone of the model zoo"),
    (_models_renamed("cpu_net", "cpu_nett"),
     "train.backbones: lists cpu_net without a models.cpu_net section"),
], ids=["typo", "one-of-two", "empty", "models-section"])
def test_check_params_rejects_a_bad_backbone_list(tmp_path: Path, tree: dict[str, Any],
                                                  named: str) -> None:
    write_params(tmp_path / "params.yaml", tree)
    done = _run([str(FERFLOW), "check-params"], tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("ferflow: error: params.yaml has invalid params:")
    assert named in done.stderr
    assert "Traceback" not in done.stderr


def test_a_name_listed_twice_is_named_once() -> None:
    with pytest.raises(FerflowError, match=r"train\.backbones: lists vgg16 more than once"):
        params_with(train={"backbones": ["vgg16", "cpu_net", "vgg16"]})


@pytest.mark.parametrize("tree", [
    params_tree(train={"backbones": ["cpu_nett"]}), params_tree(train={"backbones": []}),
    _without(params_tree(train={"backbones": ["cpu_net"]}), "models.cpu_net"),
], ids=["unknown", "empty", "no-models-section"])
def test_the_first_stage_stops_on_a_bad_backbone_list_before_writing(
        tmp_path: Path, tree: dict[str, Any]) -> None:
    """download is the first stage `dvc repro` runs; it checks the whole params.yaml, so a
    bad list never gets as far as DVC's own matrix errors (or a matrix without stages)."""
    write_params(tmp_path / "params.yaml", tree)
    done = _run([sys.executable, str(REPO / "pipeline" / "download.py")], tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("ferflow: error: params.yaml has invalid params:\n"
                                  "  train.backbones: ")
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]


def test_a_listed_backbone_needs_its_models_section(tmp_path: Path) -> None:
    """dvc.yaml's train stage tracks `models.<backbone>`: without the section DVC would stop,
    after the data stages, with "Parameters 'models.alexnet' are missing"."""
    listed = params_tree(train={"backbones": ["cpu_net", "alexnet"]})
    write_params(tmp_path / "params.yaml", _without(listed, "models.alexnet"))
    done = _run([str(FERFLOW), "check-params"], tmp_path)
    assert done.returncode == 2
    assert done.stderr == ("ferflow: error: params.yaml has invalid params:\n  train.backbones: "
                           "lists alexnet without a models.alexnet section: add one (alexnet: "
                           "{} takes the defaults), as dvc.yaml's train stage tracks "
                           "models.<backbone>\n")
    fixed = _without(listed, "models.alexnet")
    fixed["models"]["alexnet"] = {}
    write_params(tmp_path / "params.yaml", fixed)
    assert _run([str(FERFLOW), "check-params"], tmp_path).returncode == 0
