"""The layers import one way, and no package takes another's private names.

The layers, lowest first (a module may import its own layer and those below it):

0. ``backend``, ``errors``: arrays and the exception tree;
1. ``core``: the engine (modes, graph, tensor, op, saves, backward);
2. ``ops``, ``functional``, ``creation``: the operator table and what is built on it;
3. ``autodiff``, ``remat``: derivatives as functions;
4. ``nn``, ``optim``, ``data``, ``storage``, ``models``, ``testing``;
5. the features, in this order: ``replay``, ``memory``, ``viz``, ``distributed``, ``train``,
   ``cli`` (a feature may import those before it).

Imports inside functions count as much as those at the top of a file.  The one tie that runs
upward is named in :mod:`chainrule.core`: ``core/tensor.py`` loads ``functional`` (and with it
the operator table) so that ``Tensor``'s operator methods work; it is the only import circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "chainrule"
LAYERS = [
    ["backend", "errors"],
    ["core"],
    ["ops", "functional", "creation"],
    ["autodiff", "remat"],
    ["nn", "optim", "data", "storage", "models", "testing", "utils"],
    ["replay"], ["memory"], ["viz"], ["distributed"], ["train"], ["cli", "__main__", "__init__"],
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
# the tie every autodiff engine has: Tensor's operator methods reach the operator table
UPWARD = {("chainrule.core.tensor", "chainrule.functional")}
MAX_CIRCLE = 10


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> list[tuple[str, list[str], int]]:
    """(module imported, names taken from it, line) for every import in the file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [a.name for a in node.names]
            modules = [n for n in names if f"{target}.{n}" in MODULES]
            if len(modules) < len(names):    # `from . import x` takes module x, not the package
                found.append((target, [n for n in names if n not in modules], node.lineno))
            found += [(f"{target}.{n}", [], node.lineno) for n in modules]
    return [(t, n, line) for t, n, line in found if t.split(".")[0] == "chainrule"]


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _edges() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for name, path in MODULES.items():
        for target, _, _ in _imports(name, path):
            if target in MODULES and target != name:
                graph[name].add(target)
    return graph


def test_every_top_level_name_has_a_layer():
    tops = {_top(m) for m in MODULES}
    assert tops <= set(RANK), f"give these a layer in {__file__}: {sorted(tops - set(RANK))}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_a_module_imports_nothing_from_a_layer_above_it(name):
    wrong = []
    for target, _, line in _imports(name, MODULES[name]):
        if (name, target) in UPWARD or target == "chainrule":
            continue
        if RANK[_top(target)] > RANK[_top(name)]:
            wrong.append(f"line {line}: {target}")
    assert not wrong, f"{name} imports from a layer above it: {wrong}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_takes_a_private_name_from_another_package(name):
    own = name.split(".")[:2]
    wrong = []
    for target, names, line in _imports(name, MODULES[name]):
        if target.split(".")[:2] == own:
            continue
        wrong += [f"line {line}: {target}.{n}" for n in names
                  if n.startswith("_") and not n.startswith("__")]
    assert not wrong, f"{name} takes private names: {wrong}"


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's, no recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on: set[str] = set()
    stack: list[str] = []
    out = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        m = stack.pop()
                        on.discard(m)
                        component.append(m)
                        if m == node:
                            break
                    if len(component) > 1:
                        out.append(sorted(component))
    return out


def test_at_most_one_import_circle_of_at_most_ten_modules():
    circles = _circles(_edges())
    assert len(circles) <= 1, f"import circles: {circles}"
    for circle in circles:
        assert len(circle) <= MAX_CIRCLE, f"the circle has {len(circle)} modules: {circle}"
        assert "chainrule.core.tensor" in circle and "chainrule.functional" in circle, circle


def test_the_checks_can_fail():
    """Negative controls: an upward import, a private name and a loop are each caught."""
    assert RANK["core"] < RANK["viz"]
    loop = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _circles(loop) == [["a", "b", "c"]]
    tree = ast.parse("from ..memory.plan import _plan\n")
    node = tree.body[0]
    assert node.names[0].name.startswith("_")
