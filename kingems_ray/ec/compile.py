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
  ``docs/reference_comparison.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import KingemsError
from ..gem.gpr import GPRTooComplex, clause_kind, parse_gpr, single_knockout_genes
from ..gem.io import objective_reaction
from ..solver.highs import LinearProblem

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


@dataclass
class CompiledModel:
    """A model compiled to an LP plus the maps needed to edit it and read results in model terms.

    Attributes
    ----------
    lp : LinearProblem
    model_id : str
    rxn_ids : list of str
        Reactions of the input model, in model order.
    fwd_col, rev_col : ndarray of int
        Per reaction, the column of its (net or forward) flux and of its reverse part (-1 when not split).
        Net flux = x[fwd_col] - x[rev_col].
    rxn_lb, rxn_ub : ndarray
        The input model's bounds.
    objective_rxn : str
    gene_ids : list of str
        The model's genes.
    rxn_clauses : list
        Per reaction, its GPR as a list of gene-index tuples (OR of AND).
    enzyme_col : dict
        Gene id -> column of E_g.
    coef_entries : DataFrame
        One row per matrix entry that holds a kcat: ``pair`` (index into ``pairs``), ``row``, ``col``, ``kind``
        (``"E"``: coefficient is ``-k*3600`` on E_g; ``"u"``: coefficient is ``1/(k*3600)`` on a flux column).
    pairs : DataFrame
        The kcats in use: ``reaction_id, gene_id, direction, kcat, kcat_std, mw``.
    pool_row : int or None
    level : str
    report : dict
        Counts of what was constrained and what was skipped.
    """

    lp: LinearProblem
    model_id: str
    rxn_ids: list[str]
    fwd_col: np.ndarray
    rev_col: np.ndarray
    rxn_lb: np.ndarray
    rxn_ub: np.ndarray
    objective_rxn: str
    gene_ids: list[str]
    rxn_clauses: list[list[tuple[int, ...]]]
    met_ids: list[str] = field(default_factory=list)
    enzyme_col: dict[str, int] = field(default_factory=dict)
    coef_entries: pd.DataFrame | None = None
    pairs: pd.DataFrame | None = None
    pool_row: int | None = None
    pool: float | None = None
    level: str = "L1"
    report: dict = field(default_factory=dict)

    @property
    def rxn_index(self) -> dict[str, int]:
        """Reaction id -> index."""
        return {r: i for i, r in enumerate(self.rxn_ids)}

    def net_flux(self, x: np.ndarray) -> np.ndarray:
        """Net flux of every model reaction from a column vector."""
        v = x[self.fwd_col].copy()
        split = self.rev_col >= 0
        v[split] -= x[self.rev_col[split]]
        return v

    def objective_index(self) -> int:
        """Index of the objective reaction."""
        return self.rxn_ids.index(self.objective_rxn)


