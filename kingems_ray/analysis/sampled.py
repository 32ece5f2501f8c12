"""Analyses repeated over sampled kcat vectors, on one persistent problem per worker.

Each worker (this process, or one spawned process per core) holds one :class:`~kingems_ray.solver.problem.Problem`
and one :class:`~.uncertainty.KcatSampler`; a unit of work is a sample index: the sample's kcats are written into
the matrix coefficients (:func:`~.uncertainty.kcats_applied`, in place), the point analysis runs unchanged on the
same problem, and the previous kcats are written back. Nothing is recompiled and no model is copied per sample.
Serial and parallel paths give the same tables (each sample is seeded by its index alone).

Knockout screens per sample take two exact shortcuts on top of those of :func:`.knockout.knockout_screen`
(``shortcuts=True``, the default; ``False`` runs the plain screen per sample, for checking):

* **Lethal in the relaxation.** The ecGEM with its enzyme pool removed (:func:`relaxed_zero_growth`) is a
  relaxation of every sample: enzyme columns are then bounded by nothing, so any kcat > 0 admits every flux the
  plain network admits, and a sample only adds constraints. A knockout with zero growth there has zero growth
  in every sample: one screen of the relaxation per condition replaces those LPs in all samples.

Optional (``warm_start=True``, off by default): every sample's wild-type solve of a condition starts from the point
model's optimal basis of that condition (one fixed basis per condition) instead of from scratch. Measured on
iML1515 (calibrated spread, glucose, 1,338 genes) it saved nothing consistent (5.8 vs 6.3 s and 7.0 vs 5.8 s per
screen), and a sample whose wild type ends ``unknown`` took longer from that basis.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..ec.compile import CompiledModel
from ..ec.problem import Problem
from ..errors import KingemsError
from ..gem.media import Medium, medium_applied
from ..parallel import process_map, worker_state
from .fva import flux_variability
from .knockout import COLUMNS as KO_COLUMNS
from .knockout import ZERO_TOL, knockout_screen, knockout_targets
from .metrics import GROWTH_THRESHOLD
from .uncertainty import (
    ChainSampler,
    KcatSampler,
    WildTypeConditioning,
    check_n_samples,
    conditioning_label,
    kcats_applied,
)


def _problem_of(target: Problem | CompiledModel) -> Problem:
    return target if isinstance(target, Problem) else Problem(target)


def _require_kcats(cm: CompiledModel) -> None:
    if cm.pairs is None or len(cm.pairs) == 0 or cm.coef_entries is None or len(cm.coef_entries) == 0:
        raise KingemsError(f"model {cm.model_id!r} has no kcats in its LP (level {cm.level}): nothing to sample; "
                           "compile it at L2..L4 with a kcat table")


# -- one sample on one problem (what every worker runs) ------------------------------------------------------------
#: Per worker: the point model's optimal basis of a problem, with the problem and the LP state it was solved in.
_POINT_BASIS: dict[int, tuple[Problem, object, object]] = {}


def _same_lp(a, b) -> bool:
    """Two :class:`~kingems_ray.solver.highs.LPState` of one LP hold the same bounds, costs and coefficients."""
    return (a.maximize == b.maximize and a.coefs == b.coefs
            and all(np.array_equal(getattr(a, f), getattr(b, f))
                    for f in ("col_lb", "col_ub", "row_lb", "row_ub", "cost")))


def _start_from_point(problem: Problem) -> None:
    """Start the next solve from the point model's optimal basis (solved once per problem and LP state, cold).

    A sample's LP has the point model's structure with other kcat coefficients, so the point optimum's basis is a
    close start: on e_coli_core a sample's growth solves in ~3.8 ms from it, ~8 ms from the previous sample's
    basis and ~10 ms cold (the point model cold: ~4-6 ms). Only the speed depends on it, never the result.
    """
    state = problem.solver.state()
    hit = _POINT_BASIS.get(id(problem))
    if hit is None or hit[0] is not problem or not _same_lp(hit[1], state):
        _POINT_BASIS.clear()
        problem.solver.cold_start()
        if not problem.optimize(need_x=False).ok:
            return
        hit = _POINT_BASIS[id(problem)] = (problem, state, problem.solver.basis())
    problem.solver.set_basis(hit[2])


def fva_sample(problem: Problem, kcats: np.ndarray, fraction: float = 0.9,
               reactions: Sequence[str] | None = None) -> pd.DataFrame:
    """FVA at ``fraction`` of optimal growth with ``kcats`` applied in place (restored afterwards)."""
    _start_from_point(problem)
    with kcats_applied(problem, kcats):
        df = flux_variability(problem, reactions=reactions, fraction=fraction)
    df["growth"] = df.attrs.get("growth", float("nan"))
    return df


def relaxed_zero_growth(problem: Problem, conditions: Mapping[str, Medium | None] | None = None,
                        genes: Sequence[str] | None = None) -> dict[str, frozenset[str]]:
    """Per condition, the genes whose knockout has zero growth with the enzyme pool removed.

    With the pool row free, enzyme columns are unbounded, so the capacity rows (flux <= kcat x enzyme) hold for
    any kcat > 0: this LP does not depend on the kcats and contains every sample's feasible set. Its zero-growth
    knockouts are therefore zero-growth in every sample (growth <= 0, and >= 0 by the bounds). Returns ``{}``
    for a problem without a pool row (nothing is known then). The problem is left as it was found.
    """
    if problem.cm.pool_row is None:
        return {}
    state = problem.snapshot()
    try:
        problem.set_pool(np.inf)
        df = knockout_screen(problem, conditions, genes=genes)
    finally:
        problem.restore(state)
    zero = (df["growth"].abs() <= ZERO_TOL) & df["status"].isin(["optimal", "infeasible"])
    return {c: frozenset(g["gene_id"]) for c, g in df[zero].groupby("condition", sort=False)}


def _point_bases(problem: Problem, conditions: Mapping[str, Medium | None] | None) -> dict[str, object]:
    """The optimal basis of each condition's wild type at the problem's current kcats (cold solves)."""
    out = {}
    for cond, med in ({"model": None} if conditions is None else conditions).items():
        with medium_applied(problem, med):
            problem.solver.cold_start()
            if problem.optimize(need_x=False).ok:
                out[cond] = problem.solver.basis()
    return out


#: Per worker: (problem, conditions with their media, genes) -> (problem, zero-growth genes, start bases), computed
#: at point kcats once. The problem itself is kept and compared by identity: a bare id() could be reused by a new
#: Problem (another model) once the old one is freed, and would hand it the wrong zero set.
_KO_CACHE: dict[tuple, tuple[Problem, dict, dict]] = {}


def _shortcut_data(problem: Problem, conditions: Mapping[str, Medium | None] | None,
                   genes: Sequence[str] | None, warm_start: bool) -> tuple[dict, dict]:
    """The relaxation's zero-growth genes (and point bases) of every condition, once per worker and screen."""
    conds = {"model": None} if conditions is None else dict(conditions)
    key = (id(problem), repr(sorted(conds.items(), key=lambda kv: kv[0])), None if genes is None else tuple(genes),
           warm_start)
    hit = _KO_CACHE.get(key)
    if hit is None or hit[0] is not problem:
        _KO_CACHE.clear()  # one screen setup per worker at a time
        hit = _KO_CACHE[key] = (problem, relaxed_zero_growth(problem, conds, genes),
                                _point_bases(problem, conds) if warm_start else {})
    return hit[1], hit[2]


