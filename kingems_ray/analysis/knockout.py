"""Single-gene knockout screens over media / carbon sources on one persistent solver.

For every condition (a medium applied in place, then reverted) the wild type is solved once; then each gene's
knockout is decided in the cheapest exact way:

1. the gene disables no reaction (and, in an ecGEM, has no enzyme column): growth = wild-type growth, no LP;
2. every column the knockout forces to zero (the net flux columns of the disabled reactions, and for an ecGEM the
   gene's enzyme column E_g) is already zero in the wild-type optimum: that optimum stays feasible and nothing
   better can appear in a smaller feasible set, so growth = wild-type growth exactly, no LP;
3. another gene of this condition already had exactly the same set of forced-zero columns: reuse its result;
3b. the caller knows the knockout has zero growth in a relaxation of this LP (``zero_growth``: e.g. the same
   ecGEM with its enzyme pool removed, which no kcat value can tighten; the sampled screens of
   :mod:`.sampled` pass it): this LP's optimum is at most that, so growth = 0 exactly, no LP;
4. otherwise: temporary bounds (restored on exit), dual simplex warm-started from the current basis.

In an ecGEM, knocking out gene g also fixes E_g = 0. When g's reactions are disabled that is implied (their
flux is zero, so g's enzyme is useless), but it also removes g's isoenzyme clause from reactions that stay active
through another isoenzyme, which the GPR alone does not do: the reaction then runs on the other enzymes' capacity.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..ec.compile import CompiledModel
from ..ec.problem import Problem
from ..errors import KingemsError
from ..gem.media import Medium, medium_applied
from ..parallel import process_map, worker_state

#: Columns whose wild-type value is within this of zero count as carrying no flux.
ZERO_TOL = 1e-9
DEVEX = 1  # HiGHS simplex_dual_edge_weight_strategy value

COLUMNS = [
    "gene_id",
    "condition",
    "growth",
    "status",
    "wild_type_growth",
    "relative_growth",
    "n_reactions_off",
    "solved",
    "method",
]


@dataclass(frozen=True)
class KnockoutTarget:
    """What knocking out one gene does to the LP.

    Attributes
    ----------
    reactions : tuple of int
        Indices of the reactions the GPRs disable.
    columns : tuple of int
        Every LP column forced to zero: flux columns of those reactions, plus E_g in an ecGEM.
    """

    reactions: tuple[int, ...]
    columns: tuple[int, ...]

    @property
    def key(self) -> frozenset[int]:
        """Identity of the knockout's effect on the LP (genes with equal keys give equal growth)."""
        return frozenset(self.columns)


def knockout_targets(compiled: CompiledModel, genes: Iterable[str] | None = None) -> dict[str, KnockoutTarget]:
    """Evaluate the GPRs once: for each gene, the reactions and LP columns its knockout switches off.

    :meth:`CompiledModel.knockout_reactions` and :meth:`CompiledModel.knockout_columns` per gene.

    Raises
    ------
    KingemsError
        When a gene is not in the model (all unknown ids are listed).
    """
    cm = compiled
    known = set(cm.gene_ids)
    genes = list(cm.gene_ids) if genes is None else list(genes)
    unknown = [g for g in genes if g not in known]
    if unknown:
        more = f" (+{len(unknown) - 5} more)" if len(unknown) > 5 else ""
        raise KingemsError(f"gene(s) not in model {cm.model_id!r}: {', '.join(map(str, unknown[:5]))}{more}")
    return {g: KnockoutTarget(reactions=tuple(cm.knockout_reactions([g])), columns=cm.knockout_columns([g]))
            for g in genes}


