"""Flux balance and flux variability analysis on the persistent solver."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..ec.compile import CompiledModel
from ..ec.problem import Problem
from ..parallel import process_map, worker_state
from .reduction import reduce_columns

_BOUND_TOL = 1e-9


def fba(problem: Problem) -> tuple[float, str, pd.Series | None]:
    """Maximise the model objective.

    Returns
    -------
    (growth, status, fluxes)
        ``growth`` is NaN unless ``status == "optimal"``; ``fluxes`` are net reaction fluxes (model space).
    """
    res = problem.optimize()
    if not res.ok:
        return float("nan"), res.status, None
    return res.objective, "optimal", pd.Series(problem.fluxes(res.x), index=problem.cm.rxn_ids)


def _current_bounds(problem: Problem) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    col_lb, col_ub = problem.solver.col_bounds()
    row_lb, row_ub = problem.solver.row_bounds()
    return col_lb, col_ub, row_lb, row_ub


#: Simplex iterations a warm FVA re-solve may take before it is redone from scratch (:meth:`_FvaRun._solve`).
WARM_ITERATION_LIMIT = 20000


def _fva_indices(
    problem: Problem, indices: Sequence[int], optimum: float, fraction: float, reduce: bool = True
) -> tuple[np.ndarray, np.ndarray, list[str], int]:
    """FVA of ``indices`` with solver settings for objective changes, restored afterwards."""
    # Cost changes keep the basis primal feasible (primal simplex); bound perturbation only adds clean-up work.
    problem.solver.set_strategy("primal")
    try:
        with problem.solver.option("primal_simplex_bound_perturbation_multiplier", 0.0):
            return _fva_impl(problem, indices, optimum, fraction, reduce)
    finally:
        problem.solver.set_strategy("dual")
        problem.restore_objective()


def _fva_impl(
    problem: Problem, indices: Sequence[int], optimum: float, fraction: float, reduce: bool
) -> tuple[np.ndarray, np.ndarray, list[str], int]:
    """Min/max net flux of the given reactions with the objective held at ``fraction * optimum``.

    Exact shortcuts keep the number of LPs down (see :mod:`.reduction`):

    * structurally blocked reactions (dead ends) are 0/0 without an LP, and coupled reactions (linear
      pathways) take their range from one representative;
    * every solution met is remembered: when a feasible point already reaches a bound, that bound is the
      extreme value;
    * reactions known to be non-negative are proven blocked in bulk: if ``max sum(x_c) = 0`` then every
      ``max x_c = 0``; likewise for minima of non-positive reactions.
    """
    cm = problem.cm
    oj = cm.objective_index()
    olb, oub = problem.reaction_bounds(oj)
    target = min(fraction * optimum, optimum)  # never more than the optimum (round-off)
    with problem.reactions_bounded({oj: (max(olb, target), oub)}):
        items = _Items.of(problem, indices, reduce)
        run = _FvaRun(problem, items)
        res = problem.optimize()
        run.n_solves += 1
        if not res.ok:
            out_status = [res.status] * len(indices)
            return np.full(len(indices), np.nan), np.full(len(indices), np.nan), out_status, run.n_solves
        run.record(res.x)
        # Maxima: non-negative items can be proven 0 in bulk.
        run.resolve(run.maxs, run.seen_hi, items.hi_eff, items.lo_eff >= 0, maximize=True)
        # Minima: items now known to be non-positive can be proven 0 in bulk.
        run.resolve(run.mins, run.seen_lo, items.lo_eff,
                    (items.hi_eff <= 0) | (np.abs(run.maxs) <= _BOUND_TOL), maximize=False)
    return (*items.per_reaction(run.mins, run.maxs, run.status), run.n_solves)


class _Items:
    """What is optimised: items ``x[a] - x[b]`` (``b = n_cols``: nothing), each reaction mapped to an item and a
    ratio (coupled reactions share one), and each item's bounds implied by its own and its coupled columns'."""

    def __init__(self, ia: np.ndarray, ib: np.ndarray, n_cols: int, map_item: np.ndarray, map_ratio: np.ndarray,
                 lo_eff: np.ndarray, hi_eff: np.ndarray) -> None:
        self.ia, self.ib, self.n_cols = ia, ib, n_cols
        self.map_item, self.map_ratio = map_item, map_ratio
        self.lo_eff, self.hi_eff = lo_eff, hi_eff

    @property
    def n(self) -> int:
        """Number of items."""
        return int(self.ia.size)

    @classmethod
    def of(cls, problem: Problem, indices: Sequence[int], reduce: bool) -> _Items:
        """Items of ``indices`` under the problem's current bounds (after structural reduction when ``reduce``)."""
        cm = problem.cm
        col_lb, col_ub, row_lb, row_ub = _current_bounds(problem)
        n_cols = col_lb.size
        unsplit = cm.rev_col < 0
        couplable = np.zeros(n_cols, dtype=bool)
        couplable[cm.fwd_col[unsplit]] = True
        if reduce:
            red = reduce_columns(cm.lp.A, row_lb, row_ub, col_lb, col_ub, couplable)
        else:
            red = reduce_columns(cm.lp.A[:0, :], row_lb[:0], row_ub[:0], col_lb, col_ub, couplable)
        item_of: dict[tuple[int, int], int] = {}
        item_a: list[int] = []
        item_b: list[int] = []
        map_item = np.full(len(indices), -1)
        map_ratio = np.ones(len(indices))
        for k, j in enumerate(indices):
            f, r = int(cm.fwd_col[j]), int(cm.rev_col[j])
            if r < 0:
                if red.zero[f]:
                    continue
                key, map_ratio[k] = (int(red.root[f]), -1), red.ratio[f]
            else:
                if red.zero[f] and red.zero[r]:
                    continue
                key = (f, r)
            if key not in item_of:
                item_of[key] = len(item_a)
                item_a.append(key[0])
                item_b.append(key[1] if key[1] >= 0 else n_cols)
            map_item[k] = item_of[key]
        ia = np.asarray(item_a, dtype=int)
        ib = np.asarray(item_b, dtype=int)
        # Bounds implied for each item: own bounds, tightened by every column coupled to it.
        lb_ext = np.append(col_lb, 0.0)
        ub_ext = np.append(col_ub, 0.0)
        lo_eff = lb_ext[ia] - ub_ext[ib]
        hi_eff = ub_ext[ia] - lb_ext[ib]
        pos = {int(c): t for t, c in enumerate(ia) if ib[t] == n_cols}
        for c in np.nonzero(couplable & ~red.zero)[0]:
            t = pos.get(int(red.root[c]))
            if t is None or red.root[c] == c:
                continue
            q = red.ratio[c]
            lo_c, hi_c = (col_lb[c] / q, col_ub[c] / q) if q > 0 else (col_ub[c] / q, col_lb[c] / q)
            lo_eff[t] = max(lo_eff[t], lo_c)
            hi_eff[t] = min(hi_eff[t], hi_c)
        return cls(ia, ib, n_cols, map_item, map_ratio, lo_eff, hi_eff)

    def values(self, x: np.ndarray) -> np.ndarray:
        """Every item's value at a column vector."""
        v = np.append(x, 0.0)
        return v[self.ia] - v[self.ib]

    def objective(self, t: int) -> tuple[list[int], list[float]]:
        """Columns and coefficients of item ``t``."""
        if self.ib[t] == self.n_cols:
            return [int(self.ia[t])], [1.0]
        return [int(self.ia[t]), int(self.ib[t])], [1.0, -1.0]

    def per_reaction(self, mins: np.ndarray, maxs: np.ndarray, status: list[str]
                     ) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Item results mapped back to the reactions (ratios of coupled reactions applied, blocked ones 0)."""
        n = self.map_item.size
        out_min = np.zeros(n)
        out_max = np.zeros(n)
        out_status = ["optimal"] * n
        for k in range(n):
            t = self.map_item[k]
            if t < 0:
                continue  # structurally blocked: exactly zero
            q = self.map_ratio[k]
            lo, hi = (q * mins[t], q * maxs[t]) if q > 0 else (q * maxs[t], q * mins[t])
            out_min[k], out_max[k], out_status[k] = lo, hi, status[t]
        # -0.0 and round-off below tolerance read as exact zeros
        out_min[np.abs(out_min) <= _BOUND_TOL] = 0.0
        out_max[np.abs(out_max) <= _BOUND_TOL] = 0.0
        return out_min, out_max, out_status


class _FvaRun:
    """The state of one FVA pass: extremes seen in any solution so far, results, statuses and the LP count."""

    def __init__(self, problem: Problem, items: _Items) -> None:
        self.problem = problem
        self.items = items
        self.seen_lo = np.full(items.n, np.inf)
        self.seen_hi = np.full(items.n, -np.inf)
        self.mins = np.full(items.n, np.nan)
        self.maxs = np.full(items.n, np.nan)
        self.status = ["optimal"] * items.n
        self.n_solves = 0

    def record(self, x: np.ndarray) -> None:
        """Remember the item values of a feasible point."""
        vals = self.items.values(x)
        np.minimum(self.seen_lo, vals, out=self.seen_lo)
        np.maximum(self.seen_hi, vals, out=self.seen_hi)

    @staticmethod
    def at(seen: np.ndarray, bound: np.ndarray) -> np.ndarray:
        """Whether a value seen already reaches the bound."""
        return np.isfinite(bound) & (np.abs(seen - bound) <= _BOUND_TOL * np.maximum(1.0, np.abs(bound)))

    def _solve(self, cols: list[int], coefs: list[float], maximize: bool):
        solver = self.problem.solver
        solver.set_objective(cols, coefs, maximize=maximize)
        # A warm re-solve that walks this far is stuck (seen on sampled kcats far in a tail: one sample's FVA ran
        # 17 min of CPU); normal warm steps take far fewer.
        r = solver.solve_capped(WARM_ITERATION_LIMIT)
        self.n_solves += 1
        return r

    def bulk_zero(self, cands: np.ndarray, maximize: bool) -> np.ndarray:
        """Prove ``max = 0`` (or ``min = 0``) for many sign-definite items with few LPs."""
        proven = np.zeros(self.items.n, dtype=bool)
        cands = cands.copy()
        for _ in range(30):
            if not cands.any():
                break
            cols, coefs = [], []
            for t in np.nonzero(cands)[0]:
                c, w = self.items.objective(int(t))
                cols += c
                coefs += w
            r = self._solve(cols, coefs, maximize)
            if not r.ok:
                break
            self.record(r.x)
            if abs(r.objective) <= _BOUND_TOL * max(1.0, cands.sum()):
                proven |= cands
                break
            moved = cands & (np.abs(self.items.values(r.x)) > _BOUND_TOL)
            if not moved.any():
                break
            cands &= ~moved
        return proven

    def solve_one(self, t: int, maximize: bool) -> float:
        """One item's max (or min) by an LP."""
        r = self._solve(*self.items.objective(t), maximize)
        if r.ok:
            self.record(r.x)
            return r.objective
        self.status[t] = r.status
        if r.status == "unbounded":
            return np.inf if maximize else -np.inf
        return np.nan

    def resolve(self, out: np.ndarray, seen: np.ndarray, bound: np.ndarray, sign_known: np.ndarray,
                maximize: bool) -> None:
        """Fill ``out`` with each item's max (or min): bound hits, a bulk proof of zero, then one LP each."""
        done = self.at(seen, bound)
        out[done] = bound[done]
        near_zero = (seen <= _BOUND_TOL) if maximize else (seen >= -_BOUND_TOL)
        out[self.bulk_zero(~done & sign_known & near_zero, maximize)] = 0.0
        for t in np.flatnonzero(np.isnan(out)):
            # Solutions met since the first pass may have reached the bound by now.
            out[t] = bound[t] if self.at(seen[t : t + 1], bound[t : t + 1])[0] else self.solve_one(int(t), maximize)


