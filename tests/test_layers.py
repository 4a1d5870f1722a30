"""The rooms of src/ferflow and who may import whom (README "Architecture"): a room imports only
from its own floor or the floors below, and no two rooms import each other."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

FLOORS: list[set[str]] = [
    {"ferflow", "errors", "atomic", "progress", "backend", "config", "layout"},
    {"data", "validation", "models", "tracking"},
    {"training", "evaluation"},
    {"release", "serving"},
    {"stage", "commands", "cli", "tools", "__main__"},
]


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "ferflow"


def floor(name: str) -> int:
    return next(i for i, rooms in enumerate(FLOORS) if name in rooms)


def _module(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> list[tuple[str, str]]:
    """(importing module, imported ferflow module) for every import, lazy ones included."""
    edges = []
    for path in sorted((SRC / "ferflow").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            edges += [(_module(path), t) for t in targets if t.split(".")[0] == "ferflow"]
    return edges


def test_every_room_has_a_floor() -> None:
    rooms = {room(_module(p)) for p in (SRC / "ferflow").rglob("*.py")}
    assert rooms == set().union(*FLOORS)


def test_no_room_imports_from_a_higher_floor() -> None:
    upward = [(a, b) for a, b in imports()
              if b != "ferflow" and floor(room(b)) > floor(room(a))]
    assert not upward, upward


def test_no_two_rooms_import_each_other() -> None:
    graph: dict[str, set[str]] = {}
    for a, b in imports():
        if room(a) != room(b) and b != "ferflow":
            graph.setdefault(room(a), set()).add(room(b))

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n}))
                   for n in graph.get(start, ()))

    circles = sorted({tuple(sorted((a, b))) for a in graph for b in graph[a]
                      if reaches(b, a, {b})})
    assert not circles, circles


def _importers_of(package: str) -> set[str]:
    found = set()
    for path in (SRC / "ferflow").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            if any(name.split(".")[0] == package for name in names):
                found.add(_module(path))
    return found


def test_only_tracking_talks_to_mlflow() -> None:
    # The served model itself is an MLflow PythonModel (serving/pyfunc.py, set by
    # model_code.py); it defines what is logged, tracking/ logs and loads it.
    others = {m for m in _importers_of("mlflow") if room(m) != "tracking"}
    assert others == {"ferflow.serving.pyfunc", "ferflow.serving.model_code"}


def test_only_backend_names_a_keras_backend() -> None:
    for package in ("tensorflow", "jax", "torch"):
        assert _importers_of(package) <= {"ferflow.backend"}, package