def _screen_condition(
    problem: Problem,
    condition: str,
    medium: Medium | None,
    genes: Sequence[str],
    targets: Mapping[str, KnockoutTarget],
    close_others: bool = True,
    shortcuts: bool = True,
    zero_growth: frozenset[str] | set[str] = frozenset(),
    start_basis=None,
) -> list[tuple]:
    """All knockouts of ``genes`` in one condition; the problem is left as it was found.

    ``zero_growth``: genes whose knockout has zero growth in a relaxation of this LP (rule 3b of the module
    docstring). ``start_basis``: the basis the wild-type solve starts from (a fixed one, e.g. the point model's,
    keeps the result independent of the order of work); ``None`` solves it cold.
    """
    rows: list[tuple] = []
    lp = problem.solver
    with medium_applied(problem, medium, close_others=close_others), _knockout_pricing(problem):
        # A cold wild-type solve per unit of work: the same vertex whichever process or order solves it, so the
        # no-LP decisions (and the `method` column) do not depend on how the screen was split.
        if start_basis is None:
            lp.cold_start()
        else:
            lp.set_basis(start_basis)
        lp.set_strategy("dual")
        wt = problem.optimize(need_x=True)
        if not wt.ok:
            for g in genes:
                t = targets[g]
                rows.append((g, condition, 0.0, wt.status, float("nan"), float("nan"), len(t.reactions), False,
                             "wild_type_" + wt.status))
            return rows
        wt_growth = float(wt.objective)
        x = wt.x
        # Every knockout LP starts from the wild-type optimal basis: after fixing columns to zero it is still dual
        # feasible, so dual simplex needs few iterations (chaining from the previous knockout's basis needs ~8x more).
        wt_basis = lp.basis()
        # The state every knockout returns to (only the knocked-out columns differ, so only they are pushed back).
        wild_type = problem.snapshot()
        cache: dict[frozenset[int], tuple[float, str]] = {}
        for g in genes:
            t = targets[g]
            if not t.columns:
                growth, status, solved, method = wt_growth, "optimal", False, "no_effect"
            elif shortcuts and np.all(np.abs(x[list(t.columns)]) <= ZERO_TOL):
                growth, status, solved, method = wt_growth, "optimal", False, "zero_flux"
            elif shortcuts and t.key in cache:
                growth, status = cache[t.key]
                solved, method = False, "same_as_previous"
            elif shortcuts and g in zero_growth:
                # status "optimal": this LP is feasible iff its zero-growth point is (not decided without an LP)
                growth, status, solved, method = 0.0, "zero_in_relaxation", False, "zero_in_relaxation"
            else:
                cols = np.asarray(t.columns, dtype=int)
                lp.set_basis(wt_basis)
                lp.set_col_bounds(cols, np.zeros(cols.size), np.zeros(cols.size))
                try:
                    res = problem.optimize(need_x=False)
                finally:
                    problem.restore(wild_type)
                if res.ok:
                    growth, status = float(res.objective), "optimal"
                elif res.status == "infeasible":
                    growth, status = 0.0, "infeasible"
                else:
                    growth, status = float("nan"), res.status
                cache[t.key] = (growth, status)
                solved, method = True, "lp"
            rel = growth / wt_growth if abs(wt_growth) > 1e-12 else float("nan")
            rows.append((g, condition, growth, status, wt_growth, rel, len(t.reactions), solved, method))
    return rows


def _knockout_pricing(problem: Problem) -> contextlib.AbstractContextManager:
    """Dual pricing for a condition's knockout LPs, which restart from the wild-type basis (edge weights afresh).

    On ecGEMs devex is cheaper then (iML1515 L4: 27 vs 47 ms per LP, optima equal to 1e-11); on plain models HiGHS'
    default (steepest edge) is faster (10 vs 12 ms). HiGHS reads the setting when its simplex solver is set up, so
    this must enclose the cold wild-type solve. The previous setting is restored on exit.
    """
    if problem.cm.enzyme_col:
        return problem.solver.option("simplex_dual_edge_weight_strategy", DEVEX)
    return contextlib.nullcontext()


# -- parallel path (plain multiprocessing; a Ray layer would wrap `_screen_condition` per unit the same way) -----
def _worker_setup(compiled: CompiledModel, close_others: bool, shortcuts: bool) -> dict:
    return {"problem": Problem(compiled, threads=1), "targets": knockout_targets(compiled),
            "options": {"close_others": close_others, "shortcuts": shortcuts}}


def _run_unit(args: tuple) -> list[tuple]:
    condition, medium, genes, zero, basis = args
    w = worker_state()
    return _screen_condition(w["problem"], condition, medium, genes, w["targets"], **w["options"],
                             zero_growth=zero, start_basis=basis)


def _gene_chunks(genes: Sequence[str], targets: Mapping[str, KnockoutTarget], n_chunks: int) -> list[list[str]]:
    """Split genes into chunks that never separate genes with the same knockout effect."""
    groups: dict[frozenset[int], list[str]] = {}
    for g in genes:
        groups.setdefault(targets[g].key, []).append(g)
    size = max(1, int(np.ceil(len(genes) / max(1, n_chunks))))
    chunks: list[list[str]] = [[]]
    for members in groups.values():
        if len(chunks[-1]) >= size:
            chunks.append([])
        chunks[-1].extend(members)
    return [c for c in chunks if c]


