"""dvc.yaml's train stage and params.yaml agree with the typed params."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ferflow.config import TrainParams, load_params

ROOT = Path(__file__).resolve().parents[2]


def test_params_yaml_configures_every_backbone_it_trains() -> None:
    params = load_params(ROOT / "params.yaml")
    assert set(params.train.backbones) <= set(params.models)


def test_train_stage_is_a_matrix_over_the_params_list_and_tracks_every_recipe_key() -> None:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    if "train" not in stages:
        pytest.skip("dvc.yaml has no train stage yet")
    stage = stages["train"]
    assert stage["matrix"] == {"backbone": "${train.backbones}"}
    tracked = {p for p in stage["params"] if isinstance(p, str)}
    # Every recipe key but the backbone list itself (adding a backbone must not retrain the
    # others), this backbone's model section and the experiment name.
    expected = {f"train.{k}" for k in TrainParams.model_fields if k != "backbones"}
    assert expected <= tracked
    assert {"models.${item.backbone}", "mlflow"} <= tracked
