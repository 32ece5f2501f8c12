"""A compiled model bound to its persistent solver: operations in model terms (reactions, genes, kcats)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from ..ec.compile import CompiledModel, kcat_coefficient
from ..errors import Infeasible, KingemsError, Unbounded
from .highs import PersistentLP, SolveResult, default_threads


class Problem:
    """One compiled model and the ``highspy.Highs`` that holds it, changed in place.

    Parameters
    ----------
    compiled : CompiledModel
    threads : int, optional
    """

    def __init__(self, compiled: CompiledModel, threads: int | None = None) -> None:
        self.cm = compiled
        self.solver = PersistentLP(compiled.lp, threads=threads or default_threads())
        self._ridx = compiled.rxn_index
        self._kcat = compiled.pairs["kcat"].to_numpy(float).copy() if compiled.pairs is not None else np.empty(0)
        self._entries_by_pair: dict[int, list[tuple[int, int, str]]] = {}
        if compiled.coef_entries is not None:
            for p, r, c, k in compiled.coef_entries.itertuples(index=False):
                self._entries_by_pair.setdefault(int(p), []).append((int(r), int(c), str(k)))
        self._obj_cols, self._obj_coefs = self.reaction_objective(compiled.objective_rxn)

    # -- objective ----------------------------------------------------------------------------------------
    def reaction_objective(self, rxn: str | int) -> tuple[list[int], list[float]]:
        """Columns and coefficients whose weighted sum is the net flux of ``rxn``."""
        j = rxn if isinstance(rxn, (int, np.integer)) else self._index(rxn)
        cols, coefs = [int(self.cm.fwd_col[j])], [1.0]
        if self.cm.rev_col[j] >= 0:
            cols.append(int(self.cm.rev_col[j]))
            coefs.append(-1.0)
        return cols, coefs

    def _index(self, rxn: str) -> int:
        try:
            return self._ridx[rxn]
        except KeyError:
            raise KingemsError(f"reaction {rxn!r} not in model {self.cm.model_id!r}") from None

    def set_objective_reaction(self, rxn: str, maximize: bool = True) -> None:
        """Make the net flux of ``rxn`` the objective."""
        cols, coefs = self.reaction_objective(rxn)
        self.solver.set_objective(cols, coefs, maximize=maximize)

    def restore_objective(self) -> None:
        """Back to maximising the model's own objective."""
        self.solver.set_objective(self._obj_cols, self._obj_coefs, maximize=True)

    # -- solving ------------------------------------------------------------------------------------------
    def optimize(self, need_x: bool = True) -> SolveResult:
        """Maximise the model objective from the current state (warm start)."""
        self.restore_objective()
        return self.solver.solve(need_x=need_x)

    def growth(self, raise_on_fail: bool = False) -> float:
        """Optimal objective value, 0.0 when infeasible (or raise :class:`Infeasible` / :class:`Unbounded`)."""
        res = self.optimize(need_x=False)
        if res.ok:
            return res.objective
        if raise_on_fail:
            if "unbounded" in res.status and "infeasible" not in res.status:
                raise Unbounded(f"{self.cm.model_id}: objective is unbounded")
            raise Infeasible(f"{self.cm.model_id}: problem is {res.status}")
        return 0.0

    def fluxes(self, x: np.ndarray) -> np.ndarray:
        """Net reaction fluxes from a column vector."""
        return self.cm.net_flux(x)

    # -- bounds -------------------------------------------------------------------------------------------
    def _cols_for_bounds(self, j: int, lb: float, ub: float) -> tuple[list[int], list[float], list[float]]:
        f, r = int(self.cm.fwd_col[j]), int(self.cm.rev_col[j])
        if r < 0:
            return [f], [lb], [ub]
        # Split reaction: forward part carries [max(lb,0), max(ub,0)], reverse part [max(-ub,0), max(-lb,0)].
        return [f, r], [max(lb, 0.0), max(-ub, 0.0)], [max(ub, 0.0), max(-lb, 0.0)]

    def set_reaction_bounds(self, rxn: str | int, lb: float, ub: float) -> None:
        """Set a reaction's net-flux bounds (both parts of a split reaction)."""
        j = rxn if isinstance(rxn, (int, np.integer)) else self._index(rxn)
        cols, lo, hi = self._cols_for_bounds(j, lb, ub)
        self.solver.set_col_bounds(cols, lo, hi)

    def reaction_bounds(self, rxn: str | int) -> tuple[float, float]:
        """Current net-flux bounds of a reaction."""
        j = rxn if isinstance(rxn, (int, np.integer)) else self._index(rxn)
        f, r = int(self.cm.fwd_col[j]), int(self.cm.rev_col[j])
        lo, hi = self.solver.col_bounds([f] if r < 0 else [f, r])
        if r < 0:
            return float(lo[0]), float(hi[0])
        return float(lo[0] - hi[1]), float(hi[0] - lo[1])

    @contextlib.contextmanager
    def reactions_bounded(self, bounds: dict[str | int, tuple[float, float]]) -> Iterator[None]:
        """Temporarily set reaction bounds (e.g. a knockout: ``(0, 0)``), restored on exit."""
        cols: list[int] = []
        lo: list[float] = []
        hi: list[float] = []
        for rxn, (lb, ub) in bounds.items():
            j = rxn if isinstance(rxn, (int, np.integer)) else self._index(rxn)
            c, a, b = self._cols_for_bounds(j, lb, ub)
            cols += c
            lo += a
            hi += b
        with self.solver.temporary_col_bounds(cols, lo, hi):
            yield

    def reactions_of_knockout(self, genes: Iterable[str]) -> list[int]:
        """Indices of reactions disabled when all ``genes`` are knocked out (GPR evaluation)."""
        gidx = {g: i for i, g in enumerate(self.cm.gene_ids)}
        ko = {gidx[g] for g in genes if g in gidx}
        out = []
        for j, clauses in enumerate(self.cm.rxn_clauses):
            if clauses and all(any(g in ko for g in c) for c in clauses):
                out.append(j)
        return out

    # -- kcats and pool -----------------------------------------------------------------------------------
    @property
    def kcats(self) -> np.ndarray:
        """Current kcat [1/s] of every pair in ``compiled.pairs``."""
        return self._kcat.copy()

    def set_kcat(self, pair: int, kcat: float) -> None:
        """Change one pair's kcat [1/s] in place (matrix coefficients only)."""
        if not np.isfinite(kcat) or kcat <= 0:
            raise KingemsError(f"kcat must be finite and > 0, got {kcat}")
        for row, col, kind in self._entries_by_pair.get(int(pair), []):
            self.solver.set_coef(row, col, kcat_coefficient(kind, kcat))
        self._kcat[int(pair)] = kcat

    def set_kcats(self, pairs: Sequence[int], values: Sequence[float]) -> None:
        """Change several kcats [1/s]."""
        for p, v in zip(pairs, values):
            self.set_kcat(int(p), float(v))

    def set_pool(self, pool: float) -> None:
        """Change the total enzyme pool [g/gDW]."""
        if self.cm.pool_row is None:
            raise KingemsError("this problem has no protein-pool constraint (level L1 or no kcats)")
        self.solver.set_row_bounds(self.cm.pool_row, -np.inf, float(pool))
        self.cm.pool = float(pool)

    def enzyme_usage(self, x: np.ndarray) -> dict[str, float]:
        """E_g [mmol/gDW] per gene from a column vector."""
        return {g: float(x[c]) for g, c in self.cm.enzyme_col.items()}