def knockout_sample(problem: Problem, kcats: np.ndarray, conditions: Mapping[str, Medium | None] | None = None,
                    genes: Sequence[str] | None = None, shortcuts: bool = True,
                    warm_start: bool = False) -> pd.DataFrame:
    """A knockout screen with ``kcats`` applied in place (restored afterwards).

    ``shortcuts`` adds the exact shortcuts of the module docstring (computed once per problem and set of
    conditions, before any sample is applied); ``False`` screens each sample from scratch. ``warm_start`` starts
    each wild-type solve from the point model's basis (see the module docstring).
    """
    zero, bases = _shortcut_data(problem, conditions, genes, warm_start) if shortcuts else ({}, {})
    with kcats_applied(problem, kcats):
        return knockout_screen(problem, conditions, genes=genes, shortcuts=shortcuts, zero_growth=zero,
                               start_bases=bases, check_wild_type=False)


def wild_type_growth(problem: Problem, medium: Medium | None = None) -> tuple[float, str]:
    """Optimal growth of the problem as it stands on ``medium`` (a cold solve, as a screen's wild type):
    ``(growth, status)``; growth 0 when infeasible, NaN when undecided."""
    with medium_applied(problem, medium):
        problem.solver.cold_start()
        res = problem.optimize(need_x=False)
    if res.ok:
        return float(res.objective), res.status
    return (0.0 if res.status == "infeasible" else float("nan")), res.status


