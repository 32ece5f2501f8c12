"""Compile a GEM (plus a kcat table) into a sparse LP with enzyme constraints.

Column layout
-------------
* one column per model reaction holding its net flux, except reactions that get enzyme constraints and can run
  backwards: those are split into a forward and a reverse column, both non-negative (net = fwd - rev), so that
  both directions are capped;
* ``u`` columns, one per GPR clause (isoenzyme) of a constrained reaction direction with several clauses,
  with ``flux = sum(u)``;
* one enzyme column ``E_g`` [mmol/gDW] per gene with a kcat.

Constraint families (rows), kcat ``k`` in 1/h (table values in 1/s times 3600)
---------------------------------------------------------------------------------
* per-reaction capacity (single / isoenzymes / complexes): ``u_c - k_cg * E_g <= 0`` for every gene g of clause c;
* promiscuous enzymes (per gene, replacing the per-reaction rows): ``sum_(r,c) u_rc / k_rcg - E_g <= 0``;
* total protein pool: ``sum_g MW_g/1000 * E_g <= P`` [g/gDW].

Ablation levels (each family switched on alone on top of L2, then all together):

=====  ========================================================================
L1     plain GEM
L2     single-enzyme reactions, protein pool
L3a    L2 + isoenzyme reactions
L3b    L2 + complexes
L3c    L2 with promiscuous sharing of enzymes (per-gene rows)
L4     every family (single, isoenzymes, complexes, mixed GPRs) + promiscuous + pool
=====  ========================================================================

Two formulations (``formulation=``):

* ``"gecko"`` (default) as above: isoenzymes are alternatives (the flux is split over clause columns), every
  subunit of a complex is capped by its own kcat, promiscuous rows replace per-reaction rows.
* ``"kingems"`` reproduces the published kinGEMs pipeline (Pyomo ``run_optimization``) row for row, so its
  numbers can be matched: single ``v <= k*E_g``; complexes ``v <= mean(k over subunits)*E_g`` for each subunit;
  isoenzymes one row ``v <= sum_g k_g*E_g``; mixed GPRs one row ``v <= sum_clauses cap_c`` with
  ``cap_c = mean(k)*sum(E_g)/n`` for a complex clause (L4 only); promiscuous (L3c, L4) one row per gene over
  *every* reaction whose GPR names the gene, whatever its family: ``sum_r m_rg*v_r/k_rg <= E_g`` (``m_rg`` =
  number of GPR clauses holding g), which makes every isoenzyme carry the whole flux. Use kcats aggregated with
  ``aggregate="mean"`` (the reference averages the substrate rows of a reaction-gene pair). See
  ``docs/reference_comparison.md``. That formulation lives in :mod:`kingems_ray.ec.reference`; the helpers that
  compare with the reference's outputs (irreversible models, its "FVi") in :mod:`kingems_ray.ec.irreversible`.

The model itself is :class:`kingems_ray.ec.compiled.CompiledModel` (frozen); :func:`kingems_ray.ec.lp_build.finish`
is the one place that makes one from a compiled LP.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import KingemsError
from ..gem.gpr import clause_kind
from ..solver.highs import LinearProblem
from .compiled import CompiledModel
from .lp_build import LPBuilder, ParsedModel, finish, parse_model

LEVELS: dict[str, dict] = {
    "L1": {"families": set(), "promiscuous": False, "pool": False},
    "L2": {"families": {"single"}, "promiscuous": False, "pool": True},
    "L3a": {"families": {"single", "isoenzymes"}, "promiscuous": False, "pool": True},
    "L3b": {"families": {"single", "complex"}, "promiscuous": False, "pool": True},
    "L3c": {"families": {"single"}, "promiscuous": True, "pool": True},
    "L4": {"families": {"single", "isoenzymes", "complex", "mixed"}, "promiscuous": True, "pool": True},
}

SEC_PER_H = 3600.0
#: Reactions whose GPR has more OR-clauses than this stay without enzyme constraint (reported).
MAX_ENZYME_CLAUSES = 64
FORMULATIONS = ("gecko", "kingems")


def kcat_coefficient(kind, kcat_per_s):
    """The matrix coefficient that encodes a kcat [1/s] in an entry of the given kind.

    ``"E"``: ``-k*3600`` on the enzyme column of a capacity row ``v - k E_g <= 0``; ``"u"``: ``1/(k*3600)`` on a
    flux column of a promiscuous row ``sum v/k - E_g <= 0``. Both compilers write their kcat entries with it and
    :meth:`kingems_ray.ec.problem.Problem.set_kcats` rewrites them with it. Scalars give a float; arrays of kinds
    and kcats (element-wise) give an array.
    """
    if np.ndim(kind) == 0 and np.ndim(kcat_per_s) == 0:
        k_h = float(kcat_per_s) * SEC_PER_H
        return -k_h if kind == "E" else 1.0 / k_h
    k_h = np.asarray(kcat_per_s, dtype=float) * SEC_PER_H
    return np.where(np.asarray(kind) == "E", -k_h, 1.0 / k_h)


# -- entry point -------------------------------------------------------------------------------------------------------
def compile_model(
    model,
    kcats: pd.DataFrame | None = None,
    level: str = "L4",
    pool: float = 0.25,
    default_mw: float | None = None,
    formulation: str = "gecko",
) -> CompiledModel:
    """Compile a cobra model, optionally with enzyme constraints, into a :class:`CompiledModel`.

    Parameters
    ----------
    model : cobra.Model
    kcats : DataFrame, optional
        Output of :func:`kingems_ray.ec.kcats.match_to_model` (one row per reaction, gene, direction).
        ``None`` or level ``L1`` gives the plain GEM.
    level : {"L1", "L2", "L3a", "L3b", "L3c", "L4"}
    pool : float
        Total enzyme pool [g/gDW] (kinGEMs uses 0.25 for E. coli).
    default_mw : float, optional
        Molecular weight for genes without one; default: the median of the known weights (40 kDa if none).
    formulation : {"gecko", "kingems"}
        ``"kingems"`` builds the rows exactly as the published kinGEMs pipeline does (see the module notes).

    Returns
    -------
    CompiledModel

    Raises
    ------
    KingemsError
        Unknown level or formulation, or a model without an objective.
    """
    if formulation not in FORMULATIONS:
        raise KingemsError(f"unknown formulation {formulation!r}; choose one of {', '.join(FORMULATIONS)}")
    if level not in LEVELS:
        raise KingemsError(f"unknown ablation level {level!r}; choose one of {', '.join(LEVELS)}")
    pm = parse_model(model)
    report: dict = {"level": level, "n_reactions": pm.n_rxn}
    if pm.surrogate:
        report["reactions_gpr_not_expanded"] = pm.surrogate
    if kcats is None or len(kcats) == 0 or level == "L1":
        return _compile_plain(pm, report)
    if formulation == "kingems":
        from .reference import compile_kingems

        return compile_kingems(model, pm, kcats, level, pool, default_mw, report)
    return _compile_gecko(pm, kcats, level, pool, default_mw, report)


def _compile_plain(pm: ParsedModel, report: dict) -> CompiledModel:
    """The GEM itself: one column per reaction, steady-state rows only."""
    n_r = pm.n_rxn
    cost = np.zeros(n_r)
    cost[pm.rxn_ids.index(pm.objective)] = 1.0
    lp = LinearProblem(
        A=pm.S.tocsc(),
        col_lb=pm.lb.copy(),
        col_ub=pm.ub.copy(),
        row_lb=np.zeros(len(pm.met_ids)),
        row_ub=np.zeros(len(pm.met_ids)),
        cost=cost,
        col_names=list(pm.rxn_ids),
        row_names=list(pm.met_ids),
        maximize=True,
    )
    return finish(pm, lp, np.arange(n_r), -np.ones(n_r, dtype=int), "L1", report)


# -- the gecko formulation, one function per constraint family ---------------------------------------------------------
@dataclass
class _Constrained:
    """Which reaction directions carry enzyme constraints, and the counts reported about them."""

    items: list[tuple[int, str, list[tuple[int, ...]]]] = field(default_factory=list)  # (reaction, dir, clauses)
    n_kind: dict[str, int] = field(default_factory=dict)
    n_uncovered: int = 0
    too_large: list[str] = field(default_factory=list)


def _compile_gecko(pm: ParsedModel, kcats: pd.DataFrame, level: str, pool: float, default_mw: float | None,
                   report: dict) -> CompiledModel:
    """Default formulation: flux columns, enzyme columns, capacity or promiscuous rows, protein pool."""
    spec = LEVELS[level]
    pairs = kcats.reset_index(drop=True).copy()
    kc = _kcat_lookup(pairs)
    b = LPBuilder()
    fwd_col, rev_col, con = _flux_columns(pm, kc, spec["families"], b)
    # enzyme columns for every gene with a kcat on a constrained reaction
    used_genes = sorted({g for (j, d, cov) in con.items for c in cov for g in c
                         if (pm.rxn_ids[j], pm.genes[g], d) in kc})
    enzyme_col = {pm.genes[g]: b.add_col(f"E_{pm.genes[g]}", 0.0, np.inf) for g in used_genes}
    prom_rows = _promiscuous_rows(pm, used_genes, enzyme_col, b) if spec["promiscuous"] else None
    _capacity_rows(pm, con, kc, pairs["kcat"].to_numpy(float), fwd_col, rev_col, enzyme_col, prom_rows, b)
    pool_row, n_default_mw, fallback_mw = _pool_row(enzyme_col, pairs, default_mw, spec["pool"], pool, b)
    lp = b.linear_problem(pm, fwd_col, rev_col)
    ce = b.coef_entries(len(pm.met_ids))
    report.update(
        n_constrained_reactions=len({j for j, _, _ in con.items}),
        constrained_by_kind=con.n_kind,
        n_enzymes=len(enzyme_col),
        n_kcat_entries=len(ce),
        n_clauses_without_kcat=con.n_uncovered,
        reactions_gpr_too_large=con.too_large,
        n_genes_default_mw=n_default_mw,
        default_mw=fallback_mw,
    )
    return finish(pm, lp, fwd_col, rev_col, level, report, enzyme_col=enzyme_col, coef_entries=ce, pairs=pairs,
                  pool_row=pool_row, pool=pool)


def _flux_columns(pm: ParsedModel, kc: dict, fams: set[str], b: LPBuilder
                  ) -> tuple[np.ndarray, np.ndarray, _Constrained]:
    """Flux columns in model order: constrained reactions split into non-negative forward / reverse columns so
    each direction can be capped; which directions are constrained (and by which clauses) is decided here."""
    n_r = pm.n_rxn
    fwd_col = np.empty(n_r, dtype=int)
    rev_col = -np.ones(n_r, dtype=int)
    S_csc = pm.S.tocsc()
    con = _Constrained()
    surrogate = set(pm.surrogate)
    for j, rid in enumerate(pm.rxn_ids):
        clauses = pm.clauses[j]
        kind = clause_kind([frozenset(c) for c in clauses])
        dirs = []
        if kind in fams and (len(clauses) > MAX_ENZYME_CLAUSES or rid in surrogate):
            # An AND of long OR lists (e.g. iEK1008's FAD_* rules: 18,480 combinations) would need one column per
            # combination; such a reaction is left unconstrained and reported.
            con.too_large.append(rid)
        elif kind in fams:
            for d in ("forward", "reverse"):
                if (d == "forward" and pm.ub[j] <= 0) or (d == "reverse" and pm.lb[j] >= 0):
                    continue
                covered = [c for c in clauses if any((rid, pm.genes[g], d) in kc for g in c)]
                con.n_uncovered += len(clauses) - len(covered)
                if covered:
                    dirs.append((d, covered))
        fwd_col[j], rev_col[j] = b.add_split_reaction(pm, j, S_csc, split=bool(dirs))
        if dirs:
            con.n_kind[kind] = con.n_kind.get(kind, 0) + 1
            con.items.extend((j, d, covered) for d, covered in dirs)
    return fwd_col, rev_col, con


def _promiscuous_rows(pm: ParsedModel, used_genes: list[int], enzyme_col: dict[str, int], b: LPBuilder
                      ) -> dict[int, int]:
    """One row per enzyme, ``sum_(r,c) u_rc / k_rcg - E_g <= 0`` (terms are added by :func:`_capacity_rows`)."""
    prom_rows: dict[int, int] = {}
    for g in used_genes:
        gid = pm.genes[g]
        prom_rows[g] = b.add_row([(enzyme_col[gid], -1.0)], -np.inf, 0.0, f"enzyme_usage_{gid}")
    return prom_rows


def _capacity_rows(pm: ParsedModel, con: _Constrained, kc: dict, kvals: np.ndarray, fwd_col: np.ndarray,
                   rev_col: np.ndarray, enzyme_col: dict[str, int], prom_rows: dict[int, int] | None,
                   b: LPBuilder) -> None:
    """Single / isoenzyme / complex capacity: a clause column per isoenzyme (``flux = sum u``), then per gene of a
    clause ``u - k E_g <= 0``, or, with promiscuous rows, the term ``u / k`` in the gene's row."""
    for j, d, covered in con.items:
        rid = pm.rxn_ids[j]
        flux_col = fwd_col[j] if d == "forward" else rev_col[j]
        if len(covered) == 1:
            clause_cols = [flux_col]
        else:
            clause_cols = [b.add_col(f"{rid}_{d}_iso{k}", 0.0, np.inf) for k in range(len(covered))]
            b.add_row([(flux_col, 1.0)] + [(c, -1.0) for c in clause_cols], 0.0, 0.0, f"iso_split_{rid}_{d}")
        for clause, ucol in zip(covered, clause_cols):
            for g in clause:
                key = (rid, pm.genes[g], d)
                if key not in kc:
                    continue  # a subunit without kcat does not limit the clause
                p = kc[key]
                if prom_rows is not None:
                    r_i = prom_rows[g]
                    b.rows[r_i].append((ucol, kcat_coefficient("u", kvals[p])))
                    b.entries.append((p, r_i, ucol, "u"))
                else:
                    ecol = enzyme_col[pm.genes[g]]
                    r_i = b.add_row([(ucol, 1.0), (ecol, kcat_coefficient("E", kvals[p]))], -np.inf, 0.0,
                                    f"capacity_{rid}_{d}_{pm.genes[g]}")
                    b.entries.append((p, r_i, ecol, "E"))


