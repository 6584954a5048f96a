"""No import cycles among edgewise's modules.

A cycle (A imports B, B imports A, at import time or lazily inside a function) means neither
module can be understood, tested or moved without the other, and a lazy import that hides it
only postpones the failure to the first call. The graph is read from the source with ``ast``,
so every import counts, including the ones inside functions that an import-time check would
not see. Imports under ``if TYPE_CHECKING:`` are skipped: they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import edgewise

SRC = Path(edgewise.__file__).resolve().parent
PACKAGE = "edgewise"


def _modules() -> dict[str, tuple[Path, bool]]:
    """Module name -> (file, is a package's ``__init__``)."""
    out = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = [PACKAGE, *path.relative_to(SRC).with_suffix("").parts]
        init = parts[-1] == "__init__"
        if init:
            parts.pop()
        out[".".join(parts)] = (path, init)
    return out


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement in ``tree``, at any depth, except under ``if TYPE_CHECKING:``."""
    found: list[ast.Import | ast.ImportFrom] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        if isinstance(node, ast.If) and _type_checking(node):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))
    return found


def _targets(
    name: str, init: bool, node: ast.Import | ast.ImportFrom, modules: set[str]
) -> set[str]:
    """The edgewise modules one import statement in module ``name`` runs.

    ``from edgewise.a import b`` is an edge to ``edgewise.a.b`` when that is a module, else to
    ``edgewise.a``; an import of a package is an edge to its ``__init__`` (named as the
    package). Parent packages that Python also runs are not edges: every module would then
    depend on ``edgewise/__init__``, which imports the public API.
    """
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in modules}
    if node.level:
        base = name.split(".") if init else name.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    if source != PACKAGE and not source.startswith(PACKAGE + "."):
        return set()
    out = set()
    for alias in node.names:
        sub = f"{source}.{alias.name}"
        if sub in modules:
            out.add(sub)
        elif source in modules:
            out.add(source)
    return out


def import_graph() -> dict[str, set[str]]:
    """edgewise module -> the edgewise modules it imports (itself excluded)."""
    modules = _modules()
    names = set(modules)
    graph: dict[str, set[str]] = {}
    for name, (path, init) in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        edges: set[str] = set()
        for node in _imports(tree):
            edges |= _targets(name, init, node, names)
        edges.discard(name)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
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
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return sorted(out)


def test_graph_reads_every_kind_of_import():
    graph = import_graph()
    # module level, absolute
    assert "edgewise.engines.base" in graph["edgewise.tasks.classify.classifier"]
    # a package is its __init__
    assert "edgewise.tasks" in graph["edgewise.tasks.classify.classifier"]
    assert "edgewise.tasks.classify" in graph["edgewise.personal.learn"]
    # inside a function
    assert "edgewise.resolver" in graph["edgewise.tasks"]
    # from a package import a submodule
    assert "edgewise.audio.guard" in graph["edgewise.audio.transcribe"]


def test_targets_resolve_relative_and_submodule_imports():
    modules = {"edgewise", "edgewise.a", "edgewise.a.b", "edgewise.a.c", "edgewise.d"}

    def targets(name: str, init: bool, code: str) -> set[str]:
        node = ast.parse(code).body[0]
        assert isinstance(node, (ast.Import, ast.ImportFrom))
        return _targets(name, init, node, modules)

    assert targets("edgewise.a.b", False, "from . import c") == {"edgewise.a.c"}
    assert targets("edgewise.a.b", False, "from .c import x") == {"edgewise.a.c"}
    assert targets("edgewise.a.b", False, "from .. import d") == {"edgewise.d"}
    assert targets("edgewise.a", True, "from . import b") == {"edgewise.a.b"}
    assert targets("edgewise.a", True, "from .b import x") == {"edgewise.a.b"}
    assert targets("edgewise.d", False, "from edgewise.a import b, x") == {
        "edgewise.a.b",
        "edgewise.a",
    }
    assert targets("edgewise.d", False, "import edgewise.a.c") == {"edgewise.a.c"}
    assert targets("edgewise.d", False, "import json") == set()


def test_type_checking_imports_are_not_edges():
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from edgewise.a import b\n"
        "def f():\n    import edgewise.d\n"
    )
    found = [ast.unparse(n) for n in _imports(tree)]
    assert sorted(found) == ["from typing import TYPE_CHECKING", "import edgewise.d"]


def test_cycles_finds_components():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycles():
    found = cycles(import_graph())
    assert found == [], "import cycles among edgewise modules:\n" + "\n".join(
        " <-> ".join(c) for c in found
    )


def _inside(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def test_no_import_cycle_touches_tasks_personal_audio_or_text():
    """The cycles of these packages are gone; this holds while other packages' are fixed."""
    mine = (
        "edgewise.tasks",
        "edgewise.personal",
        "edgewise.audio",
        "edgewise.text",
        "edgewise.structured",
    )
    found = [c for c in cycles(import_graph()) if any(_inside(m, mine) for m in c)]
    assert found == []


def test_tasks_and_text_never_import_higher_layers():
    """Tasks sit on the Engine protocol and structured output; personal, audio, the server,
    the CLI, batch, bench and hub sit on tasks. ``text`` is below every task."""
    higher = (
        "edgewise.personal",
        "edgewise.audio",
        "edgewise.server",
        "edgewise.cli",
        "edgewise.batch",
        "edgewise.bench",
        "edgewise.hub",
    )
    rules = {
        ("edgewise.tasks", "edgewise.structured"): higher,
        ("edgewise.text",): (*higher, "edgewise.tasks", "edgewise.structured", "edgewise.engines"),
    }
    graph = import_graph()
    upward = [
        f"{name} -> {target}"
        for lower, forbidden in rules.items()
        for name, targets in graph.items()
        if _inside(name, lower)
        for target in sorted(targets)
        if _inside(target, forbidden)
    ]
    assert upward == []
