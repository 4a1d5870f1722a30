"""dvc.yaml's train stage and params.yaml agree with the typed params."""

from __future__ import annotations

from pathlib import Path

import yaml

from ferflow.config import TrainParams, load_params
from ferflow.models.zoo import available_models
from ferflow.training.recipe import recipe_for

ROOT = Path(__file__).resolve().parents[2]


def test_params_yaml_trains_the_whole_model_zoo() -> None:
    """The zoo is the one list of backbone names (params are checked without it, see
    recipe_for): the embedded run trains every zoo model, in the zoo's order, and each
    backbone's recipe is valid."""
    params = load_params(ROOT / "params.yaml")
    assert list(params.train.backbones) == available_models()
    for backbone in params.train.backbones:
        assert recipe_for(params, backbone, available_models()).backbone == backbone


def test_train_stage_is_a_matrix_over_the_params_list_and_tracks_every_recipe_key() -> None:
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["train"]
    assert stage["matrix"] == {"backbone": "${train.backbones}"}
    tracked = {p for p in stage["params"] if isinstance(p, str)}
    # Every recipe key but the backbone list itself (adding a backbone must not retrain the
    # others), this backbone's model section and the experiment name.
    expected = {f"train.{k}" for k in TrainParams.model_fields if k != "backbones"}
    assert expected <= tracked
    assert {"models.${item.backbone}", "mlflow"} <= tracked
