"""Tuning kcats with priors: move only identifiable kcats, and as little as their spread allows.

Today's annealing (:mod:`.tuning`, the kinGEMs reference) moves the kcats holding the most enzyme mass with
upward-biased steps (70 % up by ``|N(0, 20 sigma)|``) and no cost for moving: on iML1515 most tuned kcats end at the
100x bound. This variant treats the table as a prior:

* **Prior.** Each kcat is log-normal around its prediction with the spread of
  :func:`kingems_ray.analysis.uncertainty.kcat_spread` (``log10_kcat_std``, else ``kcat_std`` converted, else a
  documented fallback). The state of a tuned pair is ``z = (log10 k - log10 k0) / sigma``; the penalty is
  ``sum z^2 / 2`` (the negative log prior).
* **Fit.** One target: ``max(0, log(target / growth))^2 / (2 tau^2)`` (no cost once the target is reached, so
  there is no reason to overshoot); several conditions: the sum of squared log-errors ``/ (2 tau^2)``. ``tau`` is
  the accepted log-error (default ``log 1.05``).
* **Identifiability.** Only pairs whose kcat can change growth are tuned: pairs carrying flux at the current
  optimum, ranked by their growth sensitivity ``d log(growth) / d log(kcat)`` measured by a small in-place kcat
  increase (``sensitivity_step``, default x1.1) and a warm re-solve (GECKO and geckopy choose what to move by such
  sensitivities / control coefficients). Pairs below ``min_sensitivity`` are not identifiable from growth and
  stay at their prediction. The selection is repeated every ``reselect_every`` steps.
* **Moves.** Symmetric in ``z``: ``m`` tuned pairs per step (drawn with probability proportional to their
  sensitivity) get ``z += step * N(0, 1)``, kept within ``|z| <= z_max``; Metropolis on ``-(fit + penalty) / T``
  with ``T`` cooling geometrically from ``temperature``. A proposal moving ``m`` pairs costs about
  ``m step^2 / 2`` of penalty whatever the deficit, while the fit term it can gain is ``d^2 / (2 tau^2)`` for a
  log-deficit ``d``: moving every tuned pair at once (about 2 of penalty for 44 pairs) is never paid for by a
  deficit of a few percent (fit term < 0.2), so such a chain accepted nothing and ended where it started. By
  default (``n_move=None``) ``m`` is as many pairs as the current fit term pays for,
  ``clip(floor(fit / (step^2 / 2)), 1, n_tuned)``: one pair near the target, all of them far from it.
A chain stops when the
  target is reached (as the reference does), after ``max_unchanged`` steps without improvement, or at
  ``max_iterations``.

Every edit is an in-place coefficient change on one persistent problem per chain; a rejected move writes the
previous kcats back. :func:`moved_summary` reports how many kcats moved and how far, in units of their spread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from ..ec.compile import CompiledModel
from ..ec.problem import Problem
from ..errors import KingemsError
from ..parallel import process_map, worker_state
from .tuning import Condition, TuneResult, _evaluate, pair_enzyme_mass, tuning_problem
from .uncertainty import kcat_spread

_LOG_FLOOR = 1e-6


@dataclass
class PriorSettings:
    """Settings of :func:`tune_kcats_with_priors` (see the module docstring).

    Attributes
    ----------
    n_top : int
        Pairs tuned at most (the most sensitive identifiable ones).
    n_move : int or None
        Pairs moved per step, drawn among the tuned ones with probability proportional to their sensitivity;
        0 moves every tuned pair at once; ``None`` (default) as many as the current fit term pays for (see the
        module docstring).
    min_sensitivity : float
        ``d log growth / d log kcat`` below which a pair is not identifiable.
    sensitivity_step : float
        Factor of the kcat increase used to measure sensitivity.
    tau : float
        Accepted log-error of the fit.
    step : float
        Proposal standard deviation in units of the spread.
    z_max : float
        Tuned kcats stay within ``z_max`` spreads of their prediction.
    temperature, cooling_rate, min_temperature : float
        Metropolis temperature (in units of the negative log posterior), its factor per step, and the floor.
    max_iterations, max_unchanged, reselect_every : int
    prior_weight : float
        Multiplies the penalty (0: no prior; the fit alone, for comparison).
    fallback_log10_sd, spread_scale : float
        Passed to :func:`kingems_ray.analysis.uncertainty.kcat_spread`.
    """

    n_top: int = 50
    n_move: int | None = None
    min_sensitivity: float = 1e-3
    sensitivity_step: float = 1.1
    tau: float = math.log(1.05)
    step: float = 0.3
    z_max: float = 6.0
    temperature: float = 1.0
    cooling_rate: float = 0.97
    min_temperature: float = 1e-3
    max_iterations: int = 500
    max_unchanged: int = 100
    reselect_every: int = 10
    prior_weight: float = 1.0
    fallback_log10_sd: float | None = None
    spread_scale: float = 1.0

    def check(self) -> None:
        """Raise :class:`KingemsError` on values that make no sense."""
        bad_move = self.n_move is not None and self.n_move < 0
        if self.n_top < 1 or self.max_iterations < 0 or self.reselect_every < 0 or bad_move:
            raise KingemsError("priors tuning needs n_top >= 1, n_move >= 0, max_iterations >= 0, "
                               "reselect_every >= 0")
        if not (self.tau > 0 and self.step > 0 and self.z_max > 0 and self.sensitivity_step > 1):
            raise KingemsError("priors tuning needs tau, step, z_max > 0 and sensitivity_step > 1")
        if not (self.temperature > 0 and 0 < self.cooling_rate <= 1 and self.prior_weight >= 0):
            raise KingemsError("priors tuning needs temperature > 0, 0 < cooling_rate <= 1, prior_weight >= 0")


def sensitivities(problem: Problem, candidates: Sequence[int], step: float = 1.1,
                  conditions: Sequence[Condition] | None = None) -> np.ndarray:
    """``d log growth / d log kcat`` of each candidate pair, by an in-place kcat increase and a warm re-solve.

    The kcat is written back after each measurement; the growth of several conditions is summed.
    """
    base = sum(_evaluate(problem, conditions)[1])
    if not base > 0:
        return np.zeros(len(candidates))
    k = problem.kcats
    out = np.zeros(len(candidates))
    dlog = math.log(step)
    for n, p in enumerate(candidates):
        problem.set_kcat(int(p), k[p] * step)
        try:
            g = sum(_evaluate(problem, conditions)[1])
        finally:
            problem.set_kcat(int(p), k[p])
        out[n] = (math.log(max(g, _LOG_FLOOR)) - math.log(base)) / dlog
    return out


def identifiable_pairs(problem: Problem, settings: PriorSettings,
                       conditions: Sequence[Condition] | None = None) -> pd.DataFrame:
    """Flux-carrying pairs ranked by growth sensitivity; those above ``min_sensitivity``, ``n_top`` at most.

    Returns
    -------
    DataFrame
        Index = pair; ``reaction_id, gene_id, direction, kcat, enzyme_mass, sensitivity``.
    """
    cm = problem.cm
    first = conditions[0].bounds if conditions else {}
    with problem.reactions_bounded(first):
        res = problem.optimize()
    if not res.ok:
        raise KingemsError(f"the model has no optimum ({res.status}): nothing to tune")
    mass = pair_enzyme_mass(cm, res.x, problem.kcats)
    carrying = np.flatnonzero(mass > 0)
    sens = sensitivities(problem, carrying, settings.sensitivity_step, conditions)
    keep = sens > settings.min_sensitivity
    order = np.argsort(-sens[keep], kind="stable")[: settings.n_top]
    chosen = carrying[keep][order]
    df = cm.pairs.loc[chosen, ["reaction_id", "gene_id", "direction"]].copy()
    df["kcat"] = problem.kcats[chosen]
    df["enzyme_mass"] = mass[chosen]
    df["sensitivity"] = sens[keep][order]
    df.attrs["n_flux_carrying"] = int(carrying.size)
    df.attrs["n_identifiable"] = int(keep.sum())
    return df


def _fit(growths: list[float], score: float, target: float | None, conditions, tau: float) -> float:
    """Negative log-likelihood part of the objective (0 once a single target is reached)."""
    if conditions:
        return -score / (2 * tau * tau)
    short = max(0.0, math.log(target) - math.log(max(growths[0], _LOG_FLOOR)))
    return short * short / (2 * tau * tau)


def _run_chain(problem: Problem, chain: int, seed: np.random.SeedSequence, sigma: np.ndarray,
               s: PriorSettings, target: float | None, conditions: list[Condition] | None) -> dict:
    rng = np.random.default_rng(seed)
    problem.solver.set_strategy("dual" if conditions else "primal")
    k0 = problem.cm.pairs["kcat"].to_numpy(float)
    logk0 = np.log10(k0)
    names = [c.name for c in conditions] if conditions else []
    tdf = identifiable_pairs(problem, s, conditions)
    tg = tdf.index.to_numpy(int)
    w = tdf["sensitivity"].to_numpy(float)
    tuned = set(map(int, tg))

    def state() -> tuple[float, list[float], float, float]:
        sc, gr = _evaluate(problem, conditions)
        z = (np.log10(problem.kcats) - logk0) / sigma
        pen = s.prior_weight * float(np.sum(z * z)) / 2
        fit = _fit(gr, sc, target, conditions, s.tau)
        return fit + pen, gr, fit, pen

    def reached(gr: list[float], fit: float) -> bool:
        if conditions:
            return fit <= len(conditions) / 2  # every condition within about tau on average
        return gr[0] >= target

    energy, growths, fit, pen = state()
    best = (energy, problem.kcats, list(growths), fit, pen)
    rows = [{"iteration": 0, "chain": chain, "temperature": s.temperature, "growth": growths[0], "accepted": True,
             "current_growth": growths[0], "best_growth": growths[0], "energy": energy, "fit": fit, "penalty": pen,
             "n_tuned": len(tg)}]
    T = s.temperature
    unchanged = 0
    it = 0
    while it < s.max_iterations and T > s.min_temperature and not reached(growths, fit) and len(tg):
        it += 1
        if s.reselect_every and it > 1 and (it - 1) % s.reselect_every == 0:
            ndf = identifiable_pairs(problem, s, conditions)
            if len(ndf):
                tg, w = ndf.index.to_numpy(int), ndf["sensitivity"].to_numpy(float)
                tuned.update(map(int, tg))
        m = s.n_move if s.n_move is not None else max(1, int(fit // (s.step * s.step / 2)))
        mv = (tg if m == 0 or m >= len(tg) else np.sort(rng.choice(tg, size=m, replace=False, p=w / w.sum())))
        cur = problem.kcats[mv]
        z = (np.log10(cur) - logk0[mv]) / sigma[mv]
        z_new = np.clip(z + s.step * rng.standard_normal(len(mv)), -s.z_max, s.z_max)
        problem.set_kcats(mv, 10.0 ** (logk0[mv] + z_new * sigma[mv]))
        e_new, g_new, f_new, p_new = state()
        delta = e_new - energy
        accept = bool(delta <= 0 or rng.random() < math.exp(-delta / T))
        if accept:
            energy, growths, fit, pen = e_new, g_new, f_new, p_new
            if energy < best[0] - 1e-12:
                best = (energy, problem.kcats, list(growths), fit, pen)
                unchanged = 0
            else:
                unchanged += 1
        else:
            problem.set_kcats(mv, cur)
            unchanged += 1
        r = {"iteration": it, "chain": chain, "temperature": T, "growth": g_new[0], "accepted": accept,
             "current_growth": growths[0], "best_growth": best[2][0], "energy": energy, "fit": fit, "penalty": pen,
             "n_tuned": len(tg)}
        for name, g in zip(names, g_new):
            r[f"growth[{name}]"] = g
        rows.append(r)
        if unchanged >= s.max_unchanged:
            break
        T *= s.cooling_rate
    # The point the chain ends at when it reached the target; else its lowest energy.
    final = (energy, problem.kcats, list(growths), fit, pen) if reached(growths, fit) else best
    return {"chain": chain, "energy": final[0], "kcats": final[1], "growths": final[2], "fit": final[3],
            "penalty": final[4], "reached": reached(final[2], final[3]), "rows": rows, "tuned": sorted(tuned),
            "n_flux_carrying": tdf.attrs.get("n_flux_carrying"), "n_identifiable": tdf.attrs.get("n_identifiable")}


def _fresh(cm: CompiledModel, state) -> Problem:
    """A chain's own problem: built once from the compiled model, the caller's edits replayed from a snapshot."""
    p = Problem(cm, threads=1)
    p.restore(state)
    return p


def _setup(cm: CompiledModel, state) -> tuple[CompiledModel, object]:
    return cm, state


def _task(args) -> dict:
    cm, state = worker_state()
    return _run_chain(_fresh(cm, state), *args)


def moved_summary(table: pd.DataFrame, sigma: np.ndarray, tol: float = 1e-9) -> dict:
    """How many kcats moved (``|log10 k - log10 k0| > tol``) and how far, in units of their spread.

    ``table`` needs ``kcat`` and ``kcat_original``; ``sigma`` is the log10 spread per row.
    """
    d = np.log10(table["kcat"].to_numpy(float)) - np.log10(table["kcat_original"].to_numpy(float))
    moved = np.abs(d) > tol
    z = np.abs(d[moved]) / np.asarray(sigma, float)[moved]
    fold = 10.0 ** np.abs(d[moved])
    return {"n_moved": int(moved.sum()), "median_distance_sd": float(np.median(z)) if z.size else 0.0,
            "max_distance_sd": float(z.max()) if z.size else 0.0,
            "median_fold_change": float(np.median(fold)) if fold.size else 1.0,
            "n_beyond_3sd": int((z > 3).sum())}


def tune_kcats_with_priors(
    target: Problem | CompiledModel,
    target_growth: float | None = None,
    *,
    conditions: Sequence[Condition] | None = None,
    chains: int = 1,
    seed: int = 0,
    processes: int = 1,
    settings: PriorSettings | None = None,
    **overrides,
) -> TuneResult:
    """Tune identifiable kcats toward a growth target with a log-normal prior on each (see the module docstring).

    Parameters
    ----------
    target : Problem or CompiledModel
        An ecGEM with kcats; a Problem's current kcats are the starting point (it is not changed).
    target_growth : float
        Growth [1/h] to reach; required unless ``conditions``.
    conditions : sequence of Condition, optional
        Several conditions fitted at once (:func:`kingems_ray.analysis.tuning.carbon_source_conditions`).
    chains, seed, processes :
        As :func:`kingems_ray.analysis.tuning.tune_kcats`: chains seeded from ``SeedSequence(seed)``, results
        independent of ``processes``; the chain with the lowest final energy among those that reached the target
        (else among all) is kept.
    settings : PriorSettings, optional
    **overrides :
        Fields of :class:`PriorSettings`.

    Returns
    -------
    TuneResult
        ``table`` with ``kcat_original``, ``tuned``, ``log10_sd`` (the prior spread) and ``z`` (distance from the
        prediction in spreads); ``targets`` holds :func:`moved_summary` in ``attrs["moved"]``;
        ``settings`` is the :class:`PriorSettings`.
    """
    s = PriorSettings(**{**asdict(settings or PriorSettings()), **overrides})
    s.check()
    conditions = list(conditions) if conditions else None
    problem = tuning_problem(target, target_growth, conditions, chains)
    cm = problem.cm
    sigma, src = kcat_spread(cm.pairs, s.fallback_log10_sd, s.spread_scale)
    start = problem.snapshot()
    seeds = np.random.SeedSequence(seed).spawn(chains)
    args = [(i, seeds[i], sigma, s, target_growth, conditions) for i in range(chains)]
    if processes <= 1 or chains == 1:
        results = [_run_chain(_fresh(cm, start), *a) for a in args]
    else:
        results = list(process_map(_task, args, min(processes, chains), _setup, (cm, start)))
    pool = [r for r in results if r["reached"]] or results
    best = min(pool, key=lambda r: (r["energy"], r["chain"]))
    table = cm.pairs.copy()
    table["kcat_original"] = cm.pairs["kcat"].to_numpy(float)
    table["kcat"] = best["kcats"]
    table["tuned"] = False
    table.loc[best["tuned"], "tuned"] = True
    table["log10_sd"] = sigma
    table["spread_source"] = src
    table["z"] = (np.log10(table["kcat"]) - np.log10(table["kcat_original"])) / sigma
    traj = pd.DataFrame([row for r in results for row in r["rows"]])
    targets = table[table["tuned"]].copy()
    targets.attrs["moved"] = moved_summary(table, sigma)
    targets.attrs["n_flux_carrying"] = best["n_flux_carrying"]
    targets.attrs["n_identifiable"] = best["n_identifiable"]
    names = [c.name for c in conditions] if conditions else []
    return TuneResult(table=table.reset_index(drop=True), trajectory=traj, best_growth=float(best["growths"][0]),
                      best_chain=int(best["chain"]), reached=bool(best["reached"]), best_score=-float(best["energy"]),
                      targets=targets, settings=s,
                      condition_growth=dict(zip(names, map(float, best["growths"]))) if names else {})