def _model_arrays(model) -> tuple[list[str], list[str], sp.coo_matrix, np.ndarray, np.ndarray]:
    mets = [m.id for m in model.metabolites]
    midx = {m: i for i, m in enumerate(mets)}
    rows, cols, vals = [], [], []
    lb = np.empty(len(model.reactions))
    ub = np.empty(len(model.reactions))
    for j, r in enumerate(model.reactions):
        for met, coef in r.metabolites.items():
            rows.append(midx[met.id])
            cols.append(j)
            vals.append(coef)
        lb[j], ub[j] = r.lower_bound, r.upper_bound
    S = sp.coo_matrix((vals, (rows, cols)), shape=(len(mets), len(model.reactions)))
    return [r.id for r in model.reactions], mets, S, lb, ub


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
    obj = objective_reaction(model)
    rxn_ids, mets, S, lb, ub = _model_arrays(model)
    genes = [g.id for g in model.genes]
    gidx = {g: i for i, g in enumerate(genes)}
    surrogate: list[str] = []

    def gpr_clauses(r) -> list[tuple[int, ...]]:
        try:
            return [tuple(sorted(gidx[g] for g in c)) for c in parse_gpr(r.gene_reaction_rule)]
        except GPRTooComplex:
            # Too large to expand: one clause of the genes whose loss alone disables the reaction keeps single-gene
            # knockouts exact; such a reaction gets no enzyme constraint (it is not a plain single/complex rule).
            surrogate.append(r.id)
            ess = single_knockout_genes(r.gene_reaction_rule)
            return [tuple(sorted(gidx[g] for g in ess))] if ess else []

    clauses_all = [gpr_clauses(r) for r in model.reactions]
    spec = LEVELS[level]
    use_ec = kcats is not None and len(kcats) > 0 and level != "L1"
    n_r = len(rxn_ids)
    report: dict = {"level": level, "n_reactions": n_r}
    if surrogate:
        report["reactions_gpr_not_expanded"] = surrogate

    if not use_ec:
        cost = np.zeros(n_r)
        cost[rxn_ids.index(obj)] = 1.0
        lp = LinearProblem(
            A=S.tocsc(),
            col_lb=lb.copy(),
            col_ub=ub.copy(),
            row_lb=np.zeros(len(mets)),
            row_ub=np.zeros(len(mets)),
            cost=cost,
            col_names=list(rxn_ids),
            row_names=list(mets),
            maximize=True,
        )
        return CompiledModel(
            lp=lp,
            model_id=model.id,
            rxn_ids=rxn_ids,
            fwd_col=np.arange(n_r),
            rev_col=-np.ones(n_r, dtype=int),
            rxn_lb=lb,
            rxn_ub=ub,
            objective_rxn=obj,
            gene_ids=genes,
            rxn_clauses=clauses_all,
            met_ids=mets,
            level="L1",
            report=report,
        )

    if formulation == "kingems":
        return _compile_kingems(
            model, kcats, level, pool, default_mw, obj, rxn_ids, mets, S, lb, ub, genes, clauses_all, report
        )

    # -- kcat lookup: (rxn, gene, dir) -> (kcat, pair index) ------------------------------------------------
    pairs = kcats.reset_index(drop=True).copy()
    kc = _kcat_lookup(pairs)
    kvals = pairs["kcat"].to_numpy(float)

    # -- decide which reaction directions are constrained ------------------------------------------------------
    fams = spec["families"]
    cols_lb: list[float] = []
    cols_ub: list[float] = []
    col_names: list[str] = []
    fwd_col = np.empty(n_r, dtype=int)
    rev_col = -np.ones(n_r, dtype=int)
    S_csc = S.tocsc()
    Acols: list[tuple[np.ndarray, np.ndarray]] = []  # (row indices, values) per column, metabolite rows only

    def add_col(name, lo, hi, rows=None, vals=None):
        rows = np.empty(0, int) if rows is None else rows
        vals = np.empty(0) if vals is None else vals
        col_names.append(name)
        cols_lb.append(lo)
        cols_ub.append(hi)
        Acols.append((np.asarray(rows, int), np.asarray(vals, float)))
        return len(col_names) - 1

    # rows beyond the metabolites: list of (col, coef) entries, bounds
    extra_rows: list[list[tuple[int, float]]] = []
    extra_lb: list[float] = []
    extra_ub: list[float] = []
    extra_names: list[str] = []
    coef_entries: list[tuple[int, int, int, str]] = []  # pair, row(extra idx), col, kind

    # (rxn, dir) -> list of (clause genes, flux column) once columns exist
    constrained: list[tuple[int, str, list[tuple[int, ...]]]] = []
    n_kind: dict[str, int] = {}
    n_uncovered = 0
    too_large: list[str] = []
    surrogate_set = set(surrogate)
    for j, rid in enumerate(rxn_ids):
        clauses = clauses_all[j]
        kind = clause_kind([frozenset(c) for c in clauses])
        dirs = []
        if kind in fams and (len(clauses) > MAX_ENZYME_CLAUSES or rid in surrogate_set):
            # An AND of long OR lists (e.g. iEK1008's FAD_* rules: 18,480 combinations) would need one column per
            # combination; such a reaction is left unconstrained and reported.
            too_large.append(rid)
        elif kind in fams:
            for d in ("forward", "reverse"):
                if (d == "forward" and ub[j] <= 0) or (d == "reverse" and lb[j] >= 0):
                    continue
                covered = [c for c in clauses if any((rid, genes[g], d) in kc for g in c)]
                n_uncovered += len(clauses) - len(covered)
                if covered:
                    dirs.append((d, covered))
        col_slice = S_csc[:, j]
        rows_j, vals_j = col_slice.indices, col_slice.data
        if not dirs:
            fwd_col[j] = add_col(rid, lb[j], ub[j], rows_j, vals_j)
            continue
        n_kind[kind] = n_kind.get(kind, 0) + 1
        # Split into non-negative forward / reverse columns so each direction can be capped.
        if ub[j] > 0:
            fwd_col[j] = add_col(rid, max(lb[j], 0.0), ub[j], rows_j, vals_j)
        else:
            fwd_col[j] = add_col(rid, 0.0, 0.0, rows_j, vals_j)
        if lb[j] < 0:
            rev_col[j] = add_col(rid + "_reverse", max(-ub[j], 0.0), -lb[j], rows_j, -vals_j)
        for d, covered in dirs:
            constrained.append((j, d, covered))

    # enzyme columns for every gene with a kcat on a constrained reaction
    used_genes = sorted({g for (j, d, cov) in constrained for c in cov for g in c if (rxn_ids[j], genes[g], d) in kc})
    enzyme_col = {genes[g]: add_col(f"E_{genes[g]}", 0.0, np.inf) for g in used_genes}

    prom_rows: dict[int, int] = {}
    if spec["promiscuous"]:
        for g in used_genes:
            extra_rows.append([(enzyme_col[genes[g]], -1.0)])
            extra_lb.append(-np.inf)
            extra_ub.append(0.0)
            extra_names.append(f"enzyme_usage_{genes[g]}")
            prom_rows[g] = len(extra_rows) - 1

    for j, d, covered in constrained:
        rid = rxn_ids[j]
        flux_col = fwd_col[j] if d == "forward" else rev_col[j]
        if len(covered) == 1:
            clause_cols = [flux_col]
        else:
            clause_cols = [add_col(f"{rid}_{d}_iso{k}", 0.0, np.inf) for k in range(len(covered))]
            row = [(flux_col, 1.0)] + [(c, -1.0) for c in clause_cols]
            extra_rows.append(row)
            extra_lb.append(0.0)
            extra_ub.append(0.0)
            extra_names.append(f"iso_split_{rid}_{d}")
        for clause, ucol in zip(covered, clause_cols):
            for g in clause:
                key = (rid, genes[g], d)
                if key not in kc:
                    continue  # a subunit without kcat does not limit the clause
                p = kc[key]
                k_h = kvals[p] * SEC_PER_H
                if spec["promiscuous"]:
                    r_i = prom_rows[g]
                    extra_rows[r_i].append((ucol, 1.0 / k_h))
                    coef_entries.append((p, r_i, ucol, "u"))
                else:
                    extra_rows.append([(ucol, 1.0), (enzyme_col[genes[g]], -k_h)])
                    extra_lb.append(-np.inf)
                    extra_ub.append(0.0)
                    extra_names.append(f"capacity_{rid}_{d}_{genes[g]}")
                    coef_entries.append((p, len(extra_rows) - 1, enzyme_col[genes[g]], "E"))

    # protein pool
    pool_entries, n_default_mw, fallback_mw = _pool_entries(enzyme_col, pairs, default_mw)
    pool_row = None
    if spec["pool"] and enzyme_col:
        extra_rows.append(pool_entries)
        extra_lb.append(-np.inf)
        extra_ub.append(float(pool))
        extra_names.append("protein_pool")
        pool_row = len(extra_rows) - 1

    n_m = len(mets)
    A, cost = _assemble(Acols, extra_rows, n_m, fwd_col, rev_col, rxn_ids.index(obj))
    lp = LinearProblem(
        A=A,
        col_lb=np.asarray(cols_lb),
        col_ub=np.asarray(cols_ub),
        row_lb=np.concatenate([np.zeros(n_m), extra_lb]),
        row_ub=np.concatenate([np.zeros(n_m), extra_ub]),
        cost=cost,
        col_names=col_names,
        row_names=mets + extra_names,
        maximize=True,
    )
    ce = pd.DataFrame(coef_entries, columns=["pair", "row", "col", "kind"])
    ce["row"] += n_m
    report.update(
        n_constrained_reactions=len({j for j, _, _ in constrained}),
        constrained_by_kind=n_kind,
        n_enzymes=len(enzyme_col),
        n_kcat_entries=len(ce),
        n_clauses_without_kcat=n_uncovered,
        reactions_gpr_too_large=too_large,
        n_genes_default_mw=n_default_mw,
        default_mw=fallback_mw,
    )
    return CompiledModel(
        lp=lp,
        model_id=model.id,
        rxn_ids=rxn_ids,
        fwd_col=fwd_col,
        rev_col=rev_col,
        rxn_lb=lb,
        rxn_ub=ub,
        objective_rxn=obj,
        gene_ids=genes,
        rxn_clauses=clauses_all,
        met_ids=mets,
        enzyme_col=enzyme_col,
        coef_entries=ce,
        pairs=pairs,
        pool_row=(n_m + pool_row) if pool_row is not None else None,
        pool=float(pool) if pool_row is not None else None,
        level=level,
        report=report,
    )