def point_wild_type_growth(target: Problem | CompiledModel,
                           conditions: Mapping[str, Medium | None] | None = None) -> dict[str, float]:
    """The point model's wild-type growth per condition (the reference of :class:`WildTypeConditioning`)."""
    problem = _problem_of(target)
    return {c: wild_type_growth(problem, m)[0] for c, m in (conditions or {"model": None}).items()}


def accepted_draw(problem: Problem, sampler: KcatSampler, i: int, medium: Medium | None, min_growth: float,
                  max_attempts: int) -> tuple[np.ndarray | None, int]:
    """The first attempt of sample ``i`` whose wild type grows at least ``min_growth`` on ``medium``.

    Attempts ``a = 0, 1, ...`` of ``sampler.sample(i, a)`` are applied in place (a cold wild-type solve each) and
    written back. Returns ``(kcats, a)`` of the accepted draw, or ``(None, max_attempts)`` when none of
    ``max_attempts`` draws is accepted.
    """
    for a in range(int(max_attempts)):
        k = sampler.sample(i, a)
        with kcats_applied(problem, k):
            wt, _ = wild_type_growth(problem, medium)
        if np.isfinite(wt) and wt >= float(min_growth):
            return k, a
    return None, int(max_attempts)


#: Warm statuses that decide neither optimum nor infeasibility (a chain proposal then solves from scratch).
_NOT_DECIDED = ("iteration_limit", "time_limit", "unknown", "error", "infeasible_or_unbounded", "unbounded",
                "not_solved", "interrupted", "memory_limit", "objective_bound", "objective_target", "solution_limit",
                "empty")


def _effective_sample_size(x: np.ndarray) -> float:
    """Effective sample size of a chain's series (autocorrelations summed up to the first non-positive one)."""
    x = np.asarray(x, dtype=float)
    n = x.size
    if n < 3 or not np.isfinite(x).all() or np.var(x) == 0:
        return float(n)
    d = x - x.mean()
    acf = np.correlate(d, d, mode="full")[n - 1:] / (np.arange(n, 0, -1) * np.var(x))
    s = 0.0
    for r in acf[1:]:
        if r <= 0:
            break
        s += r
    return float(n / (1.0 + 2.0 * s))


