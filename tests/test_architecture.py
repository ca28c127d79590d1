"""Architecture rules read from the source (no module is imported).

1. The core (``biasbench/``) never imports a plugin folder (protocols, baselines, methods,
   reports): plugins depend on the core, the core reaches plugins only through ``"module:attr"``
   strings in its registry tables. Imports inside functions and under ``TYPE_CHECKING``
   count too.
2. No module imports a plugin folder by its folder name (``import reports``): that name does
   not exist once the package is installed.
3. The import-time graph over the core and the plugin folders (installed names) has no
   cycle. Its edges are the imports executed when a module is imported: module level,
   including ``if`` / ``try`` / ``with`` blocks and class bodies, but not function bodies and
   not ``if TYPE_CHECKING:`` blocks. ``import a.b.c`` is an edge to ``a.b.c`` only (the parent
   packages' ``__init__`` run first, but a package importing its own submodules is no cycle).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: source folder -> installed package name
FOLDERS = {
    "biasbench": "biasbench",
    "protocols": "biasbench.protocols",
    "baselines": "biasbench.baselines",
    "methods": "biasbench.methods",
    "reports": "biasbench.reports",
}
PLUGIN_PACKAGES = tuple(v for k, v in FOLDERS.items() if k != "biasbench")
FOLDER_NAMES = tuple(k for k in FOLDERS if k != "biasbench")


@dataclass(frozen=True)
class Import:
    """One imported module name, where it is, and whether it runs at import time."""

    target: str
    path: Path
    line: int
    at_import_time: bool
    names: tuple[str, ...] = ()  # ``from target import names``: what is taken from it

    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


def source_modules() -> dict[str, Path]:
    """Installed module name -> source file, for the core and every plugin folder."""
    out = {}
    for folder, package in FOLDERS.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            parts = list(path.relative_to(REPO / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join([package, *parts])] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve_relative(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module a (possibly relative) ``from ... import`` names."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(module: str, path: Path) -> Iterator[Import]:
    """Every module name ``path`` imports (``from pkg import x`` yields ``pkg`` and
    ``pkg.x``, since ``x`` may be a submodule), each marked as import-time or not."""
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(), str(path))

    def visit(node: ast.AST, at_import_time: bool) -> Iterator[Import]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(alias.name, path, node.lineno, at_import_time)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve_relative(module, is_package, node)
            names = tuple(a.name for a in node.names)
            yield Import(base, path, node.lineno, at_import_time, names)
            for name in names:
                if name != "*":
                    yield Import(f"{base}.{name}", path, node.lineno, at_import_time)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            at_import_time = False
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                yield from visit(child, False)
            for child in node.orelse:
                yield from visit(child, at_import_time)
            return
        for child in ast.iter_child_nodes(node):
            yield from visit(child, at_import_time)

    yield from visit(tree, True)


def _names(target: str, prefixes: tuple[str, ...]) -> bool:
    return any(target == p or target.startswith(p + ".") for p in prefixes)


def _offending_statements(imports: Iterable[Import]) -> list[str]:
    """``file:line: imports module`` once per statement (its shortest offending name)."""
    first: dict[str, str] = {}
    for imp in imports:
        if imp.where() not in first or len(imp.target) < len(first[imp.where()]):
            first[imp.where()] = imp.target
    return [f"{where}: imports {target}" for where, target in sorted(first.items())]


def test_the_core_never_imports_a_plugin_folder():
    modules = source_modules()
    offenders = _offending_statements(
        imp
        for name, path in modules.items()
        if not _names(name, PLUGIN_PACKAGES)
        for imp in imports_of(name, path)
        if _names(imp.target, PLUGIN_PACKAGES + FOLDER_NAMES)
    )
    assert len(modules) > len(FOLDERS) * 2  # the walk found the sources
    assert not offenders, "the core imports plugin folders:\n" + "\n".join(offenders)


def test_no_module_imports_a_plugin_folder_by_its_folder_name():
    offenders = _offending_statements(
        imp
        for name, path in source_modules().items()
        for imp in imports_of(name, path)
        if _names(imp.target, FOLDER_NAMES)
    )
    assert not offenders, "imports of names that do not exist once installed:\n" + "\n".join(
        offenders
    )


def import_graph() -> dict[str, dict[str, Import]]:
    """Module -> {imported project module: the first import statement making that edge},
    for imports executed at import time only. ``from pkg import sub`` where every name is a
    submodule is an edge to the submodules, not to ``pkg``."""
    modules = source_modules()
    graph: dict[str, dict[str, Import]] = {name: {} for name in modules}
    for name, path in modules.items():
        for imp in imports_of(name, path):
            if not imp.at_import_time or imp.target not in modules or imp.target == name:
                continue
            if imp.names and all(f"{imp.target}.{n}" in modules for n in imp.names):
                continue
            graph[name].setdefault(imp.target, imp)
    return graph


def strongly_connected(graph: dict[str, dict[str, Import]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return out


def a_cycle(graph: dict[str, dict[str, Import]], component: list[str]) -> list[str]:
    """One cycle through the first module of ``component`` (breadth-first, shortest)."""
    members, start = set(component), component[0]
    parent: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v]):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if w in members and w not in parent:
                    parent[w] = v
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"no cycle through {start}")  # a component always has one


def test_import_time_graph_has_no_cycle():
    graph = import_graph()
    assert sum(map(len, graph.values())) > len(graph) // 2  # the graph really has edges
    reports = []
    for component in strongly_connected(graph):
        cycle = a_cycle(graph, component)
        steps = [f"  {a} -> {b}  ({graph[a][b].where()})" for a, b in pairwise(cycle)]
        reports.append(f"cycle among {len(component)} modules:\n" + "\n".join(steps))
    assert not reports, "import-time cycles:\n" + "\n".join(reports)


def test_the_rules_see_what_they_are_meant_to_see(tmp_path):
    """The AST walk itself: function-local, TYPE_CHECKING and relative imports."""
    src = tmp_path / "biasbench" / "pkg" / "mod.py"
    src.parent.mkdir(parents=True)
    src.write_text(
        "from typing import TYPE_CHECKING\n"
        "import biasbench.a\n"
        "from . import sibling\n"
        "from ..core import thing\n"
        "if TYPE_CHECKING:\n"
        "    import biasbench.typing_only\n"
        "else:\n"
        "    import biasbench.at_runtime\n"
        "class C:\n"
        "    import biasbench.in_class\n"
        "def f():\n"
        "    import biasbench.reports.table\n"
        "TABLE = 'biasbench.reports.commands:compare'\n"
    )
    found = {i.target: i.at_import_time for i in imports_of("biasbench.pkg.mod", src)}
    assert found["biasbench.a"] and found["biasbench.at_runtime"] and found["biasbench.in_class"]
    assert found["biasbench.pkg.sibling"] and found["biasbench.core.thing"]
    assert found["biasbench.typing_only"] is False and found["biasbench.reports.table"] is False
    assert not any("commands" in t for t in found)
    graph = {
        "a": {"b": Import("b", src, 1, True)},
        "b": {"c": Import("c", src, 2, True)},
        "c": {"a": Import("a", src, 3, True), "d": Import("d", src, 4, True)},
        "d": {},
    }
    assert strongly_connected(graph) == [["a", "b", "c"]]
    assert a_cycle(graph, ["a", "b", "c"]) == ["a", "b", "c", "a"]


def test_a_package_importing_its_submodule_is_no_edge_to_itself():
    graph = import_graph()
    loop = graph["biasbench.training.loop"]
    assert "biasbench.training" not in loop and "biasbench.training.checkpoint" in loop
