"""The import graph of a package, its import circles and its crowded folders.

Every ``import``/``from ... import`` statement counts wherever it stands (module level, inside a
function, under ``if TYPE_CHECKING``), relative imports resolved. ``import a.b`` is an edge to the
module ``a.b``; ``from a import b`` is an edge to ``a.b`` when that is a module, else to ``a``.
Parent packages executed by an import are not edges (every package ``__init__`` that re-exports
its submodules would otherwise be a circle). Only modules of the package itself are nodes.

A circle is a strongly connected component of more than one module (Tarjan's algorithm,
iterative); a module naming itself (``from pkg import name`` in ``pkg/__init__.py``) is no edge.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path


def module_files(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file under the package folder ``root``."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """Absolute name of the module a ``from X import ...`` statement reads from."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(path: Path, module: str, modules: set[str]) -> set[str]:
    """Modules of ``modules`` that the file ``path`` (module ``module``) imports."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(node, module, is_package)
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                targets.add(sub if sub in modules else source)
    return {t for t in targets if t in modules and t != module}


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module -> the package's modules it imports, for the package folder ``root``."""
    files = module_files(root, package)
    names = set(files)
    return {m: imports_of(p, m, names) for m, p in files.items()}


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of ``graph`` (Tarjan, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
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
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                components.append(component)
    return components


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The import circles: strongly connected components of more than one module."""
    return [frozenset(c) for c in strongly_connected(graph) if len(c) > 1]


def crowded_folders(root: Path, limit: int) -> dict[str, int]:
    """Package folders under ``root`` holding more than ``limit`` modules side by side.

    ``__init__.py`` does not count; the key is the folder relative to ``root``'s parent.
    """
    counts: dict[str, int] = defaultdict(int)
    for path in root.rglob("*.py"):
        if path.name != "__init__.py":
            counts[path.parent.relative_to(root.parent).as_posix()] += 1
    return {folder: n for folder, n in sorted(counts.items()) if n > limit}
