"""The import graph of the package: no cycles, and the dependency rules of CONTRIBUTING.md.

The graph is built statically with :mod:`ast` from every module of ``skspeckle/``: absolute
and relative imports, at module level and inside functions. ``from pkg import name`` is an
edge to ``pkg.name`` when that is a module, else to ``pkg``; importing a module also imports
its parent packages, so each target's ancestors are targets too (except the importer's own
ancestors, which are already being imported when it runs). A lazy package ``__init__``
(:mod:`skspeckle.utils._lazy`) names its submodules in strings, not imports, so it has no
edge to them.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "skspeckle"
NN = "skspeckle.nn"
NN_FORBIDDEN = {"sklearn", "h5py", "gemmi", "scipy"}


def _module_name(path):
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _ancestors(module):
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


MODULES = {_module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}


def _lazy_table(path):
    """Public name -> module of a lazy package ``__init__`` (the dict passed to
    ``skspeckle.utils._lazy.attach``); empty for any other module."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", None)) == "attach"
            and len(node.args) == 2
        ):
            return ast.literal_eval(node.args[1])
    return {}


LAZY = {module: _lazy_table(path) for module, path in MODULES.items() if path.name == "__init__.py"}


def _imports(module, source, *, is_package=False):
    """``(target, line)`` of every import statement of a module, at any depth; ``target`` is
    the imported module: for ``from pkg import name``, ``pkg.name`` when that is a module, the
    defining module when ``pkg`` is lazy and lists ``name``, else ``pkg``."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # Relative to the module's package: the module itself for an __init__.
                parts = module.split(".")
                parts = parts[: len(parts) - node.level + (1 if is_package else 0)]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if submodule in MODULES:
                    yield submodule, node.lineno
                else:
                    yield LAZY.get(base, {}).get(alias.name, base), node.lineno


def _build_graph():
    """``direct``: module -> [(target, line)] as written (package and external modules);
    ``edges``: module -> {package module -> line}, with the targets' parent packages."""
    direct, edges = {}, {}
    for module, path in MODULES.items():
        source = path.read_text()
        direct[module] = list(_imports(module, source, is_package=path.name == "__init__.py"))
        own_ancestors = set(_ancestors(module))
        out = edges[module] = {}
        for target, line in direct[module]:
            if target != "skspeckle" and not target.startswith("skspeckle."):
                continue
            for name in [*_ancestors(target), target]:
                if name != module and name not in own_ancestors and name in MODULES:
                    out.setdefault(name, line)
    return direct, edges


DIRECT, EDGES = _build_graph()


def _where(module, line):
    return f"{MODULES[module].relative_to(PACKAGE_DIR.parent)}:{line}"


def _components(edges):
    """The strongly connected components of the graph with more than one module (Tarjan)."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for child in edges[node]:
            if child not in index:
                visit(child)
                low[node] = min(low[node], low[child])
            elif child in on_stack:
                low[node] = min(low[node], index[child])
        if low[node] == index[node]:
            component = set()
            while node not in component:
                component.add(stack.pop())
            on_stack.difference_update(component)
            if len(component) > 1:
                components.append(component)

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return components


def _shortest_cycle(edges, component):
    """A shortest cycle through the component's first module (breadth-first)."""
    start = min(component)
    previous, frontier = {start: None}, [start]
    while frontier:
        next_frontier = []
        for node in frontier:
            for child in sorted(edges[node]):
                if child == start:
                    path = [node]
                    while previous[path[-1]] is not None:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if child in component and child not in previous:
                    previous[child] = node
                    next_frontier.append(child)
        frontier = next_frontier
    raise AssertionError(f"{sorted(component)} is not strongly connected")


def _cycles(edges):
    """One cycle (modules, the first repeated last) per strongly connected component."""
    return sorted(_shortest_cycle(edges, component) for component in _components(edges))


def _describe(cycle):
    return " -> ".join(
        [cycle[0]] + [f"{b} ({_where(a, EDGES[a][b])})" for a, b in zip(cycle, cycle[1:])]
    )


