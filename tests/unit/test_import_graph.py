"""No import cycle among picohttp's modules, counting imports inside functions too.

A cycle hidden in a function (``import`` at the point of use, to keep
``import picohttp`` fast) or under ``TYPE_CHECKING`` (names for annotations)
still ties two modules together: neither can be read, tested or changed
without the other.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Optional, Set

import picohttp

PACKAGE = Path(picohttp.__file__).parent


def _imports(tree: ast.AST, modules: Set[str]) -> Set[str]:
    """The picohttp modules ``tree`` imports anywhere (functions included)."""
    found: Set[str] = set()
    todo: List[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 or (node.module or "").startswith("picohttp"):
                base = (node.module or "").replace("picohttp.", "").replace("picohttp", "")
                if base:
                    found.add(base)
                else:  # from . import name: name is a module
                    found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("picohttp."):
                    found.add(alias.name.split(".")[1])
        todo.extend(ast.iter_child_nodes(node))
    return found & modules


def import_graph(package: Path = PACKAGE) -> Dict[str, Set[str]]:
    """Each module of ``package`` -> the package's modules it imports."""
    files = {path.stem: path for path in package.glob("*.py")}
    modules = set(files) - {"__init__", "__main__"}
    return {
        name: _imports(ast.parse(path.read_text(encoding="utf-8")), modules) - {name}
        for name, path in files.items()
    }


def find_cycle(graph: Dict[str, Set[str]]) -> Optional[List[str]]:
    """One cycle of ``graph`` as a path (first node repeated at the end), or ``None``."""
    state: Dict[str, int] = {}  # 1: on the current path, 2: done
    path: List[str] = []

    def visit(node: str) -> Optional[List[str]]:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


#: Edges left out until the redesign's pure half lands (issue 14: the Content-Type
#: helper ``_forms`` takes from ``_message`` moves to a module of its own).
PENDING = {("_forms", "_message")}


def test_no_module_of_picohttp_imports_itself_through_others() -> None:
    graph = import_graph()
    for source, target in PENDING:
        graph[source].discard(target)
    assert {"_server", "_loop", "_respond", "_workers"} <= set(graph)
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_a_cycle_through_an_import_inside_a_function_is_found(tmp_path: Path) -> None:
    (tmp_path / "_a.py").write_text("from ._b import thing\n")
    (tmp_path / "_b.py").write_text("def thing():\n    from ._a import other\n")
    (tmp_path / "_c.py").write_text(
        "TYPE_CHECKING = False\nif TYPE_CHECKING:\n    from ._a import x\nfrom . import _b\n"
    )
    graph = import_graph(tmp_path)
    assert graph == {"_a": {"_b"}, "_b": {"_a"}, "_c": {"_a", "_b"}}
    assert find_cycle(graph) == ["_a", "_b", "_a"]
