"""The suite cannot hang: under the project's own pytest settings (pyproject.toml), a worker
that crashes, or a test stuck where no Python signal handler runs, ends the run as failed with
the test named, in bounded time."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BOUND_S = 180
"""Far more than the two tiny workers below need; a hang would run into it."""


def _pytest(tmp_path: Path, tests: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """pytest with the repository's configuration (two xdist workers) on one generated file."""
    (tmp_path / "test_generated.py").write_text(textwrap.dedent(tests))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(REPO / "pyproject.toml"), "--rootdir",
         str(tmp_path), "-p", "no:cacheprovider", "-n", "2", *extra, str(tmp_path)],
        capture_output=True, text=True, timeout=BOUND_S, cwd=tmp_path)


def test_a_crashed_worker_fails_the_run_naming_its_test(tmp_path: Path) -> None:
    result = _pytest(tmp_path, """
        import os

        def test_native_crash():
            os.abort()

        def test_fine_one():
            pass

        def test_fine_two():
            pass
    """, "--dist", "load")
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert "crashed while running 'test_generated.py::test_native_crash'" in out, out
    assert "replacing crashed worker" not in out, out


def test_a_test_stuck_in_native_code_is_ended_by_the_timeout(tmp_path: Path) -> None:
    # SIGALRM blocked, as inside a C call that never returns: only the thread method gets out.
    result = _pytest(tmp_path, """
        import signal
        import time

        def test_stuck():
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
            time.sleep(120)
    """, "--timeout", "3")
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    # The worker's own "Timeout" stack dump stays in its stderr; the run names the test.
    assert "crashed while running 'test_generated.py::test_stuck'" in out, out


def test_ci_script_stops_a_make_test_that_never_ends(tmp_path: Path) -> None:
    # .ci/run as CI calls it, in a checkout whose `make test` hangs (a stand-in Makefile).
    (tmp_path / ".ci").mkdir()
    (tmp_path / ".ci" / "run").write_text((REPO / ".ci" / "run").read_text())
    (tmp_path / "Makefile").write_text("test:\n\tsleep 600\n")
    result = subprocess.run(["bash", str(tmp_path / ".ci" / "run")], capture_output=True,
                            text=True, timeout=BOUND_S,
                            env={"PATH": "/usr/bin:/bin", "FERFLOW_CI_LIMIT_S": "2"})
    assert result.returncode == 124, result.stdout + result.stderr
    assert "did not finish within 2 s" in result.stderr
    assert subprocess.run(["pgrep", "-f", "sleep 600"], capture_output=True).returncode == 1
