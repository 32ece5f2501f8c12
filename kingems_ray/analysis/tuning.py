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

import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd

from ..ec.compile import SEC_PER_H, CompiledModel
from ..ec.problem import Problem, ProblemState
from ..errors import KingemsError
from ..parallel import process_map, worker_state

log = logging.getLogger(__name__)

#: Relative spread (sigma / kcat) used when no pair of the table has a ``kcat_std``.
DEFAULT_FALLBACK_CV = 0.5
#: Growth below this counts as no growth in log-errors (avoids log(0)).
_LOG_FLOOR = 1e-6


# ---------------------------------------------------------------------------------------------------------------------
# settings and inputs
# ---------------------------------------------------------------------------------------------------------------------
@dataclass
class AnnealingSettings:
    """Annealing parameters; defaults are the kinGEMs e_coli_core config (``simulated_annealing`` block).

    Attributes
    ----------
    temperature : float
        Start temperature, in units of the score (growth [1/h] for one target).
    cooling_rate : float
        Temperature factor per step.
    min_temperature : float
        A chain stops below it.
    max_iterations : int
        Steps per chain at most.
    max_unchanged : int
        Stop after this many consecutive steps whose relative change of the current score is below
        ``change_threshold``.
    change_threshold : float
    n_top : int
        Number of pairs tuned (the ones holding the most enzyme mass).
    up_probability : float
        Probability of a move up (0.7 in kinGEMs).
    up_scale : float
        Up-moves draw from ``|N(0, up_scale * sigma)|`` (20 in kinGEMs); down-moves from ``|N(0, sigma)|``.
    bound_factor : float
        kcats stay within ``[k0 / bound_factor, k0 * bound_factor]`` (100 in kinGEMs).
    fallback_cv : float or None
        sigma / kcat for pairs without ``kcat_std``; ``None``: the median relative spread of the pairs that have
        one, or :data:`DEFAULT_FALLBACK_CV` when none has.
    enable_restart, restart_frequency, restart_threshold
        Go back to the best point when the best has not improved by ``restart_threshold`` (relative) within
        ``restart_frequency`` steps.
    strategy : {"auto", "dual", "primal"}
        Simplex variant for the warm re-solves. ``auto``: primal for one target (measured faster after kcat edits on
        iML1515, ``scripts/bench_tuning.py``: 15 vs 21 ms per step), dual for multi-condition fits, whose
        carbon-source switches are bound changes (iML1515, 24 conditions: 0.7 s vs 9 s per step).
    reselect_every : int
        Re-rank the pairs by enzyme mass at the current point every this many steps (0: select once, as kinGEMs
        does). Re-selection lets a chain move on when pairs outside the first selection become limiting.
    loss_tolerance : float
        Multi-condition fits stop when the loss is at most this per condition (default: every growth within
        about 10 %: ``log(1.1)^2``).
    """

    temperature: float = 100.0
    cooling_rate: float = 0.95
    min_temperature: float = 1e-3
    max_iterations: int = 1000
    max_unchanged: int = 50
    change_threshold: float = 1e-3
    n_top: int = 20
    up_probability: float = 0.7
    up_scale: float = 20.0
    bound_factor: float = 100.0
    fallback_cv: float | None = None
    enable_restart: bool = True
    restart_frequency: int = 100
    restart_threshold: float = 1e-3
    strategy: str = "auto"
    reselect_every: int = 0
    loss_tolerance: float = math.log(1.1) ** 2

    def check(self) -> None:
        """Raise :class:`KingemsError` on values that make no sense."""
        if not self.temperature > 0 or not 0 < self.cooling_rate <= 1:
            raise KingemsError("annealing needs temperature > 0 and 0 < cooling_rate <= 1")
        if self.max_iterations < 0 or self.n_top < 1:
            raise KingemsError("annealing needs max_iterations >= 0 and n_top >= 1")
        if not 0 <= self.up_probability <= 1 or self.bound_factor < 1:
            raise KingemsError("annealing needs 0 <= up_probability <= 1 and bound_factor >= 1")
        if self.strategy not in ("auto", "dual", "primal"):
            raise KingemsError(f"strategy must be 'auto', 'dual' or 'primal', got {self.strategy!r}")

    @classmethod
    def from_config(cls, config: str | Path | Mapping, **overrides) -> AnnealingSettings:
        """Read a kinGEMs run config (its ``simulated_annealing`` block) or a flat mapping.

        ``max_unchanged_iterations`` / ``n_top_enzymes`` / ``adaptive_strategies`` are mapped to this class's names;
        ``biomass_goal`` is not a setting (pass it as the target growth); unknown keys are ignored.
        """
        if not isinstance(config, Mapping):
            config = json.loads(Path(config).read_text())
        block = dict(config.get("simulated_annealing", config))
        ren = {"max_unchanged_iterations": "max_unchanged", "n_top_enzymes": "n_top"}
        flat = {ren.get(k, k): v for k, v in block.items()}
        ad = flat.pop("adaptive_strategies", None) or {}
        for k in ("enable_restart", "restart_frequency", "restart_threshold"):
            if k in ad:
                flat[k] = ad[k]
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in flat.items() if k in names}
        kw.update(overrides)
        return cls(**kw)


