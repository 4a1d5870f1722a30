"""Atomic outputs: all or nothing, with ordinary permissions."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ferflow.atomic import atomic_path, write_json


def test_file_replaced_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    write_json(target, {"a": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == '{\n  "a": 1\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_directory_replaced_whole(tmp_path: Path) -> None:
    target = tmp_path / "tree"
    with atomic_path(target, directory=True) as tmp:
        (tmp / "old.txt").write_text("1")
    with atomic_path(target, directory=True) as tmp:
        (tmp / "new.txt").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tree"]


def test_outputs_get_umask_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        write_json(tmp_path / "m.json", {})
        with atomic_path(tmp_path / "d", directory=True):
            pass
    finally:
        os.umask(umask)
    import ferflow.atomic as atomic

    expected = 0o666 & ~atomic._UMASK
    assert stat.S_IMODE((tmp_path / "m.json").stat().st_mode) == expected
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o777 & ~atomic._UMASK


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


def test_temporary_names_carry_the_writers_pid(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "out.csv") as tmp:
        assert tmp.name.startswith(f".out.csv.tmp-{os.getpid()}-") and tmp.suffix == ".csv"
    with atomic_path(tmp_path / "tree", directory=True) as tmp:
        assert tmp.name.startswith(f".tree.tmp-{os.getpid()}-")


@pytest.mark.parametrize("directory", [False, True], ids=["file", "directory"])
def test_success_removes_what_dead_writers_left_and_keeps_live_writers_paths(
        tmp_path: Path, directory: bool) -> None:
    dead = _dead_pid()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale_file = tmp_path / f".out.tmp-{dead}-k3x9q2ab"
        stale_tree = tmp_path / f".out.tmp-{dead}-p0w8e7rt"
        stale_old = tmp_path / f".out.old-{dead}"
        for tree in (stale_tree, stale_old):
            (tree / "train").mkdir(parents=True)
            (tree / "train" / "0.png").write_bytes(b"png")
        stale_file.write_text("half")
        kept = {f".out.tmp-{live.pid}-a1b2c3d4",  # a concurrent run, still writing
                ".out.tmp-abcd1234",  # not a name atomic_path makes: not ours to judge
                f".other.tmp-{dead}-a1b2c3d4"}  # another target's
        for name in kept:
            (tmp_path / name).write_text("")
        with atomic_path(tmp_path / "out", directory=directory) as tmp:
            if not directory:
                tmp.write_text("new")
        assert {p.name for p in tmp_path.iterdir()} == kept | {"out"}
    finally:
        live.kill()
        live.wait()


def test_failure_leaves_other_writers_leftovers_alone(tmp_path: Path) -> None:
    stale = tmp_path / f".out.tmp-{_dead_pid()}-k3x9q2ab"
    stale.write_text("half")
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "out"):
        raise RuntimeError("interrupted")
    assert [p.name for p in tmp_path.iterdir()] == [stale.name]
