"""configs/fer2013.yaml → dvc exp run -S arguments, checked against the params schema."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ferflow.config import parse_params
from ferflow.errors import FerflowError
from ferflow.training.overrides import leaf_overrides, overrides_for_file

ROOT = Path(__file__).resolve().parents[2]


def test_leaves_become_dotted_hydra_overrides() -> None:
    tree = {"train": {"epochs": 60, "augment": {"flip": False}, "backbones": ["a", "b"]},
            "models": {"vgg16": {"weights": None}}}
    assert leaf_overrides(tree) == ["train.epochs=60", "train.augment.flip=false",
                                    'train.backbones=["a","b"]', "models.vgg16.weights=null"]
    with pytest.raises(FerflowError, match="white space"):
        leaf_overrides({"data": {"file": {"path": "my data.csv"}}})


def test_fer2013_recipe_is_valid_and_complete(tmp_path: Path) -> None:
    args = overrides_for_file(ROOT / "configs" / "fer2013.yaml", ROOT / "params.yaml")
    sets = dict(a.split("=", 1) for a in args[1::2])
    assert set(args[0::2]) == {"-S"}
    assert sets["train.epochs"] == "100" and sets["train.optimizer"] == "sgd"
    # Every backbone trains at full width in the real recipe.
    assert all(sets[f"models.{b}.width"] == "1.0" for b in parse_params({}).train.backbones)


def test_a_typo_in_an_override_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"train": {"epoch": 3}}))
    with pytest.raises(FerflowError, match=r"train\.epoch: unknown key"):
        overrides_for_file(bad, ROOT / "params.yaml")
