"""One persistent ``highspy.Highs`` per problem, edited in place.

The LP is passed once (sparse, column-wise); every later change (objective, bounds, matrix coefficients,
row bounds) is pushed with HiGHS's ``change*`` calls so the next solve warm-starts from the previous basis.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse as sp

from ..errors import SolverError

INF = highspy.kHighsInf

_STATUS = {
    highspy.HighsModelStatus.kOptimal: "optimal",
    highspy.HighsModelStatus.kInfeasible: "infeasible",
    highspy.HighsModelStatus.kUnbounded: "unbounded",
    highspy.HighsModelStatus.kUnboundedOrInfeasible: "infeasible_or_unbounded",
    highspy.HighsModelStatus.kTimeLimit: "time_limit",
    highspy.HighsModelStatus.kIterationLimit: "iteration_limit",
    highspy.HighsModelStatus.kObjectiveBound: "objective_bound",
    highspy.HighsModelStatus.kObjectiveTarget: "objective_target",
    highspy.HighsModelStatus.kSolutionLimit: "solution_limit",
    highspy.HighsModelStatus.kInterrupt: "interrupted",
    highspy.HighsModelStatus.kMemoryLimit: "memory_limit",
    highspy.HighsModelStatus.kModelEmpty: "empty",
    highspy.HighsModelStatus.kNotset: "not_solved",
    highspy.HighsModelStatus.kLoadError: "error",
    highspy.HighsModelStatus.kModelError: "error",
    highspy.HighsModelStatus.kPresolveError: "error",
    highspy.HighsModelStatus.kSolveError: "error",
    highspy.HighsModelStatus.kPostsolveError: "error",
    highspy.HighsModelStatus.kUnknown: "unknown",
}


def status_name(status: highspy.HighsModelStatus) -> str:
    """Map a HiGHS model status to a short termination name (``optimal``, ``infeasible``, ...)."""
    return _STATUS.get(status, "unknown")


@dataclass
class LinearProblem:
    """A linear program in sparse column form: ``max/min c·x  s.t.  row_lb <= A x <= row_ub, lb <= x <= ub``.

    Plain data (numpy / scipy), cheap to pickle, cache and send to workers.
    """

    A: sp.csc_matrix
    col_lb: np.ndarray
    col_ub: np.ndarray
    row_lb: np.ndarray
    row_ub: np.ndarray
    cost: np.ndarray
    col_names: list[str]
    row_names: list[str]
    maximize: bool = True

    @property
    def n_cols(self) -> int:
        """Number of columns."""
        return self.A.shape[1]

    @property
    def n_rows(self) -> int:
        """Number of rows."""
        return self.A.shape[0]


@dataclass
class SolveResult:
    """Outcome of one solve."""

    status: str
    objective: float
    x: np.ndarray | None

    @property
    def ok(self) -> bool:
        """Whether the solve reached an optimum."""
        return self.status == "optimal"


def _clean(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=float).copy()
    v[v >= 1e30] = INF
    v[v <= -1e30] = -INF
    return v


_BANNER_SHOWN = False


def _new_highs() -> highspy.Highs:
    """A new HiGHS instance. HiGHS writes its banner to the process's stdout (from C++) when the first instance is
    made; that banner is swallowed unless debug logging is on (``kingems-ray -v``), which also turns HiGHS's log on."""
    global _BANNER_SHOWN
    verbose = logging.getLogger(__name__).isEnabledFor(logging.DEBUG)
    if _BANNER_SHOWN or verbose:
        _BANNER_SHOWN = True
        return highspy.Highs()
    _BANNER_SHOWN = True
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            return highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


