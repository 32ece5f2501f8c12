"""Joint LPs of several compiled models through a shared environment ("lumen" / "medium").

Each member keeps its own columns and rows (metabolites, and for enzyme-constrained members their enzyme rows
and own protein pool); its exchange reactions become transports between its external metabolite and one shared
environment row per metabolite; one environment exchange column per metabolite carries the diet bounds.

Two flavours share this code:

* **AGORA pairwise** (COBRA Toolbox ``createMultipleSpeciesModel`` + ``coupleRxnList2Rxn``): member exchange
  columns open at (-1000, 1000), environment row ``sum_i v_i,secretion - EX_env = 0`` (unit weights), and
  every reaction coupled to its member's biomass, ``|v_r| <= c * v_biomass + u`` (c = 400, u = 0.01).
* **MICOM** (``Community.__add_exchanges``): environment row ``sum_i a_i v_i,secretion - EX_env = 0`` with
  abundances ``a_i``, member imports limited to ``max_exchange`` (100), no coupling.

The matrix is assembled from the members' sparse blocks (``CompiledModel.lp.A``): block diagonal plus the
environment rows and columns, with no model re-parsed.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ..analysis.reduction import reduce_columns
from ..solver.highs import LinearProblem
from .diets import Diet, canonical_key, lumen_bounds
from .models import Member

COUPLING_C = 400.0
COUPLING_U = 0.01


@dataclass
class Block:
    """One member prepared for joining: its matrix with coupling rows and its environment entries.

    Attributes
    ----------
    member : Member
    A : csc_matrix
        Member rows (metabolites, enzyme rows, coupling rows) x member columns.
    col_lb, col_ub, row_lb, row_ub : ndarray
    env_cols : ndarray of int
        Member column of each exchange (``member.ex_rxn`` order).
    env_keys : list of str
        Canonical metabolite key of each exchange.
    env_coef : ndarray
        Coefficient of each exchange column in its environment row (secretion positive), before abundance.
    biomass_cols : list of int
        Columns whose sum (with ``biomass_coefs``) is the member's growth.
    """

    member: Member
    A: sp.csc_matrix
    col_lb: np.ndarray
    col_ub: np.ndarray
    row_lb: np.ndarray
    row_ub: np.ndarray
    env_cols: np.ndarray
    env_keys: list[str]
    env_coef: np.ndarray
    biomass_cols: list[int]
    biomass_coefs: list[float]
    n_coupling: int = 0
    #: Per column of the member's compiled LP, its column in ``A`` (-1: projected out); ``None`` when unreduced.
    col_index: np.ndarray | None = None
    #: Rows held out of ``A`` (the protein pool of a reduced ecGEM block): ``(cols, vals, lb, ub)`` in block columns,
    #: added to a joint LP only when a solution violates them (:meth:`JointLP.violated_rows`).
    lazy_rows: list = field(default_factory=list)
    #: How the reduced pool row follows from the unreduced block's matrix values (kcat samples recompute it);
    #: ``None`` when no enzyme column was projected out.
    pool: ReducedPool | None = None
    #: Row of ``A`` holding the reduced pool row (``None``: held out in :attr:`lazy_rows`, or not reduced).
    pool_row: int | None = None
    #: Columns of the member's compiled LP dropped because they are zero at every feasible point
    #: (:func:`drop_structural_zeros`); ``None`` when none were dropped.
    zero_cols: np.ndarray | None = None
    #: Per column of ``A``, its weight in an L1 norm of the original reactions' fluxes (``sum |ratio|`` of the
    #: columns merged into it, :func:`merge_coupled_columns`); ``None``: all 1.
    l1_weight: np.ndarray | None = None

    def local_cols(self, cols, skip_zero: bool = False) -> np.ndarray:
        """Columns of ``A`` for columns of the member's compiled LP (every one must be kept).

        ``skip_zero``: leave out columns dropped as structurally zero (:func:`drop_structural_zeros`), e.g. when
        blocking columns, which those already are; any other projected-out column still raises. A column merged
        into a pathway (:func:`merge_coupled_columns`) maps to the pathway's column.
        """
        cols = np.asarray(cols, dtype=int)
        if self.col_index is None:
            return cols
        if skip_zero and self.zero_cols is not None:
            cols = cols[~np.isin(cols, self.zero_cols)]
        out = self.col_index[cols]
        if (out < 0).any():
            raise ValueError("column projected out of a reduced block")
        return out

    @property
    def n_cols(self) -> int:
        """Number of member columns."""
        return self.A.shape[1]

    @property
    def n_rows(self) -> int:
        """Number of member rows."""
        return self.A.shape[0]


def make_block(
    member: Member,
    coupling: float | None = COUPLING_C,
    coupling_u: float = COUPLING_U,
    exchange_bounds: tuple[float, float] | None = (-1000.0, 1000.0),
    max_import: float | None = None,
    reduce_enzymes: bool = False,
    lazy_pool: bool = False,
) -> Block:
    """Prepare a member for a joint LP.

    Parameters
    ----------
    member : Member
    coupling : float or None
        Coupling factor ``c`` (``None``: no coupling rows).
    coupling_u : float
        Threshold ``u`` of ``|v_r| <= c v_bio + u``.
    exchange_bounds : (lb, ub) or None
        Bounds of the member's exchange (now transport) columns, in secretion direction; ``None`` keeps the model's.
    max_import : float, optional
        MICOM's ``max_exchange``: member imports limited to this (model upper bounds kept).
    reduce_enzymes : bool
        For an ecGEM member, project its enzyme and isoenzyme-clause columns out (:func:`_reduce_enzymes`): the
        same feasible fluxes and growth, a smaller LP that HiGHS solves ~10x faster. kcats then enter only the
        pool row (:attr:`Block.pool` recomputes it for sampled kcats, :mod:`kingems_ray.community.sampled`). Off
        where enzyme levels are read.
    lazy_pool : bool
        With ``reduce_enzymes``, hold the pool row out of ``A`` (:attr:`Block.lazy_rows`): a solver adds it only when
        an optimum violates it (a relaxation's optimum that satisfies it is optimal with it).
    """
    cm = member.compiled
    lp = cm.lp
    A = lp.A.tocsc()
    col_lb = np.asarray(lp.col_lb, float).copy()
    col_ub = np.asarray(lp.col_ub, float).copy()
    env_cols = cm.fwd_col[member.ex_rxn].astype(int)
    # secretion coefficient: exchange "met <=>" (sign -1) secretes with positive flux
    env_coef = -member.ex_sign.astype(float)
    for c, s in zip(env_cols, member.ex_sign):
        lo, hi = col_lb[c], col_ub[c]
        # bounds in secretion direction
        sec_lo, sec_hi = (lo, hi) if s < 0 else (-hi, -lo)
        if exchange_bounds is not None:
            sec_lo, sec_hi = exchange_bounds
        if max_import is not None:
            sec_lo = -float(max_import)
        col_lb[c], col_ub[c] = (sec_lo, sec_hi) if s < 0 else (-sec_hi, -sec_lo)
    b = member.biomass
    bcols = [int(cm.fwd_col[b])]
    bcoefs = [1.0]
    if cm.rev_col[b] >= 0:
        bcols.append(int(cm.rev_col[b]))
        bcoefs.append(-1.0)
    # growth is never negative
    col_lb[bcols[0]] = max(col_lb[bcols[0]], 0.0)
    if len(bcols) > 1:
        col_lb[bcols[1]] = 0.0
        col_ub[bcols[1]] = 0.0
    row_lb = np.asarray(lp.row_lb, float).copy()
    row_ub = np.asarray(lp.row_ub, float).copy()
    n_coupling = 0
    if coupling is not None:
        rows_r, rows_c, rows_v, lo_l, hi_l = [], [], [], [], []
        r = 0
        bio_fwd = bcols[0]
        for j in range(len(cm.rxn_ids)):
            if j == b:
                continue
            for col in (int(cm.fwd_col[j]), int(cm.rev_col[j])):
                if col < 0:
                    continue
                # v - c*bio <= u  (needed when v can be positive)
                if col_ub[col] > 0:
                    rows_r += [r, r]
                    rows_c += [col, bio_fwd]
                    rows_v += [1.0, -coupling]
                    lo_l.append(-np.inf)
                    hi_l.append(coupling_u)
                    r += 1
                # v + c*bio >= -u (needed when v can be negative)
                if col_lb[col] < 0:
                    rows_r += [r, r]
                    rows_c += [col, bio_fwd]
                    rows_v += [1.0, coupling]
                    lo_l.append(-coupling_u)
                    hi_l.append(np.inf)
                    r += 1
        n_coupling = r
        C = sp.csc_matrix((rows_v, (rows_r, rows_c)), shape=(r, A.shape[1]))
        A = sp.vstack([A, C], format="csc")
        row_lb = np.concatenate([row_lb, lo_l])
        row_ub = np.concatenate([row_ub, hi_l])
    col_index = None
    lazy: list = []
    pool = None
    pool_row = None
    if reduce_enzymes and cm.pool_row is not None and cm.enzyme_col:
        A, col_lb, col_ub, row_lb, row_ub, col_index, prow, pool = _reduce_enzymes(
            A, col_lb, col_ub, row_lb, row_ub, int(cm.pool_row), np.fromiter(cm.enzyme_col.values(), dtype=int))
        env_cols = col_index[env_cols]
        bcols = [int(col_index[c]) for c in bcols]
        if (env_cols < 0).any() or min(bcols) < 0:
            raise ValueError("exchange or biomass column projected out")  # cannot happen: never enzyme columns
        # a pool row left with an enzyme column cannot be held out (that column would be unconstrained)
        pool_cols = sp.csr_matrix(A)[prow].indices
        if lazy_pool and col_index is not None and not np.isin(col_index[list(cm.enzyme_col.values())],
                                                               pool_cols).any():
            R = sp.csr_matrix(A)[prow]
            lazy.append((R.indices.astype(int).copy(), R.data.astype(float).copy(), float(row_lb[prow]),
                         float(row_ub[prow])))
            keep = np.arange(A.shape[0]) != prow
            A = sp.csr_matrix(A)[keep].tocsc()
            row_lb, row_ub = row_lb[keep], row_ub[keep]
        elif pool is not None:
            pool_row = prow
    return Block(
        member=member,
        A=A,
        col_lb=col_lb,
        col_ub=col_ub,
        row_lb=row_lb,
        row_ub=row_ub,
        env_cols=env_cols,
        env_keys=[canonical_key(k) for k in member.ex_key],
        env_coef=env_coef,
        biomass_cols=bcols,
        biomass_coefs=bcoefs,
        n_coupling=n_coupling,
        col_index=col_index,
        lazy_rows=lazy,
        pool=pool,
        pool_row=pool_row,
    )


def drop_structural_zeros(block: Block) -> Block:
    """The block without the columns that are zero at every feasible point of any LP it enters, and without the
    rows left empty.

    A column is structurally zero when the block's own equality rows and bounds force it to 0 (dead ends, by sign
    alone: :func:`~kingems_ray.analysis.reduction.reduce_columns`). A community LP only adds rows outside the block
    (environment, diet, cuts) and perturbations only tighten the block's bounds (a taxon removed, a gene knocked
    out), so such a column stays 0 in every LP built from the block and its removal changes no optimum. Exchange
    and biomass columns are always kept. Where the pair code fixes these columns (``fix_structural_zeros``), a
    community of tens of taxa gains from removing them: every warm simplex iteration works on the whole LP, where a
    cold solve's presolve would have removed them. About a third of an AGORA block's columns.

    Only plain blocks are reduced (no kcat entries, no enzyme projection): kcat sampling maps compiled rows and
    columns into the block.
    """
    if not _reducible(block):
        return block
    red = reduce_columns(block.A, block.row_lb, block.row_ub, block.col_lb, block.col_ub,
                         np.zeros(block.n_cols, dtype=bool))
    zero = red.zero.copy()
    zero[block.env_cols] = False
    zero[list(block.biomass_cols)] = False
    if not zero.any():
        return block
    keep_c = np.flatnonzero(~zero)
    A = block.A[:, keep_c]
    keep_r = _nonempty_rows(A, block.row_lb, block.row_ub)
    new = np.full(block.n_cols, -1)
    new[keep_c] = np.arange(keep_c.size)
    ci = block.col_index if block.col_index is not None else np.arange(block.n_cols)
    dropped = np.flatnonzero((ci >= 0) & zero[np.maximum(ci, 0)])  # compiled columns now known to be zero
    if block.zero_cols is not None:
        dropped = np.union1d(dropped, block.zero_cols)
    return dataclasses.replace(
        block, A=sp.csc_matrix(A[keep_r]), col_lb=block.col_lb[keep_c], col_ub=block.col_ub[keep_c],
        row_lb=block.row_lb[keep_r], row_ub=block.row_ub[keep_r], env_cols=new[block.env_cols],
        biomass_cols=[int(new[c]) for c in block.biomass_cols], col_index=_composed_index(block, new),
        zero_cols=dropped, l1_weight=None if block.l1_weight is None else block.l1_weight[keep_c])


def _nonempty_rows(A: sp.spmatrix, row_lb: np.ndarray, row_ub: np.ndarray) -> np.ndarray:
    """Rows to keep after columns were removed or merged: a row without columns has activity 0, redundant where its
    bounds allow 0 (kept otherwise, so that the solver reports the infeasibility)."""
    used = np.diff(sp.csr_matrix(A).indptr) > 0
    return np.flatnonzero(used | (row_lb > 0) | (row_ub < 0))


def _composed_index(block: Block, new_col: np.ndarray) -> np.ndarray:
    """:attr:`Block.col_index` after a reduction that sends block column ``j`` to ``new_col[j]`` (-1: gone)."""
    ci = block.col_index if block.col_index is not None else np.arange(block.n_cols)
    return np.where(ci >= 0, new_col[np.maximum(ci, 0)], -1)


def _reducible(block: Block) -> bool:
    """Plain blocks only: an ecGEM's kcat entries, enzyme projection and pool rows map compiled rows and columns
    into the block."""
    cm = block.member.compiled
    return (block.pool is None and not block.lazy_rows and not block.n_coupling and cm.pairs is None
            and cm.pool_row is None)


#: Columns are merged into their pathway's column only where ``1/MERGE_MAX_RATIO <= |ratio| <= MERGE_MAX_RATIO``.
MERGE_MAX_RATIO = 1.0 + 1e-12


def merge_coupled_columns(block: Block) -> Block:
    """The block with each group of coupled columns (linear pathways: an equality row ``a x_p + b x_q = 0`` makes
    ``x_q = -(a/b) x_p``) replaced by one column, and the rows this leaves empty dropped.

    Substituting ``x_c = r_c x_root`` into every row and intersecting the group's bounds on ``x_root`` describes the
    same feasible set (rows that coupled the group become identically 0), so every optimum in the kept columns is
    unchanged; exchange and biomass columns are never merged. Merged columns map to their root in
    :attr:`Block.col_index` (a knocked-out reaction fixes its whole pathway, as ``x_c = 0`` forces ``x_root = 0``),
    and :attr:`Block.l1_weight` gives ``sum |r_c|`` per kept column, so that an L1 norm of fluxes (pFBA) over the
    merged LP equals the one over the original reactions. Applied after :func:`drop_structural_zeros`.
    """
    if not _reducible(block):
        return block
    n = block.n_cols
    couplable = np.ones(n, dtype=bool)
    couplable[block.env_cols] = False
    couplable[list(block.biomass_cols)] = False
    red = reduce_columns(block.A, block.row_lb, block.row_ub, block.col_lb, block.col_ub, couplable)
    # zero columns (only kept ones remain) are never merged, nor columns far off scale from their root: ratios
    # beyond 100 gave bounds near 1e-5 and HiGHS lost its way (a 3-taxon trade-off at fraction 1 ran for minutes)
    alone = red.zero | (np.abs(red.ratio) > MERGE_MAX_RATIO) | (np.abs(red.ratio) < 1.0 / MERGE_MAX_RATIO)
    red.root[alone] = np.flatnonzero(alone)
    red.ratio[alone] = 1.0
    roots = np.unique(red.root)
    if roots.size == n:
        return block
    new = np.full(n, -1)
    new[roots] = np.arange(roots.size)
    M = sp.csc_matrix((red.ratio, (np.arange(n), new[red.root])), shape=(n, roots.size))
    A = (block.A @ M).tocsc()
    A.data[np.abs(A.data) < 1e-12] = 0.0  # cancellations in rows that coupled a group
    A.eliminate_zeros()
    lo = np.where(red.ratio > 0, block.col_lb / red.ratio, block.col_ub / red.ratio)
    hi = np.where(red.ratio > 0, block.col_ub / red.ratio, block.col_lb / red.ratio)
    col_lb = np.full(roots.size, -np.inf)
    col_ub = np.full(roots.size, np.inf)
    np.maximum.at(col_lb, new[red.root], lo)
    np.minimum.at(col_ub, new[red.root], hi)
    if np.any(col_lb > col_ub + 1e-9 * np.maximum(1.0, np.abs(col_lb))):
        return block  # a pathway that cannot carry its bounds: leave it to the solver to report
    col_ub = np.maximum(col_ub, col_lb)
    weight = np.zeros(roots.size)
    base_w = np.ones(n) if block.l1_weight is None else block.l1_weight
    np.add.at(weight, new[red.root], np.abs(red.ratio) * base_w)
    keep_r = _nonempty_rows(A, block.row_lb, block.row_ub)
    return dataclasses.replace(
        block, A=sp.csc_matrix(A[keep_r]), col_lb=col_lb, col_ub=col_ub, row_lb=block.row_lb[keep_r],
        row_ub=block.row_ub[keep_r], env_cols=new[block.env_cols],
        biomass_cols=[int(new[c]) for c in block.biomass_cols], col_index=_composed_index(block, new[red.root]),
        l1_weight=weight)


def reduce_block(block: Block, max_rounds: int = 6) -> Block:
    """:func:`drop_structural_zeros` and :func:`merge_coupled_columns`, repeated while they shrink the block (a
    merge leaves new two-term rows and dead ends); the community block cache's prepare step."""
    for _ in range(max_rounds):
        before = block.A.shape
        block = merge_coupled_columns(drop_structural_zeros(block))
        if block.A.shape == before:
            break
    return block


