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
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import KingemsError
from ..gem.gpr import clause_kind, parse_gpr
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

    Returns
    -------
    CompiledModel

    Raises
    ------
    KingemsError
        Unknown level, or a model without an objective.
    """
    if level not in LEVELS:
        raise KingemsError(f"unknown ablation level {level!r}; choose one of {', '.join(LEVELS)}")
    obj = objective_reaction(model)
    rxn_ids, mets, S, lb, ub = _model_arrays(model)
    genes = [g.id for g in model.genes]
    gidx = {g: i for i, g in enumerate(genes)}
    clauses_all = [
        [tuple(sorted(gidx[g] for g in c)) for c in parse_gpr(r.gene_reaction_rule)] for r in model.reactions
    ]
    spec = LEVELS[level]
    use_ec = kcats is not None and len(kcats) > 0 and level != "L1"
    n_r = len(rxn_ids)
    report: dict = {"level": level, "n_reactions": n_r}

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

    # -- kcat lookup: (rxn, gene, dir) -> (kcat, pair index) ------------------------------------------------
    pairs = kcats.reset_index(drop=True).copy()
    kc: dict[tuple[str, str, str], int] = {}
    for i, (r, g, d) in enumerate(zip(pairs["reaction_id"], pairs["gene_id"], pairs["direction"])):
        for dd in ("forward", "reverse") if d == "both" else (d,):
            # A direction-specific row wins over a "both" row.
            if d != "both" or (r, g, dd) not in kc:
                kc[(r, g, dd)] = i
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
    for j, rid in enumerate(rxn_ids):
        clauses = clauses_all[j]
        kind = clause_kind([frozenset(c) for c in clauses])
        dirs = []
        if kind in fams:
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
    mw_by_gene = (
        pairs.dropna(subset=["mw"]).groupby("gene_id")["mw"].first() if "mw" in pairs else pd.Series(dtype=float)
    )
    known = mw_by_gene[mw_by_gene > 0]
    fallback_mw = float(default_mw) if default_mw else (float(known.median()) if len(known) else 40000.0)
    n_default_mw = 0
    pool_row = None
    if spec["pool"] and enzyme_col:
        entries = []
        for g, c in enzyme_col.items():
            mw = float(known.get(g, np.nan))
            if not np.isfinite(mw):
                mw = fallback_mw
                n_default_mw += 1
            entries.append((c, mw / 1000.0))
        extra_rows.append(entries)
        extra_lb.append(-np.inf)
        extra_ub.append(float(pool))
        extra_names.append("protein_pool")
        pool_row = len(extra_rows) - 1

    # -- assemble the sparse matrix ---------------------------------------------------------------------------
    n_m = len(mets)
    n_c = len(col_names)
    r_idx, c_idx, v_all = [], [], []
    for c, (rows, vals) in enumerate(Acols):
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
    oj = rxn_ids.index(obj)
    cost[fwd_col[oj]] = 1.0
    if rev_col[oj] >= 0:
        cost[rev_col[oj]] = -1.0
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
