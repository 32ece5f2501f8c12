"""kcat uncertainty carried through the analyses: seeded kcat ensembles and their summaries.

A kcat table gives every (reaction, gene, direction) pair a point value and, usually, a spread. This module draws
``N`` kcat vectors from those spreads and summarises what an analysis repeated on each vector gives: per-reaction
quantiles of FVA bounds, per-gene probabilities of lethality, per-pair interaction-label frequencies, per-taxon
growth quantiles. The analyses themselves live in :mod:`.fva`, :mod:`.knockout` and :mod:`kingems_ray.community`;
:mod:`.sampled` runs them on one persistent problem per worker, each vector applied as in-place coefficient edits.
Nothing here imports Ray.

The error model
---------------
Each pair's kcat is log-normal around its table value (the table value is the median)::

    log10 k_s = log10 k_0 + sigma_p * z_g(p),      z ~ N(0, 1), one z per group g

**Spread** ``sigma_p`` [log10 units], per pair, first match wins (recorded per pair in ``spread_source``):

1. ``log10_kcat_std``: the table's log10 spread. Tables built by :func:`kingems_ray.kcat.build_table.build_kcat_table`
   carry the predictor's ``log10_kcat_std`` per prediction row, with ``spread_kind`` saying whether it is the
   checkpoint's calibrated spread (``calibrated``: ``a * ensemble std + b`` per mode, fitted on held-out
   residuals) or the raw ensemble disagreement (``ensemble``); the sampler records which per pair
   (``spread_kind``) and counts them in :meth:`KcatSampler.describe`. Older tables without the column fall to 2.;
2. ``kcat_std`` (1/s), converted to log10 units. Fallback rows
   (:data:`FALLBACK_SOURCES`) were built by the delta method ``kcat_std = kcat ln(10) sd``
   (:mod:`kingems_ray.kcat.fallback`), so that is inverted exactly: ``sd = kcat_std / (kcat ln 10)``. Every other
   row (predictions, tables) is read as the standard deviation of a log-normal whose median is ``kcat``:
   ``(s/k)^2 = (u - 1) u`` with ``u = exp(sigma_ln^2)``, which stays sane for spreads of several orders of magnitude
   where the delta method does not;
3. ``fallback``: ``fallback_log10_sd`` (default :data:`kingems_ray.kcat.fallback.DEFAULT_LOG10_SD`, one order of
   magnitude: what the fallback database assumes for a single value). A table with no spread at all raises
   unless ``fallback_log10_sd`` is given explicitly.

``spread_scale`` multiplies every spread (the CPI-Pred ensemble spread is about 3-4x smaller than its test error,
docs/kcat_predictor.md: a scale is how to widen it deliberately; 1 by default).

**Correlation** (``group`` per pair): one standard-normal draw per group, shared by every pair in it.

* A fallback row (:data:`FALLBACK_SOURCES`: database values, EC-class medians, the global median) is an estimate
  by a rule, not by the pair: with ``fallback_grouping="source"`` (default) every pair filled by one rule shares
  one draw (the rule's bias moves them together: all ``global_median`` pairs are one number and move as one);
  ``"value"`` groups only pairs that got the same value from the same rule.
* Any other row (prediction, curated table) is one estimate per distinct ``(source, kcat, kcat_std)``: a
  prediction reused by several reactions (the same enzyme on the same substrate in two compartments or
  directions) gives bit-identical values, so those pairs share one draw; distinct estimates are independent.

Sample ``i`` of seed ``s`` draws from ``numpy.random.SeedSequence(s, spawn_key=(i,))``: it does not depend on how
many samples are drawn, on their order, or on which worker draws it (a sweep unit carries only ``(s, i)``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import KingemsError
from ..kcat.fallback import DEFAULT_LOG10_SD
from .metrics import GROWTH_THRESHOLD, roc_auc

#: ``source`` values of rows filled by a fallback rule (kingems_ray.kcat.fallback), not estimated per pair.
FALLBACK_SOURCES = frozenset({"database_substrate", "database_ec", "ec_class_median", "global_median"})
#: Quantiles every summary reports.
QUANTILES = (0.05, 0.5, 0.95)
#: Fluxes with magnitude at most this count as zero (blocked), as in :mod:`.fva`.
ZERO_TOL = 1e-9
_LN10 = math.log(10.0)


# ---------------------------------------------------------------------------------------------------------------------
# spreads and groups
# ---------------------------------------------------------------------------------------------------------------------
def _lognormal_log10_sd(k: np.ndarray, s: np.ndarray) -> np.ndarray:
    """log10 sd of a log-normal with median ``k`` and standard deviation ``s``."""
    r2 = (s / k) ** 2
    u = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * r2))
    return np.sqrt(np.log(u)) / _LN10


def kcat_spread(
    pairs: pd.DataFrame, fallback_log10_sd: float | None = None, spread_scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Spread of every pair's log10 kcat, and where it came from.

    Parameters
    ----------
    pairs : DataFrame
        A kcat table (``kcat`` and at least one of ``log10_kcat_std``, ``kcat_std``; ``source`` optional).
    fallback_log10_sd : float, optional
        Spread of pairs without one. Default :data:`DEFAULT_LOG10_SD`, but only when some pair has a spread: a
        table without any spread raises unless this is given.
    spread_scale : float
        Multiplies every spread.

    Returns
    -------
    (log10_sd, spread_source)
        Arrays with one value per row: the spread [log10 units] and ``"log10_kcat_std"``, ``"kcat_std"`` or
        ``"fallback"``.

    Raises
    ------
    KingemsError
        No ``kcat`` column, kcats not finite and > 0, no spread anywhere without an explicit fallback, or a
        fallback / scale that is not > 0.
    """
    if "kcat" not in pairs:
        raise KingemsError("kcat table has no 'kcat' column")
    k = pd.to_numeric(pairs["kcat"], errors="coerce").to_numpy(float)
    if len(k) == 0:
        raise KingemsError("kcat table is empty: nothing to sample")
    if not (np.isfinite(k) & (k > 0)).all():
        raise KingemsError("every kcat must be finite and > 0 to sample around it")
    if not spread_scale > 0:
        raise KingemsError(f"spread_scale must be > 0, got {spread_scale}")
    n = len(k)
    out = np.full(n, np.nan)
    src = np.full(n, "fallback", dtype=object)
    if "log10_kcat_std" in pairs:
        ls = pd.to_numeric(pairs["log10_kcat_std"], errors="coerce").to_numpy(float)
        ok = np.isfinite(ls) & (ls > 0)
        out[ok], src[ok] = ls[ok], "log10_kcat_std"
    if "kcat_std" in pairs:
        s = pd.to_numeric(pairs["kcat_std"], errors="coerce").to_numpy(float)
        ok = np.isnan(out) & np.isfinite(s) & (s > 0)
        source = pairs["source"].astype(str).to_numpy() if "source" in pairs else np.full(n, "")
        delta = np.isin(source, list(FALLBACK_SOURCES))
        conv = np.where(delta, s / (k * _LN10), _lognormal_log10_sd(k, s))
        out[ok], src[ok] = conv[ok], "kcat_std"
    missing = np.isnan(out)
    if missing.all() and fallback_log10_sd is None:
        raise KingemsError(
            "the kcat table has no spread (no finite, positive 'log10_kcat_std' or 'kcat_std'): give "
            "fallback_log10_sd (--fallback-log10-sd) to assume one for every pair"
        )
    fb = DEFAULT_LOG10_SD if fallback_log10_sd is None else float(fallback_log10_sd)
    if missing.any() and not fb > 0:
        raise KingemsError(f"fallback_log10_sd must be > 0, got {fb}")
    out[missing] = fb
    return out * float(spread_scale), src


