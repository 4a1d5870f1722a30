"""Params checks that must hold before any stage does work: the backbone list above all."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ferflow.config import BACKBONE_NAMES

REPO = Path(__file__).resolve().parents[1]
FERFLOW = Path(sys.executable).parent / "ferflow"
ZOO_LISTED = ", ".join(BACKBONE_NAMES)


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVC_"))}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_the_name_list_is_the_model_zoo() -> None:
    from ferflow.models import available_models

    assert list(BACKBONE_NAMES) == available_models()


def test_checking_params_does_not_import_keras() -> None:
    done = subprocess.run([sys.executable, "-c", "import sys, ferflow.config; "
                           "print('keras' in sys.modules)"], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr


@pytest.mark.parametrize(("params", "named"), [
    ("train: {backbones: [cpu_nett]}", "train.backbones: unknown backbone 'cpu_nett'"),
    ("train: {backbones: [cpu_net, vgg1]}", "train.backbones: unknown backbone 'vgg1'"),
    ("train: {backbones: []}", "train.backbones: is empty: list at least one of"),
    ("models: {cpu_nett: {width: 0.5}}", "models: unknown backbone 'cpu_nett'"),
], ids=["typo", "one-of-two", "empty", "models-section"])
def test_check_params_rejects_a_bad_backbone_list(tmp_path: Path, params: str,
                                                  named: str) -> None:
    (tmp_path / "params.yaml").write_text(params + "\n")
    done = _run([str(FERFLOW), "check-params"], tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("ferflow: error: params.yaml has invalid params:")
    assert named in done.stderr and ZOO_LISTED in done.stderr
    assert "Traceback" not in done.stderr


def test_a_name_listed_twice_is_named_once() -> None:
    from ferflow.config import parse_params
    from ferflow.errors import FerflowError

    with pytest.raises(FerflowError, match=r"train\.backbones: lists vgg16 more than once"):
        parse_params({"train": {"backbones": ["vgg16", "cpu_net", "vgg16"]}})


@pytest.mark.parametrize("backbones", ["[cpu_nett]", "[]", "[cpu_net]"],
                         ids=["unknown", "empty", "no-models-section"])
def test_the_first_stage_stops_on_a_bad_backbone_list_before_writing(
        tmp_path: Path, backbones: str) -> None:
    """download is the first stage `dvc repro` runs; it checks the whole params.yaml, so a
    bad list never gets as far as DVC's own matrix errors (or a matrix without stages)."""
    (tmp_path / "params.yaml").write_text(f"train: {{backbones: {backbones}}}\n")
    done = _run([sys.executable, str(REPO / "pipeline" / "download.py")], tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("ferflow: error: params.yaml has invalid params:\n"
                                  "  train.backbones: ")
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]


def test_a_listed_backbone_needs_its_models_section(tmp_path: Path) -> None:
    """dvc.yaml's train stage tracks `models.<backbone>`: without the section DVC would stop,
    after the data stages, with "Parameters 'models.alexnet' are missing"."""
    (tmp_path / "params.yaml").write_text("train: {backbones: [cpu_net, alexnet]}\n"
                                          "models: {cpu_net: {width: 0.5}}\n")
    done = _run([str(FERFLOW), "check-params"], tmp_path)
    assert done.returncode == 2
    assert done.stderr == ("ferflow: error: params.yaml has invalid params:\n  train.backbones: "
                           "lists alexnet without a models.alexnet section: add one (alexnet: "
                           "{} takes the defaults), as dvc.yaml's train stage tracks "
                           "models.<backbone>\n")
    (tmp_path / "params.yaml").write_text("train: {backbones: [cpu_net, alexnet]}\n"
                                          "models: {cpu_net: {width: 0.5}, alexnet: {}}\n")
    assert _run([str(FERFLOW), "check-params"], tmp_path).returncode == 0