class BlockStore:
    """Process-local LRU of prepared blocks, keyed by member and :func:`make_block` settings.

    A block depends only on its member and the settings, never on the partners or the diet (:func:`assemble`
    copies what it takes), so one block serves every pair or community the member enters. The cached block keeps
    its member, hence its compiled model, alive: the ``id`` in the key cannot be reused while the entry exists.

    Parameters
    ----------
    maxsize : int
        Blocks kept (least recently used dropped first).
    prepare : callable, optional
        Applied once to each new block (e.g. fixing structural zeros).
    """

    def __init__(self, maxsize: int = 512, prepare: Callable[[Block], Block] | None = None) -> None:
        self.maxsize = maxsize
        self.prepare = prepare
        self._d: OrderedDict = OrderedDict()

    def get(self, member: Member, **settings) -> Block:
        """The block of ``member`` for these :func:`make_block` keyword settings, built on first use."""
        key = (id(member.compiled), member.name, tuple(sorted(settings.items())))
        blk = self._d.get(key)
        if blk is None:
            blk = make_block(member, **settings)
            if self.prepare is not None:
                blk = self.prepare(blk)
            self._d[key] = blk
            if len(self._d) > self.maxsize:
                self._d.popitem(last=False)
        else:
            self._d.move_to_end(key)
        return blk


