"""Which files of src/ferflow a script runs: its import closure inside the package, read from
the source (imports inside functions count; `if TYPE_CHECKING:` blocks do not)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"


def module_file(name: str) -> Path | None:
    """The file of module or package `name` under src/, or None when it is not ferflow's."""
    base = SRC.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_names(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        names |= _imported_names(node)
    return names


def _with_parents(name: str) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)}


def imports_of(path: Path) -> set[Path]:
    """ferflow files that `path` imports directly (with the packages they sit in)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {n for name in _imported_names(tree) if name.startswith("ferflow")
             for n in _with_parents(name)}
    return {f for f in map(module_file, names) if f is not None}


def import_closure(*scripts: Path) -> set[Path]:
    """Every ferflow file that running `scripts` may execute."""
    seen: set[Path] = set()
    todo = [f for script in scripts for f in imports_of(script)]
    while todo:
        path = todo.pop()
        if path not in seen:
            seen.add(path)
            todo.extend(imports_of(path))
    return seen