def kcat_groups(pairs: pd.DataFrame, fallback_grouping: str = "source") -> tuple[np.ndarray, list[tuple]]:
    """Which pairs share one draw (see the module docstring).

    Returns
    -------
    (group, keys)
        ``group[i]`` indexes ``keys``; keys are sorted, so group numbers do not depend on row order.
    """
    if fallback_grouping not in ("source", "value"):
        raise KingemsError(f"fallback_grouping must be 'source' or 'value', got {fallback_grouping!r}")
    n = len(pairs)
    source = pairs["source"].astype(str).to_numpy() if "source" in pairs else np.full(n, "table")
    k = pd.to_numeric(pairs["kcat"], errors="coerce").to_numpy(float)
    s = (pd.to_numeric(pairs["kcat_std"], errors="coerce").to_numpy(float) if "kcat_std" in pairs
         else np.full(n, np.nan))
    keys = []
    for src, kk, ss in zip(source, k, s):
        if src in FALLBACK_SOURCES and fallback_grouping == "source":
            keys.append((src, "", ""))
        else:  # repr keeps bit-identical floats identical, and NaN comparable
            keys.append((src, repr(float(kk)), repr(float(ss))))
    uniq = sorted(set(keys))
    pos = {key: i for i, key in enumerate(uniq)}
    return np.fromiter((pos[key] for key in keys), dtype=np.int64, count=n), uniq