@dataclass
class ReducedPool:
    """How the pool row of a reduced ecGEM block follows from the values of the unreduced block matrix.

    :func:`_reduce_enzymes` keeps the matrix's pattern and moves only values into the pool row, so the reduced row is
    a fixed function of a few entries of the unreduced matrix, its *slots* (``slot_row``, ``slot_col``; values at
    reduction ``slot_val``):

    * ``pool[j]`` starts from the old pool entries of kept columns (``base_col`` <- ``base_slot``);
    * each projected-out enzyme column adds ``(m / k) a_j`` (pool entry ``m`` = slot ``t_m``, usage entry ``-k`` =
      slot ``t_k``, usage entry ``a_j`` = slot ``t_v`` of column ``t_col``);
    * each removed isoenzyme split ``a v - sum_c b_c u_c = 0`` (slots ``iso_a``, ``iso_b`` hold ``a``, ``-b_c``)
      adds ``min_c pool[u_c] a / b_c`` to ``pool[v]`` and clears the ``pool[u_c]`` (groups of ``iso_u`` / ``iso_b``
      starting at ``iso_start``).

    A kcat sample changes slot values only (:meth:`slots` finds them), so its reduced pool row is :meth:`row` of the
    new values: no re-reduction, no re-assembly.
    """

    n_cols: int
    slot_row: np.ndarray
    slot_col: np.ndarray
    slot_val: np.ndarray
    base_col: np.ndarray
    base_slot: np.ndarray
    t_col: np.ndarray
    t_m: np.ndarray
    t_k: np.ndarray
    t_v: np.ndarray
    iso_v: np.ndarray
    iso_a: np.ndarray
    iso_u: np.ndarray
    iso_b: np.ndarray
    iso_start: np.ndarray
    #: Columns (of the unreduced block) of the reduced pool row's entries, ascending.
    out_cols: np.ndarray

    def values(self, slot_val: np.ndarray | None = None, iso: bool = True) -> np.ndarray:
        """The pool row over every unreduced column, from slot values (default: those at reduction)."""
        s = self.slot_val if slot_val is None else np.asarray(slot_val, float)
        pool = np.zeros(self.n_cols)
        pool[self.base_col] = s[self.base_slot]
        np.add.at(pool, self.t_col, s[self.t_m] / -s[self.t_k] * s[self.t_v])
        if iso and self.iso_v.size:
            sizes = np.diff(np.append(self.iso_start, self.iso_u.size))
            w = pool[self.iso_u] * np.repeat(s[self.iso_a], sizes) / -s[self.iso_b]  # split entries -b_c
            np.add.at(pool, self.iso_v, np.minimum.reduceat(w, self.iso_start))
            pool[self.iso_u] = 0.0
        return pool

    def row(self, slot_val: np.ndarray | None = None) -> np.ndarray:
        """The reduced pool row's values at :attr:`out_cols`."""
        return self.values(slot_val)[self.out_cols]

    def slots(self, rows, cols) -> np.ndarray:
        """Slot of each unreduced-matrix entry ``(rows[i], cols[i])``; -1 where the pool row does not depend on it."""
        want = np.asarray(rows, np.int64) * self.n_cols + np.asarray(cols, np.int64)
        out = np.full(want.size, -1)
        if self.slot_row.size == 0:
            return out
        key = self.slot_row.astype(np.int64) * self.n_cols + self.slot_col
        order = np.argsort(key)
        pos = np.clip(np.searchsorted(key[order], want), 0, key.size - 1)
        found = key[order][pos] == want
        out[found] = order[pos[found]]
        return out


