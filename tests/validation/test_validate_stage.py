"""`pipeline/validate.py` as DVC runs it: exit 0 (passed), 1 (gate failed), 2 (usage error)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from params_data import params_tree, write_params
from validation_data import build_dataset, edit_lines

SCRIPT = Path(__file__).resolve().parents[2] / "pipeline" / "validate.py"


def _stage(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=cwd, text=True,
                          capture_output=True, timeout=300)


def _project(tmp_path: Path) -> Path:
    build_dataset(tmp_path)
    write_params(tmp_path / "params.yaml", params_tree(validate={"min_rows": 10}))
    return tmp_path


def test_passing_data_exits_0_with_a_short_summary(tmp_path: Path) -> None:
    run = _stage(_project(tmp_path))
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("Data validation passed: 31 expectations on 42 CSV rows")
    assert "report: reports/validation.json; Data Docs: reports/data_docs/index.html" \
        in run.stdout
    assert (tmp_path / "reports" / "data_docs" / "index.html").is_file()


def test_failed_gate_exits_1_listing_each_failure_with_offending_lines(tmp_path: Path) -> None:
    project = _project(tmp_path)
    csv = project / "data" / "raw" / "fer2013.csv"
    lines = csv.read_text().splitlines()
    edit_lines(csv, {2: "9" + lines[1][1:], 5: lines[4].replace(",Training", ",Train")
                     .replace(",PublicTest", ",Train").replace(",PrivateTest", ",Train")})
    run = _stage(project)
    assert run.returncode == 1
    assert "Data validation FAILED" in run.stderr
    assert "FAIL fer2013_csv: expect_column_values_to_be_in_set(emotion, value_set=[0, 1, 2, " \
           "3, 4, 5, 6])" in run.stderr
    assert "line 2 (row 0): emotion=9" in run.stderr
    assert "line 5 (row 3): Usage=Train" in run.stderr
    assert "Traceback" not in run.stderr
    assert '"success": false' in (project / "reports" / "validation.json").read_text()


def test_usage_errors_exit_2_and_leave_reports_alone(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "reports").mkdir()
    (project / "reports" / "validation.json").write_text("previous\n")
    (project / "data" / "manifest.csv").unlink()

    run = _stage(project)
    assert run.returncode == 2
    assert run.stderr.startswith("ferflow: error: data/manifest.csv: not found")
    assert "dvc repro preprocess" in run.stderr
    assert (project / "reports" / "validation.json").read_text() == "previous\n"
    assert sorted(p.name for p in (project / "reports").iterdir()) == ["validation.json"]

    write_params(project / "params.yaml", params_tree(validate={"max_blank_shares": 0.1}))
    run = _stage(project)
    assert run.returncode == 2
    assert "validate.max_blank_shares: unknown key" in run.stderr

    run = _stage(project, "--params", "missing.yaml")
    assert run.returncode == 2 and "missing.yaml: params file not found" in run.stderr
