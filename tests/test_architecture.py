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


# ---------------------------------------------------------------- the emulator beside it

ROOT = PACKAGE.parent.parent
EMULATOR = ROOT / "emulator" / "xregion_sync_emulator"
MOTO_SEAM = EMULATOR / "moto_seam.py"


def _python_files() -> list[Path]:
    folders = (ROOT / "functions", ROOT / "emulator", ROOT / "tests", ROOT / "bench")
    return [path for folder in folders for path in folder.rglob("*.py")
            if "node_modules" not in path.parts]


def moto_names_outside_the_seam(paths: list[Path]) -> list[str]:
    """Every import of moto, or moto module path in a string, outside moto_seam.py."""
    found = []
    for path in paths:
        if path in (MOTO_SEAM, Path(__file__)):  # this file names moto to look for it
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and node.value.startswith("moto."):
                names = [node.value]
            found += [f"{path.name}:{node.lineno}: {name}" for name in names
                      if name == "moto" or name.startswith("moto.")]
    return found


def test_moto_is_reached_through_the_seam_only():
    assert moto_names_outside_the_seam(_python_files()) == []


def test_the_seam_check_finds_a_moto_import(tmp_path):
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("import moto\nfrom moto.ec2.models import ec2_backends\n"
                      "mock.patch('moto.core.utils.get_service_model')\n", encoding="utf-8")
    assert moto_names_outside_the_seam([sneaky]) == [
        "sneaky.py:1: moto", "sneaky.py:2: moto.ec2.models", "sneaky.py:3: moto.core.utils."
        "get_service_model"]


def test_the_lambda_code_holds_no_emulator():
    """functions/ is every Lambda's CodeUri: the emulator lives beside it, and the product
    imports it only where a developer asks for emulated AWS (the demo, the local engine, and
    the xregion_sync.local alias)."""
    allowed = {"xregion_sync.local", "xregion_sync.cli"}
    assert not (PACKAGE / "local").exists()
    importers = set()
    for name, edges in _every_import(PACKAGE).items():
        if any(edge.startswith("xregion_sync_emulator") for edge in edges):
            importers.add(name)
    assert importers == allowed


def _every_import(package: Path) -> dict[str, set[str]]:
    result: dict[str, set[str]] = {}
    for path in package.rglob("*.py"):
        name = _module_name(path)
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                edges |= set(_resolve(name, path.name == "__init__.py", node))
            elif isinstance(node, ast.Import):
                edges |= {alias.name for alias in node.names}
        result[name] = edges
    return result