def _reduce_enzymes(A: sp.csc_matrix, col_lb: np.ndarray, col_ub: np.ndarray, row_lb: np.ndarray,
                    row_ub: np.ndarray, pool_row: int, enzyme_cols: np.ndarray
                    ) -> tuple[sp.csc_matrix, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int,
                               ReducedPool | None]:
    """Project the enzyme columns of a gecko-form ecGEM block out of its LP, exactly.

    Two substitutions, each checked entry by entry (a column that does not fit the pattern is kept as it is):

    1. An enzyme column ``E_g >= 0`` (cost 0, no upper bound) in one usage row ``a.x - k E_g <= 0`` (``a >= 0`` on
       columns ``>= 0``, no other enzyme in the row) and in the pool row ``... + m E_g <= P``: any feasible point
       stays feasible with ``E_g`` lowered to ``a.x / k``, so ``E_g`` and its row go and the pool row gets
       ``(m / k) a``.
    2. Isoenzyme clause columns ``u_c >= 0`` (cost 0, no upper bound) left in only their split row
       ``v - sum_c u_c = 0`` and the pool row (weight ``w_c``): the cheapest clause carries the flux at no loss, so the
       ``u_c`` and the split row go and ``v`` gets pool weight ``min_c w_c`` (``v >= 0`` required).

    The set of feasible fluxes of the other columns is unchanged, hence so are growth optima. Pool rows with a lower
    bound, or enzyme columns with bounds or costs (tuned or measured enzyme levels), keep the full form. The new pool
    row is computed by a :class:`ReducedPool`, returned so that changed kcats can recompute it.

    Returns
    -------
    A, col_lb, col_ub, row_lb, row_ub : reduced arrays
    col_index : ndarray of int
        Per original column its reduced column, -1 for a removed one.
    new_pool_row : int
    pool : ReducedPool or None
        ``None`` when nothing was projected out.
    """
    n_rows, n_cols = A.shape
    A = A.tocsc().copy()
    A.sum_duplicates()
    if not np.isneginf(row_lb[pool_row]) and row_lb[pool_row] > -1e30:
        return A, col_lb, col_ub, row_lb, row_ub, np.arange(n_cols), pool_row, None
    Ar = A.tocsr()
    # position in A.data (csc order) of each entry of Ar (csr order): the slots of a ReducedPool
    P = sp.csc_matrix((np.arange(A.nnz), A.indices, A.indptr), shape=A.shape).tocsr()
    is_e = np.zeros(n_cols, bool)
    is_e[np.asarray(enzyme_cols, dtype=int)] = True
    free_pos = (col_lb == 0) & (col_ub >= 1e30)  # x >= 0, unbounded above
    drop_row = np.zeros(n_rows, bool)
    drop_col = np.zeros(n_cols, bool)
    t_col, t_m, t_k, t_v = [], [], [], []
    # 1. enzyme columns
    for c in np.nonzero(is_e & free_pos)[0]:
        rows = A.indices[A.indptr[c]:A.indptr[c + 1]]
        vals = A.data[A.indptr[c]:A.indptr[c + 1]]
        if rows.size != 2 or pool_row not in rows:
            continue
        m = float(vals[rows == pool_row][0])
        r = int(rows[rows != pool_row][0])
        k = -float(vals[rows != pool_row][0])
        if m <= 0 or k <= 0 or drop_row[r] or row_ub[r] != 0 or row_lb[r] > -1e30:
            continue
        rc = Ar.indices[Ar.indptr[r]:Ar.indptr[r + 1]]
        rv = Ar.data[Ar.indptr[r]:Ar.indptr[r + 1]]
        other = rc != c
        if is_e[rc[other]].any() or (rv[other] < 0).any() or (col_lb[rc[other]] < 0).any():
            continue
        n_o = int(other.sum())
        t_col.append(rc[other])
        t_m.append(np.full(n_o, A.indptr[c] + int(np.nonzero(rows == pool_row)[0][0])))
        t_k.append(np.full(n_o, A.indptr[c] + int(np.nonzero(rows != pool_row)[0][0])))
        t_v.append(P.data[Ar.indptr[r]:Ar.indptr[r + 1]][other])
        drop_row[r] = True
        drop_col[c] = True
    pcols = Ar.indices[Ar.indptr[pool_row]:Ar.indptr[pool_row + 1]]
    ppos = P.data[Ar.indptr[pool_row]:Ar.indptr[pool_row + 1]]
    base = ~drop_col[pcols]  # old entries of projected-out enzyme columns leave the pool row

    def _cat(parts):
        return np.concatenate(parts).astype(int) if parts else np.zeros(0, int)

    recipe = ReducedPool(n_cols=n_cols, slot_row=np.zeros(0, int), slot_col=np.zeros(0, int), slot_val=A.data,
                         base_col=pcols[base], base_slot=ppos[base], t_col=_cat(t_col), t_m=_cat(t_m), t_k=_cat(t_k),
                         t_v=_cat(t_v), iso_v=np.zeros(0, int), iso_a=np.zeros(0, int), iso_u=np.zeros(0, int),
                         iso_b=np.zeros(0, int), iso_start=np.zeros(0, int), out_cols=np.zeros(0, int))
    # the pool row after step 1 (the clause weights step 2 compares)
    pool_coef = recipe.values(iso=False)
    # 2. isoenzyme clause columns: in their split row and (maybe) the pool row only
    cand = free_pos & ~drop_col & ~is_e
    iso_v, iso_a, iso_u, iso_b, iso_start = [], [], [], [], []
    used_v, used_u = set(), set()
    n_u = 0
    for r in np.nonzero(~drop_row & (row_lb == 0) & (row_ub == 0))[0]:
        rc = Ar.indices[Ar.indptr[r]:Ar.indptr[r + 1]]
        rv = Ar.data[Ar.indptr[r]:Ar.indptr[r + 1]]
        pos, neg = rv > 0, rv < 0
        if pos.sum() != 1 or neg.sum() < 2:
            continue
        v = int(rc[pos][0])
        us = rc[neg]
        if col_lb[v] < 0 or drop_col[v] or not cand[us].all():
            continue
        # a column both a split's flux and another's clause would chain the substitutions: keep it
        if v in used_u or used_v.intersection(us.tolist()):
            continue
        ok = True
        for u in us:
            ur = A.indices[A.indptr[u]:A.indptr[u + 1]]
            if not set(ur[~drop_row[ur]].tolist()) <= {r, pool_row}:
                ok = False
                break
        if not ok or (pool_coef[us] < 0).any():
            continue
        # u_c = (a / b_c) * v when clause c carries everything: cost w_c a / b_c
        rp = P.data[Ar.indptr[r]:Ar.indptr[r + 1]]
        iso_v.append(v)
        iso_a.append(int(rp[pos][0]))
        iso_u.append(us)
        iso_b.append(rp[neg])
        iso_start.append(n_u)
        n_u += us.size
        used_v.add(v)
        used_u.update(us.tolist())
        drop_col[us] = True
        drop_row[r] = True
    if not drop_col.any():
        return A, col_lb, col_ub, row_lb, row_ub, np.arange(n_cols), pool_row, None
    recipe.iso_v, recipe.iso_a = np.asarray(iso_v, int), np.asarray(iso_a, int)
    recipe.iso_u, recipe.iso_b, recipe.iso_start = _cat(iso_u), _cat(iso_b), np.asarray(iso_start, int)
    pool_coef = recipe.values()
    keep_c = np.nonzero(~drop_col)[0]
    keep_r = np.nonzero(~drop_row)[0]
    recipe.out_cols = keep_c[pool_coef[keep_c] != 0]
    _compact_slots(recipe, A)
    # replace the pool row, then drop rows and columns
    Ar = Ar.tolil()
    Ar[pool_row] = pool_coef
    A = Ar.tocsr()[keep_r][:, keep_c].tocsc()
    A.eliminate_zeros()
    col_index = np.full(n_cols, -1)
    col_index[keep_c] = np.arange(keep_c.size)
    new_pool = int(np.searchsorted(keep_r, pool_row))
    return A, col_lb[keep_c], col_ub[keep_c], row_lb[keep_r], row_ub[keep_r], col_index, new_pool, recipe