@dataclass
class Condition:
    """One growth condition of a multi-condition fit: reaction bounds applied for its solve, and its target."""

    name: str
    bounds: dict[str, tuple[float, float]]
    target: float


@dataclass
class TuneResult:
    """Outcome of :func:`tune_kcats`.

    Attributes
    ----------
    table : DataFrame
        The kcat table (``reaction_id, gene_id, direction, kcat, kcat_std, mw, source``) with the best chain's
        kcats, plus ``kcat_original`` (before tuning) and ``tuned`` (whether the pair was a tuning target).
    trajectory : DataFrame
        One row per step and chain: ``iteration, chain, temperature, growth`` (proposed), ``accepted``,
        ``current_growth``, ``best_growth``, ``score``, ``restarted`` (and ``growth[<condition>]`` columns for
        multi-condition fits). Iteration 0 is the starting point.
    best_growth : float
        Growth of the best point (first condition for multi-condition fits).
    best_chain : int
    reached : bool
        Whether the best point meets the target (growth >= target, or loss <= tolerance).
    best_score : float
    targets : DataFrame
        The tuned pairs with the enzyme mass that selected them and their sigma.
    settings : AnnealingSettings
    """

    table: pd.DataFrame
    trajectory: pd.DataFrame
    best_growth: float
    best_chain: int
    reached: bool
    best_score: float
    targets: pd.DataFrame
    settings: AnnealingSettings
    condition_growth: dict[str, float] = field(default_factory=dict)

    def write(self, path: str | Path) -> tuple[Path, Path]:
        """Write the tuned table to ``path`` (Parquet) and the trajectory next to it (``<stem>_trajectory.parquet``)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        self.table.to_parquet(p, index=False)
        tp = trajectory_path(p)
        self.trajectory.to_parquet(tp, index=False)
        return p, tp


    def kcat_table(self) -> pd.DataFrame:
        """The tuned kcat table in the input format (without ``kcat_original`` / ``tuned``), ready to compile."""
        return self.table.drop(columns=["kcat_original", "tuned"])


def trajectory_path(tuned_path: str | Path) -> Path:
    """Where :meth:`TuneResult.write` puts the trajectory of a tuned table."""
    p = Path(tuned_path)
    return p.with_name(p.stem + "_trajectory.parquet")


# ---------------------------------------------------------------------------------------------------------------------
# enzyme mass per pair and spreads
# ---------------------------------------------------------------------------------------------------------------------
def _flux_col_of_entries(cm: CompiledModel) -> np.ndarray:
    """For every kcat matrix entry, the column of the flux that the entry's kcat limits."""
    ce = cm.coef_entries
    out = ce["col"].to_numpy(int).copy()
    e_rows = ce["kind"].to_numpy() == "E"
    if e_rows.any():
        A = cm.lp.A.tocsr()
        for i in np.nonzero(e_rows)[0]:
            r, c = int(ce["row"].iat[i]), int(ce["col"].iat[i])
            cols = A.indices[A.indptr[r] : A.indptr[r + 1]]
            # A capacity row holds the flux (coefficient 1) and one enzyme column.
            out[i] = int(cols[cols != c][0])
    return out


