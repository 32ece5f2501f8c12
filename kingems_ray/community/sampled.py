"""Pairwise interactions and communities over sampled kcat vectors, without re-assembling or recompiling.

Pairs use the reduced LP of :func:`kingems_ray.community.pairwise.run_pair` (enzyme columns projected out, the pool
row held out; :func:`kingems_ray.community.joint.make_block`). There a kcat reaches the LP only through its member's
held-out pool row, so a sample recomputes that row (:class:`ReducedKcats`, a few numpy operations on the entries the
reduction read) and re-runs the held-out-row protocol from the relaxation's basis on three persistent HiGHS
instances (:class:`~kingems_ray.community.pairwise.HeldOutSolver`: the pair, each member alone). The relaxation does
not depend on kcats and is solved once.

Communities use the reduced LP of ``run_community`` too, with the pool row in the LP: :class:`JointKcats` rewrites
its entries with ``changeCoeff`` for a sample and writes the point values back afterwards.

Members whose kcats also sit in rows the reduction keeps (levels other than gecko L4) use the full LP (as do
``fast=False`` / ``reduce_enzymes=False``): a joint LP keeps each member's own rows and columns at an offset, so a
member's kcat entries (``CompiledModel.coef_entries``) sit at ``(row_offset + row, col_offset + col)``, where
:class:`JointKcats` writes them. Either way: one persistent HiGHS instance per joint problem, never a re-assembly
per sample.

Taxa are sampled independently: each member has its own :class:`~kingems_ray.analysis.uncertainty.KcatSampler`
(its own table), seeded with ``seed + member index`` unless samplers are given.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd

from ..analysis.uncertainty import KcatSampler, check_n_samples
from ..ec.compile import CompiledModel, kcat_coefficient
from ..errors import KingemsError
from ..solver.highs import PersistentLP
from .community import Community
from .diets import Diet, read_diet
from .joint import COUPLING_C, COUPLING_U, Block, JointLP, assemble
from .models import Member, member_from_compiled
from .pairwise import MIN_GROWTH, SIG_D, HeldOutSolver, pair_block, pair_outcome, pair_problem

log = logging.getLogger(__name__)


class ReducedKcats:
    """A member's kcats as the pool row of its reduced block (:attr:`Block.pool`): held out
    (:attr:`Block.lazy_rows`) in a pair, or in the LP (:attr:`Block.pool_row`) in a community.

    Every kcat entry of the member must be one the reduction moved into the pool row; otherwise the reduced LP keeps
    it elsewhere and a :class:`~kingems_ray.errors.KingemsError` says so (sample the full LP then).
    """

    def __init__(self, block: Block) -> None:
        cm = block.member.compiled
        ce = cm.coef_entries
        name = block.member.name
        if cm.pairs is None or ce is None or len(ce) == 0:
            raise KingemsError(f"{name} has no kcats to sample")
        if block.pool is None or (len(block.lazy_rows) != 1 and block.pool_row is None):
            raise KingemsError(f"{name}: no reduced pool row (not a gecko L4-form ecGEM block)")
        self.pool = block.pool
        self.slots = self.pool.slots(ce["row"].to_numpy(int), ce["col"].to_numpy(int))
        if (self.slots < 0).any():
            raise KingemsError(f"{name}: {int((self.slots < 0).sum())} kcat entries stay in the reduced LP, outside "
                               "its pool row")
        self.pair = ce["pair"].to_numpy(int)
        self.kind = ce["kind"].astype(str).to_numpy()
        self.n_pairs = len(cm.pairs)
        self.name = name
        #: Block columns of the pool row's entries, and the row of ``A`` holding it (``None``: held out).
        self.cols = block.col_index[self.pool.out_cols]
        self.row = block.pool_row
        self._held_out = block.lazy_rows[0] if block.pool_row is None else None
        if self._held_out is not None and not np.array_equal(self.cols, self._held_out[0]):
            raise KingemsError(f"{name}: the pool row's pattern does not match the reduced block")  # cannot happen

    def values(self, kcats: np.ndarray | None) -> np.ndarray:
        """Pool-row values at :attr:`cols` for kcat vector ``kcats`` (1/s, ``compiled.pairs`` order; ``None``: the
        point kcats the block was reduced with)."""
        if kcats is None:
            return self.pool.row()
        k = np.asarray(kcats, float)
        if k.shape != (self.n_pairs,):
            raise KingemsError(f"{self.name}: {k.size} kcats for {self.n_pairs} pairs")
        v = self.pool.slot_val.copy()
        v[self.slots] = 0.0  # entries are summed, as the compiled matrix sums duplicates
        for kind in np.unique(self.kind):
            m = self.kind == kind
            np.add.at(v, self.slots[m], kcat_coefficient(str(kind), k[self.pair[m]]))
        return self.pool.row(v)

    def lazy_rows(self, kcats: np.ndarray | None) -> list[tuple[np.ndarray, np.ndarray, float, float]]:
        """The block's held-out rows (block columns) for kcat vector ``kcats``."""
        if self._held_out is None:
            raise KingemsError(f"{self.name}: the pool row is in the LP, not held out")
        return [(self.cols, self.values(kcats), self._held_out[2], self._held_out[3])]