def kcat_coefficient(kind: str, kcat_per_s: float) -> float:
    """The matrix coefficient that encodes a kcat [1/s] in an entry of the given kind."""
    k_h = kcat_per_s * SEC_PER_H
    return -k_h if kind == "E" else 1.0 / k_h


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


def _assemble(
    acols: list[tuple[np.ndarray, np.ndarray]],
    extra_rows: list[list[tuple[int, float]]],
    n_m: int,
    fwd_col: np.ndarray,
    rev_col: np.ndarray,
    oj: int,
) -> tuple[sp.csc_matrix, np.ndarray]:
    """The constraint matrix (metabolite rows from the columns' entries, then the extra rows) and the cost vector
    of the objective reaction's net flux."""
    n_c = len(acols)
    r_idx, c_idx, v_all = [], [], []
    for c, (rows, vals) in enumerate(acols):
        r_idx.append(rows)
        c_idx.append(np.full(rows.size, c))
        v_all.append(vals)
    for i, row in enumerate(extra_rows):
        if row:
            cc, vv = zip(*row)
            r_idx.append(np.full(len(cc), n_m + i))
            c_idx.append(np.asarray(cc, int))
            v_all.append(np.asarray(vv, float))
    A = sp.coo_matrix(
        (np.concatenate(v_all), (np.concatenate(r_idx), np.concatenate(c_idx))), shape=(n_m + len(extra_rows), n_c)
    ).tocsc()
    cost = np.zeros(n_c)
    cost[fwd_col[oj]] = 1.0
    if rev_col[oj] >= 0:
        cost[rev_col[oj]] = -1.0
    return A, cost


