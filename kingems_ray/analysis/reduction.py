"""Exact structural facts about an LP that let flux variability skip solves.

Two facts are read off the equality rows (``A_i x = 0``) and the current column bounds, without any LP:

* **dead ends**: a row whose remaining terms all have the same definite sign (or a single remaining term) forces
  every one of those columns to zero; fixing them can expose further dead ends, so this runs to a fixed point;
* **coupled columns**: a row with exactly two remaining terms ``a x_p + b x_q = 0`` makes ``x_q = -(a/b) x_p`` at
  every feasible point, so the extreme values of one follow from the other's (the extremes swap when the ratio is
  negative). Chains of such rows (linear pathways) form groups with one representative.

Both are properties of every feasible point, so results derived from them are exact, not heuristics.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass
class Reduction:
    """Columns fixed at zero, and coupling groups ``x_c = ratio[c] * x_root[c]``."""

    zero: np.ndarray
    root: np.ndarray
    ratio: np.ndarray


def reduce_columns(
    A: sp.csc_matrix, row_lb: np.ndarray, row_ub: np.ndarray, col_lb: np.ndarray, col_ub: np.ndarray,
    couplable: np.ndarray,
) -> Reduction:
    """Find structurally zero columns and coupled column pairs.

    Parameters
    ----------
    A : csc_matrix
        Constraint matrix.
    row_lb, row_ub : ndarray
        Row bounds; only rows with ``lb == ub == 0`` are used.
    col_lb, col_ub : ndarray
        Current column bounds.
    couplable : ndarray of bool
        Columns that may be grouped (e.g. unsplit reaction columns).

    Returns
    -------
    Reduction
    """
    n_rows, n_cols = A.shape
    csr = A.tocsr()
    eq = (row_lb == 0) & (row_ub == 0)
    zero = np.zeros(n_cols, dtype=bool)
    zero_ok = (col_lb <= 0) & (col_ub >= 0)
    # Sign of each column's possible values: +1 non-negative, -1 non-positive, 0 either.
    csign = np.where(col_lb >= 0, 1, np.where(col_ub <= 0, -1, 0))
    queue = deque(np.nonzero(eq)[0].tolist())
    queued = eq.copy()
    A_csc = A.tocsc()
    while queue:
        i = queue.popleft()
        queued[i] = False
        lo, hi = csr.indptr[i], csr.indptr[i + 1]
        cols = csr.indices[lo:hi]
        vals = csr.data[lo:hi]
        keep = ~zero[cols] & (vals != 0)
        cols, vals = cols[keep], vals[keep]
        if cols.size == 0:
            continue
        if cols.size == 1:
            force = cols
        else:
            term_sign = np.sign(vals) * csign[cols]
            if np.all(term_sign > 0) or np.all(term_sign < 0):
                force = cols
            else:
                continue
        if not np.all(zero_ok[force]):
            continue  # the row cannot be satisfied at zero: leave it to the solver to report infeasibility
        zero[force] = True
        for c in force:
            for r in A_csc.indices[A_csc.indptr[c] : A_csc.indptr[c + 1]]:
                if eq[r] and not queued[r]:
                    queued[r] = True
                    queue.append(r)

    parent = np.arange(n_cols)
    ratio = np.ones(n_cols)

    def find(c: int) -> tuple[int, float]:
        r = 1.0
        path = []
        while parent[c] != c:
            path.append(c)
            r *= ratio[c]
            c = parent[c]
        # Path compression keeps later lookups short.
        acc = r
        for p in path:
            q = ratio[p]
            parent[p] = c
            ratio[p] = acc
            acc /= q
        return c, r

    for i in np.nonzero(eq)[0]:
        lo, hi = csr.indptr[i], csr.indptr[i + 1]
        cols = csr.indices[lo:hi]
        vals = csr.data[lo:hi]
        keep = ~zero[cols] & (vals != 0)
        if keep.sum() != 2:
            continue
        (p, q), (a, b) = cols[keep], vals[keep]
        if not (couplable[p] and couplable[q]):
            continue
        k = -a / b  # x_q = k * x_p
        rp, fp = find(int(p))
        rq, fq = find(int(q))
        if rp == rq:
            continue  # already grouped (a consistent cycle) or inconsistent: no inference either way
        parent[rq] = rp
        ratio[rq] = k * fp / fq
    root = np.empty(n_cols, dtype=int)
    rat = np.empty(n_cols)
    for c in range(n_cols):
        root[c], rat[c] = find(c)
    return Reduction(zero=zero, root=root, ratio=rat)