# ---------------------------------------------------------------------------------------------------------------------
# the sampler
# ---------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KcatSampler:
    """Seeded draws of kcat vectors for the pairs of one table (one row per pair, in table order).

    Build it with :meth:`from_pairs`; ``sample(i)`` is a vector [1/s] aligned with the table rows.

    Attributes
    ----------
    kcat : ndarray
        The point values (the medians).
    log10_sd : ndarray
        Spread per pair [log10 units], after ``spread_scale``.
    spread_source : ndarray of str
        ``log10_kcat_std``, ``kcat_std`` or ``fallback`` per pair.
    group : ndarray of int
        Draw shared by each pair (index into ``group_keys``).
    group_keys : tuple
    seed : int
    fallback_log10_sd, spread_scale : float
    fallback_grouping : str
    spread_kind : ndarray of str or None
        Per pair, for ``log10_kcat_std`` spreads, the table's ``spread_kind`` (``calibrated`` / ``ensemble``;
        ``unknown`` when the table does not say); ``""`` for the other sources.
    """

    kcat: np.ndarray
    log10_sd: np.ndarray
    spread_source: np.ndarray
    group: np.ndarray
    group_keys: tuple
    seed: int = 0
    fallback_log10_sd: float = DEFAULT_LOG10_SD
    spread_scale: float = 1.0
    fallback_grouping: str = "source"
    spread_kind: np.ndarray | None = None

    @classmethod
    def from_pairs(
        cls,
        pairs: pd.DataFrame,
        seed: int = 0,
        fallback_log10_sd: float | None = None,
        spread_scale: float = 1.0,
        fallback_grouping: str = "source",
    ) -> KcatSampler:
        """A sampler for a kcat table (e.g. ``compiled.pairs``); see :func:`kcat_spread` for the arguments.

        Raises
        ------
        KingemsError
            Bad table or arguments (see :func:`kcat_spread`), or a negative seed.
        """
        if int(seed) < 0:
            raise KingemsError(f"seed must be >= 0, got {seed}")
        sd, src = kcat_spread(pairs, fallback_log10_sd, spread_scale)
        group, keys = kcat_groups(pairs, fallback_grouping)
        fb = DEFAULT_LOG10_SD if fallback_log10_sd is None else float(fallback_log10_sd)
        kind = (pairs["spread_kind"].fillna("").astype(str).to_numpy(dtype=object) if "spread_kind" in pairs
                else np.full(len(src), "", dtype=object))
        kind = np.where(src == "log10_kcat_std", np.where(kind == "", "unknown", kind), "").astype(object)
        return cls(pd.to_numeric(pairs["kcat"]).to_numpy(float).copy(), sd, src, group, tuple(keys), int(seed), fb,
                   float(spread_scale), fallback_grouping, kind)

    @property
    def n_pairs(self) -> int:
        """Number of pairs."""
        return len(self.kcat)

    @property
    def n_groups(self) -> int:
        """Number of independent draws per vector."""
        return len(self.group_keys)

    def z(self, i: int, attempt: int = 0) -> np.ndarray:
        """The standard-normal draw of every group for sample ``i`` (``attempt``: see :meth:`sample`)."""
        if int(i) < 0:
            raise KingemsError(f"sample index must be >= 0, got {i}")
        if int(attempt) < 0:
            raise KingemsError(f"attempt must be >= 0, got {attempt}")
        # Attempt 0 keeps the original stream of sample i; redraws get their own spawn key (i, attempt).
        key = (int(i),) if int(attempt) == 0 else (int(i), int(attempt))
        rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=key))
        return rng.standard_normal(self.n_groups)

    def sample(self, i: int, attempt: int = 0) -> np.ndarray:
        """kcat vector [1/s] of sample ``i``.

        ``attempt`` > 0 gives independent redraws of the same sample, used by rejection sampling
        (:class:`WildTypeConditioning`): the accepted vector of sample ``i`` is a function of ``(seed, i,
        attempt)`` only, so it does not depend on ``N``, order or worker. Attempt 0 is the unconditioned draw.
        """
        return self.kcat * 10.0 ** (self.log10_sd * self.z(i, attempt)[self.group])

    def samples(self, n: int, start: int = 0) -> np.ndarray:
        """Samples ``start .. start + n - 1`` as an ``(n, n_pairs)`` array.

        Raises
        ------
        KingemsError
            ``n < 1``.
        """
        check_n_samples(n)
        return np.vstack([self.sample(start + i) for i in range(int(n))])

    def describe(self) -> dict:
        """What was assumed: counts per spread source, groups, seed, fallback and scale (stored with every output)."""
        src = pd.Series(self.spread_source).value_counts().to_dict()
        kinds = (pd.Series(self.spread_kind).value_counts().to_dict() if self.spread_kind is not None else {})
        return {
            "n_pairs": self.n_pairs,
            "n_groups": self.n_groups,
            "seed": self.seed,
            "spread_log10_kcat_std": int(src.get("log10_kcat_std", 0)),
            "spread_kcat_std": int(src.get("kcat_std", 0)),
            "spread_fallback": int(src.get("fallback", 0)),
            "log10_kcat_std_calibrated": int(kinds.get("calibrated", 0)),
            "log10_kcat_std_ensemble": int(kinds.get("ensemble", 0)),
            "log10_kcat_std_unknown": int(kinds.get("unknown", 0)),
            "fallback_log10_sd": self.fallback_log10_sd,
            "spread_scale": self.spread_scale,
            "fallback_grouping": self.fallback_grouping,
            "median_log10_sd": float(np.median(self.log10_sd)),
        }

    def label(self) -> str:
        """One-line description of the spread used (a column of every sampled output)."""
        d = self.describe()
        return (f"log10_kcat_std:{d['spread_log10_kcat_std']}(calibrated {d['log10_kcat_std_calibrated']}, "
                f"ensemble {d['log10_kcat_std_ensemble']}) kcat_std:{d['spread_kcat_std']} "
                f"fallback({d['fallback_log10_sd']:g}):{d['spread_fallback']} scale:{d['spread_scale']:g} "
                f"groups:{d['n_groups']}({d['fallback_grouping']}) seed:{d['seed']}")


@dataclass(frozen=True)
class WildTypeConditioning:
    """Condition kcat samples on the observation that the wild type grows (rejection sampling).

    The prior (:class:`KcatSampler`) puts much of its mass on kcat vectors with which the modelled cell can hardly
    grow: with the calibrated spread (~1.4 log10 per estimate, independent estimates) the slowest of the hundreds of
    enzymes on the growth path sets the rate, and the median sample of iML1515 on glucose grows ~13x slower than the
    point model. But the organism is *observed* to grow on every screened condition. The posterior given that
    observation keeps only vectors with which the wild type grows at least ``min_fraction`` of the point model's
    wild-type growth on that condition (a likelihood of 1 above the bound, 0 below). ``min_fraction`` is a modelling
    choice made a priori, not fitted on knockout labels.

    Sampling: sample ``i`` on condition ``c`` is the first attempt ``a = 0, 1, ...`` of
    :meth:`KcatSampler.sample` (``i, a``) whose wild type reaches the bound on ``c``; after ``max_attempts``
    rejected attempts the sample is reported as not accepted (``method`` ``not_accepted``, growth missing) and left
    out of the summaries. Conditions are conditioned separately (each screen is a posterior given growth on its own
    carbon source), so one sample index may carry different vectors on different conditions.

    Attributes
    ----------
    min_fraction : float
        Required wild-type growth as a fraction of the point model's (> 0). No default: with the calibrated spread
        on iML1515 (glucose) 0 of 64 prior draws reach 0.5 of the point growth (the fastest 0.27), 5 % reach 0.2
        and 27 % reach 0.1, so a bound that sounds mild can leave rejection sampling almost nothing to accept.
    max_attempts : int
        Draws tried per sample and condition before giving up.
    """

    min_fraction: float
    max_attempts: int = 64

    def __post_init__(self) -> None:
        if isinstance(self.min_fraction, bool) or not isinstance(self.min_fraction, (int, float)) or not (
                math.isfinite(self.min_fraction) and self.min_fraction > 0):
            raise KingemsError(f"min_fraction must be > 0, got {self.min_fraction}")
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, (int, np.integer)) or \
                self.max_attempts < 1:
            raise KingemsError(f"max_attempts must be >= 1, got {self.max_attempts}")

    def label(self) -> str:
        """One-line description (a column of every conditioned output)."""
        return f"wild_type>={self.min_fraction:g}x_point(max_attempts {int(self.max_attempts)})"


