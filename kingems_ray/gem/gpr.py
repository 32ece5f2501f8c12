"""Gene-protein-reaction rules as OR-of-AND clauses (disjunctive normal form)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable

Clause = frozenset[str]

_TOKEN = re.compile(r"\(|\)|\band\b|\bor\b|\bAND\b|\bOR\b|&&|\|\||[^\s()]+")


def _to_python(rule: str) -> tuple[str, dict[str, str]]:
    """Rewrite a GPR string into a Python boolean expression over safe names."""
    names: dict[str, str] = {}
    out: list[str] = []
    for tok in _TOKEN.findall(rule):
        low = tok.lower()
        if tok in ("(", ")"):
            out.append(tok)
        elif low in ("and", "&&"):
            out.append("and")
        elif low in ("or", "||"):
            out.append("or")
        else:
            key = names.setdefault(tok, f"g{len(names)}")
            out.append(key)
    return " ".join(out), {v: k for k, v in names.items()}


def _dnf(node: ast.AST, names: dict[str, str]) -> list[Clause]:
    if isinstance(node, ast.Name):
        return [frozenset([names[node.id]])]
    if isinstance(node, ast.BoolOp):
        parts = [_dnf(v, names) for v in node.values]
        if isinstance(node.op, ast.Or):
            return [c for p in parts for c in p]
        clauses: list[Clause] = [frozenset()]
        for p in parts:
            clauses = [a | b for a in clauses for b in p]
        return clauses
    raise ValueError(f"unsupported GPR element {ast.dump(node)}")


def parse_gpr(rule: str | None) -> list[Clause]:
    """Parse a GPR rule into its OR-of-AND clauses.

    Parameters
    ----------
    rule : str or None
        A rule such as ``"b0001 and (b0002 or b0003)"``; empty or ``None`` means no gene.

    Returns
    -------
    list of frozenset of str
        Minimal clauses (absorbed and duplicate clauses removed), in first-appearance order.
        ``[]`` for an empty rule.

    Raises
    ------
    ValueError
        When the rule is not a well-formed boolean expression.
    """
    if rule is None or not str(rule).strip():
        return []
    expr, names = _to_python(str(rule))
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"malformed GPR rule {rule!r}") from exc
    clauses = _dnf(tree.body, names)
    # Drop duplicates and clauses that are supersets of another (absorption: a or (a and b) == a).
    unique: list[Clause] = []
    for c in clauses:
        if c not in unique:
            unique.append(c)
    minimal = [c for c in unique if not any(o < c for o in unique)]
    return minimal


def clause_kind(clauses: list[Clause]) -> str:
    """Classify a parsed GPR: ``none``, ``single``, ``isoenzymes``, ``complex`` or ``mixed``."""
    if not clauses:
        return "none"
    if len(clauses) == 1:
        return "single" if len(clauses[0]) == 1 else "complex"
    if all(len(c) == 1 for c in clauses):
        return "isoenzymes"
    return "mixed"


def is_active(clauses: list[Clause], knocked_out: Iterable[str]) -> bool:
    """Whether a reaction with these clauses can still run when the given genes are knocked out.

    A reaction with no GPR is never disabled by a gene knockout.
    """
    if not clauses:
        return True
    ko = set(knocked_out)
    return any(not (c & ko) for c in clauses)
