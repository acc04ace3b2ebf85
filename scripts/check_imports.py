"""Fail on an import circle inside the editgan package (imports inside functions count too).

    python scripts/check_imports.py        # prints the package's import graph; exit 1 on a circle
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGE = "editgan"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imported_modules(path: Path, name: str, known: set[str]) -> set[str]:
    """The package modules that the module `name` (file `path`) imports, anywhere in its body."""
    is_package = path.name == "__init__.py"
    base = name.split(".") if is_package else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                head = base[: len(base) - node.level + 1]
                mod = ".".join(head + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    files = {module_name(p, root): p for p in sorted((root / PACKAGE).rglob("*.py"))}
    known = set(files)
    graph = {n: imported_modules(p, n, known) for n, p in files.items()}
    # A package's __init__ re-exports; importing editgan.x runs editgan/__init__ first, which is not an edge of x.
    return {n: {m for m in deps if m != PACKAGE} for n, deps in graph.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle (a list of modules, first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
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


def main() -> int:
    root = Path(__file__).resolve().parents[1]
    graph = import_graph(root)
    for n in sorted(graph):
        print(f"{n}: {', '.join(sorted(graph[n])) or '-'}")
    cycle = find_cycle(graph)
    if cycle:
        print("import circle: " + " -> ".join(cycle), file=sys.stderr)
        return 1
    print("no import circle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
