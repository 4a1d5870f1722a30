"""dvc.yaml's code deps are honest: each stage depends on exactly the ferflow files its script
runs, so editing a tool reruns nothing and editing a stage's code reruns that stage."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from import_closure import ROOT, SRC, import_closure

STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]

MODEL_CODE = {"register": [SRC / "ferflow" / "serving" / "model_code.py"]}
"""Code a stage ships besides what it imports: register logs model_code.py as the served
model's code, so what that file imports decides how the registered model behaves."""


def _script(stage: dict) -> Path:
    words = stage["cmd"].split()
    assert words[0] == "python", stage["cmd"]
    return ROOT / words[1]


def _code_deps(stage: dict) -> list[Path]:
    names = (next(iter(d)) if isinstance(d, dict) else d for d in stage["deps"])
    return [ROOT / n.split("#")[0].strip() for n in names if n.startswith("src/")]


def _files(dep: Path) -> set[Path]:
    return set(dep.rglob("*.py")) if dep.is_dir() else {dep}


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_code_deps_are_its_import_closure(name: str) -> None:
    stage = STAGES[name]
    script = _script(stage)
    runs = import_closure(script, *MODEL_CODE.get(name, [])) | set(MODEL_CODE.get(name, []))
    deps = _code_deps(stage)
    assert str(script.relative_to(ROOT)) in stage["deps"]
    missing = runs - set().union(*map(_files, deps))
    assert not missing, (f"{name}: runs {sorted(str(p.relative_to(ROOT)) for p in missing)} "
                         "but dvc.yaml does not list them as deps")
    for dep in deps:
        assert dep.exists(), f"{name}: dep {dep.relative_to(ROOT)} does not exist"
        extra = _files(dep) - runs
        assert not extra, (f"{name}: dep {dep.relative_to(ROOT)} covers "
                           f"{sorted(str(p.relative_to(ROOT)) for p in extra)}, which the stage "
                           "never runs: editing them would rerun it for nothing")


def test_tools_and_commands_are_no_stage_dependency() -> None:
    tools = {SRC / "ferflow" / "cli.py", SRC / "ferflow" / "commands.py",
             *(SRC / "ferflow" / "tools").rglob("*.py")}
    for name, stage in STAGES.items():
        runs = import_closure(_script(stage), *MODEL_CODE.get(name, []))
        assert not runs & tools, name


def test_the_closure_follows_imports_inside_functions(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                      "    from ferflow.models import zoo\n"
                      "def main():\n    from ferflow.data.arrays import load_split\n")
    names = {str(p.relative_to(SRC)) for p in import_closure(script)}
    assert names == {"ferflow/__init__.py", "ferflow/data/__init__.py", "ferflow/data/arrays.py",
                     "ferflow/errors.py", "ferflow/layout.py"}
