"""Export a compiled ecGEM as a plain SBML model (GECKO-like) that any COBRA tool can solve.

The compiled LP is written out row for row, so the exported model has exactly our feasible set:

* every LP column becomes a reaction: the model's reactions (a reversible constrained reaction appears as
  ``R`` and ``R_reverse``, both irreversible), isoenzyme arm reactions ``R_<dir>_iso<k>``, and one enzyme usage
  reaction ``prot_<gene>`` per enzyme (flux = E_g [mmol/gDW]);
* the model's metabolites stay as they are; every enzyme row becomes a pseudo-metabolite (capacity rows
  ``cap_...``, promiscuous rows ``enz_<gene>``, isoenzyme split rows ``iso_...``) and the total pool becomes the
  pseudo-metabolite ``prot_pool``, made by ``prot_pool_exchange`` with upper bound P [g/gDW] and used by each
  ``prot_<gene>`` reaction with stoichiometry MW_g/1000;
* a row ``a·x <= 0`` (SBML metabolites are balanced, ``S·v = 0``) gets a slack reaction ``slack_<row>`` that
  consumes the pseudo-metabolite with bounds [0, inf).

Kcats are annotated in each constrained reaction's notes (``kcat_<gene>`` [1/s], the pair's largest value when
several rows exist) and the model notes hold the level, pool, formulation and units.
"""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path

import cobra
import numpy as np

from ..errors import KingemsError

log = logging.getLogger(__name__)

_SAFE = re.compile(r"[^A-Za-z0-9_]")


def _sid(name: str) -> str:
    """An SBML-safe identifier (letters, digits, underscores; not starting with a digit)."""
    s = _SAFE.sub("_", name)
    return s if s and not s[0].isdigit() else "x_" + s


def to_cobra(built) -> cobra.Model:
    """Express a compiled (enzyme-constrained) model as a cobra model with the same feasible set and objective.

    Parameters
    ----------
    built : Built or CompiledModel
        Output of :func:`kingems_ray.ec.build.build` (uses its ``model`` for names, metabolites and GPRs),
        or a bare :class:`~kingems_ray.ec.compile.CompiledModel` together with ``built.model``.

    Returns
    -------
    cobra.Model
    """
    cm = built.compiled
    src = built.model
    lp = cm.lp
    A = lp.A.tocsc()
    n_m = len(cm.met_ids)
    out = cobra.Model(_sid(f"{src.id or 'model'}_ec_{cm.level}"), name=f"{src.name or src.id} ({cm.level} ecGEM)")
    out.compartments = dict(src.compartments)
    mets: list[cobra.Metabolite] = []
    for m in src.metabolites:
        mets.append(m.copy())
    extra_ids: list[str] = []
    for i in range(n_m, lp.n_rows):
        name = lp.row_names[i]
        if i == cm.pool_row:
            extra_ids.append("prot_pool")
        elif name.startswith("enzyme_usage_"):
            extra_ids.append(_sid("enz_" + name[len("enzyme_usage_") :]))
        elif name.startswith("capacity_"):
            extra_ids.append(_sid("cap_" + name[len("capacity_") :]))
        else:
            extra_ids.append(_sid(name))
    seen: dict[str, int] = {}
    for k, mid in enumerate(extra_ids):  # keep ids unique
        if mid in seen:
            extra_ids[k] = f"{mid}_{k}"
        seen[mid] = k
    for mid, i in zip(extra_ids, range(n_m, lp.n_rows)):
        mets.append(cobra.Metabolite(mid, name=lp.row_names[i], compartment="ec"))
    out.compartments = {**out.compartments, "ec": "enzyme constraints (pseudo-metabolites)"}
    out.add_metabolites(mets)
    met_objs = list(out.metabolites)

    src_rxn = {r.id: r for r in src.reactions}
    col_rxn: dict[int, str] = {}
    for j, rid in enumerate(cm.rxn_ids):
        col_rxn[int(cm.fwd_col[j])] = rid
        if cm.rev_col[j] >= 0:
            col_rxn[int(cm.rev_col[j])] = rid
    gene_of_col = {c: g for g, c in cm.enzyme_col.items()}
    # kcat notes per (reaction, direction)
    kcat_notes: dict[tuple[str, str], dict[str, float]] = {}
    if cm.pairs is not None and len(cm.pairs):
        for r, g, d, k in zip(cm.pairs["reaction_id"], cm.pairs["gene_id"], cm.pairs["direction"], cm.pairs["kcat"]):
            for dd in ("forward", "reverse") if d == "both" else (d,):
                notes = kcat_notes.setdefault((r, dd), {})
                notes[g] = max(float(k), notes.get(g, -np.inf))

    reactions: list[cobra.Reaction] = []
    used_ids: set[str] = set()
    for c in range(lp.n_cols):
        name = lp.col_names[c]
        if c in gene_of_col:
            rid = _sid("prot_" + gene_of_col[c])
        else:
            rid = _sid(name)
        while rid in used_ids:
            rid += "_"
        used_ids.add(rid)
        rxn = cobra.Reaction(rid, name=name)
        lo, hi = float(lp.col_lb[c]), float(lp.col_ub[c])
        rxn.bounds = (lo, hi)
        sl = slice(A.indptr[c], A.indptr[c + 1])
        rxn.add_metabolites({met_objs[i]: float(v) for i, v in zip(A.indices[sl], A.data[sl])})
        if c in col_rxn:
            base = src_rxn[col_rxn[c]]
            rxn.name = base.name if name == base.id else f"{base.name} (reverse)"
            rxn.gene_reaction_rule = base.gene_reaction_rule
            rxn.subsystem = base.subsystem
            direction = "reverse" if name.endswith("_reverse") and name != base.id else "forward"
            kn = kcat_notes.get((base.id, direction))
            if kn:
                rxn.notes = {f"kcat_{g}": f"{k:.10g}" for g, k in kn.items()}
                rxn.notes["kcat_unit"] = "1/s"
        elif c in gene_of_col:
            rxn.gene_reaction_rule = gene_of_col[c]
            rxn.name = f"usage of enzyme {gene_of_col[c]} [mmol/gDW]"
        reactions.append(rxn)
    # Rows that are not equalities at zero need a reaction that carries their activity.
    for k, i in enumerate(range(n_m, lp.n_rows)):
        lo, hi = float(lp.row_lb[i]), float(lp.row_ub[i])
        if lo == 0.0 and hi == 0.0:
            continue
        met = met_objs[n_m + k]
        if i == cm.pool_row:
            rxn = cobra.Reaction("prot_pool_exchange", name="total enzyme pool [g/gDW]")
            # prot_<g> consume prot_pool (MW/1000 each); this supplies it, up to P.
            rxn.add_metabolites({met: -1.0})
            rxn.bounds = (max(lo, 0.0) if np.isfinite(lo) else 0.0, hi)
        else:
            # a·x - r = 0 with r in [lo, hi]; for "<= 0" rows r <= 0, i.e. a non-negative slack.
            rxn = cobra.Reaction(_sid("slack_" + met.id), name=f"slack of {lp.row_names[i]}")
            rxn.add_metabolites({met: 1.0})
            rxn.bounds = (-hi if np.isfinite(hi) else -np.inf, -lo if np.isfinite(lo) else np.inf)
            if rxn.lower_bound > rxn.upper_bound:
                raise KingemsError(f"row {lp.row_names[i]} has empty bounds [{lo}, {hi}]")
        reactions.append(rxn)
    out.add_reactions(reactions)
    # The LP's objective, column by column.
    rx = list(out.reactions)
    coefs = {rx[c]: float(v) for c, v in enumerate(lp.cost) if v != 0}
    out.objective = coefs
    out.objective_direction = "max" if lp.maximize else "min"
    out.notes = {
        "kingems_level": cm.level,
        "kingems_formulation": str(cm.report.get("formulation", "gecko")),
        "kingems_pool_g_per_gDW": "none" if cm.pool is None else f"{cm.pool:.10g}",
        "kingems_kcat_unit": "1/s (LP coefficients use 1/h = 3600 x)",
        "kingems_enzyme_unit": "prot_GENE flux in mmol/gDW; prot_pool in g/gDW",
        "kingems_source_model": str(src.id),
    }
    return out