#: The ``conditioning`` label of unconditioned (prior) samples.
NO_CONDITIONING = "none"


@dataclass(frozen=True)
class ChainSampler(KcatSampler):
    """Fixed kcat vectors from a Markov chain on the conditioned posterior (:func:`.sampled.pcn_chain`).

    The same interface as :class:`KcatSampler`, so every sampled analysis takes it unchanged: ``sample(i)`` is the
    ``i``-th vector kept from the chain (``zs[i]``, standard-normal group draws as in the sampler's error model).
    The vectors are already conditioned, so analyses run on them unconditioned; ``chain`` records how they were
    made (condition, bound, step, thinning, acceptance, effective sample size) and :meth:`conditioning_label` is
    the ``conditioning`` column of every output.
    """

    zs: np.ndarray | None = None
    chain: dict | None = None

    @classmethod
    def of(cls, base: KcatSampler, zs: np.ndarray, chain: dict) -> ChainSampler:
        """A chain sampler with ``base``'s pairs, spreads and groups and the chain's draws ``zs`` (rows)."""
        zs = np.asarray(zs, dtype=float)
        if zs.ndim != 2 or zs.shape[1] != base.n_groups:
            raise KingemsError(f"chain draws must be (n, {base.n_groups}), got {zs.shape}")
        return cls(base.kcat, base.log10_sd, base.spread_source, base.group, base.group_keys, base.seed,
                   base.fallback_log10_sd, base.spread_scale, base.fallback_grouping, base.spread_kind,
                   zs, dict(chain))

    @property
    def n_samples(self) -> int:
        """Vectors kept from the chain."""
        return 0 if self.zs is None else int(self.zs.shape[0])

    def z(self, i: int, attempt: int = 0) -> np.ndarray:
        """The group draws of kept vector ``i`` (a chain has no redraws: ``attempt`` must be 0)."""
        if int(attempt) != 0:
            raise KingemsError("a chain's samples are already conditioned: no redraws (attempt must be 0)")
        if not 0 <= int(i) < self.n_samples:
            raise KingemsError(f"the chain kept {self.n_samples} vectors, sample {i} asked")
        return self.zs[int(i)]

    def describe(self) -> dict:
        """:meth:`KcatSampler.describe` plus the chain's record."""
        return {**super().describe(), "chain": dict(self.chain or {})}

    def conditioning_label(self) -> str:
        """``conditioning`` column value of analyses run on these vectors."""
        c = self.chain or {}
        return (f"wild_type>={c.get('min_fraction', float('nan')):g}x_point(pcn chain on {c.get('condition')}: "
                f"step {c.get('step', float('nan')):.3g}, thin {c.get('thin')}, burn-in {c.get('burn_in')}, "
                f"acceptance {c.get('acceptance', float('nan')):.2f})")


def conditioning_label(conditioning: WildTypeConditioning | None) -> str:
    """``conditioning`` column value: the conditioning's label, or ``"none"``."""
    return NO_CONDITIONING if conditioning is None else conditioning.label()


def check_n_samples(n: int) -> int:
    """``n`` as an int, or a clear error when it is not a positive number of samples."""
    try:
        n_int = int(n)
    except (TypeError, ValueError):
        raise KingemsError(f"number of samples must be an integer >= 1, got {n!r}") from None
    if n_int != n or n_int < 1:
        raise KingemsError(f"number of samples must be an integer >= 1, got {n!r}")
    return n_int


# ---------------------------------------------------------------------------------------------------------------------
# applying a vector in place
# ---------------------------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def kcats_applied(problem, kcats: np.ndarray) -> Iterator[np.ndarray]:
    """Write a kcat vector into the problem's matrix coefficients for a ``with`` block, then write the previous
    values back (in place both ways: no rebuild). Yields the indices of the pairs that changed.

    Works on any problem with ``kcats`` / ``set_kcats``; where the problem keeps an edit log
    (``snapshot()`` / ``restore(snapshot)``), that restores it instead.
    """
    before = problem.kcats
    kcats = np.asarray(kcats, dtype=float)
    if kcats.shape != before.shape:
        raise KingemsError(f"kcat vector has {kcats.size} values, the problem has {before.size} pairs")
    changed = np.nonzero(kcats != before)[0]
    snap = problem.snapshot() if hasattr(problem, "snapshot") and hasattr(problem, "restore") else None
    try:
        if changed.size:
            problem.set_kcats(changed, kcats[changed])
        yield changed
    finally:
        if snap is not None:
            problem.restore(snap)
        elif changed.size:
            problem.set_kcats(changed, before[changed])


