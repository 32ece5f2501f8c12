"""Flux balance and flux variability analysis on the persistent solver."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

from ..ec.compile import CompiledModel
from ..solver.problem import Problem

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


def _fva_indices(
    problem: Problem, indices: Sequence[int], optimum: float, fraction: float
) -> tuple[np.ndarray, np.ndarray, list[str], int]:
    """Min/max net flux of the given reactions with the objective held at ``fraction * optimum``.

    Solutions met along the way are used to skip solves: when any feasible point already reaches a
    reaction's bound, that bound is the reaction's extreme value (exact, no LP needed).
    """
    cm = problem.cm
    oj = cm.objective_index()
    olb, oub = problem.reaction_bounds(oj)
    n = len(cm.rxn_ids)
    # Current net bounds of every reaction, after the objective is fixed below.
    lo_b = np.empty(n)
    hi_b = np.empty(n)
    fwd_lb, fwd_ub = problem.solver.col_bounds(cm.fwd_col)
    lo_b[:], hi_b[:] = fwd_lb, fwd_ub
    split = cm.rev_col >= 0
    if split.any():
        rlb, rub = problem.solver.col_bounds(cm.rev_col[split])
        lo_b[split] = fwd_lb[split] - rub
        hi_b[split] = fwd_ub[split] - rlb
    target = fraction * optimum
    # Never ask for more than the optimum (round-off could make the fixed problem infeasible).
    target = min(target, optimum)
    seen_lo = np.full(n, np.inf)
    seen_hi = np.full(n, -np.inf)
    mins = np.full(len(indices), np.nan)
    maxs = np.full(len(indices), np.nan)
    status = ["optimal"] * len(indices)
    n_solves = 0
    with problem.reactions_bounded({oj: (max(olb, target), oub)}):
        lo_b[oj] = max(olb, target)
        problem.solver.set_strategy("primal")
        res = problem.optimize()
        if not res.ok:
            return mins, maxs, [res.status] * len(indices), 1
        v = problem.fluxes(res.x)
        np.minimum(seen_lo, v, out=seen_lo)
        np.maximum(seen_hi, v, out=seen_hi)
        for k, j in enumerate(indices):
            for sense in (False, True):
                bound = hi_b[j] if sense else lo_b[j]
                seen = seen_hi[j] if sense else seen_lo[j]
                if np.isfinite(bound) and abs(seen - bound) <= _BOUND_TOL * max(1.0, abs(bound)):
                    val = bound
                else:
                    cols, coefs = problem.reaction_objective(int(j))
                    problem.solver.set_objective(cols, coefs, maximize=sense)
                    r = problem.solver.solve()
                    n_solves += 1
                    if r.ok:
                        val = r.objective
                        v = problem.fluxes(r.x)
                        np.minimum(seen_lo, v, out=seen_lo)
                        np.maximum(seen_hi, v, out=seen_hi)
                    else:
                        if r.status == "unbounded":
                            val = np.inf if sense else -np.inf
                        else:
                            val = np.nan
                        status[k] = r.status
                if sense:
                    maxs[k] = val
                else:
                    mins[k] = val
        problem.restore_objective()
        problem.solver.set_strategy("dual")
    return mins, maxs, status, n_solves


_WORKER: dict = {}


def _init_worker(compiled: CompiledModel) -> None:
    _WORKER["problem"] = Problem(compiled, threads=1)


def _run_chunk(args: tuple[list[int], float, float]) -> tuple[list[int], np.ndarray, np.ndarray, list[str], int]:
    indices, optimum, fraction = args
    mins, maxs, status, n = _fva_indices(_WORKER["problem"], indices, optimum, fraction)
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
        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(processes, mp_context=ctx, initializer=_init_worker, initargs=(cm,)) as ex:
            for idx, mn, mx, st, ns in ex.map(_run_chunk, [(c, optimum, fraction) for c in chunks]):
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
