"""Pairwise interaction screens, following the AGORA paper's protocol (COBRA Toolbox).

Protocol (Magnusdottir et al. 2017; COBRA Toolbox ``joinModelsPairwiseFromList`` -> ``createMultipleSpeciesModel``,
``coupleRxnList2Rxn``, ``simulatePairwiseInteractions``), re-implemented on compiled models:

* two organisms joined through a shared lumen compartment (:mod:`kingems_ray.community.joint`), the diet on the
  lumen exchanges (absent components: uptake 0, secretion open);
* every reaction of an organism coupled to its biomass: ``|v_r| <= 400 * v_biomass + 0.01``;
* paired growth: maximise the sum of both biomasses with each biomass >= 0.001 (infeasible -> ``Infeasible``);
* growth alone: the same joint problem with the partner silenced, i.e. the organism alone with coupling and the
  diet -- computed once per model (:func:`single_growth`), not once per pair;
* classification with a 10 % band on paired/alone growth (:func:`classify`): Neutralism, Commensalism,
  Amensalism, Mutualism, Parasitism, Competition (with giver / taker / affected / unaffected per organism).

``run_pair`` is a plain function (no Ray) that a sweep registry can call.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..analysis.reduction import reduce_columns
from ..ec.compile import CompiledModel
from ..solver.highs import PersistentLP, SolveResult
from .diets import Diet, read_diet
from .joint import COUPLING_C, COUPLING_U, Block, BlockStore, JointLP, assemble
from .models import Member, member_from_compiled

SIG_D = 0.1
MIN_GROWTH = 0.001
#: Simplex iterations a warm re-solve after added pool rows may take before the LP is solved from scratch with
#: presolve instead (a usual re-solve takes a handful; the relaxation from scratch without presolve ~3,000-4,500).
WARM_ITERATION_LIMIT = 1000

INTERACTIONS = ("Neutralism", "Commensalism", "Amensalism", "Mutualism", "Parasitism", "Competition",
                "Infeasible", "No_Result")

PAIR_COLUMNS = [
    "model_a", "model_b", "growth_a_alone", "growth_b_alone", "growth_a_paired", "growth_b_paired",
    "outcome_a", "outcome_b", "interaction", "giver", "taker", "status", "n_lumen", "seconds",
]


def _change(paired: float, single: float, sig: float) -> str:
    """'same', 'up', 'down' or 'none' with the Toolbox's ratio tests (x/0 = inf, 0/0 = nan)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.float64(paired) / np.float64(single)
        q = np.float64(single) / np.float64(paired)
    if abs(1.0 - r) < sig:
        return "same"
    if abs(r) > 1.0 + sig:
        return "up"
    if abs(q) > 1.0 + sig:
        return "down"
    return "none"


_TABLE = {
    ("same", "same"): ("Neutralism", "Neutralism", "Neutralism"),
    ("same", "up"): ("Commensalism_Giver", "Commensalism_Taker", "Commensalism"),
    ("same", "down"): ("Amensalism_Unaffected", "Amensalism_Affected", "Amensalism"),
    ("up", "same"): ("Commensalism_Taker", "Commensalism_Giver", "Commensalism"),
    ("up", "up"): ("Mutualism", "Mutualism", "Mutualism"),
    ("up", "down"): ("Parasitism_Taker", "Parasitism_Giver", "Parasitism"),
    ("down", "same"): ("Amensalism_Affected", "Amensalism_Unaffected", "Amensalism"),
    ("down", "up"): ("Parasitism_Giver", "Parasitism_Taker", "Parasitism"),
    ("down", "down"): ("Competition", "Competition", "Competition"),
}


def classify(paired_a: float, paired_b: float, single_a: float, single_b: float, sig: float = SIG_D
             ) -> tuple[str, str, str]:
    """Interaction type from paired and alone growth, as the COBRA Toolbox's ``analyzePairwiseInteractions``.

    Returns
    -------
    outcome_a, outcome_b, total : str
        e.g. ``("Parasitism_Taker", "Parasitism_Giver", "Parasitism")``; ``No_Result`` when no case fits.
    """
    ca, cb = _change(paired_a, single_a, sig), _change(paired_b, single_b, sig)
    return _TABLE.get((ca, cb), ("No_Result", "No_Result", "No_Result"))