class JointKcats:
    """In-place kcat edits of the members of one joint LP held by a :class:`PersistentLP`.

    A full block's kcat entries are rewritten one by one; a reduced block (community: pool row in the LP) gets its
    pool row recomputed (:class:`ReducedKcats`) and rewritten.
    """

    def __init__(self, joint: JointLP, solver: PersistentLP) -> None:
        self.joint = joint
        self.solver = solver
        self._entries: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None] = []
        self._reduced: list[ReducedKcats | None] = []
        for i, blk in enumerate(joint.blocks):
            cm = blk.member.compiled
            ce = cm.coef_entries
            self._reduced.append(None)
            if cm.pairs is None or ce is None or len(ce) == 0:
                self._entries.append(None)
                continue
            if blk.col_index is not None:
                # raises where kcat entries stay outside the pool row, or the pool row is held out
                rk = ReducedKcats(blk)
                if rk.row is None:
                    raise KingemsError(f"{blk.member.name}: the pool row is held out of this LP (see HeldOutSolver)")
                self._reduced[i] = rk
                rows = np.full(rk.cols.size, joint.row_offset[i] + rk.row)
                self._entries.append((np.zeros(0, int), rows, rk.cols + joint.col_offset[i], np.zeros(0, str),
                                      cm.pairs["kcat"].to_numpy(float)))
                continue
            self._entries.append((ce["pair"].to_numpy(int), ce["row"].to_numpy(int) + joint.row_offset[i],
                                  ce["col"].to_numpy(int) + joint.col_offset[i], ce["kind"].astype(str).to_numpy(),
                                  cm.pairs["kcat"].to_numpy(float)))

    def has_kcats(self, i: int) -> bool:
        """Whether member ``i`` has kcat entries."""
        return self._entries[i] is not None

    def _write(self, i: int, kcats: np.ndarray | None) -> None:
        pair, rows, cols, kinds, point = self._entries[i]
        rk = self._reduced[i]
        if rk is not None:
            for r, c, v in zip(rows, cols, rk.values(kcats)):
                self.solver.set_coef(int(r), int(c), float(v))
            return
        kcats = point if kcats is None else kcats
        for p, r, c, k in zip(pair, rows, cols, kinds):
            self.solver.set_coef(int(r), int(c), kcat_coefficient(k, float(kcats[p])))

    @contextlib.contextmanager
    def applied(self, kcats: Sequence[np.ndarray | None]) -> Iterator[None]:
        """Members' kcat vectors (``None``: keep the point values) written for a ``with`` block, then restored."""
        done = []
        try:
            for i, k in enumerate(kcats):
                if k is None:
                    continue
                if self._entries[i] is None:
                    raise KingemsError(f"member {i} ({self.joint.blocks[i].member.name}) has no kcats to sample")
                if len(k) != len(self._entries[i][4]):
                    raise KingemsError(f"member {i}: {len(k)} kcats for {len(self._entries[i][4])} pairs")
                self._write(i, np.asarray(k, float))
                done.append(i)
            yield
        finally:
            for i in done:
                self._write(i, None)


def _member(m: Member | CompiledModel) -> Member:
    return m if isinstance(m, Member) else member_from_compiled(m)