def pcn_chain(target: Problem | CompiledModel, sampler: KcatSampler, n: int, conditioning: WildTypeConditioning,
              medium: Medium | None = None, condition: str = "model", thin: int = 10, burn_in: int = 300,
              step: float = 0.2, target_acceptance: float = 0.25, seed: int = 0,
              progress: Callable[[int, int], None] | None = None) -> ChainSampler:
    """Kcat vectors from the prior conditioned on wild-type growth, by a Markov chain where rejection fails.

    Rejection sampling (:class:`WildTypeConditioning`) needs prior draws that grow; where the point model grows
    slowly (iML1515 on acetate: 0.028 1/h, no prior draw of 32 with a wild-type optimum) it accepts nothing. This
    chain targets the same posterior: the prior restricted to ``growth >= min_fraction x point growth`` on
    ``medium``. It is the preconditioned Crank-Nicolson sampler on the group draws ``z ~ N(0, I)``: a proposal
    ``z' = sqrt(1 - step^2) z + step xi`` leaves the prior invariant, so the Metropolis ratio is the likelihood
    ratio, here 1 when the wild type of ``z'`` reaches the bound and 0 when not. It starts at the point model
    (``z = 0``, accepted by construction), adapts ``step`` towards ``target_acceptance`` during ``burn_in``
    proposals only (Robbins-Monro on log step; fixed afterwards, so the kept part is a valid chain), then keeps
    every ``thin``-th state ``n`` times. Each proposal is one wild-type solve, warm from the previous one (the
    optimum is unique, so the accept decision does not depend on the start), on the problem changed in place.

    Parameters
    ----------
    target : Problem or CompiledModel
        The ecGEM; a Problem is left as it was found.
    sampler : KcatSampler
        The prior (spreads, groups, point kcats).
    n : int
        Vectors to keep.
    conditioning : WildTypeConditioning
        Its ``min_fraction`` sets the bound (``max_attempts`` is not used).
    medium : Medium, optional
        The condition's medium (``None``: the model's own); ``condition`` names it in the outputs.
    thin, burn_in, step, target_acceptance, seed
        Chain settings; ``seed`` selects the proposal stream (with the sampler's seed).
    progress : callable, optional
        Called as ``progress(done, total)`` every 50 proposals.

    Returns
    -------
    ChainSampler
        ``sample(i)`` is kept vector ``i``; ``chain`` records the settings, the acceptance after burn-in, the kept
        states' wild-type growth, its effective sample size, and ``burn_in_z2`` (mean ``z^2`` over groups at the
        end of burn-in: about 1 once the chain has left the point for the bulk of the distribution).

    Raises
    ------
    KingemsError
        Bad settings, or a point model that does not reach the bound itself.
    """
    n = check_n_samples(n)
    if int(thin) < 1 or int(burn_in) < 0:
        raise KingemsError(f"thin must be >= 1 and burn_in >= 0, got {thin}, {burn_in}")
    if not 0.0 < float(step) <= 1.0 or not 0.0 < float(target_acceptance) < 1.0:
        raise KingemsError(f"step must be in (0, 1] and target_acceptance in (0, 1), got {step}, "
                           f"{target_acceptance}")
    problem = _problem_of(target)
    _require_kcats(problem.cm)
    if len(sampler.kcat) != len(problem.cm.pairs):
        raise KingemsError(f"the sampler has {len(sampler.kcat)} pairs, the model {len(problem.cm.pairs)}")
    point = wild_type_growth(problem, medium)[0]
    if not point > GROWTH_THRESHOLD:
        raise KingemsError(f"the point model's wild type does not grow on {condition!r}: nothing to condition on")
    bound = conditioning.min_fraction * point
    if bound > point:
        raise KingemsError(f"min_fraction {conditioning.min_fraction} > 1: the point model itself is not accepted, "
                           "so the chain has no start")
    rng = np.random.default_rng(np.random.SeedSequence(sampler.seed, spawn_key=(0x9C4, int(seed))))
    z = np.zeros(sampler.n_groups)
    g_cur, beta = point, float(step)
    kept, kept_g = [], []
    accepted = tried = 0
    total = int(burn_in) + n * int(thin)
    t0 = time.perf_counter()
    every = np.arange(sampler.n_pairs)
    with medium_applied(problem, medium), kcats_applied(problem, sampler.kcat):
        problem.restore_objective()
        for t in range(total):
            prop = math.sqrt(1.0 - beta * beta) * z + beta * rng.standard_normal(sampler.n_groups)
            problem.set_kcats(every, sampler.kcat * 10.0 ** (sampler.log10_sd * prop[sampler.group]))
            # warm from the previous proposal; a stalled warm start is redone from scratch, and so is one that
            # decided nothing (seen: warm "unknown" where a cold solve proves infeasibility), so no feasible
            # proposal is rejected for the solver's sake
            res = problem.solver.solve_capped(20000, need_x=False, retry_on=_NOT_DECIDED)
            ok = res.ok and float(res.objective) >= bound
            if ok:
                z, g_cur = prop, float(res.objective)
            if t < int(burn_in):
                beta = float(np.clip(math.exp(math.log(beta) + (float(ok) - target_acceptance) / math.sqrt(t + 1.0)),
                                     1e-3, 1.0))
            else:
                tried += 1
                accepted += int(ok)
                if (t - int(burn_in) + 1) % int(thin) == 0:
                    kept.append(z.copy())
                    kept_g.append(g_cur)
            if t == int(burn_in) - 1:
                z2_burn = float(np.mean(z * z))
            if progress is not None and (t + 1) % 50 == 0:
                progress(t + 1, total)
    kept_g_arr = np.asarray(kept_g)
    chain = {"method": "pcn", "condition": condition, "min_fraction": float(conditioning.min_fraction),
             "point_wild_type_growth": float(point), "bound": float(bound), "step": beta, "initial_step": float(step),
             "thin": int(thin), "burn_in": int(burn_in), "seed": int(seed), "proposals": total,
             "acceptance": accepted / tried if tried else float("nan"),
             "burn_in_z2": z2_burn if int(burn_in) else 0.0,
             "kept_z2": float(np.mean(np.square(kept))), "kept_wild_type_growth": kept_g_arr.tolist(),
             "ess_wild_type_growth": _effective_sample_size(kept_g_arr), "seconds": time.perf_counter() - t0}
    return ChainSampler.of(sampler, np.vstack(kept), chain)