# ---------------------------------------------------------------------------------------------------------------------
# summaries
# ---------------------------------------------------------------------------------------------------------------------
def _quantile_columns(g, col: str, prefix: str) -> pd.DataFrame:
    q = g[col].quantile(list(QUANTILES)).unstack()
    q.columns = [f"{prefix}_q{int(round(100 * c)):02d}" for c in q.columns]
    return q


def summarise_fva(per_sample: pd.DataFrame, point: pd.DataFrame | None = None, tol: float = 1e-6) -> pd.DataFrame:
    """Per-reaction quantiles of FVA bounds over samples, blocked frequency, and whether kcats move the range.

    Parameters
    ----------
    per_sample : DataFrame
        ``sample, reaction_id, minimum, maximum`` (one FVA per sample).
    point : DataFrame, optional
        The point model's FVA (``reaction_id, minimum, maximum``), reported beside the quantiles.
    tol : float
        A bound that moves by more than ``tol * max(1, |bound|)`` between samples depends on the kcats.

    Returns
    -------
    DataFrame
        One row per reaction: ``min_q05, min_q50, min_q95, max_q05, max_q50, max_q95``, ``range_q05/q50/q95``
        (``max - min``), ``band_width`` (the larger of the 5-95 % spreads of the two bounds), ``envelope_width``
        (``max_q95 - min_q05``), ``blocked_frequency`` (share of samples with both bounds 0), ``kcat_dependent``,
        ``n_samples``, ``n_failed`` (samples whose FVA had no optimum), and ``point_minimum`` / ``point_maximum``.
    """
    need = {"sample", "reaction_id", "minimum", "maximum"}
    if not need <= set(per_sample.columns):
        raise KingemsError(f"per-sample FVA needs columns {sorted(need)}")
    df = per_sample.assign(range=per_sample["maximum"] - per_sample["minimum"])
    ok = df.dropna(subset=["minimum", "maximum"])
    if ok.empty:
        raise KingemsError("no sample has an FVA optimum (every sample infeasible, undecided or not accepted): "
                           "nothing to summarise")
    g = ok.groupby("reaction_id", sort=False)
    out = pd.concat([_quantile_columns(g, "minimum", "min"), _quantile_columns(g, "maximum", "max"),
                     _quantile_columns(g, "range", "range")], axis=1)
    out["band_width"] = np.maximum(out["max_q95"] - out["max_q05"], out["min_q95"] - out["min_q05"])
    out["envelope_width"] = out["max_q95"] - out["min_q05"]
    blocked = (ok["minimum"].abs() <= ZERO_TOL) & (ok["maximum"].abs() <= ZERO_TOL)
    out["blocked_frequency"] = blocked.groupby(ok["reaction_id"], sort=False).mean()
    spread_lo = g["minimum"].max() - g["minimum"].min()
    spread_hi = g["maximum"].max() - g["maximum"].min()
    scale_lo = np.maximum(1.0, g["minimum"].apply(lambda s: s.abs().max()))
    scale_hi = np.maximum(1.0, g["maximum"].apply(lambda s: s.abs().max()))
    out["kcat_dependent"] = (spread_lo > tol * scale_lo) | (spread_hi > tol * scale_hi)
    out["n_samples"] = g.size()
    order = pd.unique(per_sample["reaction_id"])
    out = out.reindex(order)
    n_total = per_sample.groupby("reaction_id", sort=False)["sample"].nunique().reindex(order)
    out["n_failed"] = (n_total - out["n_samples"].fillna(0)).astype(int)
    out["n_samples"] = out["n_samples"].fillna(0).astype(int)
    out["kcat_dependent"] = out["kcat_dependent"].fillna(False).astype(bool)
    if point is not None:
        p = point.set_index("reaction_id")
        out["point_minimum"] = p["minimum"].reindex(out.index)
        out["point_maximum"] = p["maximum"].reindex(out.index)
    return out.rename_axis("reaction_id").reset_index()


def fva_interval_summary(summary: pd.DataFrame) -> dict:
    """Headline figures of :func:`summarise_fva`: median 90 % band width, how many reactions depend on kcats."""
    dep = summary["kcat_dependent"].astype(bool)
    return {
        "n_reactions": int(len(summary)),
        "n_kcat_dependent": int(dep.sum()),
        "fraction_kcat_dependent": float(dep.mean()) if len(summary) else float("nan"),
        "median_band_width": float(summary["band_width"].median()),
        "median_band_width_dependent": float(summary.loc[dep, "band_width"].median()) if dep.any() else 0.0,
        "median_range_q50": float(summary["range_q50"].median()),
        "n_sometimes_blocked": int(((summary["blocked_frequency"] > 0) & (summary["blocked_frequency"] < 1)).sum()),
    }


#: How a sampled knockout is called lethal (:func:`summarise_knockouts`).
LETHAL_RULES = ("absolute", "relative", "fitness")


