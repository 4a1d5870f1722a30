"""configs/*.yaml → dvc exp run -S arguments, checked against the params schema."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import yaml
from git_dvc_repo import DVC, commit_all, init_repo, repo_env, run_checked

from ferflow.config import load_params, merge_sections, parse_params
from ferflow.errors import FerflowError
from ferflow.models.zoo import available_models
from ferflow.tools.overrides import (
    leaf_overrides,
    overrides_for_file,
    params_with,
    read_override_file,
)
from ferflow.training.recipe import recipe_for

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


def test_leaves_become_dotted_hydra_overrides_new_keys_with_a_plus() -> None:
    tree = {"train": {"epochs": 60, "augment": {"flip": False}, "backbones": ["a", "b"]},
            "models": {"vgg16": {"weights": None, "augment": {"erasing": 0.0}}}}
    written = {"train": {"epochs": 4, "augment": {"flip": True}, "backbones": ["a"]},
               "models": {"vgg16": {"weights": None}}}
    assert leaf_overrides(tree, written) == [
        "train.epochs=60", "train.augment.flip=false", 'train.backbones=["a","b"]',
        "models.vgg16.weights=null", "+models.vgg16.augment.erasing=0.0"]
    assert leaf_overrides({"train": {"min_learning_rate": 1e-05}}) == [
        "+train.min_learning_rate=1.0e-05"]
    assert yaml.safe_load("1.0e-05") == 1e-05
    with pytest.raises(FerflowError, match="white space"):
        leaf_overrides({"data": {"file": {"path": "my data.csv"}}})


def test_fer2013_recipe_is_valid_and_complete(tmp_path: Path) -> None:
    args = overrides_for_file(ROOT / "configs" / "fer2013.yaml", ROOT / "params.yaml")
    sets = dict(a.split("=", 1) for a in args[1::2])
    assert set(args[0::2]) == {"-S"}
    assert sets["train.epochs"] == "100" and sets["train.optimizer"] == "sgd"
    # Every backbone trains at full width in the real recipe.
    backbones = load_params(ROOT / "params.yaml").train.backbones
    assert all(sets[f"models.{b}.width"] == "1.0" for b in backbones)


def _recipe(config: str, backbone: str):
    path = ROOT / "configs" / config
    params = params_with(read_override_file(path), ROOT / "params.yaml", str(path))
    return recipe_for(params, backbone, available_models())


@pytest.mark.parametrize("backbone", available_models())
def test_the_real_recipe_keeps_none_of_the_short_runs_shortcuts(backbone: str) -> None:
    # params.yaml gives some backbones fewer epochs, other learning rates, no dropout and no
    # warps so that the embedded run learns in minutes; configs/fer2013.yaml inherits every key
    # it does not set, so it must set each of those back.
    recipe = _recipe("fer2013.yaml", backbone)
    train, model = recipe.train, recipe.model
    assert train.epochs >= 100 and model.width == 1.0 and model.dropout >= 0.3
    augment = train.augment
    assert (augment.flip, augment.shift, augment.rotation, augment.zoom, augment.erasing) == (
        True, 0.1, 10, 0.1, 0.25)
    if backbone != "cpu_net":
        assert (train.optimizer, train.learning_rate, train.batch_size) == ("sgd", 0.01, 64)


def test_the_30_minute_recipe_is_the_measured_one() -> None:
    recipe = _recipe("cpu-net-30min.yaml", "cpu_net")
    train, augment = recipe.train, recipe.train.augment
    # 30 minutes buy the epochs (train.epochs is the cap), on a cosine schedule.
    assert (train.time_budget_s, train.epochs, train.schedule) == (1800, 60, "cosine")
    assert (train.batch_size, train.learning_rate) == (64, 0.006)
    assert (augment.flip, augment.shift, augment.rotation, augment.zoom, augment.erasing) == (
        True, 0.1, 10, 0.1, 0.0)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda path: path.name)
def test_every_shipped_config_is_valid_against_params(config: Path) -> None:
    args = overrides_for_file(config, ROOT / "params.yaml")
    assert args and set(args[0::2]) == {"-S"}


def test_a_typo_in_an_override_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"train": {"epoch": 3}}))
    with pytest.raises(FerflowError, match=r"train\.epoch: unknown key"):
        overrides_for_file(bad, ROOT / "params.yaml")



def test_a_broken_or_missing_override_file_is_named(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("train: {epochs: 3\n")
    with pytest.raises(FerflowError, match=r"broken\.yaml: not valid YAML"):
        overrides_for_file(broken, ROOT / "params.yaml")
    with pytest.raises(FerflowError, match=r"absent\.yaml: override file not found"):
        overrides_for_file(tmp_path / "absent.yaml", ROOT / "params.yaml")

@pytest.mark.slow
def test_dvc_exp_run_applies_every_shipped_config(tmp_path: Path) -> None:
    """The printed arguments are what `dvc exp run` accepts (new keys need Hydra's `+`), and
    the experiment's params are params.yaml merged with the config file."""
    env = repo_env()
    init_repo(tmp_path, env)
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    copy = f"{sys.executable} -c \"import shutil; shutil.copy('params.yaml', 'seen.yaml')\""
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"show": {
        "cmd": copy, "params": ["train", "models"], "outs": [{"seen.yaml": {"cache": False}}]}}}))
    commit_all(tmp_path, env, "params")
    base = load_params(tmp_path / "params.yaml").model_dump(by_alias=True)
    for config in CONFIGS:
        args = overrides_for_file(config, tmp_path / "params.yaml")
        run_checked(*DVC, "exp", "run", "-n", config.stem, *args, cwd=tmp_path, env=env)
        seen = load_params(tmp_path / "seen.yaml")
        tree = yaml.safe_load(config.read_text(encoding="utf-8"))
        expected = parse_params(merge_sections(base, tree))
        assert seen.train == expected.train
        # What each backbone trains with (DVC writes 1e-05 in a form YAML reads as a string;
        # the schema turns it back into the number).
        for backbone in available_models():
            got, want = (recipe_for(p, backbone, available_models()) for p in (seen, expected))
            assert got.train == want.train, (config.name, backbone)
            assert got.flat() == want.flat(), (config.name, backbone)
        run_checked("git", "checkout", "--", "params.yaml", cwd=tmp_path, env=env)