def _check_min_growth(conds: Mapping, min_growth: Mapping[str, float] | None,
                      conditioning: WildTypeConditioning | None, who: str) -> None:
    if conditioning is None:
        raise KingemsError(f"{who} needs a WildTypeConditioning")
    missing = [c for c in conds if c not in (min_growth or {})]
    if missing:
        raise KingemsError(f"no minimum wild-type growth for condition(s) {missing}")


def conditioned_knockout_sample(problem: Problem, sampler: KcatSampler, i: int,
                                conditions: Mapping[str, Medium | None] | None = None,
                                genes: Sequence[str] | None = None, min_growth: Mapping[str, float] | None = None,
                                conditioning: WildTypeConditioning | None = None, shortcuts: bool = True,
                                warm_start: bool = False) -> pd.DataFrame:
    """Knockout screen of sample ``i`` conditioned on its wild type growing (rejection, per condition).

    For each condition, the accepted draw of :func:`accepted_draw` (the bound ``min_growth[condition]``, at most
    ``conditioning.max_attempts`` draws) is screened and returned with column ``attempt`` (rejected draws before
    it). A condition with no accepted draw gives rows with method ``not_accepted`` and growth NaN.
    """
    conds = {"model": None} if conditions is None else dict(conditions)
    _check_min_growth(conds, min_growth, conditioning, "conditioned_knockout_sample")
    zero, bases = _shortcut_data(problem, conds, genes, warm_start) if shortcuts else ({}, {})
    parts = []
    for cond, med in conds.items():
        k, a = accepted_draw(problem, sampler, i, med, min_growth[cond], conditioning.max_attempts)
        if k is None:  # a screen's rows (knockout.COLUMNS), with nothing solved
            df = pd.DataFrame([(g, cond, np.nan, "not_accepted", np.nan, np.nan, 0, False,
                                "not_accepted") for g in knockout_targets(problem.cm, genes)],
                              columns=KO_COLUMNS)
        else:
            with kcats_applied(problem, k):
                df = knockout_screen(problem, {cond: med}, genes=genes, shortcuts=shortcuts,
                                     zero_growth={cond: zero.get(cond, frozenset())},
                                     start_bases={cond: bases[cond]} if cond in bases else None,
                                     check_wild_type=False)
        df["attempt"] = a
        parts.append(df)
    return pd.concat(parts, ignore_index=True)


