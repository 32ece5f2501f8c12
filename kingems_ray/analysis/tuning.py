"""Tuning kcats by simulated annealing, edited in place on one persistent LP per chain.

The method (kinGEMs, DESIGN.md step 3):

1. solve the ecGEM once and rank the (reaction, gene, direction) pairs by the enzyme mass each one holds at the
   optimum (the share of ``E_g * MW_g`` its flux needs: ``v / kcat * MW / 1000`` [g/gDW]); keep the ``n_top``;
2. each step perturbs every selected kcat: with probability 0.7 up by ``|N(0, 20 sigma)|``, otherwise down by
   ``|N(0, sigma)|``, clipped to ``[0.01 k0, 100 k0]`` (``k0`` = the kcat before tuning, ``sigma`` = the pair's
   predicted spread ``kcat_std``, or a fallback, see :func:`pair_spreads`);
3. the new kcats are written into the matrix coefficients of the chain's :class:`~kingems_ray.ec.problem.Problem`
   (``set_kcat``: no rebuild), the LP is re-solved from the previous basis, and the move is accepted by the
   Metropolis rule on growth (``exp(delta / T)``); a rejected move writes the previous kcats back, in place;
4. the temperature falls geometrically; a chain stops at the target growth, below ``min_temperature``, after
   ``max_unchanged`` steps without a relative change above ``change_threshold``, or after ``max_iterations``.
   Every ``restart_frequency`` steps without an improvement of the best above ``restart_threshold``
   the chain goes back to its best point (the reference's "restart" strategy).

Beyond the reference, several conditions can be fitted at once (e.g. growth on several carbon sources): each
condition is a set of exchange bounds applied in place to the same problem for its solve, and the score is
``-sum_c (log g_c - log target_c)^2``.

Several chains (independent seeds from one :class:`numpy.random.SeedSequence`) run serially or in worker
processes; each chain owns one Problem built once from the compiled model, so both paths give identical results.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from ..ec.compiled import CompiledModel
from ..ec.problem import Problem, ProblemState
from ..errors import KingemsError
from ..parallel import process_map, worker_state
from .annealing_settings import (
    DEFAULT_FALLBACK_CV,
    AnnealingSettings,
    Condition,
    TuneResult,
    carbon_source_conditions,
    read_growth_rates,
    trajectory_path,
)
from .enzyme_mass import _flux_col_of_entries, pair_enzyme_mass, pair_spreads, select_targets

__all__ = [
    "DEFAULT_FALLBACK_CV", "AnnealingSettings", "Condition", "TuneResult", "carbon_source_conditions",
    "pair_enzyme_mass", "pair_spreads", "read_growth_rates", "run_chain", "select_targets", "trajectory_path",
    "tune_kcats", "tuned_build", "_flux_col_of_entries",
]

log = logging.getLogger(__name__)
#: Growth below this counts as no growth in log-errors (avoids log(0)).
_LOG_FLOOR = 1e-6


# ---------------------------------------------------------------------------------------------------------------------
# one chain
# ---------------------------------------------------------------------------------------------------------------------
def _evaluate(problem: Problem, conditions: Sequence[Condition] | None) -> tuple[float, list[float]]:
    """Score (higher is better) and growth per condition at the problem's current kcats."""
    if not conditions:
        g = problem.growth()
        return g, [g]
    growths = []
    loss = 0.0
    for c in conditions:
        with problem.reactions_bounded(c.bounds):
            g = problem.growth()
        growths.append(g)
        loss += (math.log(max(g, _LOG_FLOOR)) - math.log(c.target)) ** 2
    return -loss, growths


def _reached(score: float, growths: list[float], target_growth: float | None, n_cond: int, tol: float) -> bool:
    if n_cond:
        return -score <= tol * n_cond
    return target_growth is not None and growths[0] >= target_growth


@dataclass
class _ChainSpec:
    chain: int
    seed: np.random.SeedSequence
    targets: np.ndarray  # pair indices
    sigma: np.ndarray  # per pair
    k0: np.ndarray  # per pair: kcat before tuning (bounds are relative to it)
    settings: AnnealingSettings
    target_growth: float | None
    conditions: list[Condition] | None
    cond_names: list[str]


