"""No import cycles in protocols/, edge_agent/ or backend/, counting every import.

import-linter checks layers and forbidden imports, but it does not look for cycles between
arbitrary modules. This test builds the module import graph itself with ``ast``:

- every ``import`` and ``from … import`` statement counts, wherever it is: at module level,
  inside a function (a lazy import is still a dependency, it only runs later), inside
  ``try``/``except ImportError``, and inside ``if TYPE_CHECKING:`` blocks. A type-only import
  does not run, so it cannot fail at start-up, but it still means the two modules know each
  other: for layering a cycle through annotations is as much a tangle as one at run time, so
  it is counted;
- ``import a.b.c`` and ``from a.b import c`` are an edge to the module ``a.b.c`` (when
  ``c`` is a module), otherwise to the package ``a.b`` whose ``__init__`` provides the
  name; parent packages are not edges of their own (the way import-linter's grimp counts);
- relative imports are resolved against the importing module.

Any strongly connected component of more than one module is a cycle and fails the test,
named module by module, with one concrete loop through it.

``KNOWN_CYCLES_TO_REMOVE`` lists the cycles that are being broken elsewhere and still exist
here; the test also fails when one of them no longer exists, so that the list only shrinks.
When they are gone, empty it in one line: ``KNOWN_CYCLES_TO_REMOVE: list[frozenset[str]] = []``
(and delete the frozenset it names).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("protocols", "edge_agent", "backend")

KNOWN_CYCLES_TO_REMOVE: list[frozenset[str]] = []

Graph = dict[str, set[str]]


def module_files(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name → source file, for every module of the three packages."""
    out: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _target(name: str, modules: set[str]) -> str | None:
    """The module an import of ``name`` loads: itself, else its nearest ancestor we own."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str, path: Path, modules: set[str]) -> Iterator[str]:
    """Every module of ours that ``module`` imports, anywhere in its source."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if (t := _target(alias.name, modules)) is not None:
                    yield t
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the package of this module, up level - 1
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            for alias in node.names:
                if (t := _target(f"{source}.{alias.name}", modules)) is not None:
                    yield t


def import_graph(root: Path = ROOT) -> Graph:
    files = module_files(root)
    modules = set(files)
    return {m: {t for t in imports_of(m, p, modules) if t != m} for m, p in files.items()}


def cycles(graph: Graph) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def loop_through(component: frozenset[str], graph: Graph) -> list[str]:
    """One concrete import loop inside a cycle, from its first module back to it."""
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(graph[node] & component):
            if child == start:
                return [*paths[node], start]
            if child not in paths:
                paths[child] = [*paths[node], child]
                queue.append(child)
    raise AssertionError(f"{sorted(component)} is not a cycle")


def describe(component: frozenset[str], graph: Graph) -> str:
    return f"{sorted(component)}: {' -> '.join(loop_through(component, graph))}"


def test_no_module_imports_itself_back_through_others() -> None:
    graph = import_graph()
    found = cycles(graph)
    unexpected = [describe(c, graph) for c in found if c not in KNOWN_CYCLES_TO_REMOVE]
    assert unexpected == [], "import cycles:\n" + "\n".join(unexpected)


def test_every_known_cycle_still_exists_so_the_list_only_shrinks() -> None:
    found = set(cycles(import_graph()))
    gone = [sorted(c) for c in KNOWN_CYCLES_TO_REMOVE if c not in found]
    assert gone == [], f"no longer cycles, remove them from KNOWN_CYCLES_TO_REMOVE: {gone}"


def test_the_graph_sees_lazy_type_checking_and_relative_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "backend"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from . import leaf\n")
    (pkg / "sub" / "leaf.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from backend.lazy import thing\n"
    )
    (pkg / "lazy.py").write_text("def f():\n    from .sub.leaf import x\n")
    (pkg / "top.py").write_text("import backend.sub.leaf\nfrom .sub import leaf as alias\n")
    graph = import_graph(tmp_path)
    assert graph["backend.sub"] == {"backend.sub.leaf"}  # relative, from a package
    assert graph["backend.sub.leaf"] == {"backend.lazy"}  # under TYPE_CHECKING
    assert graph["backend.top"] == {"backend.sub.leaf"}  # dotted and relative from a module
    assert graph["backend.lazy"] == {"backend.sub.leaf"}  # inside a function
    assert graph["backend"] == set()
    assert cycles(graph) == [frozenset({"backend.lazy", "backend.sub.leaf"})]


def test_a_cycle_is_named_with_a_concrete_loop() -> None:
    graph: Graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    assert cycles(graph) == [frozenset({"a", "b", "c"})]
    assert describe(frozenset({"a", "b", "c"}), graph) == "['a', 'b', 'c']: a -> b -> c -> a"