def conditioned_fva_sample(problem: Problem, sampler: KcatSampler, i: int, fraction: float = 0.9,
                           reactions: Sequence[str] | None = None, min_growth: Mapping[str, float] | None = None,
                           conditioning: WildTypeConditioning | None = None) -> pd.DataFrame:
    """FVA of sample ``i`` conditioned on its wild type growing (on the problem's own medium, condition
    ``model``): the accepted draw of :func:`accepted_draw`, with column ``attempt``; no accepted draw gives one
    row per reaction with status ``not_accepted`` and missing ranges."""
    _check_min_growth({"model": None}, min_growth, conditioning, "conditioned_fva_sample")
    k, a = accepted_draw(problem, sampler, i, None, min_growth["model"], conditioning.max_attempts)
    if k is None:
        ids = list(reactions) if reactions is not None else list(problem.cm.rxn_ids)
        df = pd.DataFrame({"reaction_id": ids, "minimum": np.nan, "maximum": np.nan, "status": "not_accepted",
                           "growth": np.nan})
    else:
        df = fva_sample(problem, k, fraction, reactions)
    df["attempt"] = a
    return df


def growth_sample(problem: Problem, kcats: np.ndarray) -> pd.DataFrame:
    """Optimal growth with ``kcats`` applied in place (0 when infeasible, as knockout screens report it), solved
    from the point model's optimal basis."""
    _start_from_point(problem)
    with kcats_applied(problem, kcats):
        res = problem.optimize(need_x=False)
    growth = res.objective if res.ok else (0.0 if res.status == "infeasible" else float("nan"))
    return pd.DataFrame({"growth": [growth], "status": [res.status]})


_KINDS: dict[str, Callable[..., pd.DataFrame]] = {"fva": fva_sample, "knockout": knockout_sample,
                                                  "growth": growth_sample,
                                                  "knockout_conditioned": conditioned_knockout_sample,
                                                  "fva_conditioned": conditioned_fva_sample}
#: Kinds that draw their own vectors (rejection sampling): called with (problem, sampler, i).
_SAMPLER_KINDS = frozenset({"knockout_conditioned", "fva_conditioned"})


def run_samples(problem: Problem, sampler: KcatSampler, kind: str, indices: Sequence[int], **kw) -> pd.DataFrame:
    """Run analysis ``kind`` for each sample index on ``problem``; rows carry ``sample`` and ``seconds``."""
    fn = _KINDS[kind]
    parts = []
    for i in indices:
        t = time.perf_counter()
        df = (fn(problem, sampler, int(i), **kw) if kind in _SAMPLER_KINDS
              else fn(problem, sampler.sample(int(i)), **kw))
        df.insert(0, "sample", int(i))
        df["seconds"] = time.perf_counter() - t
        parts.append(df)
    return pd.concat(parts, ignore_index=True)


def _setup(cm: CompiledModel, sampler: KcatSampler, state) -> tuple[Problem, KcatSampler]:
    """A worker's one persistent problem (with the caller's edits: medium, pool, ... replayed) and its sampler."""
    p = Problem(cm, threads=1)
    if state is not None:
        p.restore(state)
    return p, sampler


def _run_unit(args: tuple[str, list[int], dict]) -> pd.DataFrame:
    kind, indices, kw = args
    problem, sampler = worker_state()
    return run_samples(problem, sampler, kind, indices, **kw)