def run_chain(
    problem: Problem,
    spec: _ChainSpec,
    on_step: Callable[[int, Problem, bool], None] | None = None,
    progress: Callable[[dict], None] | None = None,
) -> dict:
    """Anneal on ``problem`` (changed in place; left at the chain's best kcats).

    Parameters
    ----------
    problem : Problem
    spec : _ChainSpec
    on_step : callable, optional
        Called after every step as ``on_step(iteration, problem, accepted)`` (tests check the LP here).
    progress : callable, optional
        Called with the trajectory row of every step.

    Returns
    -------
    dict
        ``chain, best_kcats`` (every pair), ``best_score, best_growths, rows`` (trajectory rows), ``tuned``
        (the pairs ever tuned).
    """
    c = _Chain(problem, spec, progress)
    s = c.s
    c.row(0, c.growths, True, False)
    unchanged = 0
    last_check_best = c.best_score
    it = 0
    while it < s.max_iterations and c.T > s.min_temperature and not c.reached():
        it += 1
        if s.reselect_every > 0 and it > 1 and (it - 1) % s.reselect_every == 0:
            c.reselect()
        old_score = c.score
        new_growths, accept = c.step()
        restarted = False
        if s.enable_restart and s.restart_frequency > 0 and it % s.restart_frequency == 0:
            if c.best_score - last_check_best <= s.restart_threshold * max(abs(last_check_best), 1e-6):
                c.restart()
                restarted = True
            last_check_best = c.best_score
        c.row(it, new_growths, accept, restarted)
        if on_step is not None:
            on_step(it, problem, accept)
        change = abs(c.score - old_score) / max(abs(old_score), 1e-6)
        unchanged = unchanged + 1 if change < s.change_threshold else 0
        if unchanged >= s.max_unchanged:
            break
        c.T *= s.cooling_rate
    c.go_to(c.best)
    return {
        "chain": spec.chain,
        "tuned": sorted(c.tuned),
        "best_kcats": c.best,
        "best_score": c.best_score,
        "best_growths": c.best_growths,
        "rows": c.rows,
    }


class _Chain:
    """One annealing chain's state on its problem: targets, current and best points, temperature, trajectory."""

    def __init__(self, problem: Problem, spec: _ChainSpec, progress: Callable[[dict], None] | None) -> None:
        s = self.s = spec.settings
        self.problem, self.spec, self.progress = problem, spec, progress
        self.rng = np.random.default_rng(spec.seed)
        strategy = s.strategy if s.strategy != "auto" else ("dual" if spec.conditions else "primal")
        problem.solver.set_strategy(strategy)
        self.tg = spec.targets
        self.tuned = set(map(int, self.tg))
        self.lo_all = spec.k0 / s.bound_factor
        self.hi_all = spec.k0 * s.bound_factor
        self.n_cond = len(spec.conditions or [])
        self.cur = problem.kcats[self.tg]
        self.score, self.growths = _evaluate(problem, spec.conditions)
        self.best, self.best_score, self.best_growths = problem.kcats, self.score, list(self.growths)
        self.T = s.temperature
        self.rows: list[dict] = []

    def reached(self) -> bool:
        """Whether the current point meets the target."""
        return _reached(self.score, self.growths, self.spec.target_growth, self.n_cond, self.s.loss_tolerance)

    def go_to(self, full: np.ndarray) -> None:
        """Write a full kcat vector (only the changed pairs)."""
        changed = np.nonzero(self.problem.kcats != full)[0]
        if changed.size:
            self.problem.set_kcats(changed, full[changed])

    def reselect(self) -> None:
        """Re-rank the pairs by enzyme mass at the current point (under the first condition, if any)."""
        p = self.problem
        if self.spec.conditions:
            with p.reactions_bounded(self.spec.conditions[0].bounds):
                self.tg = select_targets(p, self.s.n_top).index.to_numpy(int)
        else:
            self.tg = select_targets(p, self.s.n_top).index.to_numpy(int)
        self.tuned.update(map(int, self.tg))
        self.cur = p.kcats[self.tg]

    def step(self) -> tuple[list[float], bool]:
        """Propose, evaluate, and accept (Metropolis) or revert in place; returns the proposal's growths and the
        decision."""
        s, tg, rng = self.s, self.tg, self.rng
        # Propose: a fixed number of draws per step keeps every chain reproducible from its seed.
        up = rng.random(len(tg)) < s.up_probability
        z = np.abs(rng.standard_normal(len(tg)))
        sig = self.spec.sigma[tg]
        step = np.where(up, s.up_scale * sig * z, -sig * z)
        new = np.clip(self.cur + step, self.lo_all[tg], self.hi_all[tg])
        self.problem.set_kcats(tg, new)
        new_score, new_growths = _evaluate(self.problem, self.spec.conditions)
        delta = new_score - self.score
        u = rng.random()
        accept = bool(delta >= 0 or u < math.exp(delta / self.T))
        if accept:
            self.cur, self.score, self.growths = new, new_score, new_growths
            if self.score > self.best_score:
                self.best, self.best_score, self.best_growths = self.problem.kcats, self.score, list(self.growths)
        else:
            self.problem.set_kcats(tg, self.cur)  # revert in place
        return new_growths, accept

    def restart(self) -> None:
        """Back to the best point."""
        self.go_to(self.best)
        self.cur, self.score, self.growths = self.problem.kcats[self.tg], self.best_score, list(self.best_growths)

    def row(self, it: int, grw: list[float], acc: bool, restarted: bool) -> None:
        """Append (and report) one trajectory row."""
        r = {
            "iteration": it,
            "chain": self.spec.chain,
            "temperature": self.T,
            "growth": grw[0],
            "accepted": acc,
            "current_growth": self.growths[0],
            "best_growth": self.best_growths[0],
            "score": self.score,
            "best_score": self.best_score,
            "restarted": restarted,
        }
        if self.n_cond:
            for name, g in zip(self.spec.cond_names, grw):
                r[f"growth[{name}]"] = g
        self.rows.append(r)
        if self.progress is not None:
            self.progress(r)