def test_import_resolution():
    source = (
        "from . import masks\n"
        "from ..utils import _images\n"
        "from .cxi import FrameReader\n"
        "from skspeckle.datasets import make_speckle_patterns\n"
        "def read():\n"
        "    import h5py\n"
    )
    assert [target for target, _ in _imports("skspeckle.io.results", source)] == [
        "skspeckle.io.masks",
        "skspeckle.utils._images",
        "skspeckle.io.cxi",
        "skspeckle.simulation.spi",  # through the lazy table of skspeckle.datasets
        "h5py",  # inside a function
    ]
    assert list(_imports("skspeckle.io", "from . import cxi", is_package=True)) == [
        ("skspeckle.io.cxi", 1)
    ]


def test_graph_adds_parent_packages():
    assert "skspeckle.utils._lazy" in EDGES["skspeckle"]
    assert "skspeckle.demo" in EDGES["skspeckle.cli"]  # imported inside a command function
    # datasets/__init__ is lazy, yet importing skspeckle.datasets._pr772 imports it first.
    assert {"skspeckle.datasets", "skspeckle.datasets._pr772"} <= EDGES["skspeckle.detector"].keys()
    # ... but not the importer's own parents, which are importing it.
    assert "skspeckle.io" not in EDGES["skspeckle.io.cxi"]


def test_cycle_finder():
    edges = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1, "d": 1}, "d": {}, "e": {"e": 1}}
    assert _cycles(edges) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b": 1}, "b": {}}) == []


def test_no_import_cycle():
    cycles = _cycles(EDGES)
    assert not cycles, "import cycles:\n" + "\n".join(map(_describe, cycles))


def test_nn_imports_only_torch_and_itself():
    bad = [
        f"{_where(module, line)}: {target}"
        for module, targets in DIRECT.items()
        if module == NN or module.startswith(NN + ".")
        for target, line in targets
        if (target.startswith("skspeckle") and not (target == NN or target.startswith(NN + ".")))
        or target.split(".")[0] in NN_FORBIDDEN
    ]
    assert not bad, "nn/ must import only torch, numpy, the standard library and itself:\n" + (
        "\n".join(bad)
    )


@pytest.mark.parametrize(
    "package, forbidden",
    [
        ("skspeckle.simulation", "torch"),
        ("skspeckle.io", "torch"),
        ("skspeckle.io", "skspeckle.simulation"),
    ],
)
def test_layer_rules(package, forbidden):
    bad = [
        f"{_where(module, line)}: {target}"
        for module, targets in DIRECT.items()
        if module == package or module.startswith(package + ".")
        for target, line in targets
        if target == forbidden or target.startswith(forbidden + ".")
    ]
    assert not bad, f"{package} must not import {forbidden}:\n" + "\n".join(bad)


def _loaded_after(statement):
    """Top-level names of ``sys.modules`` and the skspeckle modules after ``statement`` in a
    fresh interpreter."""
    code = (
        f"{statement}\nimport sys\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] == 'skspeckle')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=PACKAGE_DIR.parent,
    )
    top, ours = result.stdout.splitlines()
    return set(top.split()), set(ours.split())


def test_import_skspeckle_loads_no_heavy_dependency():
    subprocess.run(
        [sys.executable, "-c", "import skspeckle, sys; assert 'torch' not in sys.modules"],
        check=True,
        cwd=PACKAGE_DIR.parent,
    )
    top, _ = _loaded_after("import skspeckle")
    assert not top & {"torch", "h5py", "gemmi", "sklearn", "scipy"}


def test_import_nn_mining_loads_no_estimator():
    top, ours = _loaded_after("import skspeckle.nn.mining")
    assert not top & {"h5py", "gemmi", "sklearn"}
    face = {"skspeckle", "skspeckle._version", "skspeckle.utils", "skspeckle.utils._lazy"}
    assert {m for m in ours if not (m == NN or m.startswith(NN + "."))} <= face
