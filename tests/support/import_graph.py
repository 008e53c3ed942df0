"""The import graph of a package, read from the source with ``ast`` (nothing is imported).

Every ``import`` / ``from … import`` statement counts, wherever it is: at the top
of a module, inside a function (a lazy import) or under ``if TYPE_CHECKING:``.
``from a.b import c`` is an edge to the module ``a.b.c`` when that module exists,
else to ``a.b``; relative imports are resolved against the importing module.
Importing a submodule is not counted as importing its parent package (that
would make every package that re-exports its submodules a cycle).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ImportGraph:
    modules: dict[str, Path]
    """Dotted module name → source file."""
    edges: dict[str, dict[str, int]] = field(default_factory=dict)
    """Importer → {imported module: line of the first such import}."""

    def imports(self, module: str) -> set[str]:
        return set(self.edges.get(module, {}))

    def reaches(self, start: str, target_prefix: str) -> list[str] | None:
        """An import chain from ``start`` to a module named ``target_prefix`` or below it, or None."""
        seen, stack = {start}, [[start]]
        while stack:
            chain = stack.pop()
            for nxt in sorted(self.imports(chain[-1])):
                if nxt == target_prefix or nxt.startswith(target_prefix + "."):
                    return chain + [nxt]
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(chain + [nxt])
        return None

    def cycles(self) -> list[list[str]]:
        """Every strongly connected component of more than one module (each sorted), sorted."""
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        on_stack: set[str] = set()
        found: list[list[str]] = []

        def visit(v: str) -> None:  # Tarjan; the graphs here are a few hundred modules deep at most
            index[v] = low[v] = len(index)
            stack.append(v)
            on_stack.add(v)
            for w in self.imports(v):
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
                    found.append(sorted(component))

        for module in sorted(self.modules):
            if module not in index:
                visit(module)
        return sorted(found)

    def describe(self, component: list[str]) -> str:
        """The imports inside one component, as ``a (line n) -> b`` lines."""
        members = set(component)
        lines = []
        for a in component:
            for b, line in sorted(self.edges.get(a, {}).items()):
                if b in members:
                    lines.append(f"  {a} ({self.modules[a].name}:{line}) -> {b}")
        return "\n".join(lines)


def import_graph(package_dir: Path) -> ImportGraph:
    """The graph of every module under ``package_dir`` (a directory with ``__init__.py``)."""
    package_dir = Path(package_dir)
    root = package_dir.parent
    modules: dict[str, Path] = {}
    packages: set[str] = set()
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
            packages.add(".".join(parts))
        modules[".".join(parts)] = path
    graph = ImportGraph(modules)
    for name, path in modules.items():
        edges: dict[str, int] = {}
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            for target in _targets(name, name in packages, node, modules):
                while target not in modules and "." in target:
                    target = target.rsplit(".", 1)[0]
                if target in modules and target != name:
                    edges.setdefault(target, node.lineno)
        graph.edges[name] = edges
    return graph


def _targets(module: str, is_package: bool, node: ast.AST, modules: dict[str, Path]) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    out = []
    for alias in node.names:
        submodule = f"{source}.{alias.name}"
        out.append(submodule if submodule in modules else source)
    return out