@dataclass(frozen=True)
class FitnessAssay:
    """How a pooled fitness assay (RB-TnSeq, Tn-seq) sees a knockout's growth: the ``fitness`` lethal rule.

    Truth tables call a gene lethal when its measured fitness is at most ``threshold`` (RB-TnSeq: -2, a log2
    change of the mutant's share of the pool). A mutant growing at ``r`` times the wild type's rate for the
    ``generations`` doublings of the experiment changes its share by ``2**(generations * (r - 1))``, so its
    expected fitness is ``generations * (r - 1)``; the measurement adds noise with standard deviation ``sd``
    (normal). The probability that the assay calls a knockout lethal, given its modelled relative growth, is then
    ``Phi((threshold - generations * (r - 1)) / sd)``; averaged over kcat samples it is the posterior predictive
    probability of the *label*, which is what a Brier score or reliability curve against such labels checks.
    A growth-threshold rule (``absolute``, ``relative``) instead asks whether the model can grow at all, which
    a kcat rarely decides, and gives a nearly 0/1 probability.

    Attributes
    ----------
    generations : float
        Wild-type doublings over the assay. The Fitness Browser's documentation of its gene fitness (RB-TnSeq,
        Wetmore et al. 2015, mBio 6:e00306) reads a mutant incapable of growth at about -6 "if the experiment ran
        for 6 generations", i.e. fitness = generations x (r - 1); 6 is the default.
    sd : float
        Measurement noise of one gene's fitness, in log2 units.
    threshold : float
        The truth table's fitness cut (``grows = fitness > threshold``).
    """

    generations: float = 6.0
    sd: float = 0.5
    threshold: float = -2.0

    def __post_init__(self) -> None:
        for name in ("generations", "sd"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v > 0):
                raise KingemsError(f"FitnessAssay.{name} must be a finite number > 0, got {v!r}")
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, (int, float)) or not \
                math.isfinite(self.threshold):
            raise KingemsError(f"FitnessAssay.threshold must be a finite number, got {self.threshold!r}")

    def p_lethal(self, relative_growth: Sequence[float] | np.ndarray) -> np.ndarray:
        """Probability that the assay calls a knockout lethal, per relative growth (NaN counts as 0 growth)."""
        from scipy.special import ndtr

        r = np.clip(np.nan_to_num(np.asarray(relative_growth, dtype=float), nan=0.0), 0.0, 1.0)
        return ndtr((self.threshold - self.generations * (r - 1.0)) / self.sd)

    def label(self) -> str:
        """One-line description (the summary's ``lethal_rule`` column)."""
        return f"fitness(generations {self.generations:g}, sd {self.sd:g}, threshold {self.threshold:g})"


def summarise_knockouts(
    per_sample: pd.DataFrame, point: pd.DataFrame | None = None, threshold: float = GROWTH_THRESHOLD,
    lethal_rule: str = "absolute", assay: FitnessAssay | None = None,
) -> pd.DataFrame:
    """Per (gene, condition): probability of lethality and growth quantiles over samples.

    Parameters
    ----------
    per_sample : DataFrame
        ``sample, gene_id, condition, growth`` (and optionally ``relative_growth``, ``wild_type_growth``,
        ``method``). Rows with method ``not_accepted`` (a conditioned sample that found no accepted draw) are
        left out.
    point : DataFrame, optional
        The point model's screen (``gene_id, condition, growth``): ``point_growth`` and ``point_lethal``.
    threshold : float
        Growth [1/h] at or below which the point model calls a knockout lethal (the metrics'
        ``GROWTH_THRESHOLD``: predicted grows when growth > 0.001).
    lethal_rule : {"absolute", "relative"}
        ``absolute``: a sample's knockout is lethal when its growth <= ``threshold`` (the same number for every
        sample). ``relative``: the point model's rule carried to each sample's own wild type: lethal when
        ``growth <= threshold * wt_sample / wt_point`` (relative growth at most what the point model's
        threshold is relative to its wild type on that condition), so a slow sample does not call every knockout
        lethal. Needs ``point`` with ``wild_type_growth`` and per-sample ``wild_type_growth``; samples whose wild
        type does not grow have no relative growth and are left out (``n_samples`` counts those used).
        ``fitness``: each sample contributes the probability that a pooled fitness assay calls the knockout
        lethal given its growth relative to that sample's wild type (:class:`FitnessAssay`; the same inputs and
        exclusions as ``relative``); the point model gets the same rule (``point_p_lethal``).
    assay : FitnessAssay, optional
        The assay of the ``fitness`` rule (default ``FitnessAssay()``); an error with the other rules.

    Returns
    -------
    DataFrame
        ``gene_id, condition, p_lethal, growth_mean, growth_q05, growth_q50, growth_q95`` (plus
        ``relative_growth_q05/q50/q95`` when given), ``n_samples``, ``point_growth``, ``point_lethal``
        (``point_p_lethal`` with the ``fitness`` rule), ``lethal_rule`` (the assay's label with ``fitness``).
        A missing growth (NaN: the LP ended undecided) counts as lethal, as the metrics count it as 0.
    """
    need = {"sample", "gene_id", "condition", "growth"}
    if not need <= set(per_sample.columns):
        raise KingemsError(f"per-sample knockouts need columns {sorted(need)}")
    if lethal_rule not in LETHAL_RULES:
        raise KingemsError(f"lethal_rule must be one of {', '.join(LETHAL_RULES)}, got {lethal_rule!r}")
    if assay is not None and lethal_rule != "fitness":
        raise KingemsError(f"an assay applies to lethal_rule='fitness' only, not {lethal_rule!r}")
    assay = FitnessAssay() if lethal_rule == "fitness" and assay is None else assay
    df = per_sample
    if "method" in df:
        df = df[df["method"] != "not_accepted"]
    if lethal_rule == "absolute":
        df = df.assign(_lethal=~(df["growth"].fillna(0.0) > threshold))
    else:
        if point is None or "wild_type_growth" not in point or "wild_type_growth" not in df:
            raise KingemsError("lethal_rule='relative' needs wild_type_growth in the per-sample table and a point "
                               "screen with wild_type_growth")
        pwt = point.groupby("condition", sort=False)["wild_type_growth"].first()
        if not (pwt.fillna(0.0) > threshold).all():
            bad = list(pwt[~(pwt.fillna(0.0) > threshold)].index)
            raise KingemsError(f"the point model's wild type does not grow on {bad}: no relative threshold there")
        wt = df["wild_type_growth"].to_numpy(float)
        df = df[np.isfinite(wt) & (wt > 0)]
        if assay is not None:  # the probability the assay calls it lethal, per sample
            r = df["growth"].to_numpy(float) / df["wild_type_growth"].to_numpy(float)
            df = df.assign(_lethal=assay.p_lethal(r))
        else:
            cut = threshold * df["wild_type_growth"].to_numpy(float) / df["condition"].map(pwt).to_numpy(float)
            df = df.assign(_lethal=~(df["growth"].fillna(0.0).to_numpy(float) > cut))
    if df.empty:
        raise KingemsError("no sample left to summarise (every sample rejected or without a growing wild type)")
    g = df.groupby(["gene_id", "condition"], sort=False)
    out = pd.DataFrame({"p_lethal": g["_lethal"].mean(), "growth_mean": g["growth"].mean()})
    out = out.join(_quantile_columns(g, "growth", "growth"))
    if "relative_growth" in df:
        out = out.join(_quantile_columns(g, "relative_growth", "relative_growth"))
    out["n_samples"] = g.size()
    out = out.reset_index()
    if point is not None:
        p = point.set_index(["gene_id", "condition"])["growth"]
        out["point_growth"] = p.reindex(pd.MultiIndex.from_frame(out[["gene_id", "condition"]])).to_numpy()
        out["point_lethal"] = ~(out["point_growth"].fillna(0.0) > threshold)
        if assay is not None:
            pwt = point.groupby("condition", sort=False)["wild_type_growth"].first()
            out["point_p_lethal"] = assay.p_lethal(out["point_growth"].to_numpy(float)
                                                   / out["condition"].map(pwt).to_numpy(float))
    out["lethal_rule"] = lethal_rule if assay is None else assay.label()
    if "conditioning" in df:
        out["conditioning"] = "; ".join(pd.unique(df["conditioning"].astype(str)))
    return out


