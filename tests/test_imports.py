"""The import graph of the package: no cycles, and the dependency rules of CONTRIBUTING.md.

The graph is built statically with :mod:`ast` from every module of ``skspeckle/``: absolute
and relative imports, at module level and inside functions. ``from pkg import name`` is an
edge to ``pkg.name`` when that is a module, else to ``pkg`` and, when ``pkg`` is a lazy face
(:func:`skspeckle.utils._lazy.attach`) listing ``name``, to the module defining it. Importing
a module also imports its parent packages, so each target's ancestors are targets too
(except the importer's own ancestors, which are already being imported when it runs). A lazy
package ``__init__`` names its submodules in strings, not imports, so it has no edge to
them: ``from skspeckle.datasets._pr772 import x`` is an edge to ``skspeckle.datasets`` and
``skspeckle.datasets._pr772``, and ``skspeckle.datasets`` only to what its ``__init__``
imports.
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


PATHS = {_module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}


def _lazy_table(source):
    """Public name -> module of a lazy package ``__init__`` (the dict passed to
    ``skspeckle.utils._lazy.attach``); empty for any other module."""
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", None)) == "attach"
            and len(node.args) == 2
        ):
            return ast.literal_eval(node.args[1])
    return {}


def _imports(module, source, is_package, modules, lazy):
    """``(target, line)`` of every import statement of a module, at any depth; ``target`` is
    the imported module: for ``from pkg import name``, ``pkg.name`` when that is one of
    ``modules``, else ``pkg`` and, when ``lazy[pkg]`` lists ``name``, its defining module."""
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
                if submodule in modules:
                    yield submodule, node.lineno
                else:
                    yield base, node.lineno
                    if alias.name in lazy.get(base, {}):
                        yield lazy[base][alias.name], node.lineno


def _build_graph(sources):
    """The import graph of ``sources`` (module -> (source text, is a package ``__init__``)).

    Returns ``direct``: module -> [(target, line)] as written (package and external modules),
    and ``edges``: module -> {module of ``sources`` -> line}, with the targets' parent
    packages.
    """
    lazy = {module: _lazy_table(source) for module, (source, is_package) in sources.items()}
    direct, edges = {}, {}
    for module, (source, is_package) in sources.items():
        direct[module] = list(_imports(module, source, is_package, sources, lazy))
        own_ancestors = set(_ancestors(module))
        out = edges[module] = {}
        for target, line in direct[module]:
            for name in [*_ancestors(target), target]:
                if name != module and name not in own_ancestors and name in sources:
                    out.setdefault(name, line)
    return direct, edges


DIRECT, EDGES = _build_graph(
    {module: (path.read_text(), path.name == "__init__.py") for module, path in PATHS.items()}
)


def _where(module, line):
    return f"{PATHS[module].relative_to(PACKAGE_DIR.parent)}:{line}"


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
    sources = {
        "pkg": ("from pkg.sub.lazy import Thing\nfrom . import sub", True),
        "pkg.sub": ("", True),
        "pkg.sub.lazy": ('attach(__name__, {"Thing": "pkg.sub._thing"})', True),
        "pkg.sub._thing": ("", False),
        "pkg.sub.mod": (
            "from . import _thing\n"
            "from ..sub.lazy import Thing\n"
            "from .mod2 import f\n"
            "def g():\n"
            "    import h5py\n",
            False,
        ),
        "pkg.sub.mod2": ("from pkg.sub import mod", False),
    }
    direct, edges = _build_graph(sources)
    assert [target for target, _ in direct["pkg.sub.mod"]] == [
        "pkg.sub._thing",  # a submodule, relative
        "pkg.sub.lazy",
        "pkg.sub._thing",  # through the lazy table of pkg.sub.lazy
        "pkg.sub.mod2",  # relative to the module's package
        "h5py",  # inside a function
    ]
    assert direct["pkg"] == [("pkg.sub.lazy", 1), ("pkg.sub._thing", 1), ("pkg.sub", 2)]
    # The parents of a target are imported first, but not the importer's own parents.
    assert edges["pkg"] == {"pkg.sub": 1, "pkg.sub.lazy": 1, "pkg.sub._thing": 1}
    assert edges["pkg.sub.mod"] == {"pkg.sub._thing": 1, "pkg.sub.lazy": 2, "pkg.sub.mod2": 3}
    assert edges["pkg.sub.mod2"] == {"pkg.sub.mod": 1}
    assert _cycles(edges) == [["pkg.sub.mod", "pkg.sub.mod2", "pkg.sub.mod"]]
    assert "skspeckle.demo" in EDGES["skspeckle.cli.demo"]  # imported inside a command function


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