def _compact_slots(recipe: ReducedPool, A: sp.csc_matrix) -> None:
    """Renumber a recipe's slots from positions in ``A.data`` to the few entries it reads (keeps no copy of A)."""
    fields = ("base_slot", "t_m", "t_k", "t_v", "iso_a", "iso_b")
    used = np.unique(np.concatenate([getattr(recipe, f) for f in fields]))
    for f in fields:
        setattr(recipe, f, np.searchsorted(used, getattr(recipe, f)))
    col_of = np.repeat(np.arange(A.shape[1]), np.diff(A.indptr))
    recipe.slot_row, recipe.slot_col = A.indices[used].astype(int), col_of[used]
    recipe.slot_val = np.asarray(A.data[used], float).copy()


@dataclass
class JointLP:
    """A joint problem and the maps to read it.

    Attributes
    ----------
    lp : LinearProblem
        Objective: sum of member growths (weighted by abundance when given).
    blocks : list of Block
    col_offset, row_offset : list of int
        Where each member's columns / rows start.
    env_keys : list of str
        Environment metabolites, in row / column order.
    env_row0, env_col0 : int
        First environment row / column.
    unmatched : list of str
        Diet components that match no environment metabolite.
    """

    lp: LinearProblem
    blocks: list[Block]
    col_offset: list[int]
    row_offset: list[int]
    env_keys: list[str]
    env_row0: int
    env_col0: int
    weights: np.ndarray
    unmatched: list[str] = field(default_factory=list)

    def l1_weights(self) -> np.ndarray:
        """Per column of :attr:`lp`, its weight in the L1 norm of all original fluxes (merged columns stand for
        several reactions; environment and unmerged columns weigh 1)."""
        w = np.ones(self.lp.n_cols)
        for off, b in zip(self.col_offset, self.blocks):
            if b.l1_weight is not None:
                w[off:off + b.n_cols] = b.l1_weight
        return w

    def growth_cols(self, i: int) -> tuple[list[int], list[float]]:
        """Global columns and coefficients of member ``i``'s growth."""
        b = self.blocks[i]
        return [self.col_offset[i] + c for c in b.biomass_cols], list(b.biomass_coefs)

    def growth(self, x: np.ndarray, i: int) -> float:
        """Growth of member ``i`` in a solution vector."""
        cols, coefs = self.growth_cols(i)
        return float(sum(x[c] * k for c, k in zip(cols, coefs)))

    def member_col(self, i: int, col: int) -> int:
        """Global column of member ``i``'s local column ``col``."""
        return self.col_offset[i] + int(col)

    def env_col(self, key: str) -> int:
        """Column of the environment exchange of a metabolite."""
        return self.env_col0 + self.env_keys.index(key)

    def lazy_rows(self, rows: list | None = None) -> list[tuple[np.ndarray, np.ndarray, float, float]]:
        """The members' held-out rows (:attr:`Block.lazy_rows`) in joint columns.

        ``rows``: per block, the held-out rows to use instead of its own (``None`` entries keep its own), e.g. pool
        rows recomputed for sampled kcats (:mod:`kingems_ray.community.sampled`).
        """
        per = [b.lazy_rows if rows is None or rows[i] is None else rows[i] for i, b in enumerate(self.blocks)]
        return [(self.col_offset[i] + cols, vals, lb, ub) for i, rs in enumerate(per) for cols, vals, lb, ub in rs]

    def violated_rows(self, x: np.ndarray, rows: list, tol: float = 1e-9) -> list[int]:
        """Indices into ``rows`` (from :meth:`lazy_rows`) whose activity in ``x`` leaves ``[lb, ub]`` by more than
        ``tol`` (relative to the bound's size)."""
        out = []
        for k, (cols, vals, lb, ub) in enumerate(rows):
            act = float(vals @ x[cols])
            if act > ub + tol * max(1.0, abs(ub)) or act < lb - tol * max(1.0, abs(lb)):
                out.append(k)
        return out


