"""The layout promises of the package and the zoo: no import cycles
(imports inside functions count) and no module past 400 lines."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("keras_transformer", "zoo")
MAX_LINES = 400


def modules():
    """`{dotted name: path}` of every module of the two packages."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def imports(path, known):
    """The modules of `known` that `path` imports anywhere in its body,
    package `__init__` modules left out (they only re-export)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [f"{node.module}.{a.name}" for a in node.names]
            submodules = [n for n in names if n in known]
            out.update(submodules or [node.module])
    return {name for name in out if name in known}


def cycles(graph):
    """The strongly connected groups of more than one module (Tarjan)."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in graph:
        if node not in index:
            visit(node)
    return groups


def import_graph():
    found = modules()
    packages = {n for n, p in found.items() if p.name == "__init__.py"}
    return {
        name: imports(path, found) - packages - {name}
        for name, path in found.items()
    }


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = import_graph()
    graph["zoo.vit.data"] = graph["zoo.vit.data"] | {"zoo.vit.train"}
    assert ["zoo.vit.data", "zoo.vit.train"] in cycles(graph)


@pytest.mark.parametrize("name", sorted(modules()))
def test_no_module_is_longer_than_400_lines(name):
    lines = len(modules()[name].read_text().splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines"
