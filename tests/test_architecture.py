"""The package diagram of the README, enforced: which package may import which, and no cycles.

Every import statement of every module is read (module level and inside functions: a lazy import
is still a dependency), resolved to the facewarp module it names, and checked against the layers:

    core  <-  graph  <-  nodes  <-  cli, plugins
    core  <-  graph  <-  api (nodes only through the registry)  <-  cli, plugins
    core  <-  graph  <-  farm  <-  cli
    core  <-  kernels, imaging, face, warping, networks (libraries)  <-  nodes
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARIES = {"kernels", "imaging", "face", "warping", "networks"}
# What each top-level part may import besides itself ("facewarp" is the package's __init__).
ALLOWED = {
    "core": {"facewarp"},
    "graph": {"facewarp", "core"},
    "kernels": {"facewarp", "core"},
    "imaging": {"facewarp", "core"},
    "face": {"facewarp", "core", "kernels", "imaging"},
    "warping": {"facewarp", "core", "kernels"},
    "networks": {"facewarp", "core", "kernels", "imaging", "face", "warping"},
    "nodes": {"facewarp", "core", "graph"} | LIBRARIES,
    "presets": {"facewarp"},
    # the host API: node types only through the registry; libraries for their memory
    "api": {"facewarp", "core", "graph", "presets"} | LIBRARIES,
    # render farms: job exports and the Dask executor, over the engine only
    "farm": {"facewarp", "core", "graph", "presets"},
    "cli": {"facewarp", "core", "graph", "nodes", "presets", "api", "farm"} | LIBRARIES,
    "plugins": {"facewarp", "core", "graph", "presets", "cli", "api"} | LIBRARIES,
    "__main__": {"facewarp", "cli"},
    "facewarp": set(),
}


def _modules() -> dict[str, Path]:
    """facewarp module name -> file, for every module of the package."""
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in ("tests", "benchmarks", "docs", "build", ".venv") or rel.parts[0].startswith("."):
            continue
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(["facewarp", *parts])] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The facewarp modules that module ``name`` imports (anywhere in the file)."""
    is_pkg = path.name == "__init__.py"
    package = name if is_pkg else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # "from pkg import sub" imports the submodule when there is one
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t.startswith("facewarp") and t != name:
                out.add(t)
    return out


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "facewarp"


MODULES = _modules()
GRAPH = {name: _imports(name, path, set(MODULES)) for name, path in MODULES.items()}


def test_the_package_is_found():
    assert "facewarp.graph.evaluate" in MODULES and "facewarp.nodes.triangle_warp" in MODULES
    assert "facewarp.face.flame" in GRAPH["facewarp.face.models"]  # the walker sees real imports


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_follow_the_layers(module):
    part = _part(module)
    assert part in ALLOWED, f"{module}: top-level part '{part}' is not in the architecture (tests/test_architecture.py)"
    bad = sorted(t for t in GRAPH[module] if _part(t) != part and _part(t) not in ALLOWED[part])
    assert not bad, f"{module} ({part}) imports {bad}"


def test_nodes_holds_node_types_only():
    import importlib
    import inspect

    from facewarp.graph import Node

    for name in MODULES:
        if not name.startswith("facewarp.nodes."):
            continue
        mod = importlib.import_module(name)
        types = [c for _, c in inspect.getmembers(mod, inspect.isclass)
                 if issubclass(c, Node) and c.__module__ == name and "schema" in c.__dict__]
        assert len(types) == 1, f"{name} should define exactly one node type, defines {[t.__name__ for t in types]}"


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def _without_package_inits(graph):
    # "import facewarp" for __version__ and a package __init__ importing its own submodules
    # are not dependencies between parts.
    return {n: {m for m in deps if m != "facewarp" and not n.startswith(m + ".")} for n, deps in graph.items()}


def test_no_import_cycle_between_modules():
    cycle = _find_cycle(_without_package_inits(GRAPH))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_import_cycle_between_packages():
    parts: dict[str, set[str]] = {}
    for n, deps in _without_package_inits(GRAPH).items():
        parts.setdefault(_part(n), set()).update(_part(m) for m in deps if _part(m) != _part(n))
    cycle = _find_cycle(parts)
    assert cycle is None, "package cycle: " + " -> ".join(cycle)


def test_cycle_finder_finds_a_cycle():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None