def knockout_screen(
    target: Problem | CompiledModel,
    conditions: Mapping[str, Medium | None] | None = None,
    genes: Sequence[str] | None = None,
    processes: int = 1,
    close_others: bool = True,
    chunks_per_process: int = 4,
    shortcuts: bool = True,
    zero_growth: Mapping[str, Iterable[str]] | None = None,
    start_bases: Mapping[str, object] | None = None,
    check_wild_type: bool = True,
) -> pd.DataFrame:
    """Every single-gene knockout in every condition.

    Parameters
    ----------
    target : Problem or CompiledModel
        A plain or enzyme-constrained model; a :class:`Problem` is reused and left as it was found.
    conditions : mapping, optional
        Condition name -> medium (see :mod:`kingems_ray.gem.media`); ``None`` as a medium, or no mapping at all,
        means the model's own bounds (one condition named ``"model"``).
    genes : sequence of str, optional
        Genes to knock out (default: all genes of the model).
    processes : int
        Worker processes; 1 runs in this process. The parallel path returns the same table.
    close_others : bool
        Close the uptake of exchanges a medium does not list.
    chunks_per_process : int
        Work units per process wanted in the parallel path (conditions first, then gene chunks).
    shortcuts : bool
        Skip the LP where the result is known exactly (zero-flux knockouts, repeated knockout sets). ``False``
        solves an LP for every gene that changes the LP (for testing the shortcuts).
    zero_growth : mapping, optional
        Condition -> genes whose knockout has zero growth in a relaxation of this LP (growth 0 without an LP,
        method and status ``zero_in_relaxation``; only with ``shortcuts``). The caller is responsible for the
        relaxation being one (:func:`kingems_ray.analysis.sampled.relaxed_zero_growth`).
    start_bases : mapping, optional
        Condition -> basis the wild-type solve starts from (default: a cold solve).
    check_wild_type : bool
        Raise a diagnosis when the wild type fails in every condition (default). ``False`` returns the rows
        (method ``wild_type_<status>``, growth 0): a sampled kcat vector that cannot feed the wild type is an
        outcome, not an error.

    Returns
    -------
    DataFrame
        One row per (condition, gene), in condition then gene order: ``gene_id, condition, growth`` [1/h],
        ``status`` (``optimal``; ``infeasible`` has growth 0), ``wild_type_growth``, ``relative_growth``,
        ``n_reactions_off``, ``solved`` (an LP was run for this row) and ``method`` (``lp``, ``zero_flux``,
        ``no_effect``, ``same_as_previous``, ``zero_in_relaxation``, ``wild_type_<status>``). ``attrs["n_lp"]``
        counts the LPs.

    Raises
    ------
    KingemsError
        Unknown genes.
    """
    problem = target if isinstance(target, Problem) else None
    cm = problem.cm if problem is not None else target
    conditions = {"model": None} if conditions is None else dict(conditions)
    targets = knockout_targets(cm, genes)
    gene_list = list(targets)
    zero = {c: frozenset(v) for c, v in (zero_growth or {}).items()}
    bases = dict(start_bases or {})
    rows: list[tuple] = []
    if processes <= 1:
        problem = problem or Problem(cm)
        for cond, med in conditions.items():
            rows += _screen_condition(problem, cond, med, gene_list, targets, close_others, shortcuts,
                                      zero.get(cond, frozenset()), bases.get(cond))
    else:
        # Conditions are the natural units (one wild-type solve each); genes are split only when there are too few
        # conditions to keep every process busy, since every extra unit repeats the cold wild-type solve.
        n_chunks = max(1, int(np.ceil(processes * chunks_per_process / max(1, len(conditions)))))
        chunks = _gene_chunks(gene_list, targets, n_chunks)
        units = [(cond, med, ch, zero.get(cond, frozenset()), bases.get(cond)) for cond, med in conditions.items()
                 for ch in chunks]
        for part in process_map(_run_unit, units, processes, _worker_setup, (cm, close_others, shortcuts)):
            rows += part
    df = pd.DataFrame(rows, columns=COLUMNS)
    order_c = {c: i for i, c in enumerate(conditions)}
    order_g = {g: i for i, g in enumerate(gene_list)}
    df = (
        df.assign(_c=df["condition"].map(order_c), _g=df["gene_id"].map(order_g))
        .sort_values(["_c", "_g"], kind="stable")
        .drop(columns=["_c", "_g"])
        .reset_index(drop=True)
    )
    from ..ec.diagnose import check_screen_wild_type

    if check_wild_type:
        check_screen_wild_type(df, problem if problem is not None else cm, conditions)  # no all-"lethal" screens
    df.attrs["n_lp"] = int(df["solved"].sum())
    df.attrs["level"] = cm.level
    df.attrs["model_id"] = cm.model_id
    return df


def single_gene_knockouts(problem: Problem, genes: Sequence[str] | None = None) -> pd.DataFrame:
    """Knockouts in the problem's current state (its own medium): :func:`knockout_screen` with one condition."""
    return knockout_screen(problem, None, genes=genes)
