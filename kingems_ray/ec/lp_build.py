"""From a cobra model to the parts of an LP: the model read into arrays once, columns and rows added one at a time,
and the one place a :class:`~kingems_ray.ec.compiled.CompiledModel` is made (:func:`finish`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..gem.gpr import GPRTooComplex, parse_gpr, single_knockout_genes
from ..gem.io import objective_reaction
from ..solver.highs import LinearProblem
from .compiled import CompiledModel


# -- the input model as arrays -----------------------------------------------------------------------------------------
@dataclass
class ParsedModel:
    """A cobra model read once into arrays: what every formulation starts from."""

    model_id: str
    rxn_ids: list[str]
    met_ids: list[str]
    S: sp.coo_matrix
    lb: np.ndarray
    ub: np.ndarray
    objective: str
    genes: list[str]
    clauses: list[list[tuple[int, ...]]]
    #: reactions whose GPR was too large to expand (a knockout-exact surrogate clause was kept)
    surrogate: list[str] = field(default_factory=list)

    @property
    def n_rxn(self) -> int:
        """Number of reactions."""
        return len(self.rxn_ids)


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


def parse_model(model) -> ParsedModel:
    """Stoichiometry, bounds, objective and GPR clauses (absorbed DNF, see :func:`kingems_ray.gem.gpr.parse_gpr`)."""
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

    clauses = [gpr_clauses(r) for r in model.reactions]
    return ParsedModel(model.id, rxn_ids, mets, S, lb, ub, obj, genes, clauses, surrogate)


# -- building an LP column by column -----------------------------------------------------------------------------------
@dataclass
class LPBuilder:
    """Columns (with their metabolite-row entries) and extra rows (beyond the metabolites) of an LP being built."""

    col_names: list[str] = field(default_factory=list)
    col_lb: list[float] = field(default_factory=list)
    col_ub: list[float] = field(default_factory=list)
    acols: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    rows: list[list[tuple[int, float]]] = field(default_factory=list)
    row_lb: list[float] = field(default_factory=list)
    row_ub: list[float] = field(default_factory=list)
    row_names: list[str] = field(default_factory=list)
    #: kcat entries: (pair, extra row index, column, kind)
    entries: list[tuple[int, int, int, str]] = field(default_factory=list)

    def add_col(self, name: str, lo: float, hi: float, rows=None, vals=None) -> int:
        """Append a column (metabolite-row entries ``rows``/``vals``); returns its index."""
        self.col_names.append(name)
        self.col_lb.append(lo)
        self.col_ub.append(hi)
        self.acols.append((np.asarray([] if rows is None else rows, int),
                           np.asarray([] if vals is None else vals, float)))
        return len(self.col_names) - 1

    def add_row(self, terms: list[tuple[int, float]], lo: float, hi: float, name: str) -> int:
        """Append an extra row ``lo <= sum(coef * x[col]) <= hi``; returns its index among the extra rows."""
        self.rows.append(terms)
        self.row_lb.append(lo)
        self.row_ub.append(hi)
        self.row_names.append(name)
        return len(self.rows) - 1

    def add_split_reaction(self, pm: ParsedModel, j: int, S_csc: sp.csc_matrix, split: bool) -> tuple[int, int]:
        """Reaction ``j``'s flux column(s): one net column, or non-negative forward and reverse columns."""
        rid, lb, ub = pm.rxn_ids[j], pm.lb[j], pm.ub[j]
        col = S_csc[:, j]
        rows_j, vals_j = col.indices, col.data
        if not split:
            return self.add_col(rid, lb, ub, rows_j, vals_j), -1
        f = self.add_col(rid, max(lb, 0.0), ub if ub > 0 else 0.0, rows_j, vals_j)
        r = self.add_col(rid + "_reverse", max(-ub, 0.0), -lb, rows_j, -vals_j) if lb < 0 else -1
        return f, r

    def linear_problem(self, pm: ParsedModel, fwd_col: np.ndarray, rev_col: np.ndarray) -> LinearProblem:
        """The LP: metabolite rows (steady state) then the extra rows; the objective is the net objective flux."""
        n_m = len(pm.met_ids)
        A, cost = _assemble(self.acols, self.rows, n_m, fwd_col, rev_col, pm.rxn_ids.index(pm.objective))
        return LinearProblem(
            A=A,
            col_lb=np.asarray(self.col_lb, float),
            col_ub=np.asarray(self.col_ub, float),
            row_lb=np.concatenate([np.zeros(n_m), np.asarray(self.row_lb, float)]),
            row_ub=np.concatenate([np.zeros(n_m), np.asarray(self.row_ub, float)]),
            cost=cost,
            col_names=self.col_names,
            row_names=pm.met_ids + self.row_names,
            maximize=True,
        )

    def coef_entries(self, n_m: int) -> pd.DataFrame:
        """The kcat entries with LP row numbers."""
        ce = pd.DataFrame(self.entries, columns=["pair", "row", "col", "kind"])
        ce["row"] += n_m
        return ce


def _assemble(
    acols: list[tuple[np.ndarray, np.ndarray]],
    extra_rows: list[list[tuple[int, float]]],
    n_m: int,
    fwd_col: np.ndarray,
    rev_col: np.ndarray,
    oj: int,
) -> tuple[sp.csc_matrix, np.ndarray]:
    """The constraint matrix (metabolite rows from the columns' entries, then the extra rows) and the cost vector
    of the objective reaction's net flux. Duplicates (a column twice in one row) are summed."""
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


def finish(
    pm: ParsedModel,
    lp: LinearProblem,
    fwd_col: np.ndarray,
    rev_col: np.ndarray,
    level: str,
    report: dict,
    clauses: list[list[tuple[int, ...]]] | None = None,
    enzyme_col: dict[str, int] | None = None,
    coef_entries: pd.DataFrame | None = None,
    pairs: pd.DataFrame | None = None,
    pool_row: int | None = None,
    pool: float | None = None,
) -> CompiledModel:
    """The one place a compiler makes its :class:`CompiledModel` (``pool_row`` counts extra rows only)."""
    n_m = len(pm.met_ids)
    return CompiledModel(
        lp=lp,
        model_id=pm.model_id,
        rxn_ids=pm.rxn_ids,
        fwd_col=fwd_col,
        rev_col=rev_col,
        rxn_lb=pm.lb,
        rxn_ub=pm.ub,
        objective_rxn=pm.objective,
        gene_ids=pm.genes,
        rxn_clauses=pm.clauses if clauses is None else clauses,
        met_ids=pm.met_ids,
        enzyme_col=enzyme_col or {},
        coef_entries=coef_entries,
        pairs=pairs,
        pool_row=(n_m + pool_row) if pool_row is not None else None,
        pool=float(pool) if pool_row is not None else None,
        level=level,
        report=report,
    )