def map_samples(target: Problem | CompiledModel, sampler: KcatSampler, kind: str, n: int, start: int = 0,
                processes: int = 1, **kw) -> pd.DataFrame:
    """Samples ``start .. start + n - 1`` of analysis ``kind`` (``fva``, ``knockout``, ``growth``, and the
    conditioned ``knockout_conditioned`` / ``fva_conditioned``).

    ``processes > 1`` spawns workers (:func:`kingems_ray.parallel.process_map`) that each build one Problem from the
    compiled model once (a given Problem's edits are replayed from its snapshot) and take one sample at a time; the
    table does not depend on ``processes`` (rows in sample order).
    """
    n = check_n_samples(n)
    if kind not in _KINDS:
        raise KingemsError(f"unknown sampled analysis {kind!r} ({', '.join(_KINDS)})")
    problem = target if isinstance(target, Problem) else None
    cm = problem.cm if problem is not None else target
    _require_kcats(cm)
    if len(sampler.kcat) != len(cm.pairs):
        raise KingemsError(f"the sampler has {len(sampler.kcat)} pairs, the model {len(cm.pairs)}")
    indices = list(range(int(start), int(start) + n))
    if processes <= 1 or n == 1:
        return run_samples(problem or Problem(cm), sampler, kind, indices, **kw)
    state = problem.snapshot() if problem is not None else None
    parts = list(process_map(_run_unit, [(kind, [i], kw) for i in indices], min(processes, n), _setup,
                             (cm, sampler, state)))
    return pd.concat(parts, ignore_index=True)


def _chain_check(sampler: KcatSampler, conditioning: WildTypeConditioning | None,
                 conditions: Mapping[str, Medium | None] | None) -> str:
    """The ``conditioning`` column of a sampled analysis; a chain's vectors are conditioned on one condition only."""
    if not isinstance(sampler, ChainSampler):
        return conditioning_label(conditioning)
    if conditioning is not None:
        raise KingemsError("a ChainSampler's vectors are already conditioned: pass conditioning=None")
    cond = (sampler.chain or {}).get("condition", "model")
    names = ["model"] if conditions is None else list(conditions)
    if names != [cond]:
        raise KingemsError(f"the chain was conditioned on {cond!r}: screen that condition alone, not {names}")
    return sampler.conditioning_label()


# -- the public entry points -----------------------------------------------------------------------------------------
def _min_growth(target: Problem | CompiledModel, conditions: Mapping[str, Medium | None] | None,
                conditioning: WildTypeConditioning) -> tuple[dict[str, float], dict[str, float]]:
    """The point wild-type growth per condition and the bound a conditioned draw must reach there."""
    _require_kcats(target.cm if isinstance(target, Problem) else target)
    pwt = point_wild_type_growth(target, conditions)
    dead = [c for c, g in pwt.items() if not g > GROWTH_THRESHOLD]
    if dead:
        raise KingemsError(f"the point model's wild type does not grow on {dead}: nothing to condition the "
                           "samples on there (drop the condition, or sample without conditioning)")
    return pwt, {c: conditioning.min_fraction * g for c, g in pwt.items()}


def sampled_fva(target: Problem | CompiledModel, sampler: KcatSampler, n: int, fraction: float = 0.9,
                reactions: Sequence[str] | None = None, processes: int = 1, start: int = 0,
                conditioning: WildTypeConditioning | None = None) -> pd.DataFrame:
    """FVA of ``n`` sampled kcat vectors.

    ``conditioning`` (:class:`WildTypeConditioning`) keeps only draws whose wild type grows at least its fraction
    of the point model's growth on the problem's medium (rejection sampling, as :func:`sampled_knockouts`;
    columns ``attempt`` and ``point_wild_type_growth``; a sample without an accepted draw has status
    ``not_accepted``).

    Returns
    -------
    DataFrame
        ``sample, reaction_id, minimum, maximum, status, growth, seconds`` (one FVA per sample), ``spread`` and
        ``conditioning``; ``attrs["sampler"]`` describes the spread (:meth:`KcatSampler.describe`).
    """
    kw: dict = {"fraction": fraction, "reactions": reactions}
    label = _chain_check(sampler, conditioning, None)
    if conditioning is None:
        df = map_samples(target, sampler, "fva", n, start, processes, **kw)
    else:
        pwt, bound = _min_growth(target, None, conditioning)
        df = map_samples(target, sampler, "fva_conditioned", n, start, processes, min_growth=bound,
                         conditioning=conditioning, **kw)
        df["point_wild_type_growth"] = pwt["model"]
    df["spread"] = sampler.label()
    df["conditioning"] = label
    df.attrs["sampler"] = sampler.describe()
    return df