def raw_dnf(rule: str | None) -> list[frozenset[str]]:
    """OR-of-AND clauses of a GPR *without* absorption (duplicates removed), as the kinGEMs reference parses them.

    ``a and b or (a and b and c)`` gives two clauses here (:func:`kingems_ray.gem.gpr.parse_gpr` gives one), so the
    reference treats e_coli_core's ATP synthase as a mixed GPR, not a complex, and counts shared subunits twice in
    its promiscuous rows.
    """
    import ast

    from ..gem.gpr import _dnf, _to_python

    if rule is None or not str(rule).strip():
        return []
    expr, names = _to_python(str(rule))
    out: list[frozenset[str]] = []
    for c in _dnf(ast.parse(expr, mode="eval").body, names):
        if c not in out:
            out.append(c)
    return out


def _compile_kingems(
    model, kcats, level, pool, default_mw, obj, rxn_ids, mets, S, lb, ub, genes, _clauses_min, report
) -> CompiledModel:
    """The published kinGEMs rows (see the module notes), on non-negative direction columns."""
    gidx = {g: i for i, g in enumerate(genes)}
    clauses_all = [[tuple(sorted(gidx[g] for g in c)) for c in raw_dnf(r.gene_reaction_rule)] for r in model.reactions]
    spec = LEVELS[level]
    fams = spec["families"]
    pairs = kcats.reset_index(drop=True).copy()
    # The reference keeps a list of kcats per (reaction, gene): one per substrate row when not aggregated.
    kc: dict[tuple[str, str, str], list[int]] = {}
    for i, (r, g, d) in enumerate(zip(pairs["reaction_id"], pairs["gene_id"], pairs["direction"])):
        for dd in ("forward", "reverse") if d == "both" else (d,):
            kc.setdefault((r, g, dd), []).append(i)
    k_h = pairs["kcat"].to_numpy(float) * SEC_PER_H
    n_r = len(rxn_ids)
    rxn_genes_with_k = {(r, g) for (r, g, _d) in kc}
    S_csc = S.tocsc()
    col_names: list[str] = []
    col_lb: list[float] = []
    col_ub: list[float] = []
    acols: list[tuple[np.ndarray, np.ndarray]] = []

    def add_col(name, lo, hi, rows=None, vals=None):
        col_names.append(name)
        col_lb.append(lo)
        col_ub.append(hi)
        acols.append((np.asarray([] if rows is None else rows, int), np.asarray([] if vals is None else vals, float)))
        return len(col_names) - 1

    fwd_col = np.empty(n_r, dtype=int)
    rev_col = -np.ones(n_r, dtype=int)
    dir_cols: dict[tuple[int, str], int] = {}
    for j, rid in enumerate(rxn_ids):
        rows_j, vals_j = S_csc[:, j].indices, S_csc[:, j].data
        has_k = any((rid, genes[g]) in rxn_genes_with_k for c in clauses_all[j] for g in c)
        if has_k and lb[j] < 0:
            # The reference works on an irreversible model: each direction is its own non-negative flux.
            fwd_col[j] = add_col(rid, max(lb[j], 0.0), max(ub[j], 0.0), rows_j, vals_j)
            rev_col[j] = add_col(rid + "_reverse", max(-ub[j], 0.0), -lb[j], rows_j, -vals_j)
            dir_cols[(j, "forward")] = fwd_col[j]
            dir_cols[(j, "reverse")] = rev_col[j]
        else:
            fwd_col[j] = add_col(rid, lb[j], ub[j], rows_j, vals_j)
            if has_k:
                dir_cols[(j, "forward")] = fwd_col[j]

    used_genes = sorted(
        {g for (j, d) in dir_cols for c in clauses_all[j] for g in c if (rxn_ids[j], genes[g], d) in kc}
    )
    enzyme_col = {genes[g]: add_col(f"E_{genes[g]}", 0.0, np.inf) for g in used_genes}
    rows: list[list[tuple[int, float]]] = []
    names: list[str] = []
    entries: list[tuple[int, int, int, str]] = []
    n_kind: dict[str, int] = {}

    def cap_row(name, ucol, terms):
        # v - sum(coef * E) <= 0
        rows.append([(ucol, 1.0)] + [(c, -a) for c, a in terms])
        names.append(name)
        return len(rows) - 1

    for (j, d), ucol in dir_cols.items():
        rid = rxn_ids[j]
        clauses = clauses_all[j]
        kind = clause_kind([frozenset(c) for c in clauses])
        if kind not in fams or (kind == "mixed" and not {"isoenzymes", "complex"} <= fams):
            continue
        keyed = {g: kc[(rid, genes[g], d)] for c in clauses for g in c if (rid, genes[g], d) in kc}
        if not keyed:
            continue
        n_kind[kind] = n_kind.get(kind, 0) + 1
        if kind == "single":
            ((g, ps),) = keyed.items()
            p = max(ps, key=lambda i: k_h[i])  # the reference takes the largest of a pair's kcats
            r_i = cap_row(f"capacity_{rid}_{d}_{genes[g]}", ucol, [(enzyme_col[genes[g]], k_h[p])])
            entries.append((p, r_i, enzyme_col[genes[g]], "E"))
        elif kind == "complex":
            # The published numbers are reproduced with the largest kcat over all subunits and substrates
            # (its code comment says "average"; the average gives L3b growth 0.41 instead of 0.758).
            kk = max(k_h[p] for ps in keyed.values() for p in ps)
            for g in keyed:
                cap_row(f"capacity_{rid}_{d}_{genes[g]}", ucol, [(enzyme_col[genes[g]], kk)])
        elif kind == "isoenzymes":
            # largest kcat per isoenzyme (the published L3a numbers need it; the code comment says smallest)
            best = {g: max(ps, key=lambda i: k_h[i]) for g, ps in keyed.items()}
            r_i = cap_row(f"capacity_{rid}_{d}", ucol, [(enzyme_col[genes[g]], k_h[p]) for g, p in best.items()])
            entries.extend((p, r_i, enzyme_col[genes[g]], "E") for g, p in best.items())
        else:  # mixed: sum of clause capacities
            terms: dict[int, float] = {}
            for c in clauses:
                ks = [k_h[p] for g in c if g in keyed for p in keyed[g]]
                if not ks:
                    continue
                if len(c) > 1:
                    # The reference averages the subunits' kcats and spreads the clause over its subunits.
                    for g in c:
                        col = enzyme_col.get(genes[g])
                        if col is None:
                            col = enzyme_col[genes[g]] = add_col(f"E_{genes[g]}", 0.0, np.inf)
                        terms[col] = terms.get(col, 0.0) + float(np.mean(ks)) / len(c)
                else:
                    col = enzyme_col[genes[c[0]]]
                    terms[col] = terms.get(col, 0.0) + max(ks)
            cap_row(f"capacity_{rid}_{d}", ucol, list(terms.items()))

    if spec["promiscuous"]:
        for g in used_genes:
            gid = genes[g]
            terms = []
            for (j, d), ucol in dir_cols.items():
                mult = sum(1 for c in clauses_all[j] if g in c)
                ps = kc.get((rxn_ids[j], gid, d), [])
                if ps:
                    # m_rg * v / (largest kcat of the pair): checked against the reference's own optimum
                    # (df_FBA.csv: E_g equals this sum for every gene it does not cap otherwise)
                    p = max(ps, key=lambda i: k_h[i])
                    terms.append((ucol, mult / k_h[p], p, mult))
            if not terms:
                continue
            rows.append([(c, a) for c, a, _p, _m in terms] + [(enzyme_col[gid], -1.0)])
            names.append(f"enzyme_usage_{gid}")
            entries.extend((p, len(rows) - 1, c, "u") for c, _a, p, m in terms if m == 1)

    pool_entries, n_default, fallback_mw = _pool_entries(enzyme_col, pairs, default_mw)
    pool_row = None
    if spec["pool"] and enzyme_col:
        rows.append(pool_entries)
        names.append("protein_pool")
        pool_row = len(rows) - 1

    n_m = len(mets)
    # Duplicates (a gene twice in one row) are summed by the sparse assembly.
    A, cost = _assemble(acols, rows, n_m, fwd_col, rev_col, rxn_ids.index(obj))
    row_ub = np.zeros(len(rows))
    if pool_row is not None:
        row_ub[pool_row] = float(pool)
    lp = LinearProblem(
        A=A,
        col_lb=np.asarray(col_lb, float),
        col_ub=np.asarray(col_ub, float),
        row_lb=np.concatenate([np.zeros(n_m), np.full(len(rows), -np.inf)]),
        row_ub=np.concatenate([np.zeros(n_m), row_ub]),
        cost=cost,
        col_names=col_names,
        row_names=mets + names,
        maximize=True,
    )
    ce = pd.DataFrame(entries, columns=["pair", "row", "col", "kind"])
    ce["row"] += n_m
    report.update(
        formulation="kingems",
        n_constrained_reactions=len({j for (j, _d) in dir_cols}),
        constrained_by_kind=n_kind,
        n_enzymes=len(enzyme_col),
        n_kcat_entries=len(ce),
        n_genes_default_mw=n_default,
        default_mw=fallback_mw,
        note="complex / mixed rows hold averaged kcats: Problem.set_kcat does not edit them",
    )
    return CompiledModel(
        lp=lp,
        model_id=model.id,
        rxn_ids=rxn_ids,
        fwd_col=fwd_col,
        rev_col=rev_col,
        rxn_lb=lb,
        rxn_ub=ub,
        objective_rxn=obj,
        gene_ids=genes,
        rxn_clauses=clauses_all,
        met_ids=mets,
        enzyme_col=enzyme_col,
        coef_entries=ce,
        pairs=pairs,
        pool_row=(n_m + pool_row) if pool_row is not None else None,
        pool=float(pool) if pool_row is not None else None,
        level=level,
        report=report,
    )


