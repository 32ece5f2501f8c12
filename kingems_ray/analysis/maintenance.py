"""Maintenance-energy sweep (NGAM x GAM grid of growth), edited in place on one persistent LP.

* NGAM (non-growth-associated maintenance) is the lower bound of the ATP maintenance reaction (``ATPM``)
  [mmol ATP/gDW/h]: a bound change.
* GAM (growth-associated maintenance) is the ATP hydrolysed per gDW of biomass: the ``atp + h2o -> adp + pi + h``
  part of the biomass reaction. Setting GAM to ``g`` moves the five coefficients by the same amount
  ``d = g - GAM_now`` (atp and h2o consumed ``d`` more, adp, pi and h produced ``d`` more): matrix coefficient
  edits on the biomass column, no rebuild.

GAM is reported on the ATP coefficient (``basis="atp"``: iML1515's 75.55, the number the kinGEMs configs use) or on
the ADP coefficient (``basis="adp"``: 75.38 for iML1515, the hydrolysis alone); the edit is the same shift.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..ec.compile import CompiledModel
from ..ec.problem import Problem
from ..errors import KingemsError

#: Sign of each hydrolysis participant in the biomass reaction (consumed -1, produced +1).
HYDROLYSIS = {"atp": -1.0, "h2o": -1.0, "adp": 1.0, "pi": 1.0, "h": 1.0}
_CYTOSOL = re.compile(r"^(?:M_)?(atp|adp|h2o|pi|h)(?:_c|\[c\]|_c0|\(c\))$")


@dataclass
class GamEdit:
    """Where GAM lives in the LP: the biomass column(s) and the rows of the hydrolysis metabolites.

    Attributes
    ----------
    cols : list of (int, float)
        Biomass flux column(s) and their sign (a split reaction's reverse column holds negated coefficients).
    rows : dict
        Metabolite role (``atp, h2o, adp, pi, h``) -> row.
    base : dict
        Role -> coefficient in the compiled model (forward orientation).
    basis : str
        ``"atp"`` or ``"adp"``: which coefficient GAM is read from.
    """

    cols: list[tuple[int, float]]
    rows: dict[str, int]
    base: dict[str, float]
    basis: str = "atp"

    @property
    def base_gam(self) -> float:
        """GAM of the compiled model."""
        return abs(self.base[self.basis])


def gam_edit(compiled: CompiledModel, biomass: str | None = None, mets: Mapping[str, str] | None = None,
             basis: str = "atp") -> GamEdit:
    """Locate the GAM coefficients of a compiled model.

    Parameters
    ----------
    compiled : CompiledModel
    biomass : str, optional
        Biomass reaction (default: the objective).
    mets : mapping, optional
        Role -> metabolite id, e.g. ``{"atp": "atp_c", ...}``; default: cytosolic ``atp, h2o, adp, pi, h`` found in
        the biomass reaction (BiGG ``_c`` or AGORA ``[c]`` ids).
    basis : {"atp", "adp"}

    Raises
    ------
    KingemsError
        Unknown reaction, or a biomass reaction without the five hydrolysis metabolites.
    """
    if basis not in ("atp", "adp"):
        raise KingemsError(f"GAM basis must be 'atp' or 'adp', got {basis!r}")
    rid = biomass or compiled.objective_rxn
    if rid not in compiled.rxn_index:
        raise KingemsError(f"reaction {rid!r} not in model {compiled.model_id!r}")
    j = compiled.rxn_index[rid]
    A = compiled.lp.A.tocsc()
    c = int(compiled.fwd_col[j])
    rows = A.indices[A.indptr[c] : A.indptr[c + 1]]
    vals = A.data[A.indptr[c] : A.indptr[c + 1]]
    met_ids = compiled.met_ids
    found: dict[str, int] = {}
    base: dict[str, float] = {}
    wanted = {v: k for k, v in mets.items()} if mets else None
    for r, v in zip(rows, vals):
        if r >= len(met_ids):
            continue
        mid = met_ids[r]
        if wanted is not None:
            role = wanted.get(mid)
        else:
            m = _CYTOSOL.match(mid)
            role = m.group(1) if m else None
        if role is not None and role not in found:
            found[role] = int(r)
            base[role] = float(v)
    missing = [k for k in HYDROLYSIS if k not in found]
    if missing:
        raise KingemsError(
            f"biomass reaction {rid!r} lacks the ATP-hydrolysis metabolite(s) {', '.join(missing)}; "
            "name them with mets={'atp': ..., 'h2o': ..., 'adp': ..., 'pi': ..., 'h': ...}"
        )
    cols = [(c, 1.0)]
    if compiled.rev_col[j] >= 0:
        cols.append((int(compiled.rev_col[j]), -1.0))
    return GamEdit(cols=cols, rows=found, base=base, basis=basis)


def set_gam(problem: Problem, edit: GamEdit, gam: float) -> None:
    """Set GAM [mmol ATP/gDW] in place (five matrix coefficients of the biomass column)."""
    if not np.isfinite(gam) or gam < 0:
        raise KingemsError(f"GAM must be a finite number >= 0, got {gam}")
    d = float(gam) - edit.base_gam
    for role, sign in HYDROLYSIS.items():
        coef = edit.base[role] + sign * d
        for col, csign in edit.cols:
            problem.solver.set_coef(edit.rows[role], col, csign * coef)


def maintenance_sweep(
    target: Problem | CompiledModel,
    ngam: Sequence[float],
    gam: Sequence[float],
    ngam_reaction: str = "ATPM",
    biomass: str | None = None,
    basis: str = "atp",
    mets: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Growth over an NGAM x GAM grid.

    Parameters
    ----------
    target : Problem or CompiledModel
        Plain or enzyme-constrained model; a Problem is edited in place and restored afterwards.
    ngam : sequence of float
        ATPM lower bounds [mmol/gDW/h].
    gam : sequence of float
        GAM values [mmol ATP/gDW] (see ``basis``).
    ngam_reaction : str
    biomass : str, optional
        Biomass reaction (default: the objective).
    basis : {"atp", "adp"}
    mets : mapping, optional
        Explicit hydrolysis metabolite ids (see :func:`gam_edit`).

    Returns
    -------
    DataFrame
        ``ngam, gam, growth, status`` (growth 0 where infeasible), one row per grid point, GAM-major;
        ``attrs`` hold the model's own ``base_ngam`` and ``base_gam``.
    """
    if len(ngam) == 0 or len(gam) == 0:
        raise KingemsError("the maintenance grid needs at least one NGAM and one GAM value")
    problem = target if isinstance(target, Problem) else Problem(target)
    cm = problem.cm
    if ngam_reaction not in cm.rxn_index:
        raise KingemsError(f"NGAM reaction {ngam_reaction!r} not in model {cm.model_id!r}")
    edit = gam_edit(cm, biomass=biomass, mets=mets, basis=basis)
    # The problem may already carry edits: read the live coefficients as the base.
    edit = _live_base(edit, problem)
    lb0, ub0 = problem.reaction_bounds(ngam_reaction)
    rows = []
    try:
        for g in gam:
            set_gam(problem, edit, float(g))
            for n in ngam:
                n = float(n)
                problem.set_reaction_bounds(ngam_reaction, n, max(ub0, n))
                res = problem.optimize(need_x=False)
                rows.append((n, float(g), res.objective if res.ok else 0.0, res.status))
    finally:
        set_gam(problem, edit, edit.base_gam)
        problem.set_reaction_bounds(ngam_reaction, lb0, ub0)
    df = pd.DataFrame(rows, columns=["ngam", "gam", "growth", "status"])
    df.attrs.update(base_ngam=lb0, base_gam=edit.base_gam, basis=basis, ngam_reaction=ngam_reaction)
    return df


def _live_base(edit: GamEdit, problem: Problem) -> GamEdit:
    """The problem's current coefficients of the edit's entries (it may carry earlier edits)."""
    col, sign = edit.cols[0]
    idx, val = problem.solver.col_entries(int(col))
    live = dict(zip(idx.tolist(), val.tolist()))
    base = {role: sign * live.get(r, edit.base[role]) for role, r in edit.rows.items()}
    return GamEdit(cols=edit.cols, rows=edit.rows, base=base, basis=edit.basis)


def closest_point(grid: pd.DataFrame, target_growth: float) -> pd.Series:
    """The grid point whose growth is closest to a measured growth rate."""
    i = (grid["growth"] - float(target_growth)).abs().idxmin()
    return grid.loc[i]


def read_sweep_config(config: str | Path | Mapping) -> tuple[list[float], list[float], str]:
    """NGAM and GAM ranges and the NGAM reaction from a kinGEMs run config (``maintenance_sweep`` block)."""
    if not isinstance(config, Mapping):
        config = json.loads(Path(config).read_text())
    block = config.get("maintenance_sweep")
    if not block:
        raise KingemsError("config has no maintenance_sweep block")
    return (list(map(float, block["ngam_range"])), list(map(float, block["gam_range"])),
            str(config.get("ngam_rxn_id", "ATPM")))
