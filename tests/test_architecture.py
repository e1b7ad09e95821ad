"""The package's shape: no import circles, and every registered sync type provides the
contract in syncs/base.py (mypy checks the signatures; this checks what a module exports)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from xregion_sync.syncs import SYNC_TYPES
from xregion_sync.syncs.base import SyncType

PACKAGE = Path(__file__).parent.parent / "functions" / "xregion_sync"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    if node.level == 0:
        base = node.module or ""
    else:
        parts = module.split(".")
        keep = len(parts) - node.level + (1 if is_package else 0)
        base = ".".join(parts[:keep] + ([node.module] if node.module else []))
    # `from . import x` imports the submodule x; `from .a import f` imports a.
    return [f"{base}.{alias.name}" for alias in node.names] + [base]


def import_graph() -> dict[str, set[str]]:
    """Every import between the package's modules, lazy ones (inside functions) included:
    a circle through a lazy import is still a circle."""
    paths = [p for p in PACKAGE.rglob("*.py") if "node_modules" not in p.parts]
    modules = {_module_name(p): p for p in paths}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                targets = _resolve(name, path.name == "__init__.py", node)
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            edges |= {t for t in targets if t in modules and t != name}
        graph[name] = edges
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def without_package_inits(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """A package's __init__ importing its own submodules (the registry, the public API)
    is how Python packages work, not a circle: drop the edges from a module into a
    package that contains it."""
    return {name: {t for t in edges if not name.startswith(t + ".")}
            for name, edges in graph.items()}


def test_the_package_has_no_import_circles():
    assert circles(without_package_inits(import_graph())) == []


def test_the_circle_check_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]


def test_the_leaf_modules_import_nothing_of_the_tool_but_leaves():
    graph = import_graph()
    leaves = {"xregion_sync.errors", "xregion_sync.tags", "xregion_sync.tag_rules",
              "xregion_sync.spec"}
    for leaf in leaves:
        assert graph[leaf] <= leaves, (leaf, graph[leaf] - leaves)


@pytest.mark.parametrize("name", sorted(SYNC_TYPES))
def test_every_sync_type_provides_the_contract(name):
    sync = SYNC_TYPES[name]
    members = [m for m in dir(SyncType) if not m.startswith("_")]
    missing = [m for m in members if not hasattr(sync, m)]
    assert missing == [] and sync.NAME == name