def _worker_problem(compiled: CompiledModel) -> Problem:
    return Problem(compiled, threads=1)


def _run_chunk(args: tuple[list[int], float, float]) -> tuple[list[int], np.ndarray, np.ndarray, list[str], int]:
    indices, optimum, fraction = args
    mins, maxs, status, n = _fva_indices(worker_state(), indices, optimum, fraction)
    return indices, mins, maxs, status, n


def flux_variability(
    target: Problem | CompiledModel,
    reactions: Sequence[str] | None = None,
    fraction: float = 1.0,
    processes: int = 1,
    chunk_size: int | None = None,
) -> pd.DataFrame:
    """Flux variability analysis in the input model's reaction space (net fluxes).

    Parameters
    ----------
    target : Problem or CompiledModel
        A compiled model; a :class:`Problem` is reused (and left as it was found).
    reactions : sequence of str, optional
        Reactions to analyse (default: all, in model order).
    fraction : float
        Fraction of the optimal objective the model must keep (cobrapy's ``fraction_of_optimum``).
    processes : int
        Worker processes; 1 runs serially in this process. The parallel path returns the same table.
    chunk_size : int, optional
        Reactions per work unit in the parallel path.

    Returns
    -------
    DataFrame
        Columns ``reaction_id, minimum, maximum, status``; ``attrs["growth"]`` holds the optimum,
        ``attrs["n_solves"]`` the number of LPs solved. When the model itself is infeasible every row has
        that status and NaN bounds.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be within [0, 1], got {fraction}")
    problem = target if isinstance(target, Problem) else Problem(target)
    cm = problem.cm
    ridx = cm.rxn_index
    if reactions is None:
        indices = list(range(len(cm.rxn_ids)))
    else:
        missing = [r for r in reactions if r not in ridx]
        if missing:
            raise KeyError(f"reactions not in model: {', '.join(missing[:5])}")
        indices = [ridx[r] for r in reactions]
    res = problem.optimize(need_x=False)
    ids = [cm.rxn_ids[j] for j in indices]
    if not res.ok:
        df = pd.DataFrame({"reaction_id": ids, "minimum": np.nan, "maximum": np.nan, "status": res.status})
        df.attrs.update(growth=float("nan"), status=res.status, n_solves=1)
        return df
    optimum = res.objective
    if processes <= 1:
        mins, maxs, status, n = _fva_indices(problem, indices, optimum, fraction)
    else:
        chunk = chunk_size or max(1, int(np.ceil(len(indices) / (processes * 4))))
        chunks = [indices[i : i + chunk] for i in range(0, len(indices), chunk)]
        pos = {j: k for k, j in enumerate(indices)}
        mins = np.full(len(indices), np.nan)
        maxs = np.full(len(indices), np.nan)
        status = [""] * len(indices)
        n = 0
        work = [(c, optimum, fraction) for c in chunks]
        for idx, mn, mx, st, ns in process_map(_run_chunk, work, processes, _worker_problem, (cm,)):
            for k, j in enumerate(idx):
                mins[pos[j]], maxs[pos[j]], status[pos[j]] = mn[k], mx[k], st[k]
            n += ns
    df = pd.DataFrame({"reaction_id": ids, "minimum": mins, "maximum": maxs, "status": status})
    df.attrs.update(growth=optimum, status="optimal", n_solves=n)
    return df


def variability_summary(fva: pd.DataFrame) -> dict[str, float]:
    """Median / mean flux variability (|max - min|) over reactions with finite bounds."""
    rng = (fva["maximum"] - fva["minimum"]).abs()
    rng = rng[np.isfinite(rng)]
    return {
        "median_variability": float(rng.median()) if len(rng) else float("nan"),
        "mean_variability": float(rng.mean()) if len(rng) else float("nan"),
        "n_reactions": int(len(rng)),
        "fraction_zero": float((rng < 1e-9).mean()) if len(rng) else float("nan"),
    }
