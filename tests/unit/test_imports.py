"""The package's import graph has no cycles.

Every module under src/tunewright is parsed (ast, nothing is imported) and each ``import``/``from ... import``
of a tunewright module is an edge, counted at module level (runs on import) or function level (deferred,
runs on call) separately. A cycle among module-level imports makes import order matter and breaks on a
partial import: that fails here. Deferred imports may close a loop on purpose: a config section checks a name
against the registry its stage fills (``training.method`` against ``training.methods.METHODS``, whose entries
take that section), and the lazy import is how the two layers meet without either importing the other on
load. (The ``pipeline`` <-> studies loop through the private ``_load_split`` was the other kind, a missing
lower layer, and ``data.split.read_split`` removed it.)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import tunewright

PACKAGE_DIR = Path(tunewright.__file__).parent

EXEMPT_PREFIXES: tuple[str, ...] = ()


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE_DIR.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str | None:
    if node.level == 0:
        return node.module
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _closest_module(name: str, modules: set[str]) -> str | None:
    """``tunewright.a.b.func`` -> ``tunewright.a.b``: the longest prefix that is a module of the package."""
    parts = name.split(".")
    while parts:
        cand = ".".join(parts)
        if cand in modules:
            return cand
        parts.pop()
    return None


def import_graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(module-level edges, function-level edges): module -> the tunewright modules it imports."""
    files = {_module_name(p): p for p in PACKAGE_DIR.rglob("*.py")}
    modules = set(files)
    top: dict[str, set[str]] = {m: set() for m in modules}
    deferred: dict[str, set[str]] = {m: set() for m in modules}

    for mod, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"

        def visit(node: ast.AST, in_function: bool, in_type_checking: bool) -> None:
            for child in ast.iter_child_nodes(node):
                fn = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                tc = in_type_checking or (isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test))
                targets: list[str] = []
                if isinstance(child, ast.Import):
                    targets = [a.name for a in child.names]
                elif isinstance(child, ast.ImportFrom):
                    base = _resolve(child, mod, is_package)
                    if base:  # "from pkg import sub" imports the submodule sub when there is one
                        targets = [f"{base}.{a.name}" for a in child.names] + [base]
                if targets and not tc:
                    for t in targets:
                        target = _closest_module(t, modules)
                        if target and target != mod:
                            (deferred if fn else top)[mod].add(target)
                visit(child, fn, tc)

        visit(tree, False, False)
    # a package's own submodules importing the package __init__ are not a cycle through an edge to itself
    return top, deferred


def find_cycle(graph: dict[str, set[str]], skip=lambda m: False) -> list[str] | None:
    """One cycle as a path [a, b, ..., a], or None (depth-first search, colours white/grey/black)."""
    colour: dict[str, int] = {}
    stack: list[str] = []

    def dfs(m: str) -> list[str] | None:
        colour[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if skip(n):
                continue
            if colour.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if not colour.get(n):
                found = dfs(n)
                if found:
                    return found
        stack.pop()
        colour[m] = 2
        return None

    for m in sorted(graph):
        if not skip(m) and not colour.get(m):
            found = dfs(m)
            if found:
                return found
    return None


def _exempt(m: str) -> bool:
    return m.startswith(EXEMPT_PREFIXES)


def _without_package_inits(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    # "from tunewright.data import x" names the package tunewright.data as well as the submodule; an __init__
    # that is only a docstring executes nothing, so an edge to it closes no cycle
    empty = {m for m, p in ((_module_name(p), p) for p in PACKAGE_DIR.rglob("__init__.py"))
             if not any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in ast.walk(ast.parse(p.read_text())))}
    return {m: {n for n in e if n not in empty} for m, e in graph.items()}


def test_module_level_imports_have_no_cycle():
    top, _ = import_graph()
    cycle = find_cycle(_without_package_inits(top), _exempt)
    assert cycle is None, "module-level import cycle: " + " -> ".join(cycle)


def test_the_walk_sees_both_kinds_of_import():
    top, deferred = import_graph()
    assert "tunewright.config" in top["tunewright.pipeline"]  # at module level
    assert "tunewright.evaluation.evaluate" in deferred["tunewright.pipeline"]  # inside stage_eval
    assert "tunewright.evaluation.evaluate" not in top["tunewright.pipeline"]


def test_find_cycle_reports_the_path():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"a"}}, skip=lambda m: m == "b") is None


@pytest.mark.parametrize("source,expected", [
    ("from . import x", "tunewright.data"), ("from ..records import Example", "tunewright.records"),
])
def test_relative_imports_resolve(source, expected):
    node = ast.parse(source).body[0]
    assert _resolve(node, "tunewright.data.split", is_package=False) == expected
