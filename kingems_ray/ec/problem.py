"""A compiled model bound to its own persistent solver: edits in model terms (reactions, genes, kcats, pool).

The :class:`Problem` is where an ecGEM is changed; its :class:`~kingems_ray.ec.compiled.CompiledModel` never is.
Every edit goes through the :class:`~kingems_ray.solver.highs.PersistentLP`, which keeps its own view of what HiGHS
holds, so a snapshot of the problem is exact and cheap:

.. code-block:: python

    p = Problem(compiled)
    base = p.snapshot()                      # kcats, pool, bounds, objective, changed coefficients
    for sample in kcat_samples:              # e.g. thousands of sampled kcat vectors
        p.set_kcats(pairs, sample)           # in place: only the matrix coefficients of those pairs
        growth = p.growth()                  # warm start from the previous basis
        p.restore(base)                      # back to the snapshot, only the differences are pushed

``set_kcat`` / ``set_kcats`` take kcats in 1/s, indexed like ``compiled.pairs``; the coefficient each kcat entry
gets is :func:`kingems_ray.ec.compile.kcat_coefficient`. :meth:`Problem.restore` accepts a snapshot of this
problem or of another problem built from the same compiled model (that is how a worker replays a start state).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import Infeasible, KingemsError, Unbounded
from ..solver.highs import LPState, PersistentLP, SolveResult, default_threads
from .compile import kcat_coefficient
from .compiled import CompiledModel


@dataclass(frozen=True, eq=False)
class ProblemState:
    """A :meth:`Problem.snapshot`: the LP's editable data plus the kcat per pair and the pool (read-only)."""

    lp: LPState
    kcats: np.ndarray
    pool: float | None


class Problem:
    """One compiled model and the persistent HiGHS LP that holds it, changed in place.

    Parameters
    ----------
    compiled : CompiledModel
        Shared, never changed (its pool, kcats and bounds are this problem's starting point).
    threads : int, optional
    """

    def __init__(self, compiled: CompiledModel, threads: int | None = None) -> None:
        self.cm = compiled
        self.solver = PersistentLP(compiled.lp, threads=threads or default_threads())
        self._ridx = compiled.rxn_index
        self._kcat = compiled.pairs["kcat"].to_numpy(float).copy() if compiled.pairs is not None else np.empty(0)
        self._pool = compiled.pool
        # The kcat entries sorted by pair, with each pair's slice (CSR-like): a sample rewrites them all at once.
        e = compiled.coef_entries
        if e is not None and len(e):
            order = np.argsort(e["pair"].to_numpy(int), kind="stable")
            self._e_row = e["row"].to_numpy(int)[order]
            self._e_col = e["col"].to_numpy(int)[order]
            self._e_kind = e["kind"].to_numpy(str)[order]
            self._e_start = np.searchsorted(e["pair"].to_numpy(int)[order], np.arange(len(self._kcat) + 1))
        else:
            self._e_row = self._e_col = np.empty(0, dtype=int)
            self._e_kind = np.empty(0, dtype=str)
            self._e_start = np.zeros(len(self._kcat) + 1, dtype=int)
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

    # -- knockouts ----------------------------------------------------------------------------------------
    def reactions_of_knockout(self, genes: Iterable[str]) -> list[int]:
        """Indices of reactions disabled when all ``genes`` are knocked out (GPR evaluation)."""
        return self.cm.knockout_reactions(genes)

    @contextlib.contextmanager
    def genes_knocked_out(self, genes: Iterable[str]) -> Iterator[tuple[int, ...]]:
        """Knock ``genes`` out (their disabled reactions and enzyme columns fixed at 0), restored on exit; yields
        the columns (:meth:`CompiledModel.knockout_columns`)."""
        cols = self.cm.knockout_columns(genes)
        with self.solver.temporary_col_bounds(cols, np.zeros(len(cols)), np.zeros(len(cols))):
            yield cols

    # -- kcats and pool -----------------------------------------------------------------------------------
    @property
    def kcats(self) -> np.ndarray:
        """Current kcat [1/s] of every pair in ``compiled.pairs``."""
        return self._kcat.copy()

    def set_kcat(self, pair: int, kcat: float) -> None:
        """Change one pair's kcat [1/s] in place (its matrix coefficients, via :func:`kcat_coefficient`)."""
        self.set_kcats([pair], [kcat])

    def set_kcats(self, pairs: Sequence[int], values: Sequence[float]) -> None:
        """Change several kcats [1/s] in place: every matrix entry of those pairs, in one pass (the coefficients
        of :func:`kcat_coefficient`, computed for all entries at once)."""
        pairs = np.asarray(pairs, dtype=int).reshape(-1)
        values = np.asarray(values, dtype=float).reshape(-1)
        if pairs.size != values.size:
            raise KingemsError(f"{pairs.size} pairs but {values.size} kcats")
        bad = ~(np.isfinite(values) & (values > 0))
        if bad.any():
            raise KingemsError(f"kcat must be finite and > 0, got {values[bad][0]}")
        if pairs.size and (pairs.min() < 0 or pairs.max() >= len(self._kcat)):
            raise KingemsError(f"pair index out of range (0..{len(self._kcat) - 1})")
        lo, hi = self._e_start[pairs], self._e_start[pairs + 1]
        n = hi - lo
        # entry indices of every pair's slice, and each entry's kcat
        idx = np.repeat(lo - np.cumsum(n) + n, n) + np.arange(int(n.sum()))
        coef = kcat_coefficient(self._e_kind[idx], np.repeat(values, n))
        self.solver.set_coefs(self._e_row[idx], self._e_col[idx], coef)
        self._kcat[pairs] = values

    @property
    def pool(self) -> float | None:
        """This problem's total enzyme pool [g/gDW] (``None`` without a pool row)."""
        return self._pool

    def set_pool(self, pool: float) -> None:
        """Change the total enzyme pool [g/gDW] of this problem (the compiled model is not touched)."""
        if self.cm.pool_row is None:
            raise KingemsError("this problem has no protein-pool constraint (level L1 or no kcats)")
        self.solver.set_row_bounds(self.cm.pool_row, -np.inf, float(pool))
        self._pool = float(pool)

    def enzyme_usage(self, x: np.ndarray) -> dict[str, float]:
        """E_g [mmol/gDW] per gene from a column vector."""
        return {g: float(x[c]) for g, c in self.cm.enzyme_col.items()}

    # -- snapshots ----------------------------------------------------------------------------------------
    def snapshot(self) -> ProblemState:
        """Everything edited so far: kcats, pool, column and row bounds, objective, changed coefficients.

        Cheap (array copies, no ``getLp()``); picklable, so a start state can be sent to worker processes.
        """
        k = self._kcat.copy()
        k.setflags(write=False)
        return ProblemState(lp=self.solver.state(), kcats=k, pool=self._pool)

    def restore(self, state: ProblemState) -> None:
        """Return to a :meth:`snapshot` (of this problem or of one built from the same compiled model).

        Only the differences are pushed to HiGHS, so the basis is kept and the next solve warm-starts.
        """
        self.solver.set_state(state.lp)
        self._kcat = np.array(state.kcats, dtype=float)
        self._pool = state.pool
