"""What every `pipeline/<stage>.py` script shares: one argument helper and one way to end.

User mistakes end in a one-paragraph `ferflow: error:` and exit code 2, Ctrl-C in exit code 130,
a native crash in faulthandler's stack dump.
"""

from __future__ import annotations

import argparse
import faulthandler
import sys
from collections.abc import Callable
from dataclasses import dataclass

from ferflow.config import Params, load_params
from ferflow.errors import FerflowError
from ferflow.layout import Layout


def report_errors(func: Callable[[], int | None]) -> int:
    """Run `func`; turn a FerflowError into a one-paragraph message and its exit code."""
    try:
        return int(func() or 0)
    except FerflowError as exc:
        print(f"ferflow: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("ferflow: interrupted; outputs were left as they were before this run",
              file=sys.stderr)
        return 130


def run_stage(func: Callable[[], int | None]) -> None:
    """Run a stage's `main` and exit with its code.

    A native crash (a segfault in a backend kernel) kills the stage before any Python handler
    runs; faulthandler first prints where each thread was, so the log names the layer or call
    instead of DVC's bare "exited with -11".
    """
    faulthandler.enable()
    sys.exit(report_errors(func))


@dataclass(frozen=True)
class StageArgs:
    params: Params
    layout: Layout
    backbone: str = ""
    """The matrix item of train@<backbone> / evaluate@<backbone> ("" for the other stages)."""


def stage_args(description: str | None, *, matrix: bool = False) -> StageArgs:
    """Parse a stage's command line (`[<backbone>] [--params FILE]`) and load its params.

    Called inside `run_stage`, so a bad params file is a `ferflow: error` like any other."""
    parser = argparse.ArgumentParser(description=description)
    if matrix:
        parser.add_argument("backbone")
    parser.add_argument("--params", default="params.yaml", help="default: %(default)s")
    args = parser.parse_args()
    return StageArgs(load_params(args.params), Layout(), getattr(args, "backbone", ""))
