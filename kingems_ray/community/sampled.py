"""Pairwise interactions and communities over sampled kcat vectors, edited in place in the joint LP.

A joint LP (:mod:`.joint`) keeps each member's own rows and columns at an offset, so a member's kcat entries
(``CompiledModel.coef_entries``) sit at ``(row_offset + row, col_offset + col)``. :class:`JointKcats` writes a
member's sampled kcats there with ``changeCoeff`` and writes the point values back afterwards: one persistent
HiGHS instance per joint problem (the pair, each member alone, the community), never a re-assembly per sample.

Taxa are sampled independently: each member has its own :class:`~kingems_ray.analysis.uncertainty.KcatSampler`
(its own table), seeded with ``seed + member index`` unless samplers are given.
"""

from __future__ import annotations

import contextlib
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
from .joint import COUPLING_C, COUPLING_U, JointLP, assemble
from .models import Member, member_from_compiled
from .pairwise import _BLOCKS, MIN_GROWTH, SIG_D, classify, giver_taker, pair_problem


class JointKcats:
    """In-place kcat edits of the members of one joint LP held by a :class:`PersistentLP`."""

    def __init__(self, joint: JointLP, solver: PersistentLP) -> None:
        self.joint = joint
        self.solver = solver
        self._entries: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None] = []
        for i, blk in enumerate(joint.blocks):
            cm = blk.member.compiled
            ce = cm.coef_entries
            if cm.pairs is None or ce is None or len(ce) == 0:
                self._entries.append(None)
                continue
            self._entries.append((ce["pair"].to_numpy(int), ce["row"].to_numpy(int) + joint.row_offset[i],
                                  ce["col"].to_numpy(int) + joint.col_offset[i], ce["kind"].astype(str).to_numpy(),
                                  cm.pairs["kcat"].to_numpy(float)))

    def has_kcats(self, i: int) -> bool:
        """Whether member ``i`` has kcat entries."""
        return self._entries[i] is not None

    def _write(self, i: int, kcats: np.ndarray) -> None:
        pair, rows, cols, kinds, _ = self._entries[i]
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
                self._write(i, self._entries[i][4])


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
    joint = assemble([_BLOCKS.get(member, coupling, coupling_u)], diet)
    lp = PersistentLP(joint.lp, threads=1)
    return joint, lp, JointKcats(joint, lp)


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
    **sampler_kw,
) -> pd.DataFrame:
    """The AGORA pairwise protocol (:func:`kingems_ray.community.pairwise.run_pair`) for ``n`` kcat samples.

    Three persistent LPs (the pair; each member alone, for its growth alone) are built once; each sample writes
    both members' sampled kcats into all three and classifies the interaction.

    Returns
    -------
    DataFrame
        One row per sample: ``sample, model_a, model_b, growth_a_alone, growth_b_alone, growth_a_paired,
        growth_b_paired, outcome_a, outcome_b, interaction, giver, taker, status, seconds, spread``.
    """
    n = check_n_samples(n)
    a, b = _member(compiled_a), _member(compiled_b)
    diet = read_diet(diet)
    smp = _samplers([a, b], samplers, seed, **sampler_kw)
    pair = pair_problem(a, b, diet, coupling, coupling_u, min_growth)
    pair_lp = PersistentLP(pair.lp, threads=1)
    pair_k = JointKcats(pair, pair_lp)
    alone = [_growth_alone(m, diet, coupling, coupling_u) for m in (a, b)]
    rows = []
    for i in range(int(start), int(start) + n):
        t0 = time.perf_counter()
        ks = [s.sample(i) if s is not None else None for s in smp]
        g_alone, st_alone = [], []
        for j, (joint, lp, jk) in enumerate(alone):
            with jk.applied([ks[j]]):
                r = lp.solve(need_x=True)
            g_alone.append(joint.growth(r.x, 0) if r.x is not None else float("nan"))
            st_alone.append(r.status)
        with pair_k.applied(ks):
            r = pair_lp.solve(need_x=True)
        pa = pair.growth(r.x, 0) if r.x is not None else float("nan")
        pb = pair.growth(r.x, 1) if r.x is not None else float("nan")
        if r.status != "optimal" or any(s != "optimal" for s in st_alone):
            oa = ob = total = "Infeasible"
            bad = [f"paired {r.status}"] if r.status != "optimal" else []
            bad += [f"{m.name} alone {s}" for m, s in zip((a, b), st_alone) if s != "optimal"]
            st = "; ".join(bad)
        else:
            oa, ob, total = classify(pa, pb, g_alone[0], g_alone[1], sig)
            st = "optimal"
        giver, taker = giver_taker(oa, ob, a.name, b.name)
        rows.append({"sample": i, "model_a": a.name, "model_b": b.name, "growth_a_alone": g_alone[0],
                     "growth_b_alone": g_alone[1], "growth_a_paired": pa, "growth_b_paired": pb, "outcome_a": oa,
                     "outcome_b": ob, "interaction": total, "giver": giver, "taker": taker, "status": st,
                     "seconds": time.perf_counter() - t0})
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
    **sampler_kw,
) -> pd.DataFrame:
    """MICOM's cooperative trade-off for ``n`` kcat samples on one persistent community problem.

    Returns
    -------
    DataFrame
        One row per (sample, taxon): ``sample, taxon, abundance, growth, community_growth, status, seconds,
        spread``.
    """
    n = check_n_samples(n)
    mems = [_member(m) for m in members]
    smp = _samplers(mems, samplers, seed, **sampler_kw)
    com = Community(mems, abundances, diet)
    jk = JointKcats(com.joint, com.solver)
    parts = []
    for i in range(int(start), int(start) + n):
        t0 = time.perf_counter()
        with jk.applied([s.sample(i) if s is not None else None for s in smp]):
            res = com.cooperative_tradeoff(tradeoff)
        parts.append(pd.DataFrame({"sample": i, "taxon": com.taxa, "abundance": com.abundances.to_numpy(),
                                   "growth": res.growth.to_numpy(), "community_growth": res.community_growth,
                                   "status": res.status, "seconds": time.perf_counter() - t0}))
    df = pd.concat(parts, ignore_index=True)
    df["spread"] = " | ".join(f"{m.name}: {s.label()}" if s is not None else f"{m.name}: no kcats"
                              for m, s in zip(mems, smp))
    return df