def sampled_knockouts(target: Problem | CompiledModel, sampler: KcatSampler, n: int,
                      conditions: Mapping[str, Medium | None] | None = None, genes: Sequence[str] | None = None,
                      processes: int = 1, start: int = 0, shortcuts: bool = True,
                      conditioning: WildTypeConditioning | None = None) -> pd.DataFrame:
    """Knockout screens of ``n`` sampled kcat vectors (columns of :func:`knockout_screen` plus ``sample``).

    ``shortcuts=False`` screens every sample from scratch (no relaxation, cold wild-type solves): the same
    growth values, slower (see the module docstring). ``conditioning`` (:class:`WildTypeConditioning`) keeps only
    draws whose wild type grows at least its fraction of the point model's wild-type growth per condition
    (rejection sampling; columns ``attempt``, and ``point_wild_type_growth``, ``min_wild_type_growth``);
    ``None`` (default) takes every draw (the prior). Every row says which in ``conditioning``.
    """
    kw: dict = {"conditions": conditions, "genes": genes, "shortcuts": shortcuts}
    label = _chain_check(sampler, conditioning, conditions)
    kind = "knockout"
    pwt: dict[str, float] = {}
    if conditioning is not None:
        pwt, bound = _min_growth(target, conditions, conditioning)
        kind = "knockout_conditioned"
        kw.update(conditioning=conditioning, min_growth=bound)
    df = map_samples(target, sampler, kind, n, start, processes, **kw)
    if conditioning is not None:
        df["point_wild_type_growth"] = df["condition"].map(pwt)
        df["min_wild_type_growth"] = df["condition"].map(kw["min_growth"])
    df["spread"] = sampler.label()
    df["conditioning"] = label
    df.attrs["sampler"] = sampler.describe()
    return df


def acceptance_summary(per_sample: pd.DataFrame) -> pd.DataFrame:
    """Per condition, how often a conditioned draw was accepted.

    Returns
    -------
    DataFrame
        ``condition, n_samples, n_accepted, attempts`` (draws tried, accepted ones included) and
        ``acceptance_rate = n_accepted / attempts``. Unconditioned tables (no ``attempt`` column) count every draw
        as accepted.
    """
    d = per_sample.drop_duplicates(["sample", "condition"])
    # no attempt column, or rows without one (a chain's vectors, pooled with rejection runs): one draw each
    att = d["attempt"].fillna(0) if "attempt" in d else pd.Series(0, index=d.index)
    acc = d["method"] != "not_accepted" if "method" in d else pd.Series(True, index=d.index)
    tried = np.where(acc, att + 1, att)
    t = pd.DataFrame({"condition": d["condition"], "acc": acc.astype(int), "tried": tried})
    out = t.groupby("condition", sort=False).agg(n_samples=("acc", "size"), n_accepted=("acc", "sum"),
                                                 attempts=("tried", "sum")).reset_index()
    out["acceptance_rate"] = out["n_accepted"] / out["attempts"]
    return out


def sampled_growth(target: Problem | CompiledModel, sampler: KcatSampler, n: int, processes: int = 1,
                   start: int = 0) -> pd.DataFrame:
    """Optimal growth of ``n`` sampled kcat vectors: ``sample, growth, status, seconds``."""
    df = map_samples(target, sampler, "growth", n, start, processes)
    df["spread"] = sampler.label()
    return df