def _fresh_problem(cm: CompiledModel, state: ProblemState) -> Problem:
    """A chain's own problem: built from the compiled model, then brought to the caller's start state."""
    p = Problem(cm, threads=1)
    p.restore(state)
    return p


def _chain_setup(cm: CompiledModel, state: ProblemState) -> tuple[CompiledModel, ProblemState]:
    return cm, state


def _chain_task(spec: _ChainSpec) -> dict:
    cm, state = worker_state()
    return run_chain(_fresh_problem(cm, state), spec)


# ---------------------------------------------------------------------------------------------------------------------
# public entry point
# ---------------------------------------------------------------------------------------------------------------------
def tuning_problem(target: CompiledModel | Problem, target_growth: float | None,
                   conditions: list[Condition] | None, chains: int) -> Problem:
    """Check the inputs every kcat tuner shares and return the problem to tune.

    Raises
    ------
    KingemsError
        For a missing or non-positive target growth (without conditions), ``chains < 1``, or a model with no
        kcats in its LP.
    """
    if conditions is None and (target_growth is None or not np.isfinite(target_growth) or target_growth <= 0):
        raise KingemsError(f"target growth must be a number > 0 [1/h], got {target_growth}")
    if chains < 1:
        raise KingemsError(f"chains must be >= 1, got {chains}")
    problem = target if isinstance(target, Problem) else Problem(target)
    cm = problem.cm
    if cm.pairs is None or len(cm.pairs) == 0 or cm.coef_entries is None or len(cm.coef_entries) == 0:
        raise KingemsError(
            f"model {cm.model_id!r} has no kcats in its LP (level {cm.level}): compile it at L2..L4 with a kcat table"
        )
    return problem


def tune_kcats(
    target: Problem | CompiledModel,
    target_growth: float | None = None,
    *,
    conditions: Sequence[Condition] | None = None,
    iterations: int | None = None,
    chains: int = 1,
    seed: int = 0,
    processes: int = 1,
    n_top: int | None = None,
    settings: AnnealingSettings | None = None,
    on_step: Callable[[int, Problem, bool], None] | None = None,
    progress: Callable[[dict], None] | None = None,
) -> TuneResult:
    """Tune the kcats of an ecGEM by simulated annealing so that it reaches a target growth.

    Parameters
    ----------
    target : Problem or CompiledModel
        An enzyme-constrained model (level L2..L4 with a kcat table). A Problem's current bounds, pool and kcats
        are the starting point; the Problem itself is not changed (chains run on their own copies).
    target_growth : float
        Growth [1/h] at which a chain stops (kinGEMs' ``biomass_goal``); required unless ``conditions`` is given.
    conditions : sequence of Condition, optional
        Fit several conditions at once (see :func:`carbon_source_conditions`) instead of one target.
    iterations : int, optional
        Overrides ``settings.max_iterations``.
    chains : int
        Independent chains; the one with the best score is kept.
    seed : int
        Seed of the :class:`numpy.random.SeedSequence` the chains' generators are spawned from.
    processes : int
        Worker processes for the chains (1: serial, in this process). Results do not depend on it. Workers are
        spawned: a script calling this with ``processes > 1`` needs the ``if __name__ == "__main__":`` guard.
    n_top : int, optional
        Overrides ``settings.n_top``.
    settings : AnnealingSettings, optional
    on_step, progress : callable, optional
        Serial path only: hooks called after every step (see :func:`run_chain`).

    Returns
    -------
    TuneResult

    Raises
    ------
    KingemsError
        Target growth <= 0, a model without kcats, bad settings.
    """
    s = settings or AnnealingSettings()
    if iterations is not None or n_top is not None:
        s = AnnealingSettings(**{**asdict(s), **({"max_iterations": int(iterations)} if iterations is not None else {}),
                                 **({"n_top": int(n_top)} if n_top is not None else {})})
    s.check()
    conditions = list(conditions) if conditions else None
    problem = tuning_problem(target, target_growth, conditions, chains)
    cm = problem.cm
    state = problem.snapshot()  # bounds, pool, kcats and other edits: each chain starts from them
    tdf, sigma_all = _targets(problem, conditions, s)
    tg = tdf.index.to_numpy(int)
    k_orig = cm.pairs["kcat"].to_numpy(float)
    seeds = np.random.SeedSequence(seed).spawn(chains)
    names = [c.name for c in conditions] if conditions else []
    specs = [
        _ChainSpec(i, seeds[i], tg, sigma_all, k_orig, s, target_growth, conditions, names)
        for i in range(chains)
    ]
    results = _run_chains(cm, state, specs, processes, on_step, progress)
    best = max(results, key=lambda r: (r["best_score"], -r["chain"]))
    table = cm.pairs.copy()
    table["kcat_original"] = k_orig
    table["kcat"] = best["best_kcats"]
    table["tuned"] = False
    table.loc[best["tuned"], "tuned"] = True
    traj = pd.DataFrame([row for r in results for row in r["rows"]])
    reached = _reached(best["best_score"], best["best_growths"], target_growth, len(names), s.loss_tolerance)
    return TuneResult(
        table=table.reset_index(drop=True),
        trajectory=traj,
        best_growth=float(best["best_growths"][0]),
        best_chain=int(best["chain"]),
        reached=bool(reached),
        best_score=float(best["best_score"]),
        targets=tdf,
        settings=s,
        condition_growth=dict(zip(names, map(float, best["best_growths"]))) if names else {},
    )