def to_irreversible(model, kcats: pd.DataFrame | None = None, suffix: str = "_reverse"):
    """Split every reversible reaction into a forward and a ``<id>_reverse`` reaction, as the kinGEMs reference does.

    Parameters
    ----------
    model : cobra.Model
        Left unchanged (a copy is returned).
    kcats : DataFrame, optional
        Matched kcats (:func:`kingems_ray.ec.kcats.match_to_model`); ``reverse`` rows move to the ``_reverse``
        reaction (as ``forward``), ``both`` rows are copied to both.
    suffix : str

    Returns
    -------
    (cobra.Model, DataFrame or None)
        Every reaction of the copy has ``lower_bound >= 0``; the objective is unchanged.
    """
    irr = model.copy()
    new = []
    split = set()
    for r in irr.reactions:
        if r.lower_bound >= 0:
            continue
        rev = r.__class__(r.id + suffix, name=(r.name or r.id) + " (reverse)")
        rev.add_metabolites({m: -c for m, c in r.metabolites.items()})
        rev.bounds = (max(-r.upper_bound, 0.0), -r.lower_bound)
        rev.gene_reaction_rule = r.gene_reaction_rule
        r.bounds = (0.0, max(r.upper_bound, 0.0))
        new.append(rev)
        split.add(r.id)
    irr.add_reactions(new)
    if kcats is None:
        return irr, None
    rows = []
    for rec in kcats.to_dict("records"):
        rid, d = rec["reaction_id"], rec["direction"]
        if d in ("forward", "both"):
            rows.append({**rec, "direction": "forward"})
        if d in ("reverse", "both") and rid in split:
            rows.append({**rec, "reaction_id": rid + suffix, "direction": "forward"})
    return irr, pd.DataFrame(rows, columns=kcats.columns)