class PersistentLP:
    """A long-lived HiGHS instance holding one :class:`LinearProblem`.

    Parameters
    ----------
    lp : LinearProblem
    threads : int
        HiGHS threads (1 keeps worker processes from oversubscribing cores).
    presolve : bool
        Presolve is off by default: it defeats warm starts after small edits.
    """

    def __init__(self, lp: LinearProblem, threads: int = 1, presolve: bool = False) -> None:
        self.lp = lp
        h = _new_highs()
        verbose = logging.getLogger(__name__).isEnabledFor(logging.DEBUG)  # -v: HiGHS's own log as well
        h.setOptionValue("output_flag", verbose)
        h.setOptionValue("log_to_console", verbose)
        h.setOptionValue("threads", int(threads))
        h.setOptionValue("presolve", "on" if presolve else "off")
        # Tighter than HiGHS's 1e-7 defaults: long chains of warm-started solves (FVA, annealing) otherwise
        # drift by up to ~1e-5 relative; at 1e-9 FVA matches cobrapy+GLPK within 1e-6.
        h.setOptionValue("primal_feasibility_tolerance", 1e-9)
        h.setOptionValue("dual_feasibility_tolerance", 1e-9)
        hl = highspy.HighsLp()
        A = lp.A.tocsc()
        A.sort_indices()
        hl.num_col_ = A.shape[1]
        hl.num_row_ = A.shape[0]
        hl.col_cost_ = np.asarray(lp.cost, dtype=float)
        hl.col_lower_ = _clean(lp.col_lb)
        hl.col_upper_ = _clean(lp.col_ub)
        hl.row_lower_ = _clean(lp.row_lb)
        hl.row_upper_ = _clean(lp.row_ub)
        hl.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        hl.a_matrix_.start_ = A.indptr.astype(np.int32)
        hl.a_matrix_.index_ = A.indices.astype(np.int32)
        hl.a_matrix_.value_ = A.data.astype(float)
        hl.a_matrix_.num_col_ = A.shape[1]
        hl.a_matrix_.num_row_ = A.shape[0]
        hl.sense_ = highspy.ObjSense.kMaximize if lp.maximize else highspy.ObjSense.kMinimize
        st = h.passModel(hl)
        if st == highspy.HighsStatus.kError:
            raise SolverError("HiGHS rejected the model (passModel returned an error)")
        self.h = h
        self._cost = np.asarray(lp.cost, dtype=float).copy()
        self._maximize = lp.maximize
        self._strategy = None

    # -- solving -------------------------------------------------------------------------------------
    def set_strategy(self, which: str) -> None:
        """Choose the simplex variant: ``"primal"`` suits objective changes, ``"dual"`` suits bound changes."""
        if which == self._strategy:
            return
        self.h.setOptionValue("simplex_strategy", 4 if which == "primal" else 1)
        self._strategy = which

    @contextlib.contextmanager
    def option(self, name: str, value) -> Iterator[None]:
        """Set a HiGHS option for the duration of a ``with`` block; its previous value is restored on exit.

        Options that shape the simplex set-up (e.g. ``simplex_dual_edge_weight_strategy``) take effect from the next
        cold start, so the block should enclose it.
        """
        before = self.h.getOptionValue(name)
        if isinstance(before, tuple):  # some highspy versions return (status, value)
            before = before[1]
        self.h.setOptionValue(name, value)
        try:
            yield
        finally:
            self.h.setOptionValue(name, before)

    def solve(self, need_x: bool = True) -> SolveResult:
        """Run HiGHS from the current basis and return status, objective and (optionally) column values."""
        self.h.run()
        status = status_name(self.h.getModelStatus())
        if status != "optimal":
            if status == "unknown" or status == "error" or status == "infeasible_or_unbounded":
                # Without presolve HiGHS can stop undecided after many edits; a cold retry settles it.
                self.h.clearSolver()
                self.h.run()
                status = status_name(self.h.getModelStatus())
            if status != "optimal":
                return SolveResult(status, float("nan"), None)
        obj = self.h.getInfo().objective_function_value
        x = np.asarray(self.h.getSolution().col_value) if need_x else None
        return SolveResult(status, float(obj), x)

    # -- edits (all in place) ------------------------------------------------------------------------
    def set_objective(self, cols: Sequence[int], coefs: Sequence[float], maximize: bool | None = None) -> None:
        """Replace the objective by ``sum(coefs[i] * x[cols[i]])`` (all other costs zero)."""
        new = np.zeros_like(self._cost)
        new[np.asarray(cols, dtype=int)] = np.asarray(coefs, dtype=float)
        changed = np.nonzero(new != self._cost)[0]
        if changed.size:
            self.h.changeColsCost(changed.size, changed.astype(np.int32), new[changed])
            self._cost = new
        if maximize is not None and maximize != self._maximize:
            self.h.changeObjectiveSense(highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize)
            self._maximize = maximize

    def set_sense(self, maximize: bool) -> None:
        """Set maximisation (True) or minimisation (False)."""
        if maximize != self._maximize:
            self.h.changeObjectiveSense(highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize)
            self._maximize = maximize

    def set_col_bounds(self, cols: Sequence[int], lb: Sequence[float], ub: Sequence[float]) -> None:
        """Change column bounds."""
        cols = np.asarray(cols, dtype=np.int32)
        if cols.size == 0:
            return
        self.h.changeColsBounds(cols.size, cols, _clean(np.asarray(lb)), _clean(np.asarray(ub)))

    def col_bounds(self, cols: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Current bounds of the given columns."""
        lp = self.h.getLp()
        cols = np.asarray(cols, dtype=int)
        return np.asarray(lp.col_lower_)[cols], np.asarray(lp.col_upper_)[cols]

    def set_row_bounds(self, row: int, lb: float, ub: float) -> None:
        """Change one row's bounds."""
        self.h.changeRowBounds(int(row), float(_clean(np.array([lb]))[0]), float(_clean(np.array([ub]))[0]))

    def set_coef(self, row: int, col: int, value: float) -> None:
        """Change one matrix coefficient."""
        self.h.changeCoeff(int(row), int(col), float(value))

    @contextlib.contextmanager
    def temporary_col_bounds(self, cols: Sequence[int], lb: Sequence[float], ub: Sequence[float]) -> Iterator[None]:
        """Change bounds for the duration of a ``with`` block, then restore them."""
        cols = np.asarray(cols, dtype=int)
        old_lb, old_ub = self.col_bounds(cols)
        self.set_col_bounds(cols, lb, ub)
        try:
            yield
        finally:
            self.set_col_bounds(cols, old_lb, old_ub)


def default_threads() -> int:
    """HiGHS threads per solver: 1 unless ``KINGEMS_HIGHS_THREADS`` says otherwise."""
    return int(os.environ.get("KINGEMS_HIGHS_THREADS", "1"))