def _samplers(members: list[Member], samplers, seed: int, **kw) -> list[KcatSampler | None]:
    if samplers is not None:
        if len(samplers) != len(members):
            raise KingemsError(f"{len(samplers)} samplers for {len(members)} members")
        return list(samplers)
    out = []
    for i, m in enumerate(members):
        cm = m.compiled
        has = cm.pairs is not None and len(cm.pairs) and cm.coef_entries is not None and len(cm.coef_entries)
        out.append(KcatSampler.from_pairs(cm.pairs, seed=seed + i, **kw) if has else None)
    if all(s is None for s in out):
        raise KingemsError("no member has kcats to sample (compile the members as ecGEMs)")
    return out


def _growth_alone(member: Member, diet: Diet, coupling, coupling_u) -> tuple[JointLP, PersistentLP, JointKcats]:
    joint = assemble([pair_block(member, coupling, coupling_u)], diet)
    lp = PersistentLP(joint.lp, threads=1)
    return joint, lp, JointKcats(joint, lp)


def _reduced_pair(a: Member, b: Member, diet: Diet, smp: list, coupling, coupling_u, min_growth):
    """Per-sample solver of the reduced pair protocol: ``ks -> (growths alone, statuses alone, pair result, pair LP)``.

    Raises :class:`KingemsError` (before any solve) when a sampled member's kcats cannot be sampled there.
    """
    pair = pair_problem(a, b, diet, coupling, coupling_u, min_growth, reduced=True)
    rk = [ReducedKcats(blk) if s is not None else None for blk, s in zip(pair.blocks, smp)]
    for r in rk:
        if r is not None and r.row is not None:
            raise KingemsError(f"{r.name}: the pool row is in the reduced pair LP, not held out")
    pair_s = HeldOutSolver(pair)
    alone = [HeldOutSolver(assemble([blk], diet)) for blk in pair.blocks]

    def run(ks):
        rows = [r.lazy_rows(k) if r is not None and k is not None else None for r, k in zip(rk, ks)]
        res = [s.solve(s.joint.lazy_rows([rows[j]])) for j, s in enumerate(alone)]
        g = [s.joint.growth(r.x, 0) if r.x is not None else float("nan") for s, r in zip(alone, res)]
        return g, [r.status for r in res], pair_s.solve(pair.lazy_rows(rows)), pair

    return run


def _full_pair(a: Member, b: Member, diet: Diet, coupling, coupling_u, min_growth):
    """Per-sample solver of the full-LP pair protocol, kcat entries edited in place (:class:`JointKcats`); returns
    what :func:`_reduced_pair`'s returns."""
    pair = pair_problem(a, b, diet, coupling, coupling_u, min_growth)
    pair_lp = PersistentLP(pair.lp, threads=1)
    pair_k = JointKcats(pair, pair_lp)
    alone = [_growth_alone(m, diet, coupling, coupling_u) for m in (a, b)]

    def run(ks):
        g, st = [], []
        for j, (joint, lp, jk) in enumerate(alone):
            with jk.applied([ks[j]]):
                r = lp.solve(need_x=True)
            g.append(joint.growth(r.x, 0) if r.x is not None else float("nan"))
            st.append(r.status)
        with pair_k.applied(ks):
            r = pair_lp.solve(need_x=True)
        return g, st, r, pair

    return run


