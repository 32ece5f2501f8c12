"""One persistent ``highspy.Highs`` per problem, edited in place.

The LP is passed once (sparse, column-wise); every later change (objective, bounds, matrix coefficients,
row bounds) is pushed with HiGHS's ``change*`` calls so the next solve warm-starts from the previous basis.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import uuid
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


#: Statuses after which a solve is retried from scratch (HiGHS stopped without deciding the LP).
_UNDECIDED = ("unknown", "error", "infeasible_or_unbounded")

#: ``presolve_rule_off`` bit of HiGHS's presolve aggregator (bit 12 in HiGHS 1.16, as its log names it when set:
#: "Rule 12 (set bit 12 = 4096): Aggregator"). Switching a presolve rule off never changes an optimum, only speed.
PRESOLVE_RULE_AGGREGATOR = 1 << 12


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
    """A long-lived HiGHS instance holding one :class:`LinearProblem`, edited only through its methods.

    The ``highspy.Highs`` handle is private: every edit goes through this class, which keeps its own view of the
    current costs, sense and bounds, so that view never goes stale (cost changes are computed against it, bounds
    are read from it without a ``getLp()`` copy, and :meth:`state` / :meth:`set_state` can snapshot and replay it).

    Parameters
    ----------
    lp : LinearProblem
        The problem as passed (kept as ``self.lp``; rows added later with :meth:`add_row` are not in it).
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
        self._h = h
        self._A = A
        self._cost = np.asarray(lp.cost, dtype=float).copy()
        self._maximize = lp.maximize
        self._strategy = None
        # The wrapper's view of what HiGHS holds (HiGHS stores the cleaned values as given).
        self._col_lb = _clean(lp.col_lb)
        self._col_ub = _clean(lp.col_ub)
        self._row_lb = _clean(lp.row_lb)
        self._row_ub = _clean(lp.row_ub)
        self._n_base_rows = A.shape[0]
        self._coefs: dict[tuple[int, int], float] = {}  # changed matrix entries: (row, col) -> value
        self._coef_base: dict[tuple[int, int], float] = {}  # their values in the passed matrix
        self._uid = uuid.uuid4().hex  # unique per instance, across processes too (unlike id())
        self._coef_version = 0  # bumped on every coefficient change: restoring an unchanged matrix costs nothing

    # -- sizes and views -----------------------------------------------------------------------------
    @property
    def n_cols(self) -> int:
        """Number of columns."""
        return int(self._col_lb.size)

    @property
    def n_rows(self) -> int:
        """Number of rows, including rows added with :meth:`add_row`."""
        return int(self._row_lb.size)

    @property
    def costs(self) -> np.ndarray:
        """The current cost vector (a copy)."""
        return self._cost.copy()

    @property
    def maximize(self) -> bool:
        """Current objective sense."""
        return self._maximize

    # -- options -------------------------------------------------------------------------------------
    def set_strategy(self, which: str) -> None:
        """Choose the simplex variant: ``"primal"`` suits objective changes, ``"dual"`` suits bound changes."""
        if which == self._strategy:
            return
        self._h.setOptionValue("simplex_strategy", 4 if which == "primal" else 1)
        self._strategy = which

    def option_value(self, name: str):
        """The current value of a HiGHS option."""
        v = self._h.getOptionValue(name)
        if isinstance(v, tuple):  # some highspy versions return (status, value)
            v = v[1]
        return v

    def set_option(self, name: str, value) -> None:
        """Set a HiGHS option for the rest of this problem's life (use :meth:`option` for a temporary change)."""
        self._h.setOptionValue(name, value)

    def set_integer(self, cols: Sequence[int]) -> None:
        """Make ``cols`` integer: the problem becomes a MILP, which :meth:`solve` hands to HiGHS's MIP solver."""
        idx = np.asarray(cols, dtype=np.int32)
        self._h.changeColsIntegrality(len(idx), idx, np.array([highspy.HighsVarType.kInteger] * len(idx)))

    @contextlib.contextmanager
    def option(self, name: str, value) -> Iterator[None]:
        """Set a HiGHS option for the duration of a ``with`` block; its previous value is restored on exit.

        Options that shape the simplex set-up (e.g. ``simplex_dual_edge_weight_strategy``) take effect from the next
        cold start, so the block should enclose it.
        """
        before = self.option_value(name)
        self._h.setOptionValue(name, value)
        try:
            yield
        finally:
            self._h.setOptionValue(name, before)

    # -- solving -------------------------------------------------------------------------------------
    def solve(self, need_x: bool = True) -> SolveResult:
        """Run HiGHS from the current basis and return status, objective and (optionally) column values."""
        self._h.run()
        status = status_name(self._h.getModelStatus())
        if status != "optimal":
            if status in _UNDECIDED:
                # Without presolve HiGHS can stop undecided after many edits; a cold retry settles it.
                self._h.clearSolver()
                self._h.run()
                status = status_name(self._h.getModelStatus())
            if status in _UNDECIDED and self.option_value("simplex_dual_edge_weight_strategy") != -1:
                # Devex pricing (set for warm re-solves) left a cold solve with presolve undecided ("unknown") on
                # a 20-taxon AGORA community (cohort sample S157) that HiGHS's default pricing solves in 2-3 s
                self._h.clearSolver()
                with self.option("simplex_dual_edge_weight_strategy", -1):
                    self._h.run()
                status = status_name(self._h.getModelStatus())
            if status != "optimal":
                return SolveResult(status, float("nan"), None)
        obj = self._h.getInfo().objective_function_value
        x = np.asarray(self._h.getSolution().col_value) if need_x else None
        return SolveResult(status, float(obj), x)

    def cold_start(self) -> None:
        """Forget the basis and factorisation: the next solve starts from scratch (same vertex whoever runs it)."""
        self._h.clearSolver()

    def basis(self) -> object:
        """The current basis, an opaque value for :meth:`set_basis`."""
        return self._h.getBasis()

    def set_basis(self, basis: object) -> None:
        """Start the next solve from a basis returned by :meth:`basis`."""
        self._h.setBasis(basis)

    # -- edits (all in place) ------------------------------------------------------------------------
    def set_objective(self, cols: Sequence[int], coefs: Sequence[float], maximize: bool | None = None) -> None:
        """Replace the objective by ``sum(coefs[i] * x[cols[i]])`` (all other costs zero); only changed costs
        are pushed to HiGHS."""
        new = np.zeros_like(self._cost)
        new[np.asarray(cols, dtype=int)] = np.asarray(coefs, dtype=float)
        changed = np.nonzero(new != self._cost)[0]
        if changed.size:
            self._h.changeColsCost(changed.size, changed.astype(np.int32), new[changed])
            self._cost = new
        if maximize is not None:
            self.set_sense(maximize)

    def set_costs(self, cost: Sequence[float], maximize: bool | None = None) -> None:
        """Replace the whole cost vector; every entry is pushed to HiGHS (see :meth:`set_objective` for sparse)."""
        new = np.asarray(cost, dtype=float).copy()
        if new.shape != self._cost.shape:
            raise SolverError(f"cost vector has {new.size} entries, the LP {self._cost.size} columns")
        self._h.changeColsCost(new.size, np.arange(new.size, dtype=np.int32), new)
        self._cost = new
        if maximize is not None:
            self.set_sense(maximize)

    def set_sense(self, maximize: bool) -> None:
        """Set maximisation (True) or minimisation (False)."""
        if maximize != self._maximize:
            self._h.changeObjectiveSense(highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize)
            self._maximize = maximize

    def set_col_bounds(self, cols: Sequence[int], lb: Sequence[float], ub: Sequence[float]) -> None:
        """Change column bounds."""
        cols = np.asarray(cols, dtype=np.int32)
        if cols.size == 0:
            return
        lo, hi = _clean(np.asarray(lb)), _clean(np.asarray(ub))
        self._h.changeColsBounds(cols.size, cols, lo, hi)
        self._col_lb[cols] = lo
        self._col_ub[cols] = hi

    def col_bounds(self, cols: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Current bounds of the given columns (all columns when ``None``), as copies."""
        if cols is None:
            return self._col_lb.copy(), self._col_ub.copy()
        cols = np.asarray(cols, dtype=int)
        return self._col_lb[cols], self._col_ub[cols]

    def set_row_bounds(self, row: int, lb: float, ub: float) -> None:
        """Change one row's bounds."""
        lo, hi = float(_clean(np.array([lb]))[0]), float(_clean(np.array([ub]))[0])
        self._h.changeRowBounds(int(row), lo, hi)
        self._row_lb[int(row)] = lo
        self._row_ub[int(row)] = hi

    def row_bounds(self, rows: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Current bounds of the given rows (all rows when ``None``), as copies."""
        if rows is None:
            return self._row_lb.copy(), self._row_ub.copy()
        rows = np.asarray(rows, dtype=int)
        return self._row_lb[rows], self._row_ub[rows]

    def add_row(self, lb: float, ub: float, cols: Sequence[int], vals: Sequence[float]) -> int:
        """Append a row ``lb <= sum(vals[i] * x[cols[i]]) <= ub``; returns its index."""
        cols = np.asarray(cols, dtype=np.int32)
        lo, hi = float(_clean(np.array([lb]))[0]), float(_clean(np.array([ub]))[0])
        self._h.addRow(lo, hi, cols.size, cols, np.asarray(vals, dtype=float))
        self._row_lb = np.append(self._row_lb, lo)
        self._row_ub = np.append(self._row_ub, hi)
        return self.n_rows - 1

    def add_cols(self, cost: Sequence[float], lb: Sequence[float], ub: Sequence[float]) -> np.ndarray:
        """Append columns without matrix entries (rows added later can use them); returns their indices."""
        cost = np.asarray(cost, dtype=float)
        k = cost.size
        lo, hi = _clean(np.asarray(lb, dtype=float)), _clean(np.asarray(ub, dtype=float))
        self._h.addCols(k, cost, lo, hi, 0, np.zeros(k, dtype=np.int32), np.zeros(0, dtype=np.int32),
                        np.zeros(0, dtype=float))
        first = self.n_cols
        self._cost = np.concatenate([self._cost, cost])
        self._col_lb = np.concatenate([self._col_lb, lo])
        self._col_ub = np.concatenate([self._col_ub, hi])
        return np.arange(first, first + k)

    def add_rows(self, lb: Sequence[float], ub: Sequence[float], rows: sp.spmatrix) -> np.ndarray:
        """Append the rows of a sparse matrix ``rows`` (``k x n_cols``) with bounds; returns their indices."""
        R = sp.csr_matrix(rows)
        R.sort_indices()
        if R.shape[1] != self.n_cols:
            raise SolverError(f"rows have {R.shape[1]} columns, the LP {self.n_cols}")
        lo, hi = _clean(np.asarray(lb, dtype=float)), _clean(np.asarray(ub, dtype=float))
        k = R.shape[0]
        self._h.addRows(k, lo, hi, R.nnz, R.indptr[:-1].astype(np.int32), R.indices.astype(np.int32),
                        R.data.astype(float))
        first = self.n_rows
        self._row_lb = np.concatenate([self._row_lb, lo])
        self._row_ub = np.concatenate([self._row_ub, hi])
        return np.arange(first, first + k)

    def truncate(self, n_cols: int, n_rows: int, basis: object | None = None) -> None:
        """Delete every column from ``n_cols`` on and every row from ``n_rows`` on (what :meth:`add_cols` /
        :meth:`add_rows` / :meth:`add_row` appended since those sizes were read), then optionally restore a basis
        taken at those sizes with :meth:`basis` (deleting basic columns otherwise leaves no usable basis)."""
        if n_cols < self._n_base_cols_min() or n_rows < self._n_base_rows:
            raise SolverError("truncate would delete columns or rows of the passed LP")
        if self.n_rows > n_rows:
            idx = np.arange(n_rows, self.n_rows, dtype=np.int32)
            self._h.deleteRows(idx.size, idx)
            self._row_lb, self._row_ub = self._row_lb[:n_rows].copy(), self._row_ub[:n_rows].copy()
        if self.n_cols > n_cols:
            idx = np.arange(n_cols, self.n_cols, dtype=np.int32)
            self._h.deleteCols(idx.size, idx)
            self._col_lb, self._col_ub = self._col_lb[:n_cols].copy(), self._col_ub[:n_cols].copy()
            self._cost = self._cost[:n_cols].copy()
        if basis is not None:
            self._h.setBasis(basis)

    def _n_base_cols_min(self) -> int:
        return int(self._A.shape[1])

    def solve_cold(self, need_x: bool = True) -> SolveResult:
        """Solve from scratch with HiGHS's presolve (whatever the ``presolve`` option): the fastest way to a far
        optimum of a large LP, where a warm start would walk many simplex steps."""
        self._h.clearSolver()
        with self.option("presolve", "on"):
            return PersistentLP.solve(self, need_x)

    def solve_capped(self, max_iterations: int, need_x: bool = True,
                     retry_on: Sequence[str] = ("iteration_limit",),
                     max_seconds: float | None = None) -> SolveResult:
        """A warm solve stopped after ``max_iterations`` simplex iterations and then redone from scratch with
        presolve (:meth:`solve_cold`): a warm start that walks that far is stuck (extreme coefficients, e.g. a
        sampled kcat far in a tail), and a cold solve is seconds where the stalled one ran for minutes.

        ``retry_on``: the warm statuses that send the solve cold (also e.g. ``unknown`` where a caller must not
        take an undecided warm solve for an answer). The warm solve is this class's :meth:`solve`, whatever a
        caller installed on the instance (``cohort.use_presolve_fallback`` builds its policy on this method).
        ``max_seconds``: also stop the warm solve after this many seconds of wall time (status ``time_limit``,
        which then has to be in ``retry_on``), e.g. the measured cost of a cold solve of the same LP."""
        with contextlib.ExitStack() as stack:
            stack.enter_context(self.option("simplex_iteration_limit", int(max_iterations)))
            if max_seconds is not None:
                # HiGHS compares time_limit with the run time accumulated over this instance's life
                stack.enter_context(self.option("time_limit", self._h.getRunTime() + float(max_seconds)))
            res = PersistentLP.solve(self, need_x=need_x)
        if res.status in retry_on:
            logging.getLogger(__name__).info("warm solve ended %s (limit %d iterations, %s s): solving from scratch",
                                             res.status, int(max_iterations), max_seconds)
            res = self.solve_cold(need_x=need_x)
        return res

    def set_coef(self, row: int, col: int, value: float) -> None:
        """Change one matrix coefficient."""
        key = (int(row), int(col))
        if key not in self._coef_base:
            self._coef_base[key] = float(self._A[key]) if key[0] < self._n_base_rows else 0.0
        self._h.changeCoeff(key[0], key[1], float(value))
        self._coefs[key] = float(value)
        self._coef_version += 1

    def set_coefs(self, rows: Sequence[int], cols: Sequence[int], values: Sequence[float]) -> None:
        """Change many matrix coefficients (the same as :meth:`set_coef` per entry, with less Python per entry:
        a kcat sample rewrites thousands of them)."""
        base, coefs, ch = self._coef_base, self._coefs, self._h.changeCoeff
        for r, c, v in zip(np.asarray(rows, dtype=int).tolist(), np.asarray(cols, dtype=int).tolist(),
                           np.asarray(values, dtype=float).tolist()):
            key = (r, c)
            if key not in base:
                base[key] = float(self._A[key]) if r < self._n_base_rows else 0.0
            ch(r, c, v)
            coefs[key] = v
        self._coef_version += 1

    def col_entries(self, col: int) -> tuple[np.ndarray, np.ndarray]:
        """Row indices and values of one column of the current matrix."""
        _, idx, val = self._h.getColEntries(int(col))
        return np.asarray(idx, dtype=int), np.asarray(val, dtype=float)

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

    # -- state ---------------------------------------------------------------------------------------
    def state(self) -> LPState:
        """Everything edited since construction (bounds, costs, sense, changed coefficients), frozen."""
        return LPState(
            col_lb=_frozen(self._col_lb), col_ub=_frozen(self._col_ub), row_lb=_frozen(self._row_lb),
            row_ub=_frozen(self._row_ub), cost=_frozen(self._cost), maximize=self._maximize,
            coefs=tuple(sorted(self._coefs.items())), origin=(self._uid, self._coef_version),
        )

    def set_state(self, state: LPState) -> None:
        """Bring the LP back to ``state`` (from :meth:`state` of this LP or of one built from the same data).

        Only what differs is pushed to HiGHS (bounds of changed columns/rows, changed costs and coefficients), so
        the basis is kept and the next solve warm-starts.

        Raises
        ------
        SolverError
            When the state has another shape (e.g. rows were added since).
        """
        if state.col_lb.size != self.n_cols or state.row_lb.size != self.n_rows:
            raise SolverError("state belongs to an LP of another shape")
        if state.origin != (self._uid, self._coef_version):
            self._set_coefs(dict(state.coefs))
        cols = np.nonzero((self._col_lb != state.col_lb) | (self._col_ub != state.col_ub))[0]
        self.set_col_bounds(cols, state.col_lb[cols], state.col_ub[cols])
        for r in np.nonzero((self._row_lb != state.row_lb) | (self._row_ub != state.row_ub))[0]:
            self.set_row_bounds(int(r), state.row_lb[r], state.row_ub[r])
        changed = np.nonzero(self._cost != state.cost)[0]
        if changed.size:
            self._h.changeColsCost(changed.size, changed.astype(np.int32), np.asarray(state.cost[changed]))
            self._cost = np.array(state.cost, dtype=float)
        self.set_sense(state.maximize)

    def _set_coefs(self, want: dict[tuple[int, int], float]) -> None:
        """Make the changed coefficients exactly ``want`` (others back to the passed matrix)."""
        for key in sorted(set(self._coefs) - set(want)):
            self._h.changeCoeff(key[0], key[1], self._coef_base[key])
            del self._coefs[key]
        todo = sorted((k, v) for k, v in want.items() if self._coefs.get(k) != v)
        if todo:
            self.set_coefs([k[0] for k, _ in todo], [k[1] for k, _ in todo], [v for _, v in todo])
        self._coef_version += 1


@dataclass(frozen=True, eq=False)
class LPState:
    """A snapshot of a :class:`PersistentLP`'s editable data (read-only arrays; see :meth:`PersistentLP.state`)."""

    col_lb: np.ndarray
    col_ub: np.ndarray
    row_lb: np.ndarray
    row_ub: np.ndarray
    cost: np.ndarray
    maximize: bool
    coefs: tuple[tuple[tuple[int, int], float], ...]
    #: (the LP's serial number, its coefficient version) when taken: lets that LP skip comparing coefficients
    origin: tuple[str, int] = ("", -1)


def _frozen(v: np.ndarray) -> np.ndarray:
    out = np.array(v, dtype=float, copy=True)
    out.setflags(write=False)
    return out


def default_threads() -> int:
    """HiGHS threads per solver: 1 unless ``KINGEMS_HIGHS_THREADS`` says otherwise."""
    return int(os.environ.get("KINGEMS_HIGHS_THREADS", "1"))