def assemble(
    blocks: list[Block],
    diet: Diet | None,
    weights: list[float] | np.ndarray | None = None,
    max_secretion: float = 1000.0,
) -> JointLP:
    """Join prepared members into one LP.

    Parameters
    ----------
    blocks : list of Block
    diet : Diet or None
        Environment exchange bounds (``None``: every environment metabolite open for uptake at 1000).
    weights : array, optional
        Abundances ``a_i``: scale each member's environment entries and its weight in the objective.
    """
    n = len(blocks)
    w = np.ones(n) if weights is None else np.asarray(weights, float)
    keys = sorted(set().union(*(b.env_keys for b in blocks)))
    kpos = {k: i for i, k in enumerate(keys)}
    n_env = len(keys)
    col_off, row_off = [], []
    nc = nr = 0
    for b in blocks:
        col_off.append(nc)
        row_off.append(nr)
        nc += b.n_cols
        nr += b.n_rows
    # environment rows: entries from every member's exchange columns
    er, ec, ev = [], [], []
    for i, b in enumerate(blocks):
        er.append(np.fromiter((kpos[k] for k in b.env_keys), dtype=np.int64, count=len(b.env_keys)))
        ec.append(b.env_cols + col_off[i])
        ev.append(b.env_coef * w[i])
    # environment exchange columns: -1 on their row (positive = leaves to the outside)
    er.append(np.arange(n_env))
    ec.append(nc + np.arange(n_env))
    ev.append(-np.ones(n_env))
    E = sp.csc_matrix((np.concatenate(ev), (np.concatenate(er), np.concatenate(ec))), shape=(n_env, nc + n_env))
    D = sp.block_diag([b.A for b in blocks], format="csc")
    D = sp.hstack([D, sp.csc_matrix((nr, n_env))], format="csc")
    A = sp.vstack([D, E], format="csc")
    if diet is not None:
        env_lb, env_ub, unmatched = lumen_bounds(diet, keys, max_secretion=max_secretion)
    else:
        env_lb, env_ub, unmatched = np.full(n_env, -1000.0), np.full(n_env, max_secretion), []
    col_lb = np.concatenate([b.col_lb for b in blocks] + [env_lb])
    col_ub = np.concatenate([b.col_ub for b in blocks] + [env_ub])
    row_lb = np.concatenate([b.row_lb for b in blocks] + [np.zeros(n_env)])
    row_ub = np.concatenate([b.row_ub for b in blocks] + [np.zeros(n_env)])
    cost = np.zeros(nc + n_env)
    for i, b in enumerate(blocks):
        for c, k in zip(b.biomass_cols, b.biomass_coefs):
            cost[col_off[i] + c] += k * w[i]
    lp = LinearProblem(
        A=A, col_lb=col_lb, col_ub=col_ub, row_lb=row_lb, row_ub=row_ub, cost=cost,
        col_names=[], row_names=[], maximize=True,
    )
    return JointLP(lp=lp, blocks=blocks, col_offset=col_off, row_offset=row_off, env_keys=keys,
                   env_row0=nr, env_col0=nc, weights=w, unmatched=unmatched)
