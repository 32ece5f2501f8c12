"""Annealing settings, growth conditions and results of :mod:`kingems_ray.analysis.tuning`."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

import pandas as pd

from ..ec.problem import Problem
from ..errors import KingemsError

log = logging.getLogger(__name__)

#: Relative spread (sigma / kcat) used when no pair of the table has a ``kcat_std``.
DEFAULT_FALLBACK_CV = 0.5


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
