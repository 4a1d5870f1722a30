"""What a training run is known by outside the tracking store: `models/<b>/run.json`
(`RunRef`), and the context tags every run carries. No MLflow import: a host without MLflow
(a GPU window) tracks into a folder with the same references."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ferflow.errors import FerflowError


@dataclass(frozen=True)
class RunRef:
    """What `models/<backbone>/run.json` records: where the run lives."""

    run_id: str
    experiment_id: str
    tracking_uri: str

    def as_dict(self) -> dict[str, str]:
        return dict(self.__dict__)


def read_run_ref(path: str | os.PathLike[str]) -> RunRef:
    """Read a `run.json` the train stage wrote with `RunRef.as_dict`; FerflowError naming the
    file when it is missing or incomplete."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return RunRef(str(data["run_id"]), str(data["experiment_id"]), str(data["tracking_uri"]))
    except FileNotFoundError:
        raise FerflowError(f"{path}: not found; the train stage writes it (dvc repro)") from None
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise FerflowError(f"{path}: expected JSON with run_id, experiment_id and tracking_uri "
                           f"({exc!r}); rerun the train stage to rewrite it") from None


def git_commit(cwd: Path | None = None) -> str:
    """HEAD of the checkout being run (an experiment's own commit in a DVC temp copy)."""
    import subprocess

    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def dvc_experiment_name() -> str | None:
    """The DVC experiment being run, when there is one (DVC sets DVC_EXP_NAME)."""
    return os.environ.get("DVC_EXP_NAME") or None


@contextlib.contextmanager
def failed_on_error(finish: Callable[[str, str], None], run_id: str) -> Iterator[None]:
    """End run `run_id` FAILED (`finish(run_id, "FAILED")`) if the block raises anything,
    KeyboardInterrupt included, then re-raise. A SIGKILL runs no handler: the run stays
    RUNNING, and resumable."""
    try:
        yield
    except BaseException:
        # The block's error is the one to report, not a second one from the store.
        with contextlib.suppress(Exception):
            finish(run_id, "FAILED")
        raise
