"""Where the MLflow store lives, and safe access to a SQLite store shared by parallel runs.

Queued DVC experiments run in temporary copies of the repository (.dvc/tmp/exps/...), yet their
runs belong in the repository's own store, so the default location is resolved from the real
repository root, not the working directory.
"""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote

T = TypeVar("T")

DB_NAME = "mlflow.db"
ARTIFACTS_DIR = "mlartifacts"
LOCKED_RETRY_S = 120.0
"""How long to keep retrying an MLflow call that SQLite answers with "database is locked"."""


def repo_root(cwd: Path | None = None) -> Path:
    """The repository the pipeline belongs to.

    DVC sets DVC_ROOT for stage commands, and for queued or --temp experiments points it at the
    parent repository rather than the temporary copy. Outside DVC, the directory holding git's
    common dir (the main checkout, also from a git worktree); else `cwd`.
    """
    cwd = (cwd or Path.cwd()).resolve()
    if os.environ.get("DVC_ROOT"):
        return Path(os.environ["DVC_ROOT"]).resolve()
    try:
        common = subprocess.run(
            ["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
            cwd=cwd, capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return cwd
    common_dir = Path(common)
    return common_dir.parent if common_dir.name == ".git" else cwd


def tracking_uri(root: Path | None = None) -> str:
    """$MLFLOW_TRACKING_URI, else the SQLite store `mlflow.db` at the repository root."""
    uri = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if uri:
        return uri
    return f"sqlite:///{(root or repo_root()) / DB_NAME}"


def sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///` URI, None for other stores."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix):
        return None
    # sqlite:///relative.db or sqlite:////absolute/path.db (SQLAlchemy's form); drop ?options.
    return Path(unquote(uri[len(prefix):].split("?", 1)[0])).absolute()


def artifact_location(uri: str) -> str | None:
    """Where a new experiment keeps its artifacts: `mlartifacts/` beside a SQLite database (the
    repository root by default); None lets a tracking server decide."""
    db = sqlite_path(uri)
    return None if db is None else (db.parent / ARTIFACTS_DIR).as_uri()


def is_locked_error(exc: BaseException) -> bool:
    """SQLite's "database is locked" (or busy), however MLflow or SQLAlchemy wrapped it."""
    text = str(exc).lower()
    return "database is locked" in text or "database is busy" in text


def retry_locked(call: Callable[[], T], *, budget_s: float = LOCKED_RETRY_S) -> T:
    """Run `call`, retrying with jittered exponential backoff while SQLite reports a lock.

    Parallel queued experiments write to one SQLite file; SQLite lets one writer in at a time
    and the others may time out waiting. Any other error is raised at once.
    """
    deadline = time.monotonic() + budget_s
    delay = 0.05
    while True:
        try:
            return call()
        except Exception as exc:
            if not is_locked_error(exc) or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay * (0.5 + random.random()))
        delay = min(delay * 2, 2.0)


@contextlib.contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """Hold an exclusive file lock beside a SQLite store (no-op for other stores).

    Used around the first touch of a store: two processes creating the same new database would
    both run MLflow's schema migrations and one would fail.
    """
    db = sqlite_path(uri)
    if db is None:
        yield
        return
    import fcntl  # POSIX; the pipeline runs on Linux and macOS

    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