def pair_enzyme_mass(cm: CompiledModel, x: np.ndarray, kcats: np.ndarray | None = None) -> np.ndarray:
    """Enzyme mass [g/gDW] each pair needs at a solution ``x``: ``flux / (kcat * 3600) * MW / 1000``.

    Parameters
    ----------
    cm : CompiledModel
    x : ndarray
        Column values of a solution.
    kcats : ndarray, optional
        Current kcats [1/s] per pair (default: the compiled ones).

    Returns
    -------
    ndarray
        One value per row of ``cm.pairs``; a pair used in several clauses gets the largest share.
    """
    if cm.pairs is None or cm.coef_entries is None or len(cm.coef_entries) == 0:
        return np.zeros(0 if cm.pairs is None else len(cm.pairs))
    k = cm.pairs["kcat"].to_numpy(float) if kcats is None else np.asarray(kcats, float)
    mw = cm.pairs["mw"].to_numpy(float) if "mw" in cm.pairs else np.full(len(k), np.nan)
    mw = np.where(np.isfinite(mw) & (mw > 0), mw, float(cm.report.get("default_mw", 40000.0)))
    pidx = cm.coef_entries["pair"].to_numpy(int)
    flux = np.abs(x[_flux_col_of_entries(cm)])
    share = flux / (k[pidx] * SEC_PER_H) * mw[pidx] / 1000.0
    out = np.zeros(len(k))
    np.maximum.at(out, pidx, share)
    return out


def pair_spreads(pairs: pd.DataFrame, fallback_cv: float | None = None) -> tuple[np.ndarray, float, int]:
    """sigma [1/s] per pair: its ``kcat_std``, or ``fallback_cv * kcat`` where that is missing or zero.

    The fallback relative spread is, unless given, the median ``kcat_std / kcat`` of the pairs that have a spread
    (so a table with ensemble spreads lends them to its gaps), or :data:`DEFAULT_FALLBACK_CV` when none has one
    (e.g. ECMpy's database kcats).

    Returns
    -------
    (sigma, cv_used, n_fallback)
    """
    k = pairs["kcat"].to_numpy(float)
    std = pd.to_numeric(pairs["kcat_std"], errors="coerce").to_numpy(float) if "kcat_std" in pairs else np.full(
        len(k), np.nan
    )
    ok = np.isfinite(std) & (std > 0)
    if fallback_cv is None:
        fallback_cv = float(np.median(std[ok] / k[ok])) if ok.any() else DEFAULT_FALLBACK_CV
    if not fallback_cv > 0:
        raise KingemsError(f"fallback_cv must be > 0, got {fallback_cv}")
    sigma = np.where(ok, std, fallback_cv * k)
    return sigma, float(fallback_cv), int((~ok).sum())


