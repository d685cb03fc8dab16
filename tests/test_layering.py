"""The package's imports go one way, down its layers, with no loop; no module is over 600 lines.

Read from the source with :mod:`ast` (lazy imports inside functions and ``TYPE_CHECKING``
imports count too), so a new upward import or loop fails here rather than in review.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "asteroid_ml"

#: Layers, bottom first. A module may import from its own subpackage, from lower layers, and
#: (in the base layer only) from the other base modules.
LAYERS = (
    ("asteroid_ml", "constants", "paths", "seeds", "io", "tables", "workflow_support", "registry"),
    ("simulation", "hips"),
    ("dataset",),
    ("models",),
    ("evaluation",),
    ("detection",),
    ("figures",),
    ("frames",),
    ("config",),
    ("cli",),
    ("__main__",),
)
LAYER = {group: k for k, groups in enumerate(LAYERS) for group in groups}
MAX_LINES = 600


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("asteroid_ml", *path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the package's modules it imports."""
    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:
                    if f"{target}.{alias.name}" in modules:
                        edges[name].add(f"{target}.{alias.name}")
                    elif target in modules:
                        edges[name].add(target)
            elif isinstance(node, ast.Import):
                edges[name].update(a.name for a in node.names if a.name in modules)
    return edges


def _group(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _loops(edges: dict[str, set[str]], nodes: list[str]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    loops = []
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    loops.append(sorted(component))
    return loops


def test_every_subpackage_has_a_layer():
    assert {_group(m) for m in _modules()} <= set(LAYER), set(map(_group, _modules())) - set(LAYER)


def test_no_import_loop():
    modules = _modules()
    assert _loops(_imports(modules), sorted(modules)) == []


def test_the_loop_finder_finds_a_loop():
    assert _loops({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, ["a", "b", "c", "d"]) == [
        ["a", "b", "c"]
    ]


def test_imports_go_down_the_layers():
    upward = []
    for module, targets in _imports(_modules()).items():
        for target in targets:
            source, dest = _group(module), _group(target)
            if source == dest:
                continue
            below = LAYER[dest] < LAYER[source]
            if not (below or LAYER[source] == LAYER[dest] == 0):
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_no_module_over_600_lines():
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
