"""Structural FVA shortcuts must give exactly what plain LPs give."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from kingems_ray.analysis import fva as F
from kingems_ray.analysis.reduction import reduce_columns
from kingems_ray.ec.build import build
from kingems_ray.ec.problem import Problem


def test_dead_end_and_coupling_on_toy():
    # x0 -> A -> x1 -> B -> x2 (out); x3 produces C that nothing consumes (dead end).
    A = sp.csc_matrix(
        np.array(
            [
                [1.0, -1.0, 0.0, 0.0],  # A
                [0.0, 2.0, -1.0, 0.0],  # B: x2 = 2 x1
                [0.0, 0.0, 0.0, 1.0],  # C: only produced
            ]
        )
    )
    red = reduce_columns(
        A, np.zeros(3), np.zeros(3), np.zeros(4), np.full(4, 10.0), couplable=np.ones(4, dtype=bool)
    )
    assert red.zero.tolist() == [False, False, False, True]
    assert red.root[0] == red.root[1] == red.root[2]
    r0 = red.ratio[0]
    # x1 = x0 and x2 = 2 x1, whatever the root is
    assert np.isclose(red.ratio[1] / r0, 1.0)
    assert np.isclose(red.ratio[2] / r0, 2.0)


def test_reduced_fva_equals_unreduced_on_ecgem(data_dir):
    table = data_dir / "kingems" / "e_coli_core_fva_ablation" / "tuned_data.csv"
    for level in ("L1", "L3b", "L4"):
        b = build("textbook", table, level=level)
        p = Problem(b.compiled)
        opt = p.optimize().objective
        idx = list(range(len(b.compiled.rxn_ids)))
        lo1, hi1, st1, n1 = F._fva_indices(p, idx, opt, 0.9, reduce=True)
        lo2, hi2, st2, n2 = F._fva_indices(p, idx, opt, 0.9, reduce=False)
        assert np.allclose(lo1, lo2, atol=1e-7) and np.allclose(hi1, hi2, atol=1e-7)
        assert st1 == st2
        # The problem is left as found: same optimum afterwards.
        assert np.isclose(p.optimize().objective, opt, rtol=1e-9)