def _pool_row(enzyme_col: dict[str, int], pairs: pd.DataFrame, default_mw: float | None, wanted: bool, pool: float,
              b: LPBuilder) -> tuple[int | None, int, float]:
    """Total protein pool ``sum_g MW_g/1000 * E_g <= P``; returns its extra-row index (or None), how many genes took
    the fallback MW, and that MW."""
    entries, n_default, fallback = _pool_entries(enzyme_col, pairs, default_mw)
    if not (wanted and enzyme_col):
        return None, n_default, fallback
    return b.add_row(entries, -np.inf, float(pool), "protein_pool"), n_default, fallback


def _kcat_lookup(pairs: pd.DataFrame) -> dict[tuple[str, str, str], int]:
    """(reaction, gene, direction) -> row of ``pairs``; a direction-specific row wins over a ``both`` row."""
    kc: dict[tuple[str, str, str], int] = {}
    for i, (r, g, d) in enumerate(zip(pairs["reaction_id"], pairs["gene_id"], pairs["direction"])):
        for dd in ("forward", "reverse") if d == "both" else (d,):
            if d != "both" or (r, g, dd) not in kc:
                kc[(r, g, dd)] = i
    return kc


def _gene_mw(pairs: pd.DataFrame, default_mw: float | None) -> tuple[pd.Series, float]:
    mw_by_gene = (
        pairs.dropna(subset=["mw"]).groupby("gene_id")["mw"].first() if "mw" in pairs else pd.Series(dtype=float)
    )
    known = mw_by_gene[mw_by_gene > 0]
    fallback = float(default_mw) if default_mw else (float(known.median()) if len(known) else 40000.0)
    return known, fallback


def _pool_entries(
    enzyme_col: dict[str, int], pairs: pd.DataFrame, default_mw: float | None
) -> tuple[list[tuple[int, float]], int, float]:
    """Protein-pool row terms ``(E_g column, MW_g / 1000)``, how many genes took the fallback MW, and that MW."""
    known, fallback = _gene_mw(pairs, default_mw)
    entries: list[tuple[int, float]] = []
    n_default = 0
    for gid, c in enzyme_col.items():
        mw = float(known.get(gid, np.nan))
        if not np.isfinite(mw):
            mw, n_default = fallback, n_default + 1
        entries.append((c, mw / 1000.0))
    return entries, n_default, fallback


# Names that moved to their own modules, importable from here as before.
def __getattr__(name: str):
    if name in ("raw_dnf",):
        from . import reference

        return getattr(reference, name)
    if name in ("to_irreversible", "reference_variability"):
        from . import irreversible

        return getattr(irreversible, name)
    raise AttributeError(name)
