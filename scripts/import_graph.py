#!/usr/bin/env python
"""Import graph of the kingems_ray subpackages (from the source, with ``ast``; lazy imports inside functions count).

Usage::

    python scripts/import_graph.py [--root kingems_ray] [--json]

Prints one line per subpackage with the subpackages it imports, then any cycles between subpackages.
"""

from __future__ import annotations

import argparse
import ast
import json
from pathlib import Path


def module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path, root: Path) -> set[str]:
    """Absolute names of the package modules a file imports."""
    mod = module_name(path, root)
    pkg = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith(root.name))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[: len(pkg) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.startswith(root.name):
                out.add(name)
                out.update(f"{name}.{a.name}" for a in node.names)
    return out


def unit(name: str, root: str) -> str:
    """The subpackage (or top-level module) a module belongs to: ``kingems_ray.ec.compile`` -> ``ec``."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else root


def graph(root: Path) -> dict[str, set[str]]:
    """Subpackage -> subpackages it imports (self excluded)."""
    units = {p.name if p.is_dir() else p.stem for p in root.iterdir()
             if (p.is_dir() and (p / "__init__.py").exists()) or (p.suffix == ".py" and p.stem != "__init__")}
    g: dict[str, set[str]] = {u: set() for u in units}
    for path in root.rglob("*.py"):
        src = unit(module_name(path, root), root.name)
        if src not in g:
            continue
        for name in imports_of(path, root):
            dst = unit(name, root.name)
            if dst in units and dst != src:
                g[src].add(dst)
    return g


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(g[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=str(Path(__file__).resolve().parents[1] / "kingems_ray"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    g = graph(Path(args.root))
    cyc = cycles(g)
    if args.json:
        print(json.dumps({"graph": {k: sorted(v) for k, v in sorted(g.items())}, "cycles": cyc}, indent=1))
        return
    for k in sorted(g):
        print(f"{k:12s} -> {', '.join(sorted(g[k])) or '-'}")
    print("cycles:", cyc or "none")


if __name__ == "__main__":
    main()
