"""No import cycles in ``src/hypernet``, and the data loaders never import the command line.

Every ``import`` statement counts, at module level, inside functions and under
``if TYPE_CHECKING:``, plus ``importlib.import_module("literal")`` and the names a package
declares lazy (``lazy_attributes(__name__, {"Name": ".module"}, ...)``). Two things are not edges:
the ``TYPE_CHECKING`` block of a package ``__init__.py``, which only tells type checkers what its
lazy names are (the names themselves are counted), and imports by a name computed at run time
(the CLI registry loading its plugins, the recipes' ``cli`` modules, as entry points are loaded).
An edge goes to the module named (``from .a import b`` -> ``a``, or ``a.b`` when ``b`` is a
submodule); the implicit import of parent packages is not an edge (every module would then
depend on ``hypernet/__init__``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import hypernet

ROOT = Path(hypernet.__file__).parent


def _modules() -> dict[str, Path]:
    """Every module of the package: dotted name -> file."""
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _nodes(tree: ast.AST, skip_type_checking: bool) -> list[ast.AST]:
    """All nodes, without the bodies of ``if TYPE_CHECKING:`` blocks when ``skip_type_checking``."""
    out: list[ast.AST] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        out.append(node)
        if skip_type_checking and isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of the package that ``name`` imports (resolved relative imports, submodules)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in _nodes(ast.parse(path.read_text(), str(path)), skip_type_checking=path.name == "__init__.py"):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = _resolve("." * node.level + (node.module or ""), package)
            for alias in node.names:  # a submodule, else a name defined in the module ``source``
                targets.add(f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source)
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            first = node.args[0]
            if called == "import_module" and isinstance(first, ast.Constant) and isinstance(first.value, str):
                targets.add(first.value)
            elif called == "lazy_attributes" and len(node.args) > 1:
                targets.update(_lazy_targets(package, node.args))
    return {t for t in targets if t in modules and t != name}


def _resolve(name: str, package: str) -> str:
    """``importlib.import_module(name, package)``'s module name."""
    dots = len(name) - len(name.lstrip("."))
    if not dots:
        return name
    base = package.split(".")[: len(package.split(".")) - dots + 1]
    return ".".join(base + ([name[dots:]] if name[dots:] else []))


def _lazy_targets(package: str, args: list[ast.expr]) -> set[str]:
    """Modules named by a ``lazy_attributes(__name__, names, namespace, submodules)`` call."""
    found = set()
    if isinstance(args[1], ast.Dict):
        found.update(_resolve(v.value, package) for v in args[1].values if isinstance(v, ast.Constant) and isinstance(v.value, str))
    if len(args) > 3 and isinstance(args[3], (ast.Tuple, ast.List)):
        found.update(f"{package}.{e.value}" for e in args[3].elts if isinstance(e, ast.Constant))
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports."""
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
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
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_the_analysis_finds_a_cycle_and_resolves_relative_imports(tmp_path: Path) -> None:
    graph = {"p.a": {"p.b"}, "p.b": {"p.c"}, "p.c": {"p.a"}, "p.d": {"p.a"}}
    assert find_cycles(graph) == [["p.a", "p.b", "p.c"]]
    assert find_cycles({"p.a": {"p.b"}, "p.b": set()}) == []
    modules = {"hypernet.data.mnist": tmp_path / "m.py", "hypernet.cli.fetch.mnist": tmp_path / "f.py", "hypernet.data": tmp_path}
    (tmp_path / "m.py").write_text("def f():\n    import importlib\n    return importlib.import_module('hypernet.cli.fetch.mnist')\n")
    assert _imports("hypernet.data.mnist", tmp_path / "m.py", modules) == {"hypernet.cli.fetch.mnist"}
    (tmp_path / "m.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..cli.fetch import mnist\n")
    assert _imports("hypernet.data.mnist", tmp_path / "m.py", modules) == {"hypernet.cli.fetch.mnist"}
    (tmp_path / "__init__.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .mnist import x\n"
        "__getattr__, __dir__ = lazy_attributes(__name__, {'y': '..cli.fetch.mnist'}, globals(), ('mnist',))\n"
    )
    assert _imports("hypernet.data", tmp_path / "__init__.py", modules) == {"hypernet.cli.fetch.mnist", "hypernet.data.mnist"}
    (tmp_path / "f.py").write_text("from ...data import mnist\nfrom . import mnist as m\n")
    assert _imports("hypernet.cli.fetch.mnist", tmp_path / "f.py", modules) == {"hypernet.data.mnist"}
    (tmp_path / "f.py").write_text("from ...data import load_mnist\n")
    assert _imports("hypernet.cli.fetch.mnist", tmp_path / "f.py", modules) == {"hypernet.data"}


def test_no_import_cycles_in_hypernet() -> None:
    graph = import_graph()
    assert len(graph) > 100 and "hypernet._model" in graph["hypernet"]
    assert find_cycles(graph) == []


def test_data_never_imports_the_command_line() -> None:
    graph = import_graph()
    upward = {m: sorted(t for t in ts if t.startswith("hypernet.cli")) for m, ts in graph.items() if m.startswith("hypernet.data")}
    assert {m: ts for m, ts in upward.items() if ts} == {}