def sampled_pairs(
    compiled_a: Member | CompiledModel,
    compiled_b: Member | CompiledModel,
    diet: Diet | str,
    n: int,
    seed: int = 0,
    samplers: Sequence[KcatSampler | None] | None = None,
    coupling: float | None = COUPLING_C,
    coupling_u: float = COUPLING_U,
    min_growth: float = MIN_GROWTH,
    sig: float = SIG_D,
    start: int = 0,
    fast: bool = True,
    **sampler_kw,
) -> pd.DataFrame:
    """The AGORA pairwise protocol (:func:`kingems_ray.community.pairwise.run_pair`) for ``n`` kcat samples.

    Three persistent LPs (the pair; each member alone, for its growth alone) are built once; each sample changes
    them in place and classifies the interaction.

    Parameters
    ----------
    fast : bool
        The reduced LPs of ``run_pair(fast=True)``: a sample recomputes each member's held-out pool row
        (:class:`ReducedKcats`) and re-runs the held-out-row protocol from the relaxation's basis, which is solved
        once. Members whose kcats the reduction does not move into a held-out pool row (not gecko L4 form) fall
        back to the full LP, as does ``fast=False``: there each sample writes the kcat entries in place
        (:class:`JointKcats`) and re-solves warm.

    Returns
    -------
    DataFrame
        One row per sample: ``sample, model_a, model_b, growth_a_alone, growth_b_alone, growth_a_paired,
        growth_b_paired, outcome_a, outcome_b, interaction, giver, taker, status, seconds, lp, spread``
        (``lp``: ``reduced`` or ``full``).
    """
    n = check_n_samples(n)
    a, b = _member(compiled_a), _member(compiled_b)
    diet = read_diet(diet)
    smp = _samplers([a, b], samplers, seed, **sampler_kw)
    run, lp = None, "full"
    if fast:
        try:
            run, lp = _reduced_pair(a, b, diet, smp, coupling, coupling_u, min_growth), "reduced"
        except KingemsError as e:
            log.info("sampled pair %s + %s on the full LP: %s", a.name, b.name, e)
    if run is None:
        run = _full_pair(a, b, diet, coupling, coupling_u, min_growth)
    rows = []
    for i in range(int(start), int(start) + n):
        t0 = time.perf_counter()
        ks = [s.sample(i) if s is not None else None for s in smp]
        g, st, r, pair = run(ks)
        row = pair_outcome(a.name, b.name, g[0], st[0], g[1], st[1], r.status, r.x, pair, sig)
        rows.append({"sample": i, **row, "seconds": time.perf_counter() - t0, "lp": lp})
    df = pd.DataFrame(rows)
    df["spread"] = " | ".join(f"{m.name}: {s.label()}" if s is not None else f"{m.name}: no kcats"
                              for m, s in zip((a, b), smp))
    return df


def sampled_community(
    members: list[Member | CompiledModel],
    n: int,
    abundances=None,
    diet: Diet | str | None = "western",
    tradeoff: float = 0.5,
    seed: int = 0,
    samplers: Sequence[KcatSampler | None] | None = None,
    start: int = 0,
    reduce_enzymes: bool = True,
    **sampler_kw,
) -> pd.DataFrame:
    """MICOM's cooperative trade-off for ``n`` kcat samples on one persistent community problem.

    ``reduce_enzymes``: the reduced ecGEM blocks of ``run_community`` (pool row in the LP), a sample rewriting each
    taxon's pool row (:class:`ReducedKcats`); taxa whose kcats the reduction does not move into the pool row (not
    gecko L4 form), and ``reduce_enzymes=False``, use the full LP with kcat entries rewritten in place.

    Returns
    -------
    DataFrame
        One row per (sample, taxon): ``sample, taxon, abundance, growth, community_growth, status, seconds, lp,
        spread`` (``lp``: ``reduced`` or ``full``).
    """
    n = check_n_samples(n)
    mems = [_member(m) for m in members]
    smp = _samplers(mems, samplers, seed, **sampler_kw)
    com, lp = None, "reduced"
    if reduce_enzymes:
        try:
            com = Community(mems, abundances, diet, reduce_enzymes=True)
            jk = JointKcats(com.joint, com.solver)
        except KingemsError as e:
            log.info("sampled community on the full LP: %s", e)
            com = None
    if com is None:
        com, lp = Community(mems, abundances, diet), "full"
        jk = JointKcats(com.joint, com.solver)
    parts = []
    for i in range(int(start), int(start) + n):
        t0 = time.perf_counter()
        with jk.applied([s.sample(i) if s is not None else None for s in smp]):
            res = com.cooperative_tradeoff(tradeoff)
        parts.append(pd.DataFrame({"sample": i, "taxon": com.taxa, "abundance": com.abundances.to_numpy(),
                                   "growth": res.growth.to_numpy(), "community_growth": res.community_growth,
                                   "status": res.status, "seconds": time.perf_counter() - t0, "lp": lp}))
    df = pd.concat(parts, ignore_index=True)
    df["spread"] = " | ".join(f"{m.name}: {s.label()}" if s is not None else f"{m.name}: no kcats"
                              for m, s in zip(mems, smp))
    return df
