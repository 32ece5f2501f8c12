"""Per-sample communities of a cohort: growth, exchanges, production, perturbations, elasticities.

Each sample is assembled from compiled taxa (:class:`MemberLibrary`: members loaded once per process from the
compiled-model cache, pooled rank models built once and kept under a content key), never from SBML per sample.
:func:`run_sample` is a plain function a sweep unit calls; it never raises for bad input of one sample: a sample
whose taxa all miss, abundances summing to zero, an unknown diet or an unknown probiotic/gene come back as a
status and an error message in the sample's row.

What a sample gives (all tidy, joinable on ``sample_id``, ``taxon``, ``metabolite``):

* ``growth``: per taxon the cooperative trade-off growth rate (MICOM's ``cooperative_tradeoff``, unique);
* ``exchanges``: per taxon and metabolite the exchange flux with the medium (per gDW and abundance weighted),
  plus the community's net exchange with the outside as taxon ``medium`` (MICOM's layout); fluxes come from a
  parsimonious step as MICOM's ``grow(strategy="pFBA")``: growth rates fixed at the trade-off values, the sum of
  absolute fluxes of all reactions minimised (an LP on split columns);
* ``production``: for chosen metabolites the community's *maximal* net production while every taxon grows at its
  trade-off rate (one LP each; unique, unlike a single flux vector's value);
* ``perturbations``: per perturbation the trade-off growth of every taxon and the maximal production of the
  chosen metabolites, with deltas against the sample's baseline.

Elasticities (:func:`elasticities`) are finite differences: the relative change of maximal production (and of
community growth) for a relative change ``h`` of one diet component's uptake limit or of one taxon's abundance,
each point a full trade-off re-solve.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import KingemsError
from ..solver.highs import LinearProblem, PersistentLP
from .community import Community, TradeoffResult, TradeoffState
from .diets import Diet, read_diet
from .models import Member, load_member, member_from_compiled
from .taxonomy import SampleSpec, TaxonModel, build_pooled, pooled_key

log = logging.getLogger(__name__)

#: Butyrate, propionate, acetate, hydrogen sulfide (AGORA / VMH ids).
DEFAULT_METABOLITES = ["but", "ppa", "ac", "h2s"]
#: Where a sample's exchange fluxes come from (see :func:`run_sample`).
FLUX_STRATEGIES = ("pfba", "minimal_imports", "tradeoff", "none")
GROWTH_TOL = 1e-6


class MemberLibrary:
    """Compiled community members, loaded once per process.

    Single-model taxa come from :func:`~kingems_ray.community.models.load_member` (its on-disk cache of compiled
    models); pooled taxa (several files) are joined as MICOM's ``join_models`` and stored in the content-keyed
    :class:`~kingems_ray.store.cache.CompiledCache` (key: the member files' contents).

    Parameters
    ----------
    cache_dir : path, optional
        Cache folder for both (default: the caches' own defaults).
    max_members : int
        Members kept in memory (least recently used dropped).
    """

    def __init__(self, cache_dir: str | Path | None = None, max_members: int = 400) -> None:
        self.cache_dir = cache_dir
        self.max_members = max_members
        self._mem: OrderedDict[str, Member] = OrderedDict()
        self.n_loaded = 0

    def get(self, taxon: TaxonModel | dict) -> Member:
        """The member of a taxon (named after the taxon).

        Raises
        ------
        ModelLoadError, KingemsError
            A model file that is missing or unreadable.
        """
        if isinstance(taxon, dict):
            taxon = TaxonModel(taxon["name"], list(taxon["files"]), taxon.get("rank", ""))
        key = "|".join(taxon.files)
        if key in self._mem:
            self._mem.move_to_end(key)
            mem = self._mem[key]
        else:
            if taxon.pooled:
                from ..store.cache import CompiledCache

                cache = CompiledCache(Path(self.cache_dir) / "pooled" if self.cache_dir else None)
                ckey = pooled_key(taxon.files).split(":", 1)[1]
                cm, _ = cache.get_or_compile(ckey, lambda: build_pooled(taxon.files, taxon.name))
                mem = member_from_compiled(cm, name=taxon.name, source=";".join(taxon.files))
            else:
                mem = load_member(taxon.files[0], cache_dir=self.cache_dir)
            self._mem[key] = mem
            self.n_loaded += 1
            while len(self._mem) > self.max_members:
                self._mem.popitem(last=False)
        if mem.name != taxon.name:  # same compiled model, the sample's name for it
            mem = Member(taxon.name, mem.compiled, mem.ex_rxn, mem.ex_key, mem.ex_sign, mem.biomass, mem.source,
                         mem.info)
        return mem


# -- solve policy for large communities ---------------------------------------------------------------------------
#: Simplex iterations a warm-started solve may take before it is abandoned for a cold solve with presolve.
WARM_ITERATION_LIMIT = 3000
#: Simplex iterations a production LP may take from its start (the previous metabolite's optimum, or the baseline's
#: basis for that metabolite) before it is solved cold. On a 36-taxon sample a limit of 2,000 sent more LPs cold
#: (3-4 s each with presolve) and made the perturbations slower than this one.
PRODUCTION_WARM_LIMIT = 5000
#: A production LP started from the baseline's basis also stops after this multiple of the seconds a cold solve of
#: it takes (at least :data:`PRODUCTION_MIN_WARM_S`), then is solved cold: no iteration limit fits every sample (on
#: a 20-taxon sample the h2s LP walked 3,000-5,000 warm iterations, 2-5 s, where its cold solve took 0.5-0.7 s; on
#: a 40-taxon sample a cold solve costs 2-3 s and most warm ones finish in 0.05-0.5 s).
PRODUCTION_WARM_TIME_FACTOR = 1.0
PRODUCTION_MIN_WARM_S = 0.05


@dataclass
class ProductionStart:
    """Where a perturbation's production LP for one metabolite starts: the baseline's optimal basis of that LP,
    and the wall seconds a cold solve of it takes (the warm solve's time budget).

    ``cold_s`` starts as the baseline's one cold production LP (the first metabolite's; the later ones ran warm
    from it, whose bases proved better starts than cold solves' on a 40-taxon sample); it is replaced by the
    measured time when a perturbation's LP for this metabolite falls back to a cold solve.
    """

    basis: object
    cold_s: float


def use_presolve_fallback(com: Community, limit: int = WARM_ITERATION_LIMIT) -> Community:
    """Make the community's solver try each solve warm for at most ``limit`` iterations, then cold with presolve.

    Measured on a 20-taxon AGORA sample (19,957 x 21,085 LP, one core): a warm-started oracle LP of the trade-off
    took 0.01 s or 12.2 s CPU depending on how far the new optimum lies; a cold solve with presolve took 0.4 s and
    the first maximal-growth LP 3.8 s with presolve against 15.1 s without. Warm starts stay (cheap when they
    work); the slow ones are cut off. With Devex pricing (set here) a perturbation's max-growth LP from the
    baseline basis took 0.1-0.6 s CPU within 3,000 iterations on that sample, where a 300 limit sent some cold
    (1.9 s). Returns ``com`` (its ``solver.solve`` replaced on this instance only).
    """
    solver = com.solver
    # Devex dual pricing: a perturbation's first LP starts from the baseline's basis; with the default pricing
    # (steepest edge, whose weights are recomputed at a new basis) it took 2-3 s CPU on a 20-taxon sample, with
    # Devex 0.2-0.5 s; the same optimum either way.
    solver.set_option("simplex_dual_edge_weight_strategy", 1)

    def solve(need_x: bool = True):
        return solver.solve_capped(limit, need_x, retry_on=("iteration_limit", "unknown", "error", "time_limit"))

    solver.solve = solve
    return com


# -- reading a solved community ----------------------------------------------------------------------------------
def _force_objective(com: Community, cols, coefs, maximize: bool) -> None:
    """Set the objective on the community's solver whatever costs it holds now.

    ``Community`` changes costs itself during the trade-off, so the solver's record of its costs may be stale:
    mark every cost unknown so that :meth:`PersistentLP.set_objective` rewrites all of them.
    """
    s = com.solver
    s._cost = np.full(s.n_cols, np.nan)  # noqa: SLF001 - see docstring
    s._maximize = None  # noqa: SLF001
    s.set_objective(cols, coefs, maximize=maximize)


def _biomass_cols(com: Community) -> list[int]:
    return [com.joint.growth_cols(i)[0][0] for i in range(len(com.members))]


def _fixed_growth_bounds(mu: np.ndarray, rtol: float = 1e-6, atol: float = 1e-9):
    lo = np.maximum((1.0 - rtol) * mu - atol, 0.0)
    hi = np.maximum(mu * (1.0 + rtol) + atol, lo)
    return lo, hi


def max_production(com: Community, growth: pd.Series | np.ndarray, metabolites: list[str],
                   starts: dict[str, ProductionStart] | None = None,
                   bases: dict[str, ProductionStart] | None = None) -> dict[str, float]:
    """Maximal net community production of each metabolite with every taxon at its given growth rate.

    Parameters
    ----------
    com : Community
    growth : Series or array
        Growth rate per taxon (fixed to a relative 1e-6 for these LPs).
    metabolites : list of str
        Environment metabolite ids; those the community cannot exchange give NaN, as does an infeasible LP.
    starts : dict, optional
        Metabolite -> :class:`ProductionStart` of an earlier call on this community
        (:attr:`SampleCommunity.production_bases`: the baseline's). Such an LP starts from that basis by the dual
        simplex (a perturbation changes bounds only, so the basis stays dual feasible), for at most
        :data:`PRODUCTION_WARM_LIMIT` iterations and :data:`PRODUCTION_WARM_TIME_FACTOR` times the start's
        ``cold_s``, then cold (and ``cold_s`` becomes that cold solve's time). On a 36-taxon sample the four
        LPs of a taxon removal took 0.2-1.5 s CPU this way against 7-13 s by the primal simplex from the
        trade-off's vertex (values equal to 1e-6).
    bases : dict, optional
        Filled with a :class:`ProductionStart` per metabolite (to pass as ``starts`` later).

    Without a start, the call's first LP is solved cold with presolve and each later one by the primal simplex
    from the previous optimum (same feasible set, new objective).
    """
    out = {m: float("nan") for m in metabolites}
    cols_b = _biomass_cols(com)
    mu = growth.reindex(com.taxa).fillna(0.0).to_numpy(float) if isinstance(growth, pd.Series) else \
        np.nan_to_num(np.asarray(growth, float))
    lo, hi = _fixed_growth_bounds(mu)
    pos = {k: i for i, k in enumerate(com.joint.env_keys)}
    s = com.solver
    starts = {m: st for m, st in (starts or {}).items()
              if len(getattr(st.basis, "col_status", ())) == s.n_cols
              and len(getattr(st.basis, "row_status", ())) == s.n_rows}  # a basis of another LP shape cannot start
    have_vertex = False
    cold_s = float("nan")
    with s.temporary_col_bounds(cols_b, lo, hi):
        for m in metabolites:
            if m not in pos:
                continue
            _force_objective(com, [com.joint.env_col0 + pos[m]], [1.0], maximize=True)
            if m in starts:
                st = starts[m]
                s.set_basis(st.basis)
                s.set_strategy("dual")
                budget = PRODUCTION_WARM_TIME_FACTOR * st.cold_s if np.isfinite(st.cold_s) else None
                res = PersistentLP.solve_capped(
                    s, PRODUCTION_WARM_LIMIT, need_x=False, retry_on=(),
                    max_seconds=None if budget is None else max(PRODUCTION_MIN_WARM_S, budget))
                if res.status in Community.WARM_RETRY_ON:  # solved cold here, to time it
                    t0 = time.perf_counter()
                    res = s.solve_cold(need_x=False)
                    st.cold_s = time.perf_counter() - t0  # the budget of later perturbations' LPs
            elif have_vertex:
                s.set_strategy("primal")
                try:
                    res = com._warm_or_cold(PRODUCTION_WARM_LIMIT, need_x=False)  # noqa: SLF001
                finally:
                    s.set_strategy("dual")
            else:
                t0 = time.perf_counter()
                res = s.solve_cold(need_x=False)
                cold_s = time.perf_counter() - t0
            if res.ok:
                out[m] = float(res.objective)
                have_vertex = True
                if bases is not None:
                    bases[m] = ProductionStart(s.basis(), cold_s)
    return out


def pfba_problem(com: Community, growth: pd.Series, rtol: float = 1e-6, atol: float = 1e-6
                 ) -> tuple[LinearProblem, np.ndarray]:
    """The pFBA LP of a community at given growth rates (see :func:`pfba_fluxes`) and its split columns.

    Columns ``0..n-1`` are the community's (their positive parts), ``n..`` the negative parts of the columns listed
    in the returned index array.
    """
    lp = com.joint.lp
    n = lp.n_cols
    lb, ub = com.solver.col_bounds(np.arange(n))
    lb, ub = lb.copy(), ub.copy()
    mu = growth.reindex(com.taxa).fillna(0.0).to_numpy(float)
    for c, m in zip(_biomass_cols(com), mu):
        lb[c] = max((1.0 - rtol) * m - atol, 0.0)
    neg = np.nonzero(lb < 0)[0]
    A = lp.A.tocsc()
    A2 = sp.hstack([A, -A[:, neg]], format="csc")
    plb = np.concatenate([np.maximum(lb, 0.0), np.maximum(-ub[neg], 0.0)])
    pub = np.concatenate([np.maximum(ub, 0.0), -lb[neg]])
    w = com.joint.l1_weights()  # merged columns (linear pathways) stand for several reactions
    split = LinearProblem(A=A2, col_lb=plb, col_ub=pub, row_lb=lp.row_lb, row_ub=lp.row_ub,
                          cost=np.concatenate([w, w[neg]]), col_names=[], row_names=[], maximize=False)
    return split, neg


def pfba_fluxes(com: Community, growth: pd.Series, rtol: float = 1e-6, atol: float = 1e-6
                ) -> np.ndarray | None:
    """A flux vector with the given growth rates and the smallest sum of absolute fluxes (MICOM's pFBA step).

    As MICOM's ``add_pfba_objective``: each taxon's growth ``>= (1 - rtol) * mu - atol``, then minimise the sum of
    the forward and reverse parts of every reaction (taxa and medium). Solved as a separate LP on split columns
    built from the community's current bounds (so perturbations in force apply). Returns ``None`` when infeasible.
    """
    split, neg = pfba_problem(com, growth, rtol, atol)
    n = com.joint.lp.n_cols
    solver = PersistentLP(split, threads=1, presolve=True)
    res = solver.solve(need_x=True)
    if not res.ok:
        return None
    x = res.x[:n].copy()
    x[neg] -= res.x[n:]
    return x


def exchange_table(com: Community, x: np.ndarray, sample_id: str, tol: float = 1e-6) -> pd.DataFrame:
    """Per taxon and metabolite exchange fluxes (secretion > 0) plus the medium's net exchange (taxon ``medium``)."""
    ex = com.exchanges(x, tol)
    ex["abundance"] = ex["taxon"].map(com.abundances).astype(float)
    env = x[com.joint.env_col0: com.joint.env_col0 + len(com.joint.env_keys)]
    keep = np.abs(env) > tol
    med = pd.DataFrame({"taxon": "medium", "metabolite": np.asarray(com.joint.env_keys)[keep],
                        "flux": env[keep], "community_flux": env[keep], "abundance": 1.0})
    out = pd.concat([ex, med], ignore_index=True)
    out["direction"] = np.where(out["flux"] > 0, "export", "import")
    out.insert(0, "sample_id", sample_id)
    return out


# -- perturbations -----------------------------------------------------------------------------------------------
@dataclass
class Perturbation:
    """One perturbation of a sample.

    ``kind``: ``remove_taxon`` (``taxon``), ``diet`` (``diet``: a diet name/file, a swap), ``supplement``
    (``add``: ``{metabolite: uptake}``, one metabolite or a fibre mix, added to the sample's diet), ``probiotic``
    (``taxon``: a taxon spec dict ``{name, files}``, ``abundance``: its relative abundance after adding it; the
    others are scaled by ``1 - abundance``), ``gene_knockout`` (``taxon``, ``genes``).
    """

    kind: str
    label: str
    params: dict

    @classmethod
    def from_dict(cls, d: dict) -> Perturbation:
        """From a JSON-able dict (``{"kind": ..., ...}``; ``label`` optional)."""
        kind = d.get("kind")
        if kind == "remove_taxon":
            label = f"remove {d.get('taxon')}"
        elif kind == "diet":
            label = f"diet {Path(str(d.get('diet'))).name}"
        elif kind == "supplement":
            label = "supplement " + "+".join(f"{k}:{v:g}" for k, v in (d.get("add") or {}).items())
        elif kind == "probiotic":
            t = d.get("taxon") or {}
            label = f"probiotic {t.get('name') if isinstance(t, dict) else t}@{float(d.get('abundance', 0.1)):g}"
        elif kind == "gene_knockout":
            label = f"knockout {'+'.join(d.get('genes') or [])} in {d.get('taxon')}"
        else:
            raise KingemsError(f"unknown perturbation kind {kind!r} "
                               "(remove_taxon, diet, supplement, probiotic, gene_knockout)")
        return cls(kind, str(d.get("label") or label), dict(d))


def expand_perturbations(spec: dict | list | None, taxa: list[str]) -> list[dict]:
    """A sample's perturbation list from a screen spec.

    ``spec`` is a list of perturbation dicts, or a mapping with any of ``remove_each_taxon: true``,
    ``supplements: [{add: {...}, label: ...}]``, ``diets: [names]``, ``probiotics: [{taxon: {...}, abundance}]``,
    ``knockouts: [{taxon, genes}]``.
    """
    if spec is None:
        return []
    if isinstance(spec, list):
        return [dict(p) for p in spec]
    out: list[dict] = []
    if spec.get("remove_each_taxon"):
        out += [{"kind": "remove_taxon", "taxon": t} for t in taxa]
    for s in spec.get("supplements") or []:
        out.append({"kind": "supplement", **s})
    for d in spec.get("diets") or []:
        out.append({"kind": "diet", "diet": d})
    for p in spec.get("probiotics") or []:
        out.append({"kind": "probiotic", **p})
    for k in spec.get("knockouts") or []:
        out.append({"kind": "gene_knockout", **k})
    return out


@dataclass
class SampleCommunity:
    """A built sample: its community (persistent solver), diet and baseline."""

    spec: SampleSpec
    community: Community
    diet: Diet
    tradeoff: float
    baseline: TradeoffResult
    base_production: dict[str, float]
    build_s: float = 0.0
    #: metabolite -> the baseline's production LP's basis and cold cost (starts of the perturbations' LPs)
    production_bases: dict[str, ProductionStart] = field(default_factory=dict)

    def seed_for(self, other: Community) -> TradeoffState | None:
        """The baseline's cut tangent points carried to another community built from this sample (a probiotic
        added, other abundances): no basis fits a new LP, but the cuts still start its cutting planes near the
        optimum (:meth:`TradeoffState.cuts_only`)."""
        st = self.baseline.state
        return st.cuts_only(self.community.taxa, other.taxa) if st is not None else None


def tradeoff_and_production(com: Community, tradeoff: float, metabolites: list[str],
                            warm: TradeoffState | None = None, starts: dict[str, ProductionStart] | None = None,
                            bases: dict[str, ProductionStart] | None = None) -> tuple[TradeoffResult, dict[str, float]]:
    """The cooperative trade-off and, when it is optimal, :func:`max_production` at its growth rates.

    ``warm``: a baseline's ``state`` (perturbations); ``starts``: the baseline's production bases (perturbations
    that change bounds of the baseline's community); ``bases``: filled with the production LPs' bases (a
    baseline, see :func:`max_production`).
    """
    res = com.cooperative_tradeoff(tradeoff, warm=warm)
    if not res.ok:
        return res, {}
    return res, max_production(com, res.growth, metabolites, starts=starts, bases=bases)


def build_sample(spec: SampleSpec, library: MemberLibrary, diet: Diet, tradeoff: float = 0.5,
                 metabolites: list[str] | None = None) -> SampleCommunity:
    """Assemble a sample's community from compiled taxa and solve its baseline trade-off.

    Raises
    ------
    KingemsError
        A sample without usable taxa (callers record it).
    """
    if spec.error:
        raise KingemsError(spec.error)
    if not spec.taxa:
        raise KingemsError("no taxon of the sample matched a model")
    t0 = time.perf_counter()
    members = [library.get(t) for t in spec.taxa]
    com = use_presolve_fallback(Community(members, spec.abundances, diet))
    build_s = time.perf_counter() - t0
    bases: dict[str, ProductionStart] = {}
    base, prod = tradeoff_and_production(com, tradeoff, metabolites or [], bases=bases)
    return SampleCommunity(spec, com, diet, tradeoff, base, prod, build_s, bases)


def _run_perturbation(sc: SampleCommunity, p: Perturbation, library: MemberLibrary, metabolites: list[str]
                      ) -> tuple[TradeoffResult | None, dict[str, float], str]:
    com = sc.community
    kind = p.kind
    if kind == "remove_taxon":
        ctx = com.without_taxon(str(p.params["taxon"]))
    elif kind == "diet":
        ctx = com.with_diet(read_diet(p.params["diet"]))
    elif kind == "supplement":
        extra = p.params.get("add") or {}
        add = {str(k): float(sc.diet.uptake.get(str(k), 0.0)) + float(v) for k, v in extra.items()}
        ctx = com.with_diet(sc.diet.with_changes(add, name=p.label))
    elif kind == "gene_knockout":
        ctx = com.with_gene_knockout(str(p.params["taxon"]), list(p.params.get("genes") or []))
    elif kind == "probiotic":
        t = p.params["taxon"]
        tm = TaxonModel(t["name"], list(t["files"]), t.get("rank", "")) if isinstance(t, dict) else \
            TaxonModel(Path(str(t)).name.split(".")[0], [str(t)], "")
        a = float(p.params.get("abundance", 0.1))
        if not 0 < a < 1:
            raise KingemsError(f"probiotic abundance must be in (0, 1), got {a}")
        names = [x.name for x in sc.spec.taxa]
        ab = [x * (1 - a) for x in sc.spec.abundances]
        taxa = list(sc.spec.taxa)
        if tm.name in names:
            ab[names.index(tm.name)] += a
        else:
            taxa.append(tm)
            ab.append(a)
        members = [library.get(x) for x in taxa]
        com2 = use_presolve_fallback(Community(members, ab, sc.diet))
        res, prod = tradeoff_and_production(com2, sc.tradeoff, metabolites, warm=sc.seed_for(com2))
        return res, prod, ""
    else:
        raise KingemsError(f"unknown perturbation kind {kind!r}")
    with ctx:
        res, prod = tradeoff_and_production(com, sc.tradeoff, metabolites, warm=sc.baseline.state,
                                               starts=sc.production_bases)
    return res, prod, ""


def perturb_sample(sc: SampleCommunity, perturbations: list[dict], library: MemberLibrary,
                   metabolites: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run perturbations on a built sample; growth and production deltas against its baseline.

    A perturbation that fails (unknown taxon or gene, unreadable probiotic model, unknown diet) gives rows with
    status ``error`` and the message, never an exception.

    Returns
    -------
    growth : DataFrame
        ``sample_id, perturbation, kind, taxon, growth_base, growth, delta, community_growth_base,
        community_growth, status, error``.
    production : DataFrame
        ``sample_id, perturbation, kind, metabolite, production_base, production, delta``.
    """
    sid = sc.spec.sample_id
    g_rows, p_rows = [], []
    base_g = sc.baseline.growth
    for d in perturbations:
        try:
            p = Perturbation.from_dict(d)
        except KingemsError as exc:
            g_rows.append({"sample_id": sid, "perturbation": str(d), "kind": str(d.get("kind")), "taxon": None,
                           "status": "error", "error": str(exc)})
            continue
        try:
            res, prod, _ = _run_perturbation(sc, p, library, metabolites)
            err = ""
        except Exception as exc:  # noqa: BLE001 - one bad perturbation must not stop the sample
            res, prod, err = None, {}, f"{type(exc).__name__}: {exc}"
        growth = res.growth if res is not None else pd.Series(dtype=float)
        taxa = list(dict.fromkeys(list(base_g.index) + list(growth.index)))
        for t in taxa:
            gb = float(base_g.get(t, 0.0))
            gp = float(growth.get(t, np.nan)) if res is not None else np.nan
            if p.kind == "remove_taxon" and t == p.params.get("taxon") and res is not None:
                gp = 0.0
            g_rows.append({"sample_id": sid, "perturbation": p.label, "kind": p.kind, "taxon": t,
                           "growth_base": gb, "growth": gp, "delta": gp - gb,
                           "community_growth_base": sc.baseline.community_growth,
                           "community_growth": res.community_growth if res is not None else np.nan,
                           "status": res.status if res is not None else "error", "error": err})
        for m in metabolites:
            b = sc.base_production.get(m, np.nan)
            v = prod.get(m, np.nan)
            p_rows.append({"sample_id": sid, "perturbation": p.label, "kind": p.kind, "metabolite": m,
                           "production_base": b, "production": v, "delta": v - b})
    return pd.DataFrame(g_rows), pd.DataFrame(p_rows)


def run_sample(spec: SampleSpec | dict, library: MemberLibrary, diet: Diet | str | dict = "western",
               tradeoff: float = 0.5, perturbations: list[dict] | dict | None = None,
               metabolites: list[str] | None = None, fluxes: str = "pfba", min_growth: float = 1e-3,
               built: SampleCommunity | None = None, media: bool = False, media_min_growth: float = 0.01
               ) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """Everything about one sample; bad input is returned as a status, never raised.

    Parameters
    ----------
    spec : SampleSpec or its ``to_params`` dict
    library : MemberLibrary
    diet : Diet, name, file or mapping
    tradeoff : float
        Fraction of maximal community growth kept (MICOM's cooperative trade-off).
    perturbations : list or mapping, optional
        See :func:`expand_perturbations` and :class:`Perturbation`.
    metabolites : list of str, optional
        Metabolites whose maximal production is reported (default :data:`DEFAULT_METABOLITES`).
    fluxes : {"pfba", "minimal_imports", "tradeoff", "none"}
        Exchange fluxes from the pFBA step (MICOM ``grow(strategy="pFBA")``), from the smallest total import at the
        trade-off growth rates (MICOM ``grow``'s default strategy ``"minimal imports"``; about 4x cheaper than pFBA
        on a 20-taxon sample), from the trade-off's own vector, or none.
    min_growth : float
        A taxon counts as growing above this rate.
    built : SampleCommunity, optional
        An already built sample (reused between sweep units of the same sample).
    media : bool
        Also compute the sample's completed medium (:func:`~kingems_ray.community.medium.complete_medium`, LP:
        smallest total addition to the diet that lets every taxon reach ``media_min_growth``) and its minimal
        medium (:func:`~kingems_ray.community.medium.minimal_medium` at the trade-off growth rates).
    media_min_growth : float
        Growth every taxon must reach in the completed medium [1/h].

    Returns
    -------
    row : dict
        ``sample_id, status, community_growth, max_community_growth, n_taxa, n_growing,
        found_abundance_fraction, unmatched_taxa, unmatched_diet, error, build_s, solve_s``.
    tables : dict of DataFrame
        ``growth``, ``exchanges``, ``production``, ``perturbation_growth``, ``perturbation_production``; with
        ``media``: ``completed_medium`` (``sample_id, metabolite, diet_uptake, added, completed_uptake, status``;
        one row with ``status`` and no metabolite when nothing is needed or no completion exists) and
        ``minimal_medium`` (``sample_id, metabolite, uptake, status``).
    """
    t0 = time.perf_counter()
    spec = spec if isinstance(spec, SampleSpec) else SampleSpec.from_params(spec)
    mets = list(metabolites) if metabolites is not None else list(DEFAULT_METABOLITES)
    row: dict[str, Any] = {"sample_id": spec.sample_id, "sample_status": "error", "community_growth": np.nan,
                           "max_community_growth": np.nan, "n_taxa": len(spec.taxa), "n_growing": 0,
                           "found_abundance_fraction": spec.found_abundance_fraction,
                           "unmatched_taxa": ";".join(spec.unmatched), "unmatched_diet": "", "error": "",
                           "build_s": np.nan, "solve_s": np.nan}
    tables: dict[str, pd.DataFrame] = {}
    if fluxes not in FLUX_STRATEGIES:
        row["error"] = f"unknown fluxes strategy {fluxes!r} ({', '.join(FLUX_STRATEGIES)})"
        return row, tables
    try:
        d = read_diet(diet)
    except KingemsError as exc:
        row["error"] = f"diet: {exc}"
        return row, tables
    try:
        sc = built or build_sample(spec, library, d, tradeoff, mets)
    except Exception as exc:  # noqa: BLE001 - recorded per sample
        row["error"] = f"{type(exc).__name__}: {exc}" if not isinstance(exc, KingemsError) else str(exc)
        return row, tables
    base, com = sc.baseline, sc.community
    row.update(sample_status=base.status, community_growth=base.community_growth,
               max_community_growth=base.max_community_growth,
               n_growing=int((base.growth > min_growth).sum()) if base.ok else 0,
               unmatched_diet=";".join(com.joint.unmatched), build_s=sc.build_s)
    tables["growth"] = pd.DataFrame({"sample_id": spec.sample_id, "taxon": com.taxa,
                                     "abundance": com.abundances.to_numpy(),
                                     "growth_rate": base.growth.reindex(com.taxa).to_numpy(),
                                     "status": base.status})
    if base.ok and fluxes != "none":
        if fluxes == "pfba":
            x = pfba_fluxes(com, base.growth)
        elif fluxes == "minimal_imports":
            from .medium import minimal_imports

            x = minimal_imports(com, base.growth, base.community_growth)[1]
        else:
            x = base.x
        if x is not None:
            tables["exchanges"] = exchange_table(com, x, spec.sample_id)
    if media:
        tables.update(sample_media(sc, d, media_min_growth))
    if mets:
        tables["production"] = pd.DataFrame({"sample_id": spec.sample_id, "metabolite": mets,
                                             "max_production": [sc.base_production.get(m, np.nan) for m in mets]})
    plist = expand_perturbations(perturbations, com.taxa)
    if plist and base.ok:
        g, p = perturb_sample(sc, plist, library, mets)
        tables["perturbation_growth"] = g
        tables["perturbation_production"] = p
        row["n_perturbations"] = len(plist)
    row["solve_s"] = time.perf_counter() - t0 - sc.build_s if built is None else time.perf_counter() - t0
    return row, tables


def sample_media(sc: SampleCommunity, diet: Diet, min_growth: float = 0.01) -> dict[str, pd.DataFrame]:
    """A sample's completed medium and minimal medium as tidy tables (see :func:`run_sample` ``media``).

    Returns
    -------
    dict of DataFrame
        ``completed_medium`` and ``minimal_medium``. A failed completion (none within MICOM's limit of 1 per
        addition) or minimal medium is a row with its status, never an exception.
    """
    from .medium import complete_medium, minimal_medium

    sid = sc.spec.sample_id
    try:
        comp = complete_medium(sc.community, diet, min_growth=min_growth)
        status = comp.attrs.get("status", "optimal")
    except KingemsError as exc:
        comp, status = pd.DataFrame(), f"infeasible: {exc}"
    cols = ["metabolite", "diet_uptake", "added", "completed_uptake"]
    comp = comp.reindex(columns=cols) if len(comp) else pd.DataFrame([[None, np.nan, np.nan, np.nan]], columns=cols)
    comp.insert(0, "sample_id", sid)
    comp["status"] = status
    out = {"completed_medium": comp}
    base = sc.baseline
    if base.ok:
        mm = minimal_medium(sc.community, base.growth, base.community_growth)
        st = mm.attrs.get("status", "optimal")
        mm = mm.reindex(columns=["metabolite", "uptake"]) if len(mm) else \
            pd.DataFrame([[None, np.nan]], columns=["metabolite", "uptake"])
        mm.insert(0, "sample_id", sid)
        mm["status"] = st
        out["minimal_medium"] = mm
    return out


# -- elasticities ------------------------------------------------------------------------------------------------
def elasticities(sc: SampleCommunity, library: MemberLibrary, metabolites: list[str],
                 diet_components: list[str] | None = None, abundances: bool = True, h: float = 0.1
                 ) -> pd.DataFrame:
    """Elasticities of maximal production (and community growth) by forward finite differences.

    ``e = (y(x (1 + h)) - y(x)) / (y(x) h)`` for ``x`` an uptake limit of one diet component (the sample's
    community, diet changed in place) or one taxon's abundance (the community rebuilt with that abundance scaled
    and all renormalised, as MICOM's ``elasticities`` does for abundances). Each point re-solves the trade-off.

    Returns
    -------
    DataFrame
        ``sample_id, effector, kind, metabolite, base, perturbed, elasticity`` (``metabolite`` is
        ``community_growth`` for the growth elasticity).
    """
    rows = []
    sid = sc.spec.sample_id
    base_vals = dict(sc.base_production)
    base_vals["community_growth"] = sc.baseline.community_growth
    targets = list(metabolites) + ["community_growth"]

    def record(effector: str, kind: str, res: TradeoffResult, prod: dict[str, float]) -> None:
        vals = dict(prod)
        vals["community_growth"] = res.community_growth if res.ok else np.nan
        for m in targets:
            b, v = base_vals.get(m, np.nan), vals.get(m, np.nan)
            e = (v - b) / (b * h) if np.isfinite(b) and abs(b) > 1e-9 and np.isfinite(v) else np.nan
            rows.append({"sample_id": sid, "effector": effector, "kind": kind, "metabolite": m, "base": b,
                         "perturbed": v, "elasticity": e})

    com = sc.community
    for comp in diet_components if diet_components is not None else list(sc.diet.uptake):
        if comp not in sc.diet.uptake:
            continue
        d2 = sc.diet.with_changes({comp: sc.diet.uptake[comp] * (1 + h)})
        with com.with_diet(d2):
            res, prod = tradeoff_and_production(com, sc.tradeoff, metabolites, warm=sc.baseline.state,
                                                   starts=sc.production_bases)
        record(comp, "diet", res, prod)
    if abundances and len(sc.spec.taxa) > 1:
        members = [library.get(t) for t in sc.spec.taxa]
        for i, t in enumerate(sc.spec.taxa):
            ab = np.asarray(sc.spec.abundances, float).copy()
            ab[i] *= 1 + h
            c2 = use_presolve_fallback(Community(members, ab / ab.sum(), sc.diet))
            res, prod = tradeoff_and_production(c2, sc.tradeoff, metabolites, warm=sc.seed_for(c2))
            record(t.name, "abundance", res, prod)
    return pd.DataFrame(rows)