def reference_variability(fva: pd.DataFrame, suffix: str = "_reverse") -> pd.Series:
    """kinGEMs' per-reaction "FVi" from an FVA of an irreversible model (see :func:`to_irreversible`).

    A pair ``R`` / ``R_reverse`` is combined as ``|(max_R - min_Rrev) - (min_R - max_Rrev)|``, i.e. the sum of the
    two directions' ranges: a futile forward+reverse cycle (both halves at their bounds) counts twice
    (up to 2000 for +-1000 bounds), which a net-flux range never shows. Other reactions give ``|max - min|``.

    Parameters
    ----------
    fva : DataFrame
        ``reaction_id, minimum, maximum`` (as returned by ``flux_variability``).

    Returns
    -------
    Series
        FVi per original reaction id.
    """
    df = fva.set_index("reaction_id")[["minimum", "maximum"]]
    out: dict[str, float] = {}
    done: set[str] = set()
    for rid in df.index:
        if rid.endswith(suffix) and rid[: -len(suffix)] in df.index:
            f = rid[: -len(suffix)]
            fmin, fmax = df.at[f, "minimum"], df.at[f, "maximum"]
            rmin, rmax = df.at[rid, "minimum"], df.at[rid, "maximum"]
            out[f] = abs((fmax - rmin) - (fmin - rmax))
            done.update((f, rid))
    for rid in df.index:
        if rid not in done:
            out[rid] = abs(df.at[rid, "maximum"] - df.at[rid, "minimum"])
    return pd.Series(out, name="fvi")
