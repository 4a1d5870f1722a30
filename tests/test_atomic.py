"""Atomic outputs: all or nothing, with ordinary permissions."""

from __future__ import annotations

import os
import stat
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