def select_targets(problem: Problem, n_top: int, x: np.ndarray | None = None) -> pd.DataFrame:
    """The ``n_top`` pairs holding the most enzyme mass at the problem's current optimum.

    When the problem has no optimum (or no pair carries flux), pairs are ranked by the mass per unit flux
    (``MW / kcat``), i.e. those that would cost the most enzyme.

    Returns
    -------
    DataFrame
        Index = pair index into ``compiled.pairs``; columns ``reaction_id, gene_id, direction, kcat, enzyme_mass``.
    """
    cm = problem.cm
    kc = problem.kcats
    if x is None:
        res = problem.optimize()
        x = res.x if res.ok else None
    mass = pair_enzyme_mass(cm, x, kc) if x is not None else np.zeros(len(kc))
    order = np.argsort(-mass, kind="stable")
    chosen = order[mass[order] > 0][:n_top]
    if len(chosen) == 0:
        mw = cm.pairs["mw"].to_numpy(float)
        mw = np.where(np.isfinite(mw) & (mw > 0), mw, float(cm.report.get("default_mw", 40000.0)))
        cost = mw / kc
        chosen = np.argsort(-cost, kind="stable")[:n_top]
        log.warning("no enzyme carries flux at the optimum: tuning the %d pairs with the highest MW/kcat", len(chosen))
    df = cm.pairs.loc[chosen, ["reaction_id", "gene_id", "direction"]].copy()
    df["kcat"] = kc[chosen]
    df["enzyme_mass"] = mass[chosen]
    return df


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
    s = spec.settings
    rng = np.random.default_rng(spec.seed)
    strategy = s.strategy if s.strategy != "auto" else ("dual" if spec.conditions else "primal")
    problem.solver.set_strategy(strategy)
    tg = spec.targets
    tuned = set(map(int, tg))
    lo_all = spec.k0 / s.bound_factor
    hi_all = spec.k0 * s.bound_factor
    n_cond = len(spec.conditions or [])
    cur = problem.kcats[tg]
    score, growths = _evaluate(problem, spec.conditions)
    best, best_score, best_growths = problem.kcats, score, list(growths)

    def go_to(full: np.ndarray) -> None:
        changed = np.nonzero(problem.kcats != full)[0]
        if changed.size:
            problem.set_kcats(changed, full[changed])
    T = s.temperature
    rows: list[dict] = []

    def row(it, grw, acc, restarted):
        r = {
            "iteration": it,
            "chain": spec.chain,
            "temperature": T,
            "growth": grw[0],
            "accepted": acc,
            "current_growth": growths[0],
            "best_growth": best_growths[0],
            "score": score,
            "best_score": best_score,
            "restarted": restarted,
        }
        if n_cond:
            for name, g in zip(spec.cond_names, grw):
                r[f"growth[{name}]"] = g
        rows.append(r)
        if progress is not None:
            progress(r)

    row(0, growths, True, False)
    unchanged = 0
    last_check_best = best_score
    it = 0
    while (
        it < s.max_iterations
        and T > s.min_temperature
        and not _reached(score, growths, spec.target_growth, n_cond, s.loss_tolerance)
    ):
        it += 1
        if s.reselect_every > 0 and it > 1 and (it - 1) % s.reselect_every == 0:
            if spec.conditions:
                with problem.reactions_bounded(spec.conditions[0].bounds):
                    tg = select_targets(problem, s.n_top).index.to_numpy(int)
            else:
                tg = select_targets(problem, s.n_top).index.to_numpy(int)
            tuned.update(map(int, tg))
            cur = problem.kcats[tg]
        # Propose: a fixed number of draws per step keeps every chain reproducible from its seed.
        up = rng.random(len(tg)) < s.up_probability
        z = np.abs(rng.standard_normal(len(tg)))
        sig = spec.sigma[tg]
        step = np.where(up, s.up_scale * sig * z, -sig * z)
        new = np.clip(cur + step, lo_all[tg], hi_all[tg])
        problem.set_kcats(tg, new)
        new_score, new_growths = _evaluate(problem, spec.conditions)
        delta = new_score - score
        u = rng.random()
        accept = bool(delta >= 0 or u < math.exp(delta / T))
        old_score = score
        if accept:
            cur, score, growths = new, new_score, new_growths
            if score > best_score:
                best, best_score, best_growths = problem.kcats, score, list(growths)
        else:
            problem.set_kcats(tg, cur)  # revert in place
        restarted = False
        if s.enable_restart and s.restart_frequency > 0 and it % s.restart_frequency == 0:
            if best_score - last_check_best <= s.restart_threshold * max(abs(last_check_best), 1e-6):
                go_to(best)
                cur, score, growths = problem.kcats[tg], best_score, list(best_growths)
                restarted = True
            last_check_best = best_score
        row(it, new_growths, accept, restarted)
        if on_step is not None:
            on_step(it, problem, accept)
        change = abs(score - old_score) / max(abs(old_score), 1e-6)
        unchanged = unchanged + 1 if change < s.change_threshold else 0
        if unchanged >= s.max_unchanged:
            break
        T *= s.cooling_rate
    go_to(best)
    return {
        "chain": spec.chain,
        "tuned": sorted(tuned),
        "best_kcats": best,
        "best_score": best_score,
        "best_growths": best_growths,
        "rows": rows,
    }


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
def carbon_source_conditions(
    problem: Problem,
    growth_rates: Mapping[str, float],
    base_carbon: str | Sequence[str] = "EX_glc__D_e",
    uptake: float = 10.0,
) -> list[Condition]:
    """Conditions for a multi-condition fit: one carbon source each (exchange id -> measured growth [1/h]).

    Each condition closes the base carbon source(s) and opens the exchange at ``uptake`` [mmol/gDW/h]; other
    exchange bounds stay as the problem has them. Exchanges the model lacks are skipped (logged).
    """
    bases = [base_carbon] if isinstance(base_carbon, str) else list(base_carbon)
    ridx = problem.cm.rxn_index
    out = []
    for ex, target in growth_rates.items():
        if ex not in ridx:
            log.warning("carbon source %s is not in the model: skipped", ex)
            continue
        if not target > 0:
            raise KingemsError(f"target growth for {ex} must be > 0, got {target}")
        bounds: dict[str, tuple[float, float]] = {}
        for b in bases:
            if b in ridx and b != ex:
                lb, ub = problem.reaction_bounds(b)
                bounds[b] = (max(lb, 0.0), max(ub, 0.0))
        _, ub = problem.reaction_bounds(ex)
        bounds[ex] = (-float(uptake), ub)
        out.append(Condition(name=ex, bounds=bounds, target=float(target)))
    if not out:
        raise KingemsError("no carbon-source condition matches an exchange of the model")
    return out