def _targets(problem: Problem, conditions: list[Condition] | None, s: AnnealingSettings
             ) -> tuple[pd.DataFrame, np.ndarray]:
    """The pairs to tune (under the first condition, if any: that is what the fit starts from) with their sigma,
    and sigma of every pair."""
    if conditions:
        with problem.reactions_bounded(conditions[0].bounds):
            tdf = select_targets(problem, s.n_top)
    else:
        tdf = select_targets(problem, s.n_top)
    tg = tdf.index.to_numpy(int)
    pairs = problem.cm.pairs
    sigma_all, cv, n_fb = pair_spreads(pairs, s.fallback_cv)
    if n_fb:
        log.info("%d of %d pairs have no kcat_std: sigma = %.3g * kcat", n_fb, len(sigma_all), cv)
    tdf["sigma"] = sigma_all[tg]
    std = pd.to_numeric(pairs.get("kcat_std", pd.Series(np.nan, index=pairs.index)), errors="coerce")
    tdf["sigma_fallback"] = ~(np.isfinite(std.to_numpy(float)[tg]) & (std.to_numpy(float)[tg] > 0))
    return tdf, sigma_all


def _run_chains(cm: CompiledModel, state: ProblemState, specs: list[_ChainSpec], processes: int,
                on_step: Callable | None, progress: Callable | None) -> list[dict]:
    """Every chain on its own fresh problem, serially or in worker processes (same results), in chain order."""
    if processes <= 1 or len(specs) == 1:
        return [run_chain(_fresh_problem(cm, state), sp, on_step=on_step, progress=progress) for sp in specs]
    results = []
    # Report each chain as it finishes (its rows at once); the result does not depend on the order.
    for r in process_map(_chain_task, specs, min(processes, len(specs)), _chain_setup, (cm, state), ordered=False):
        results.append(r)
        if progress is not None:
            for row in r["rows"]:
                progress(row)
    return sorted(results, key=lambda r: r["chain"])


def tuned_build(built, target_growth: float, spec=None, **tune_options) -> tuple[object, TuneResult]:
    """Tune a built ecGEM's kcats and compile the tuned table with the same settings.

    Parameters
    ----------
    built : kingems_ray.ec.build.Built
        The ecGEM to tune (its compiled model and its cobra model).
    target_growth : float
    spec : EcSpec, optional
        The settings to compile the tuned table with (default: level and pool of ``built``, gecko rows).
    **tune_options
        Passed to :func:`tune_kcats` (``settings``, ``chains``, ``processes``, ``seed``, ...).

    Returns
    -------
    (Built, TuneResult)
    """
    from ..ec.spec import EcSpec

    cm = built.compiled
    spec = spec or EcSpec(level=cm.level, pool=cm.pool if cm.pool is not None else 0.25)
    res = tune_kcats(cm, target_growth, **tune_options)
    return spec.build(built.model, kcats=res.kcat_table()), res