def giver_taker(outcome_a: str, outcome_b: str, a: str, b: str) -> tuple[str, str]:
    """Names of the giver and the taker (empty when the interaction has none)."""
    if outcome_a.endswith("_Taker"):
        return b, a
    if outcome_b.endswith("_Taker"):
        return a, b
    return "", ""


def _solve(lp, presolve: bool = True) -> tuple[str, float, np.ndarray | None]:
    solver = PersistentLP(lp, threads=1, presolve=presolve)
    res = solver.solve(need_x=True)
    return res.status, res.objective, res.x


def _solve_joint(joint: JointLP, presolve: bool = True) -> tuple[str, float, np.ndarray | None]:
    """Solve a joint LP whose reduced ecGEM blocks hold their pool rows out (:attr:`Block.lazy_rows`).

    The relaxation (no pool rows) is solved first; a pool row is added only when its optimum violates it, and the
    LP re-solved from the relaxation's basis (dual simplex, no presolve; :func:`_add_violated`). An optimum of the
    relaxation that meets every pool row is an optimum of the full problem. Without held-out rows this is
    :func:`_solve`.
    """
    lazy = joint.lazy_rows()
    if not lazy:
        return _solve(joint.lp, presolve)
    solver = PersistentLP(joint.lp, threads=1, presolve=presolve)
    res = _add_violated(solver, joint, solver.solve(need_x=True), lazy)
    return res.status, res.objective, res.x


def _add_violated(solver: PersistentLP, joint: JointLP, res: SolveResult, lazy: list) -> SolveResult:
    """From the relaxation's result ``res`` on ``solver``, add the held-out rows ``lazy`` (from
    :meth:`JointLP.lazy_rows`) that its optimum violates and re-solve warm, until none is violated."""
    pending = list(range(len(lazy)))
    while res.ok:
        bad = joint.violated_rows(res.x, [lazy[k] for k in pending])
        if not bad:
            break
        for b in bad:
            cols, vals, lb, ub = lazy[pending[b]]
            solver.add_row(lb, ub, cols, vals)
        pending = [k for n, k in enumerate(pending) if n not in set(bad)]
        solver.set_option("presolve", "off")  # keep the basis: a warm dual simplex after the added rows
        # Devex pricing: exact steepest-edge weights cost one solve per row (~80 ms here) before the first of
        # the few iterations an added pool row takes
        solver.set_option("simplex_dual_edge_weight_strategy", 1)
        # Extreme pool coefficients (a sampled kcat far in a tail: entries from 2e-8 to 8e8) can stall the warm
        # dual simplex; seen: > 90 s on a pair that presolve proves infeasible from scratch in 0.15 s
        res = solver.solve_capped(WARM_ITERATION_LIMIT)
    return res


class HeldOutSolver:
    """One persistent HiGHS instance of a joint LP whose held-out rows change between solves.

    The relaxation (the LP without held-out rows) does not depend on them: it is solved once, here, as
    :func:`_solve_joint` solves it. Each :meth:`solve` deletes the rows the previous one added, restores the
    relaxation's optimal basis and runs :func:`_add_violated` with the rows given, so a sample whose pool rows the
    relaxation's optimum meets costs no solve at all, and one that violates them costs the warm re-solves only.
    """

    def __init__(self, joint: JointLP, presolve: bool = True) -> None:
        self.joint = joint
        self.solver = PersistentLP(joint.lp, threads=1, presolve=presolve)
        self.relaxed = self.solver.solve(need_x=True)
        self._basis = self.solver.basis()
        self._shape = (self.solver.n_cols, self.solver.n_rows)

    def solve(self, lazy: list | None = None) -> SolveResult:
        """Solve with held-out rows ``lazy`` (default: the blocks' own, :meth:`JointLP.lazy_rows`)."""
        lazy = self.joint.lazy_rows() if lazy is None else lazy
        if self.solver.n_rows > self._shape[1]:
            self.solver.truncate(*self._shape, basis=self._basis)
        return _add_violated(self.solver, self.joint, self.relaxed, lazy)


@dataclass
class SingleGrowth:
    """Growth of one organism alone on a diet (with coupling), computed once per model."""

    model: str
    growth: float
    status: str
    seconds: float = 0.0

    def as_dict(self) -> dict:
        """Plain dict (for tables)."""
        return {"model": self.model, "growth": self.growth, "status": self.status, "seconds": self.seconds}