def summarise_pairs(per_sample: pd.DataFrame) -> pd.DataFrame:
    """Per pair of organisms: how often each interaction label occurs over samples, and growth quantiles.

    Parameters
    ----------
    per_sample : DataFrame
        Rows of :func:`kingems_ray.community.pairwise.run_pair` with a ``sample`` column.

    Returns
    -------
    DataFrame
        ``model_a, model_b, label, frequency, n_samples, modal`` (the most frequent label of the pair), one row per
        label seen, plus ``growth_a_paired_q05/q50/q95`` and ``growth_b_paired_q05/q50/q95`` per pair.
    """
    need = {"sample", "model_a", "model_b", "interaction"}
    if not need <= set(per_sample.columns):
        raise KingemsError(f"per-sample pairs need columns {sorted(need)}")
    keys = ["model_a", "model_b"]
    freq = (per_sample.groupby(keys, sort=False)["interaction"].value_counts(normalize=True)
            .rename("frequency").reset_index().rename(columns={"interaction": "label"}))
    n = per_sample.groupby(keys, sort=False)["sample"].nunique().rename("n_samples")
    freq = freq.merge(n.reset_index(), on=keys)
    top = freq.sort_values(["frequency", "label"], ascending=[False, True]).drop_duplicates(keys)
    freq = freq.merge(top[[*keys, "label"]].rename(columns={"label": "modal"}), on=keys)
    g = per_sample.groupby(keys, sort=False)
    q = pd.concat([_quantile_columns(g, c, c) for c in ("growth_a_paired", "growth_b_paired") if c in per_sample],
                  axis=1)
    if len(q.columns):
        freq = freq.merge(q.reset_index(), on=keys, how="left")
    return freq


def summarise_taxa(per_sample: pd.DataFrame) -> pd.DataFrame:
    """Per taxon: growth quantiles over samples (community cooperative trade-off growth).

    Parameters
    ----------
    per_sample : DataFrame
        ``sample, taxon, growth`` (and optionally ``perturbation``: grouped by it too).

    Returns
    -------
    DataFrame
        ``taxon, growth_mean, growth_q05, growth_q50, growth_q95, p_no_growth, n_samples``.
    """
    need = {"sample", "taxon", "growth"}
    if not need <= set(per_sample.columns):
        raise KingemsError(f"per-sample community growth needs columns {sorted(need)}")
    keys = [c for c in ("perturbation", "taxon") if c in per_sample]
    g = per_sample.groupby(keys, sort=False)
    out = pd.DataFrame({"growth_mean": g["growth"].mean()}).join(_quantile_columns(g, "growth", "growth"))
    out["p_no_growth"] = g["growth"].apply(lambda s: float((~(s.fillna(0.0) > GROWTH_THRESHOLD)).mean()))
    out["n_samples"] = g.size()
    return out.reset_index()


