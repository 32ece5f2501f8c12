#!/usr/bin/env python
"""Module sizes (lines) and the longest functions of a package, from the source (``ast``).

Usage::

    python scripts/code_sizes.py [--root kingems_ray] [--top 15] [--min-module 400]
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=str(Path(__file__).resolve().parents[1] / "kingems_ray"))
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--min-module", type=int, default=400)
    args = ap.parse_args()
    root = Path(args.root)
    mods, funcs = [], []
    for p in sorted(root.rglob("*.py")):
        text = p.read_text()
        rel = str(p.relative_to(root.parent))
        mods.append((len(text.splitlines()), rel))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                funcs.append((node.end_lineno - node.lineno + 1, f"{rel}:{node.name}"))
    print(f"modules over {args.min_module} lines:")
    for n, m in sorted(mods, reverse=True):
        if n > args.min_module:
            print(f"  {n:5d}  {m}")
    print(f"longest {args.top} functions:")
    for n, f in sorted(funcs, reverse=True)[: args.top]:
        print(f"  {n:5d}  {f}")


if __name__ == "__main__":
    main()