def read_growth_rates(path: str | Path) -> dict[str, float]:
    """Measured growth rates per carbon source: a CSV whose first column is the exchange id and ``EXP`` [1/h]."""
    df = pd.read_csv(path)
    col = "EXP" if "EXP" in df.columns else df.columns[-1]
    return dict(zip(df.iloc[:, 0].astype(str), pd.to_numeric(df[col], errors="coerce")))


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
    if conditions is None:
        if target_growth is None or not np.isfinite(target_growth) or target_growth <= 0:
            raise KingemsError(f"target growth must be a number > 0 [1/h], got {target_growth}")
    if chains < 1:
        raise KingemsError(f"chains must be >= 1, got {chains}")
    problem = target if isinstance(target, Problem) else Problem(target)
    cm = problem.cm
    if cm.pairs is None or len(cm.pairs) == 0 or cm.coef_entries is None or len(cm.coef_entries) == 0:
        raise KingemsError(
            f"model {cm.model_id!r} has no kcats in its LP (level {cm.level}): compile it at L2..L4 with a kcat table"
        )
    state = problem.snapshot()  # bounds, pool, kcats and other edits: each chain starts from them
    if conditions:
        # Select targets under the first condition: that is what the fit starts from.
        with problem.reactions_bounded(conditions[0].bounds):
            tdf = select_targets(problem, s.n_top)
    else:
        tdf = select_targets(problem, s.n_top)
    tg = tdf.index.to_numpy(int)
    sigma_all, cv, n_fb = pair_spreads(cm.pairs, s.fallback_cv)
    if n_fb:
        log.info("%d of %d pairs have no kcat_std: sigma = %.3g * kcat", n_fb, len(sigma_all), cv)
    tdf["sigma"] = sigma_all[tg]
    std = pd.to_numeric(cm.pairs.get("kcat_std", pd.Series(np.nan, index=cm.pairs.index)), errors="coerce")
    tdf["sigma_fallback"] = ~(np.isfinite(std.to_numpy(float)[tg]) & (std.to_numpy(float)[tg] > 0))
    k_orig = cm.pairs["kcat"].to_numpy(float)
    seeds = np.random.SeedSequence(seed).spawn(chains)
    names = [c.name for c in conditions] if conditions else []
    specs = [
        _ChainSpec(i, seeds[i], tg, sigma_all, k_orig, s, target_growth, conditions, names)
        for i in range(chains)
    ]
    if processes <= 1 or chains == 1:
        results = []
        for sp in specs:
            results.append(run_chain(_fresh_problem(cm, state), sp, on_step=on_step, progress=progress))
    else:
        results = []
        # Report each chain as it finishes (its rows at once); the result does not depend on the order.
        for r in process_map(_chain_task, specs, min(processes, chains), _chain_setup, (cm, state), ordered=False):
            results.append(r)
            if progress is not None:
                for row in r["rows"]:
                    progress(row)
        results.sort(key=lambda r: r["chain"])
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
