"""The layout's rules, read from the source: `connectors` never imports `scheduler`, and no
module imports another in a loop (imports inside functions count too, since a lazy import
that closes a loop is still a loop a reader has to untangle)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("scheduler", "connectors")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            found[_module_name(path)] = path
    return found


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets.add(base)
            # `from package import module` imports the module.
            targets.update(f"{base}.{alias.name}" for alias in node.names)
    return {t for t in targets if t in known and t != name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(path, name, known) for name, path in modules.items()}


def test_connectors_never_import_scheduler() -> None:
    offenders = {
        name: sorted(t for t in targets if t.startswith("scheduler"))
        for name, targets in _graph().items()
        if name.startswith("connectors")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_import_loops() -> None:
    graph = _graph()
    # A package's __init__ importing its own modules (a registry) is not a loop.
    edges = {
        name: {t for t in targets if not name.startswith(t + ".") and not t.startswith(name + ".")}
        for name, targets in graph.items()
    }
    loops: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                loops.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    assert loops == []


def test_every_stage_is_a_package() -> None:
    stages = {"settings", "store", "planning", "sessions", "report", "service", "cli", "demo"}
    backends = {"google", "outlook", "caldav", "ics"}
    assert all((ROOT / "scheduler" / s / "__init__.py").is_file() for s in stages)
    assert all((ROOT / "connectors" / b / "connector.py").is_file() for b in backends)
    loose = {p.name for p in (ROOT / "scheduler").glob("*.py")}
    assert loose == {"__init__.py", "model.py", "errors.py", "runtime.py"}