# ---------------------------------------------------------------------------------------------------------------------
# calibration of p(lethal)
# ---------------------------------------------------------------------------------------------------------------------
def _prob_and_outcome(p: Sequence[float], y: Sequence[bool]) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(p, dtype=float)
    y = np.asarray(y, dtype=bool)
    if p.shape != y.shape:
        raise KingemsError(f"{p.size} probabilities but {y.size} outcomes")
    if p.size == 0:
        raise KingemsError("no points to score")
    if not (np.isfinite(p) & (p >= 0) & (p <= 1)).all():
        raise KingemsError("probabilities must lie in [0, 1]")
    return p, y


def brier_score(p: Sequence[float], y: Sequence[bool]) -> float:
    """Mean squared difference between the predicted probability and the 0/1 outcome (lower is better)."""
    p, y = _prob_and_outcome(p, y)
    return float(np.mean((p - y) ** 2))


def reliability_curve(p: Sequence[float], y: Sequence[bool], n_bins: int = 10) -> pd.DataFrame:
    """Observed frequency against predicted probability in equal-width bins (empty bins omitted).

    Returns
    -------
    DataFrame
        ``bin, lower, upper, n, mean_predicted, observed_frequency``. The last bin includes 1.
    """
    p, y = _prob_and_outcome(p, y)
    if n_bins < 1:
        raise KingemsError(f"n_bins must be >= 1, got {n_bins}")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    b = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, n_bins - 1)
    rows = []
    for i in range(n_bins):
        m = b == i
        if m.any():
            rows.append((i, edges[i], edges[i + 1], int(m.sum()), float(p[m].mean()), float(y[m].mean())))
    return pd.DataFrame(rows, columns=["bin", "lower", "upper", "n", "mean_predicted", "observed_frequency"])


def lethality_calibration(joined: pd.DataFrame, n_bins: int = 10) -> dict:
    """Brier score, reliability curve and ROC-AUC of ``p_lethal`` against measured lethality.

    Parameters
    ----------
    joined : DataFrame
        :func:`summarise_knockouts` output joined with a truth table: ``p_lethal`` and ``grows`` (measured; rows
        without a measurement are dropped). ``point_lethal`` adds the point model's Brier score (its 0/1 call as
        a probability); ``point_p_lethal`` (the ``fitness`` rule) replaces it.

    Returns
    -------
    dict
        ``n, n_lethal, brier, brier_point, brier_base_rate`` (a constant forecast of the observed lethal rate),
        ``roc_auc_p_lethal`` (how well ``p_lethal`` ranks lethal above viable knockouts; ties count half, scores
        rounded as the knockout metrics round them), ``reliability`` (DataFrame); with the point screen's
        columns also ``roc_auc_point_growth`` (the point model ranked by its growth).
    """
    if not {"p_lethal", "grows"} <= set(joined.columns):
        raise KingemsError("calibration needs columns p_lethal and grows (join the summary with a truth table)")
    d = joined.dropna(subset=["grows"])
    y_lethal = ~d["grows"].astype(bool).to_numpy()
    p = d["p_lethal"].to_numpy(float)
    base = float(y_lethal.mean())
    out = {
        "n": int(len(d)),
        "n_lethal": int(y_lethal.sum()),
        "brier": brier_score(p, y_lethal),
        "brier_base_rate": brier_score(np.full(len(d), base), y_lethal),
        "roc_auc_p_lethal": roc_auc(y_lethal, np.round(p, 9)),
        "reliability": reliability_curve(p, y_lethal, n_bins),
    }
    if "point_growth" in d:  # the point model's graded score: lower growth, more likely lethal
        out["roc_auc_point_growth"] = roc_auc(y_lethal, np.round(-d["point_growth"].fillna(0.0).to_numpy(float), 9))
    if "point_p_lethal" in d:  # the point model under the same (probabilistic) rule
        out["brier_point"] = brier_score(d["point_p_lethal"].to_numpy(float), y_lethal)
    elif "point_lethal" in d:
        out["brier_point"] = brier_score(d["point_lethal"].astype(float).to_numpy(), y_lethal)
    return out


def probability_scores(summary: pd.DataFrame, tie_break: str | None = "growth_q50") -> pd.DataFrame:
    """The sampled knockouts as a table :func:`~kingems_ray.analysis.metrics.compare_knockout_scores` can rank.

    ``compare_knockout_scores`` ranks a ``growth`` column with *grows* as the positive class; here that column is
    ``1 - p_lethal`` (the probability that the knockout grows), with ties within one probability broken by a
    second column scaled below the probability step (default: the median sampled growth) when ``tie_break`` is
    given. ``tie_break=None`` ranks by the probability alone, as its log-odds ``log((1 - p) / p)`` (clipped to
    +-40): the same order, but probabilities within ``1e-6`` of 0 or 1 (the ``fitness`` rule's tails) stay
    apart when the knockout metrics round scores to 6 decimals.

    Returns
    -------
    DataFrame
        ``gene_id, condition, growth`` (the score) plus the summary's other columns.
    """
    out = summary.copy()
    p = out["p_lethal"].to_numpy(float)
    if tie_break is None:
        with np.errstate(divide="ignore"):
            out["growth"] = np.clip(np.log1p(-p) - np.log(p), -40.0, 40.0)
        return out
    score = 1.0 - p
    t = out[tie_break].fillna(0.0).to_numpy(float)
    span = float(np.nanmax(np.abs(t))) if len(t) else 0.0
    n = int(out["n_samples"].max()) if "n_samples" in out and len(out) else 1
    # Below half of one probability step (1/n), so the tie-break never reorders two probabilities.
    if span > 0:
        score = score + t / span * 0.5 / max(n, 1) * 0.999
    out["growth"] = score
    return out