def fix_structural_zeros(block: Block) -> Block:
    """Fix to 0 the block's columns that are zero in every joint LP it can enter, and return the block.

    A column is structurally zero when the block's own equality rows and bounds force it to 0 (dead ends, found by
    sign alone: :func:`~kingems_ray.analysis.reduction.reduce_columns`). A joint LP only adds rows outside the block
    (environment, diet) and tightens bounds, so such a column stays 0 in every pair, for any kcats (the signs of
    kcat entries do not change). Fixing them once per model spares HiGHS's presolve finding them again in every
    pair: 15-20 % of an AGORA ecGEM block's columns. Exact: the same optimum (sums of growth equal to 1.5e-14 on 45
    AGORA ecGEM pairs, labels equal). Measured gain small: reduced ecGEM pairs 5-8 % faster when alternated in one
    run, none visible in ``scripts/bench_ec_pairs.py`` (105 vs 107 ms per pair in two runs); full-LP pairs 2.3 ->
    1.9 s.
    """
    red = reduce_columns(block.A, block.row_lb, block.row_ub, block.col_lb, block.col_ub,
                         np.zeros(block.n_cols, dtype=bool))
    if red.zero.any():
        block.col_lb = np.where(red.zero, 0.0, block.col_lb)
        block.col_ub = np.where(red.zero, 0.0, block.col_ub)
    return block


#: Pair blocks of this process (coupling rows built once per model and setting, structural zeros fixed).
_BLOCKS = BlockStore(prepare=fix_structural_zeros)


def pair_block(member: Member, coupling: float | None, u: float, reduced: bool = False) -> Block:
    """The cached pair block of ``member`` for this coupling (``reduced``: an ecGEM's enzyme columns projected out
    and its pool row held out, see :func:`~kingems_ray.community.joint.make_block`)."""
    return _BLOCKS.get(member, coupling=coupling, coupling_u=u, reduce_enzymes=reduced, lazy_pool=reduced)


def _as_member(m: Member | CompiledModel) -> Member:
    return m if isinstance(m, Member) else member_from_compiled(m)


def single_growth(
    member: Member | CompiledModel,
    diet: Diet | str,
    coupling: float | None = COUPLING_C,
    coupling_u: float = COUPLING_U,
    presolve: bool = True,
    fast: bool = True,
) -> SingleGrowth:
    """Growth of an organism alone in the lumen set-up (diet on the lumen, coupled reactions).

    ``fast`` (ecGEMs only; plain models are solved the same either way): the reduced block with the pool row held
    out (:func:`_solve_joint`), the same growth as the full LP (``fast=False``) in a fraction of the time.
    """
    t0 = time.perf_counter()
    mem = _as_member(member)
    diet = read_diet(diet)
    blk = pair_block(mem, coupling, coupling_u, reduced=fast)
    joint = assemble([blk], diet)
    status, _, x = _solve_joint(joint, presolve=presolve)
    g = joint.growth(x, 0) if x is not None else float("nan")
    return SingleGrowth(mem.name, g, status, time.perf_counter() - t0)


def pair_problem(a: Member, b: Member, diet: Diet, coupling: float | None = COUPLING_C,
                 coupling_u: float = COUPLING_U, min_growth: float = MIN_GROWTH, reduced: bool = False) -> JointLP:
    """The joint LP of two organisms: objective the sum of biomasses, each biomass >= ``min_growth``.

    ``reduced``: ecGEM blocks with enzyme columns projected out and pool rows held out (solve it with
    :func:`_solve_joint`); the full LP (default) keeps every kcat entry as compiled.
    """
    ba, bb = pair_block(a, coupling, coupling_u, reduced), pair_block(b, coupling, coupling_u, reduced)
    joint = assemble([ba, bb], diet)
    for i in (0, 1):
        cols, _ = joint.growth_cols(i)
        joint.lp.col_lb[cols[0]] = max(joint.lp.col_lb[cols[0]], min_growth)
    return joint


