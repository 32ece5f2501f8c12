"""Why a wild type does not solve: the cause named in one sentence, with a hint (fixed maintenance against the pool,
a pool too small for any growth, a medium with no carbon source).

Lives in ``ec/`` because it relaxes an ecGEM :class:`~kingems_ray.ec.problem.Problem` in place (and restores it).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..validate import WildTypeError

log = logging.getLogger(__name__)

_ATPM_IDS = ("ATPM", "NGAM", "R_ATPM", "ATPM_c", "DM_atp_c_")


def _maintenance_reaction(cm) -> str | None:
    for rid in _ATPM_IDS:
        if rid in cm.rxn_index:
            return rid
    return None


def diagnose_infeasible(problem, medium=None, close_others: bool = True, status: str = "infeasible") -> str:
    """Why the wild type of ``problem`` (with ``medium`` applied) does not solve, as one sentence with a hint.

    Tries, on the same solver (restored afterwards): the maintenance reaction's lower bound at 0; the enzyme pool
    opened; every uptake opened. The first relaxation that makes the model grow names the cause.
    """
    import contextlib

    from ..gem.media import medium_applied

    cm = problem.cm
    atpm = _maintenance_reaction(cm)
    lp = problem.solver
    parts = []

    def grows() -> bool:
        r = problem.optimize(need_x=False)
        return bool(r.ok and r.objective > 1e-9)

    with medium_applied(problem, medium, close_others=close_others) if medium is not None \
            else contextlib.nullcontext():
        atpm_lb = problem.reaction_bounds(atpm)[0] if atpm else 0.0
        pool = cm.pool if cm.pool_row is not None else None
        if atpm and atpm_lb > 0:
            with problem.reactions_bounded({atpm: (0.0, problem.reaction_bounds(atpm)[1])}):
                ok_no_atpm = grows()
            if ok_no_atpm and pool is not None:
                parts.append(f"the fixed maintenance flux {atpm} >= {atpm_lb:g} mmol/gDW/h needs more enzyme than "
                             f"the pool of {pool:g} g/gDW allows (level {cm.level})")
            elif ok_no_atpm:
                parts.append(f"the medium cannot supply the fixed maintenance flux {atpm} >= {atpm_lb:g} "
                             "mmol/gDW/h (a medium with no carbon source?)")
        if not parts and pool is not None:
            lp.set_row_bounds(cm.pool_row, -np.inf, np.inf)
            try:
                ok_no_pool = grows()
            finally:
                lp.set_row_bounds(cm.pool_row, -np.inf, float(pool))
            if ok_no_pool:
                parts.append(f"the enzyme pool of {pool:g} g/gDW is too small for any growth at level {cm.level}")
        if not parts:
            parts.append("the medium has no usable carbon source, or a bound forces an impossible flux")
    hints = []
    if pool is not None:
        hints.append("a larger --pool")
        hints.append("'kingems-ray tune' to raise the limiting kcats")
        hints.append("a lower level (L1/L2 still solve?)")
    if atpm and atpm_lb > 0:
        hints.append(f"a smaller {atpm} lower bound ('kingems-ray maintenance' scans it)")
    hints.append("a medium with a carbon source")
    return f"{'; '.join(parts)}. Try {', '.join(dict.fromkeys(hints))}"


def check_wild_type(problem, condition: str, status: str, medium=None) -> None:
    """Raise :class:`WildTypeError` with the likely cause when the wild type is not optimal."""
    if status == "optimal":
        return
    why = diagnose_infeasible(problem, medium)
    raise WildTypeError(f"model {problem.cm.model_id!r}: the wild type is {status} in condition {condition!r} "
                        f"(level {problem.cm.level}): {why}")


def check_screen_wild_type(df, target, conditions: Mapping[str, Any]) -> None:
    """After a knockout screen: the wild type must be optimal in at least one condition.

    Where it fails in every condition each row would read "lethal": that is an error (with the cause). Where it
    fails in some conditions only, their rows keep their ``wild_type_<status>`` method and a warning names them.
    """
    if df is None or not len(df) or "method" not in df.columns:
        return
    wt_bad = df["method"].astype(str).str.startswith("wild_type_")
    if not wt_bad.any():
        return
    bad_conds = list(dict.fromkeys(df.loc[wt_bad, "condition"]))
    if len(bad_conds) < df["condition"].nunique():
        log.warning("wild type not optimal in condition(s) %s: their knockout rows carry method wild_type_<status>",
                    ", ".join(map(str, bad_conds)))
        return
    from .problem import Problem

    problem = target if isinstance(target, Problem) else Problem(target)
    cond = bad_conds[0]
    status = str(df.loc[wt_bad & (df["condition"] == cond), "status"].iloc[0])
    check_wild_type(problem, str(cond), status, (conditions or {}).get(cond))