def export_sbml(built, path: str | Path, check: bool = True) -> float:
    """Write the ecGEM as SBML and return the growth of the written file, solved by cobra.

    Parameters
    ----------
    built : Built
        Output of :func:`kingems_ray.ec.build.build`.
    path : str or Path
        Output ``.xml`` (or ``.xml.gz``) file.
    check : bool
        Read the file back and solve it (default); otherwise solve the in-memory model.

    Returns
    -------
    float
        Optimal objective value of the exported model (NaN when it is infeasible), solved by cobra with its
        ``hybrid`` (HiGHS) solver when available (GLPK's tolerances drift by ~1e-5 on genome-scale ecGEMs).

    Raises
    ------
    KingemsError
        When the output cannot be written.
    """
    from ..validate import check_output_path

    p = Path(path)
    check_output_path(p, "SBML output")  # a read-only / full target fails here, naming the path and the cause
    model = to_cobra(built)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cobra.io.write_sbml_model(model, str(p))
    except OSError as exc:
        raise KingemsError(f"{p}: cannot write SBML ({exc})") from exc
    if not p.is_file() or p.stat().st_size == 0:  # libsbml reports a failed write by a return value only
        p.unlink(missing_ok=True)
        raise KingemsError(f"{p}: cannot write SBML (nothing was written: is the folder writable, the disk full?)")
    if check:
        from ..gem.io import load_model

        model = load_model(p)
    try:
        # Enzyme rows mix coefficients from ~1e-2 (MW/1000) to ~1e8 (kcat*3600): GLPK's default tolerances then
        # drift by ~1e-5 on iML1515 (0.2409498 vs 0.2409431), optlang's HiGHS interface agrees to 1e-9.
        model.solver = "hybrid"
    except Exception as exc:  # optlang raises several types when a solver interface is missing
        log.info("cobra's 'hybrid' (HiGHS) solver unavailable (%s); solving the export with %s", exc, model.solver)
    value = model.slim_optimize(error_value=np.nan)
    return float(value)
