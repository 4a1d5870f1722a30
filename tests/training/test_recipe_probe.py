"""benchmarks/recipe_probe.py: the short training probe behind the recipe rows of
docs/benchmarks.md, run as its users run it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from training_data import write_arrays

ROOT = Path(__file__).resolve().parents[2]
PROBE = ROOT / "benchmarks" / "recipe_probe.py"


def probe(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(PROBE), "--arrays", str(tmp_path / "arrays"),
                           *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_probe_trains_the_merged_recipe_and_reports_accuracies(tmp_path: Path) -> None:
    write_arrays(tmp_path / "arrays", rows=70)
    config = tmp_path / "recipe.yaml"
    config.write_text("models:\n  cpu_net:\n    width: 0.25\n    batch_size: 16\n")
    done = probe(tmp_path, "--config", str(config), "--epochs", "2", "--fraction", "0.5",
                 "--set", "models.cpu_net.learning_rate=0.004",
                 "--set", "train.augment.rotation=0")
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    # Half of the 70 train rows, two epochs, the --set learning rate over the config's width.
    assert "cpu_net: 35 train images x 2 epochs" in out
    assert "lr 0.004, optimizer adam, width 0.25" in out and "batch 16" in out
    per_epoch = re.search(r"val accuracy per epoch: (.*)", out).group(1).split(", ")
    assert len(per_epoch) == 2
    scores = re.search(r"val (\S+) \(flip (\S+)\), test (\S+) \(flip (\S+)\)", out).groups()
    assert all(0.0 <= float(s) <= 1.0 for s in scores)


def test_probe_names_a_mistyped_key(tmp_path: Path) -> None:
    write_arrays(tmp_path / "arrays", rows=14)
    done = probe(tmp_path, "--set", "models.cpu_net.learning_rat=0.01")
    assert done.returncode != 0
    assert "models.cpu_net.learning_rat" in done.stderr and "Traceback" not in done.stderr
