"""The stage entry helper: user mistakes as one paragraph, native crashes with a stack."""

from __future__ import annotations

import subprocess
import sys


def _stage(body: str) -> subprocess.CompletedProcess[str]:
    code = f"from ferflow.stage import run_stage\n{body}\nrun_stage(main)\n"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)


def test_a_user_mistake_is_one_error_paragraph_and_exit_2() -> None:
    result = _stage("from ferflow.errors import FerflowError\n"
                    "def main():\n    raise FerflowError('params.yaml: train.epochs: must be > 0')")
    assert result.returncode == 2
    assert result.stderr == "ferflow: error: params.yaml: train.epochs: must be > 0\n"


def test_a_native_crash_prints_where_the_stage_was() -> None:
    result = _stage("import os, signal\n"
                    "def crash_in_a_kernel():\n    os.kill(os.getpid(), signal.SIGSEGV)\n"
                    "def main():\n    crash_in_a_kernel()")
    assert result.returncode == -11
    assert "Fatal Python error: Segmentation fault" in result.stderr
    assert "crash_in_a_kernel" in result.stderr
