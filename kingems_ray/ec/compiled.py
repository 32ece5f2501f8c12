"""The compiled model: an LP plus the maps that read and edit it in model terms. Frozen; built once, shared freely.

A :class:`CompiledModel` is made by :func:`kingems_ray.ec.compile.compile_model` (or read back with
:meth:`CompiledModel.from_arrays`) and never changed afterwards: its numpy arrays are read-only, and every edit
(kcats, pool, bounds, knockouts) happens on a :class:`kingems_ray.ec.problem.Problem`, which owns its own solver.
So one cached model can back any number of problems (threads, sweep units, community members) safely.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import scipy.sparse as sp

from ..hashing import digest
from ..solver.highs import LinearProblem

#: Bumped whenever the layout of :meth:`CompiledModel.to_arrays` changes (old cache entries are then ignored).
FORMAT_VERSION = 1


def compiled_key(content_id: str, params: dict[str, Any]) -> str:
    """Cache key of a compiled model: hash of the model content id, the compile parameters and the format version."""
    return digest({"model": content_id, "params": params, "format": FORMAT_VERSION})


@dataclass(frozen=True, eq=False)
class CompiledModel:
    """A model compiled to an LP plus the maps needed to edit it and read results in model terms.

    Frozen: fields cannot be reassigned and the numpy arrays (model maps and the LP's bounds and costs) are
    read-only. Edits belong to a :class:`~kingems_ray.ec.problem.Problem`.

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
    met_ids : list of str
    enzyme_col : dict
        Gene id -> column of E_g.
    coef_entries : DataFrame
        One row per matrix entry that holds a kcat: ``pair`` (index into ``pairs``), ``row``, ``col``, ``kind``
        (``"E"``: coefficient is ``-k*3600`` on E_g; ``"u"``: coefficient is ``1/(k*3600)`` on a flux column).
    pairs : DataFrame
        The kcats in use: ``reaction_id, gene_id, direction, kcat, kcat_std, mw``.
    pool_row : int or None
    pool : float or None
        The compiled pool [g/gDW] (a Problem's own pool may differ: :meth:`Problem.set_pool`).
    level : str
    report : dict
        Counts of what was constrained and what was skipped.
    memo : dict
        Derived data cached by readers (e.g. exchange orientations); not part of the model.
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
    memo: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._freeze()

    def __setstate__(self, state: dict) -> None:
        # Unpickled arrays come back writable: freeze them again (workers get read-only models too).
        self.__dict__.update(state)
        self._freeze()

    def _freeze(self) -> None:
        for name in ("fwd_col", "rev_col"):
            object.__setattr__(self, name, _readonly(np.asarray(getattr(self, name), dtype=int)))
        for name in ("rxn_lb", "rxn_ub"):
            object.__setattr__(self, name, _readonly(np.asarray(getattr(self, name), dtype=float)))
        for name in ("col_lb", "col_ub", "row_lb", "row_ub", "cost"):
            setattr(self.lp, name, _readonly(np.asarray(getattr(self.lp, name), dtype=float)))

    # -- model maps --------------------------------------------------------------------------------------------------
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

    def reaction_columns(self, j: int) -> list[int]:
        """LP columns holding reaction ``j``'s flux (forward, and reverse when split)."""
        f, r = int(self.fwd_col[j]), int(self.rev_col[j])
        return [f] if r < 0 else [f, r]

    # -- knockouts ---------------------------------------------------------------------------------------------------
    def _gene_reactions(self) -> dict[int, list[int]]:
        """Gene index -> reactions whose GPR names it, in model order (computed once)."""
        by_gene = self.memo.get("gene_reactions")
        if by_gene is None:
            by_gene = {}
            for j, clauses in enumerate(self.rxn_clauses):
                for c in clauses:
                    for g in c:
                        lst = by_gene.setdefault(g, [])
                        if not lst or lst[-1] != j:
                            lst.append(j)
            self.memo["gene_reactions"] = by_gene
        return by_gene

    def knockout_reactions(self, genes) -> list[int]:
        """Indices (sorted) of the reactions disabled when all ``genes`` are knocked out (GPR evaluation).

        Unknown gene ids are ignored (callers that must reject them check :attr:`gene_ids` first).
        """
        gidx = self.memo.get("gene_index")
        if gidx is None:
            gidx = self.memo["gene_index"] = {g: i for i, g in enumerate(self.gene_ids)}
        ko = {gidx[g] for g in genes if g in gidx}
        by_gene = self._gene_reactions()
        cand = sorted({j for g in ko for j in by_gene.get(g, [])})
        return [j for j in cand if all(any(g in ko for g in c) for c in self.rxn_clauses[j])]

    def knockout_columns(self, genes, enzymes: bool = True) -> tuple[int, ...]:
        """Every LP column (sorted) forced to zero by knocking out ``genes``.

        The flux columns of :meth:`knockout_reactions`, plus, with ``enzymes``, each gene's enzyme column E_g in an
        ecGEM (which also removes the gene's isoenzyme clause from reactions that stay active through another).
        """
        genes = list(genes)
        cols = [c for j in self.knockout_reactions(genes) for c in self.reaction_columns(j)]
        if enzymes:
            cols += [int(self.enzyme_col[g]) for g in genes if g in self.enzyme_col]
        return tuple(sorted(set(cols)))

    # -- arrays (the on-disk form, see kingems_ray.store.cache) -------------------------------------------------------
    def to_arrays(self) -> dict[str, np.ndarray]:
        """Every field as named numpy arrays: no pickle needed to store or read them (``np.savez``)."""
        A = sp.csc_matrix(self.lp.A)
        clause_ptr = [0]
        gene_ptr = [0]
        genes: list[int] = []
        for clauses in self.rxn_clauses:
            for c in clauses:
                genes.extend(int(g) for g in c)
                gene_ptr.append(len(genes))
            clause_ptr.append(len(gene_ptr) - 1)
        meta = {
            "format": FORMAT_VERSION,
            "model_id": self.model_id,
            "objective_rxn": self.objective_rxn,
            "maximize": bool(self.lp.maximize),
            "shape": list(A.shape),
            "enzyme_col": {g: int(c) for g, c in self.enzyme_col.items()},
            "pool_row": None if self.pool_row is None else int(self.pool_row),
            "pool": self.pool,
            "level": self.level,
            "report": _jsonable(self.report),
        }
        return {
            "meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
            "A_data": A.data.astype(float),
            "A_indices": A.indices.astype(np.int64),
            "A_indptr": A.indptr.astype(np.int64),
            "col_lb": np.asarray(self.lp.col_lb, float),
            "col_ub": np.asarray(self.lp.col_ub, float),
            "row_lb": np.asarray(self.lp.row_lb, float),
            "row_ub": np.asarray(self.lp.row_ub, float),
            "cost": np.asarray(self.lp.cost, float),
            "col_names": _strs(self.lp.col_names),
            "row_names": _strs(self.lp.row_names),
            "rxn_ids": _strs(self.rxn_ids),
            "gene_ids": _strs(self.gene_ids),
            "met_ids": _strs(self.met_ids),
            "fwd_col": np.asarray(self.fwd_col, np.int64),
            "rev_col": np.asarray(self.rev_col, np.int64),
            "rxn_lb": np.asarray(self.rxn_lb, float),
            "rxn_ub": np.asarray(self.rxn_ub, float),
            "clause_ptr": np.asarray(clause_ptr, np.int64),
            "gene_ptr": np.asarray(gene_ptr, np.int64),
            "clause_genes": np.asarray(genes, np.int64),
            "pairs": _df_bytes(self.pairs),
            "coef_entries": _df_bytes(self.coef_entries),
        }

    @classmethod
    def from_arrays(cls, z: Any) -> CompiledModel:
        """Rebuild a model from :meth:`to_arrays` output (or an open npz).

        Raises
        ------
        ValueError
            When the arrays were written in another :data:`FORMAT_VERSION`.
        """
        meta = json.loads(bytes(z["meta"]).decode())
        if meta.get("format") != FORMAT_VERSION:
            raise ValueError(f"compiled cache format {meta.get('format')} != {FORMAT_VERSION}")
        A = sp.csc_matrix((z["A_data"], z["A_indices"], z["A_indptr"]), shape=tuple(meta["shape"]))
        lp = LinearProblem(
            A=A, col_lb=z["col_lb"].copy(), col_ub=z["col_ub"].copy(), row_lb=z["row_lb"].copy(),
            row_ub=z["row_ub"].copy(), cost=z["cost"].copy(), col_names=z["col_names"].tolist(),
            row_names=z["row_names"].tolist(), maximize=bool(meta["maximize"]),
        )
        # Python lists first: slicing lists is ~20x faster than building tuples from numpy scalars.
        cp, gp, cg = z["clause_ptr"].tolist(), z["gene_ptr"].tolist(), z["clause_genes"].tolist()
        per_clause = [tuple(cg[gp[c] : gp[c + 1]]) for c in range(len(gp) - 1)]
        clauses = [per_clause[cp[j] : cp[j + 1]] for j in range(len(cp) - 1)]
        return cls(
            lp=lp, model_id=meta["model_id"], rxn_ids=z["rxn_ids"].tolist(), fwd_col=z["fwd_col"].astype(int),
            rev_col=z["rev_col"].astype(int), rxn_lb=z["rxn_lb"].copy(), rxn_ub=z["rxn_ub"].copy(),
            objective_rxn=meta["objective_rxn"], gene_ids=z["gene_ids"].tolist(), rxn_clauses=clauses,
            met_ids=z["met_ids"].tolist(), enzyme_col={g: int(c) for g, c in meta["enzyme_col"].items()},
            coef_entries=_df_from(z["coef_entries"]), pairs=_df_from(z["pairs"]), pool_row=meta["pool_row"],
            pool=meta["pool"], level=meta["level"], report=meta["report"],
        )

    def field_names(self) -> list[str]:
        """Names of the model's fields (``memo`` excluded)."""
        return [f.name for f in fields(self) if f.name != "memo"]


def _readonly(a: np.ndarray) -> np.ndarray:
    if a.flags.writeable:
        a = a.copy() if not a.flags.owndata else a
        a.setflags(write=False)
    return a


def _df_bytes(df: pd.DataFrame | None) -> np.ndarray:
    if df is None:
        return np.zeros(0, dtype=np.uint8)
    table = pa.Table.from_pandas(df, preserve_index=True)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return np.frombuffer(sink.getvalue().to_pybytes(), dtype=np.uint8)


def _df_from(arr: np.ndarray) -> pd.DataFrame | None:
    if arr.size == 0:
        return None
    with pa.ipc.open_stream(pa.py_buffer(arr.tobytes())) as reader:
        return reader.read_pandas()


def _strs(values: list[str]) -> np.ndarray:
    # Fixed-width unicode: no pickle needed; an empty list still needs a dtype.
    return np.asarray(list(values), dtype=str) if len(values) else np.zeros(0, dtype="<U1")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    return obj


__all__ = ["FORMAT_VERSION", "CompiledModel", "compiled_key"]
