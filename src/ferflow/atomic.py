"""Write outputs to a temporary sibling and rename them into place, so an interrupted stage
leaves either the previous good output or nothing.

Temporary names carry the writer's pid (`.<name>.tmp-<pid>-<random>`, `.<name>.old-<pid>`).
A process killed outright (SIGKILL, power loss) cannot remove its own; the next successful
write of the same target removes those whose process is gone, and leaves a live one's alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ferflow.errors import FerflowError

# mkstemp/mkdtemp create owner-only paths; outputs should get the usual permissions instead.
_UMASK = os.umask(0)
os.umask(_UMASK)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only checks that the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    return True


def _remove_stale_siblings(target: Path) -> None:
    """Remove temporary siblings of `target` left by processes that no longer exist."""
    pattern = re.compile(re.escape(f".{target.name}.") + r"(?:tmp|old)-(\d+)(?:-|$)")
    for sibling in target.parent.iterdir():
        match = pattern.match(sibling.name)
        if match and not _process_alive(int(match[1])):
            _remove(sibling)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to `target`; on success rename it onto `target`.

    With `directory=True` the temporary path is an empty directory and the whole tree replaces
    `target`. On any exception the temporary path is removed and `target` is untouched. On
    success, temporary siblings that killed writers of `target` left behind are removed.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{target.name}.tmp-{os.getpid()}-"
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))
        tmp.chmod(0o777 & ~_UMASK)
    else:
        fd, name = tempfile.mkstemp(prefix=prefix, dir=target.parent, suffix=target.suffix)
        os.close(fd)
        tmp = Path(name)
        tmp.chmod(0o666 & ~_UMASK)
    try:
        yield tmp
        if directory:
            # A directory cannot be renamed over a non-empty one: move the old aside first.
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            if target.exists():
                os.replace(target, old)
            os.replace(tmp, target)
            _remove(old)
        else:
            os.replace(tmp, target)
    except BaseException:
        _remove(tmp)
        raise
    _remove_stale_siblings(target)


def write_text(target: str | os.PathLike[str], text: str) -> None:
    """Atomically write `text` to `target`."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(target: str | os.PathLike[str], data: Any) -> None:
    """Atomically write `data` as indented, key-sorted JSON (stable diffs for DVC metrics)."""
    write_text(target, json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_json_record(path: Path) -> dict[str, Any]:
    """A JSON object `write_json` wrote, for the optional records (source, labels): {} when the
    file is missing, unreadable or not an object."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return record if isinstance(record, dict) else {}


def read_stage_json(path: Path, stage: str) -> Any:
    """A JSON output of DVC stage `stage` (e.g. `train@cpu_net`), as `write_json` wrote it;
    FerflowError naming the file and the stage to rerun when it is missing or broken."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FerflowError(f"{path}: not found; the {stage} stage writes it "
                           f"(dvc repro {stage})") from None
    except json.JSONDecodeError as exc:
        raise FerflowError(f"{path}: not valid JSON ({exc}); rerun {stage}") from None
