"""Gene-protein-reaction rules as OR-of-AND clauses (disjunctive normal form)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable

import numpy as np
import scipy.sparse as sp

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


MAX_CLAUSES = 200_000


class GPRTooComplex(ValueError):
    """A rule whose OR-of-AND form would exceed :data:`MAX_CLAUSES` clauses."""


def _dnf(node: ast.AST, names: dict[str, str]) -> list[Clause]:
    if isinstance(node, ast.Name):
        return [frozenset([names[node.id]])]
    if isinstance(node, ast.BoolOp):
        parts = [_dnf(v, names) for v in node.values]
        if isinstance(node.op, ast.Or):
            return [c for p in parts for c in p]
        clauses: list[Clause] = [frozenset()]
        for p in parts:
            if len(clauses) * len(p) > MAX_CLAUSES:
                raise GPRTooComplex(f"GPR expands to more than {MAX_CLAUSES} OR-of-AND clauses")
            clauses = list(dict.fromkeys(a | b for a in clauses for b in p))
        return clauses
    raise ValueError(f"unsupported GPR element {ast.dump(node)}")


def _minimal(clauses: list[Clause]) -> list[Clause]:
    """Drop duplicate clauses and clauses that contain another one (absorption), keeping order."""
    unique = list(dict.fromkeys(clauses))
    sizes = np.fromiter((len(c) for c in unique), dtype=np.int64, count=len(unique))
    if len(unique) < 2 or sizes.min() == sizes.max():
        return unique  # distinct clauses of one size cannot contain each other
    if len(unique) <= 256:
        return [c for c in unique if not any(o < c for o in unique)]
    # Large rules (e.g. AND of long OR lists): subset tests as one sparse product, |c_j & c_i| == |c_j|.
    genes = {g: k for k, g in enumerate(sorted({g for c in unique for g in c}))}
    rows = np.repeat(np.arange(len(unique)), sizes)
    cols = np.fromiter((genes[g] for c in unique for g in c), dtype=np.int64, count=int(sizes.sum()))
    M = sp.csr_matrix((np.ones(cols.size, dtype=np.int32), (rows, cols)), shape=(len(unique), len(genes)))
    inter = (M @ M.T).tocoo()
    strict = (inter.data == sizes[inter.col]) & (sizes[inter.col] < sizes[inter.row])
    absorbed = np.zeros(len(unique), dtype=bool)
    absorbed[inter.row[strict]] = True
    return [c for c, a in zip(unique, absorbed) if not a]


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
        When the rule is not a well-formed boolean expression (:class:`GPRTooComplex`, a ValueError, when its
        OR-of-AND form would exceed :data:`MAX_CLAUSES` clauses).
    """
    if rule is None or not str(rule).strip():
        return []
    expr, names = _to_python(str(rule))
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"malformed GPR rule {rule!r}") from exc
    # Absorption: a or (a and b) == a.
    return _minimal(_dnf(tree.body, names))


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


def _eval(node: ast.AST, names: dict[str, str], off: set[str]) -> bool:
    if isinstance(node, ast.Name):
        return names[node.id] not in off
    if isinstance(node, ast.BoolOp):
        vals = (_eval(v, names, off) for v in node.values)
        return any(vals) if isinstance(node.op, ast.Or) else all(vals)
    raise ValueError(f"unsupported GPR element {ast.dump(node)}")


def single_knockout_genes(rule: str | None) -> list[str]:
    """Genes whose knockout alone disables the reaction, by evaluating the rule (no OR-of-AND expansion).

    Used for rules too large to expand (:class:`GPRTooComplex`): the clause ``[that set]`` reproduces every
    single-gene knockout exactly.
    """
    if rule is None or not str(rule).strip():
        return []
    expr, names = _to_python(str(rule))
    tree = ast.parse(expr, mode="eval").body
    return sorted(g for g in names.values() if not _eval(tree, names, {g}))
