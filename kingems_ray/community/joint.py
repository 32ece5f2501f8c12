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

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

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
    )


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
