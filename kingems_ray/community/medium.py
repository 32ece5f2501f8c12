"""Media for communities: completing a diet so that every taxon can grow, and minimal media per sample.

Both are one LP (or MILP) built beside the community's own problem from its joint matrix, with extra import
columns on the medium exchanges:

**Completion** (MICOM ``complete_medium`` / ``complete_community_medium``): every taxon's growth
``>= min_growth`` and community growth ``>= community_growth``; each medium metabolite ``k`` may be imported at its
diet rate ``d_k`` plus an *addition* ``u_k`` in ``[0, max_import]`` (metabolites outside the diet have ``d_k = 0``;
diet components may be raised too, MICOM's non-strict mode). Formulations:

* ``"lp"`` (default, MICOM's default): minimise ``sum_k u_k``, the total added import flux;
* ``"milp"``: minimise the number of additions ``sum_k y_k`` with ``u_k <= max_import * y_k``, ``y_k`` binary
  (MICOM's ``minimize_components=True``); HiGHS branch-and-bound.

**Minimal medium** (MICOM ``minimal_medium``, as ``grow(strategy="minimal imports")`` uses it): within the diet's
limits, minimise the total import ``sum_k i_k`` (``i_k >= -x_k``, ``x_k`` the medium exchange) while community
growth stays ``>= community_growth`` and each taxon ``>= its rate`` (default: its trade-off rate).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import KingemsError
from ..solver.highs import LinearProblem, PersistentLP
from .community import Community
from .diets import Diet


def _growth_row(com: Community) -> sp.csr_matrix:
    n = com.joint.lp.n_cols
    cols = [com.joint.growth_cols(i)[0][0] for i in range(len(com.members))]
    return sp.csr_matrix((com.abundances.to_numpy(float), ([0] * len(cols), cols)), shape=(1, n))


def _import_problem(com: Community, env_lb: np.ndarray, extra_ub: np.ndarray, min_growth: np.ndarray,
                    community_growth: float, cost: np.ndarray, integer: bool):
    """LP with one extra import column per medium metabolite: ``x_k + u_k >= env_lb_k``, ``0 <= u_k <= extra_ub_k``.

    ``x_k`` (the medium exchange) may go down to ``env_lb_k - extra_ub_k``. With ``integer``: binaries ``y_k`` and
    ``u_k <= extra_ub_k y_k``; the cost then applies to ``y``.
    """
    lp = com.joint.lp
    n, m = lp.n_cols, lp.n_rows
    K = len(com.joint.env_keys)
    e0 = com.joint.env_col0
    lb, ub = com.solver.col_bounds(np.arange(n))
    lb, ub = lb.copy(), ub.copy()
    lb[e0:e0 + K] = env_lb - extra_ub
    for c, g in zip([com.joint.growth_cols(i)[0][0] for i in range(len(com.members))], min_growth):
        lb[c] = max(lb[c], float(g))
    env = sp.csr_matrix((np.ones(K), (np.arange(K), e0 + np.arange(K))), shape=(K, n))
    rows = [sp.hstack([lp.A.tocsr(), sp.csr_matrix((m, K))]),
            sp.hstack([env, sp.identity(K, format="csr")]),
            sp.hstack([_growth_row(com), sp.csr_matrix((1, K))])]
    row_lb = [np.asarray(lp.row_lb, float), env_lb, [community_growth]]
    row_ub = [np.asarray(lp.row_ub, float), np.full(K, np.inf), [np.inf]]
    col_lb = [lb, np.zeros(K)]
    col_ub = [ub, extra_ub]
    costs = [np.zeros(n), cost if not integer else np.zeros(K)]
    if integer:
        rows = [sp.hstack([r, sp.csr_matrix((r.shape[0], K))]) for r in rows]
        link = sp.hstack([sp.csr_matrix((K, n)), sp.identity(K, format="csr"), -sp.diags(extra_ub, format="csr")])
        rows.append(link)
        row_lb.append(np.full(K, -np.inf))
        row_ub.append(np.zeros(K))
        col_lb.append(np.zeros(K))
        col_ub.append(np.ones(K))
        costs.append(cost)
    A = sp.vstack(rows, format="csc")
    prob = LinearProblem(A=A, col_lb=np.concatenate(col_lb), col_ub=np.concatenate(col_ub),
                         row_lb=np.concatenate([np.asarray(r, float) for r in row_lb]),
                         row_ub=np.concatenate([np.asarray(r, float) for r in row_ub]),
                         cost=np.concatenate(costs), col_names=[], row_names=[], maximize=False)
    solver = PersistentLP(prob, threads=1, presolve=True)
    if integer:
        solver.set_integer(np.arange(n + K, n + 2 * K))
        solver.set_option("mip_rel_gap", 1e-6)
        solver.set_option("time_limit", 300.0)
    return solver, n, K


def complete_medium(com: Community, diet: Diet, min_growth: float = 0.01, community_growth: float | None = None,
                    max_import: float = 1.0, formulation: str = "lp") -> pd.DataFrame:
    """Smallest additions to ``diet`` that let every taxon of ``com`` grow at ``min_growth`` (see module doc).

    Parameters
    ----------
    com : Community
        Built with ``diet`` (its medium bounds are replaced here, in a separate problem).
    diet : Diet
    min_growth : float
        Growth every taxon must reach [1/h].
    community_growth : float, optional
        Community growth to reach (default ``min_growth``).
    max_import : float
        Upper limit of each addition (MICOM: 1).
    formulation : {"lp", "milp"}
        Minimise the added import flux, or the number of added components.

    Returns
    -------
    DataFrame
        ``metabolite, diet_uptake, added, completed_uptake`` for the added metabolites; ``attrs["status"]``.

    Raises
    ------
    KingemsError
        No completion exists within ``max_import`` (status ``infeasible``).
    """
    if formulation not in ("lp", "milp"):
        raise KingemsError(f"formulation must be 'lp' or 'milp', got {formulation!r}")
    from .diets import lumen_bounds

    keys = com.joint.env_keys
    env_lb, _, _ = lumen_bounds(diet, keys)
    K = len(keys)
    mg = np.full(len(com.members), float(min_growth))
    cg = float(community_growth if community_growth is not None else min_growth)
    solver, n, _ = _import_problem(com, env_lb, np.full(K, float(max_import)), mg, cg, np.ones(K),
                                   formulation == "milp")
    res = solver.solve(need_x=True)
    if not res.ok:
        raise KingemsError(f"medium completion: no solution ({res.status}) with additions <= {max_import}")
    u = res.x[n:n + K]
    keep = u > 1e-7
    out = pd.DataFrame({"metabolite": np.asarray(keys)[keep], "diet_uptake": -env_lb[keep], "added": u[keep]})
    out["completed_uptake"] = out["diet_uptake"] + out["added"]
    out.attrs["status"] = res.status
    out.attrs["objective"] = res.objective
    return out.sort_values("added", ascending=False).reset_index(drop=True)


def completed_diet(diet: Diet, additions: pd.DataFrame, name: str | None = None) -> Diet:
    """The diet with the additions of :func:`complete_medium` applied."""
    return diet.with_changes(dict(zip(additions["metabolite"], additions["completed_uptake"])),
                             name=name or f"{diet.name}+completed")


def minimal_imports(com: Community, growth: pd.Series, community_growth: float, rtol: float = 1e-6,
                    atol: float = 1e-6) -> tuple[pd.DataFrame, np.ndarray | None]:
    """Smallest total import within the community's current medium limits, keeping the given growth rates, and
    the flux vector that reaches it (MICOM's ``minimal_medium(..., solution=True)``, the exchange fluxes of its
    ``grow`` default strategy ``"minimal imports"``).

    Parameters
    ----------
    com : Community
    growth : Series
        Per-taxon growth to keep (e.g. the trade-off rates); each bound ``>= (1 - rtol) * g - atol``.
    community_growth : float
        Community growth to keep (same tolerance).
    rtol, atol : float
        Tolerances of the growth bounds (MICOM uses its solver's feasibility tolerance for both).

    Returns
    -------
    medium : DataFrame
        ``metabolite, uptake`` of the minimal medium (uptake > 0); ``attrs["status"]``.
    x : ndarray or None
        Values of the community's columns at that optimum (``None`` when infeasible). The total import is unique,
        the vector in general is not.

    Raises
    ------
    KingemsError
        Growth rates that are not finite (a trade-off that was not solved).
    """
    keys = com.joint.env_keys
    K = len(keys)
    e0 = com.joint.env_col0
    if not np.isfinite(community_growth) or not np.all(np.isfinite(growth.to_numpy(float))):
        raise KingemsError("minimal imports need finite growth rates (was the trade-off solved?)")
    lb, _ = com.solver.col_bounds(e0 + np.arange(K))
    # imports i_k >= -x_k with x_k >= lb_k (the diet): zero lower limit, no extra allowance
    mg = np.maximum((1 - rtol) * growth.reindex(com.taxa).fillna(0.0).to_numpy(float) - atol, 0.0)
    cg = max((1 - rtol) * community_growth - atol, 0.0)
    solver, n, _ = _import_problem(com, np.zeros(K), -np.minimum(lb, 0.0), mg, cg, np.ones(K), False)
    res = solver.solve(need_x=True)
    if not res.ok:
        out = pd.DataFrame({"metabolite": [], "uptake": []})
        out.attrs["status"] = res.status
        return out, None
    u = res.x[n:n + K]
    keep = u > 1e-7
    out = pd.DataFrame({"metabolite": np.asarray(keys)[keep], "uptake": u[keep]})
    out.attrs["status"] = res.status
    return out.sort_values("uptake", ascending=False).reset_index(drop=True), res.x[:n].copy()


def minimal_medium(com: Community, growth: pd.Series, community_growth: float, rtol: float = 1e-6,
                   atol: float = 1e-6) -> pd.DataFrame:
    """The medium table of :func:`minimal_imports` (same parameters), without the flux vector."""
    return minimal_imports(com, growth, community_growth, rtol, atol)[0]