def run_pair(
    compiled_a: Member | CompiledModel,
    compiled_b: Member | CompiledModel,
    diet: Diet | str,
    single_a: SingleGrowth | float | None = None,
    single_b: SingleGrowth | float | None = None,
    coupling: float | None = COUPLING_C,
    coupling_u: float = COUPLING_U,
    min_growth: float = MIN_GROWTH,
    sig: float = SIG_D,
    presolve: bool = True,
    fast: bool = True,
) -> dict:
    """Simulate one pair and classify the interaction.

    Parameters
    ----------
    compiled_a, compiled_b : Member or CompiledModel
        Plain or enzyme-constrained (each keeps its own protein pool).
    diet : Diet or str
    single_a, single_b : SingleGrowth or float, optional
        Growth alone, when already known (a sweep computes it once per model); computed otherwise.
    coupling, coupling_u, min_growth, sig :
        Protocol parameters (400, 0.01, 0.001, 0.1).
    presolve : bool
    fast : bool
        ecGEM members: solve the reduced pair LP (enzyme columns projected out, pool rows added only when violated;
        :func:`_solve_joint`). Same growth and label as ``fast=False`` (the full LP), ~20x faster. Plain members
        are solved the same either way.

    Returns
    -------
    dict
        Keys of :data:`PAIR_COLUMNS`. Infeasible problems are recorded (``interaction == "Infeasible"``), not raised.
    """
    t0 = time.perf_counter()
    a, b = _as_member(compiled_a), _as_member(compiled_b)
    diet = read_diet(diet)
    sa = single_a if single_a is not None else single_growth(a, diet, coupling, coupling_u, presolve, fast)
    sb = single_b if single_b is not None else single_growth(b, diet, coupling, coupling_u, presolve, fast)

    def _g(s):
        return (s.growth, s.status) if isinstance(s, SingleGrowth) else (float(s), "optimal")

    ga, sta = _g(sa)
    gb, stb = _g(sb)
    joint = pair_problem(a, b, diet, coupling, coupling_u, min_growth, reduced=fast)
    status, _, x = _solve_joint(joint, presolve=presolve)
    row = pair_outcome(a.name, b.name, ga, sta, gb, stb, status, x, joint, sig)
    return {**row, "n_lumen": len(joint.env_keys), "seconds": time.perf_counter() - t0}


def pair_outcome(name_a: str, name_b: str, growth_a: float, status_a: str, growth_b: float, status_b: str,
                 status: str, x: np.ndarray | None, joint: JointLP, sig: float = SIG_D) -> dict:
    """Paired growths read from the pair LP's solution ``x`` and the interaction they make with the growths alone.

    Returns
    -------
    dict
        ``model_a, model_b, growth_a_alone, growth_b_alone, growth_a_paired, growth_b_paired, outcome_a, outcome_b,
        interaction, giver, taker, status``; a problem not solved to optimality labels the pair ``Infeasible`` and
        names it in ``status``.
    """
    pa = joint.growth(x, 0) if x is not None else float("nan")
    pb = joint.growth(x, 1) if x is not None else float("nan")
    if status != "optimal" or status_a != "optimal" or status_b != "optimal":
        oa = ob = total = "Infeasible"
        bad = [f"paired {status}"] if status != "optimal" else []
        bad += [f"{name_a} alone {status_a}"] if status_a != "optimal" else []
        bad += [f"{name_b} alone {status_b}"] if status_b != "optimal" else []
        st = "; ".join(bad)
    else:
        oa, ob, total = classify(pa, pb, growth_a, growth_b, sig)
        st = "optimal"
    giver, taker = giver_taker(oa, ob, name_a, name_b)
    return {
        "model_a": name_a, "model_b": name_b,
        "growth_a_alone": float(growth_a), "growth_b_alone": float(growth_b),
        "growth_a_paired": float(pa), "growth_b_paired": float(pb),
        "outcome_a": oa, "outcome_b": ob, "interaction": total, "giver": giver, "taker": taker, "status": st,
    }


def pair_exchanges(a: Member, b: Member, diet: Diet | str, coupling: float | None = COUPLING_C,
                   min_growth: float = MIN_GROWTH, tol: float = 1e-6):
    """Secretion (+) / uptake (-) of each organism in the paired optimum, for cross-feeding analysis.

    Returns
    -------
    DataFrame
        ``model, metabolite, flux`` for fluxes above ``tol``; empty when the pair is infeasible.
    """
    import pandas as pd

    diet = read_diet(diet)
    joint = pair_problem(a, b, diet, coupling, COUPLING_U, min_growth)
    status, _, x = _solve(joint.lp)
    rows = []
    if x is not None:
        for i, blk in enumerate(joint.blocks):
            v = x[joint.col_offset[i] + blk.env_cols] * blk.env_coef
            for k, f in zip(blk.env_keys, v):
                if abs(f) > tol:
                    rows.append({"model": blk.member.name, "metabolite": k, "flux": float(f)})
    return pd.DataFrame(rows, columns=["model", "metabolite", "flux"])
