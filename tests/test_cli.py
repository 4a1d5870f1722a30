"""The `ferflow` command: every subcommand reachable, as the console script and as
`python -m ferflow`, without loading Keras or MLflow for the parser."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUBCOMMANDS = {"benchmark", "check-params", "export", "gpu-window", "overrides", "predict",
               "retrain"}


@pytest.mark.parametrize("launcher", [[sys.executable, "-m", "ferflow"],
                                      [str(Path(sys.executable).with_name("ferflow"))]],
                         ids=["python -m ferflow", "console script"])
def test_help_lists_every_subcommand(launcher: list[str]) -> None:
    done = subprocess.run([*launcher, "--help"], capture_output=True, text=True, timeout=120,
                          check=True)
    listed = done.stdout.split("{", 1)[1].split("}", 1)[0].split(",")
    assert set(listed) == SUBCOMMANDS


def test_building_the_parser_loads_no_framework() -> None:
    code = ("import sys; from ferflow.cli import build_parser; build_parser(); "
            "loaded = {'keras', 'tensorflow', 'mlflow'} & set(sys.modules); "
            "assert not loaded, loaded")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def _overrides(tmp_path: Path, config_text: str) -> subprocess.CompletedProcess[str]:
    """`ferflow overrides` of a config holding `config_text`, against the project's params."""
    config = tmp_path / "config.yaml"
    config.write_text(config_text)
    return subprocess.run([sys.executable, "-m", "ferflow", "overrides", str(config),
                           "--params", str(ROOT / "params.yaml")],
                          capture_output=True, text=True, timeout=120)


def test_overrides_prints_dvc_set_arguments(tmp_path: Path) -> None:
    done = _overrides(tmp_path, "train:\n  epochs: 3\nmodels:\n  cpu_net:\n    width: 0.5\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["-S", "train.epochs=3", "-S", "models.cpu_net.width=0.5"]


def test_overrides_names_a_bad_key_in_one_paragraph(tmp_path: Path) -> None:
    done = _overrides(tmp_path, "train:\n  epoch: 3\n")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("ferflow: error: ") and "train.epoch: unknown key" in done.stderr
