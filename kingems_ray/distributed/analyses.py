"""The analyses a sweep can run: plain functions in a registry, name -> function.

An analysis is ``fn(target, params) -> dict | DataFrame | (dict, DataFrame)``:

* ``target`` is what its ``needs`` says: a :class:`~kingems_ray.ec.problem.Problem` (``"problem"``, the
  default: the model compiled once, the sweep's medium already applied and restored afterwards), the
  :class:`~kingems_ray.ec.compile.CompiledModel` (``"compiled"``) or a :class:`UnitInput` (``"input"``: the
  model's path and content id, for analyses that read the file themselves, e.g. kcat tables);
* ``params`` is the analysis's own parameters from the sweep config (JSON-able);
* a dict is the unit's row (scalars; nested values are stored as JSON text); a DataFrame is the unit's detail
  table (its row then holds ``n_rows``); a pair gives both.

Adding one is a decorator::

    from kingems_ray.distributed.analyses import register

    @register("my_analysis")
    def my_analysis(problem, params):
        return {"growth": problem.growth()}

Analyses that live in modules other engineers own are imported when first run, so a missing module is a loud,
clear error for that unit (recorded as a failed unit), never a silent substitute. Nothing here imports Ray.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import KingemsError
from ..store.cache import canonical_json

Result = dict[str, Any] | pd.DataFrame | tuple[dict[str, Any], pd.DataFrame]


@dataclass
class UnitInput:
    """What an ``needs="input"`` analysis gets: the model reference and the worker's helpers."""

    model: str
    model_key: str
    worker: Any = None


@dataclass
class Analysis:
    """A registered analysis.

    Attributes
    ----------
    name : str
    fn : callable
    needs : {"problem", "compiled", "input"}
    mutates : bool
        True when ``fn`` leaves the problem changed (the worker then rebuilds it from the compiled model).
    requires : str
        Module the analysis depends on (for error messages and ``available()``).
    doc : str
    """

    name: str
    fn: Callable[[Any, dict[str, Any]], Result]
    needs: str = "problem"
    mutates: bool = False
    requires: str = ""
    doc: str = ""
    defaults: dict[str, Any] = field(default_factory=dict)


REGISTRY: dict[str, Analysis] = {}


def register(
    name: str, needs: str = "problem", mutates: bool = False, requires: str = "", defaults: dict | None = None
) -> Callable:
    """Decorator that adds ``fn`` to :data:`REGISTRY` under ``name`` (replacing an earlier one)."""
    if needs not in ("problem", "compiled", "input"):
        raise ValueError(f"needs must be problem, compiled or input, got {needs!r}")

    def deco(fn: Callable) -> Callable:
        doc = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        REGISTRY[name] = Analysis(name, fn, needs, mutates, requires, doc, dict(defaults or {}))
        return fn

    return deco


def get(name: str) -> Analysis:
    """The analysis called ``name``.

    Raises
    ------
    KingemsError
        Unknown name (the message lists the known ones).
    """
    try:
        return REGISTRY[name]
    except KeyError:
        raise KingemsError(f"unknown analysis {name!r}; known: {', '.join(sorted(REGISTRY))}") from None


def available() -> dict[str, bool]:
    """Name -> whether the module it depends on can be imported here."""
    out = {}
    for name, a in REGISTRY.items():
        if not a.requires:
            out[name] = True
            continue
        try:
            importlib.import_module(a.requires)
            out[name] = True
        except ImportError:
            out[name] = False
    return out


def _require(module: str, what: str):
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            raise KingemsError(f"analysis {what!r} needs {module}, which is not in this installation") from exc
        raise


# -- built-in analyses ------------------------------------------------------------------------------------------
@register("fba")
def fba(problem, params: dict[str, Any]) -> dict[str, Any]:
    """Growth (objective) with the current bounds, and how many reactions carry flux."""
    from ..analysis.fva import fba as _fba

    growth, status, flux = _fba(problem)
    cm = problem.cm
    out = {
        "model_id": cm.model_id,
        "level": cm.level,
        "growth": growth,
        "solve_status": status,
        "n_reactions": len(cm.rxn_ids),
        "n_genes": len(cm.gene_ids),
        "n_metabolites": len(cm.met_ids),
        "n_active": int((flux.abs() > 1e-9).sum()) if flux is not None else 0,
    }
    if params.get("fluxes") and flux is not None:
        return out, flux.rename("flux").rename_axis("reaction_id").reset_index()
    return out


@register("fva_summary", defaults={"fraction": 0.9})
def fva_summary(problem, params: dict[str, Any]) -> Result:
    """Flux variability at ``fraction`` of optimal growth: median/mean range (and the table with ``table: true``)."""
    from ..analysis.fva import flux_variability, variability_summary

    fraction = float(params.get("fraction", 0.9))
    df = flux_variability(problem, reactions=params.get("reactions"), fraction=fraction)
    out = {"model_id": problem.cm.model_id, "level": problem.cm.level, "fraction": fraction,
           "growth": df.attrs.get("growth"), "n_solves": df.attrs.get("n_solves")}
    out.update(variability_summary(df))
    if params.get("table"):
        return out, df
    return out


@register("ecgem")
def ecgem(problem, params: dict[str, Any]) -> dict[str, Any]:
    """What the ecGEM compile did (constraint counts, enzymes, kcat sources) and its growth on the unit's medium."""
    compiled = problem.cm
    rep = dict(compiled.report)
    out = {"model_id": compiled.model_id, "level": compiled.level, "pool": compiled.pool,
           "growth": problem.growth()}
    for k, v in rep.items():
        out[f"ec_{k}"] = v
    if compiled.pairs is not None and "source" in compiled.pairs:
        out["kcat_sources"] = {str(k): int(v) for k, v in compiled.pairs["source"].value_counts().items()}
        out["n_pairs"] = len(compiled.pairs)
    return out


@register("knockout", requires="kingems_ray.analysis.knockout")
def knockout(problem, params: dict[str, Any]) -> Result:
    """Single-gene knockout screen (``kingems_ray.analysis.knockout``): essential-gene counts and the table."""
    ko = _require("kingems_ray.analysis.knockout", "knockout")
    genes = params.get("genes")
    df = ko.knockout_screen(problem, None, genes=genes)
    thr = float(params.get("growth_threshold", 1e-3))
    wt = float(df["wild_type_growth"].iloc[0]) if len(df) else float("nan")
    out = {
        "model_id": problem.cm.model_id,
        "level": problem.cm.level,
        "wild_type_growth": wt,
        "n_genes": len(df),
        "n_essential": int((df["growth"] < thr).sum()),
        "n_reduced": int(((df["growth"] >= thr) & (df["relative_growth"] < 0.99)).sum()),
        "n_lp": int(df.attrs.get("n_lp", df["solved"].sum() if "solved" in df else 0)),
    }
    return out, df


@register("tune", requires="kingems_ray.analysis.tuning")
def tune(problem, params: dict[str, Any]) -> Result:
    """Simulated-annealing kcat tuning (``kingems_ray.analysis.tuning.tune_kcats``) towards a target growth."""
    tuning = _require("kingems_ray.analysis.tuning", "tune")
    target = params.get("target_growth")
    if target is None:
        raise KingemsError("analysis 'tune' needs params.target_growth [1/h]")
    res = tuning.tune_kcats(problem, float(target), iterations=params.get("iterations"),
                            chains=int(params.get("chains", 1)), seed=int(params.get("seed", 0)),
                            n_top=params.get("n_top"))
    tuned = res.table
    n_changed = int((~np.isclose(tuned["kcat"], tuned["kcat_original"])).sum()) if "kcat_original" in tuned else 0
    out = {
        "model_id": problem.cm.model_id,
        "level": problem.cm.level,
        "target_growth": float(target),
        "start_growth": float(res.trajectory["growth"].iloc[0]) if len(res.trajectory) else float("nan"),
        "best_growth": res.best_growth,
        "reached": bool(res.reached),
        "iterations": int(res.trajectory["iteration"].max()) if len(res.trajectory) else 0,
        "n_kcats_changed": n_changed,
    }
    return out, {"": tuned, "trajectory": res.trajectory}


@register("kcat_table", needs="input", requires="kingems_ray.kcat.build_table")
def kcat_table(inp: UnitInput, params: dict[str, Any]) -> Result:
    """The model's kcat table (predicted where possible, else database / median fallbacks) and its source counts."""
    bt = _require("kingems_ray.kcat.build_table", "kcat_table")
    table = inp.worker.kcat_table(inp.model, inp.model_key, params.get("ec") or {"kcats": "fallback"})
    s = bt.summarize(table)
    out = {"rows": s["rows"], "pairs": s["pairs"]}
    out.update({f"pairs_{k}": v for k, v in s["pairs_by_source"].items()})
    return out, table


@register("pairwise", needs="input", requires="kingems_ray.community.pairwise")
def pairwise(inp: UnitInput, params: dict[str, Any]) -> Result:
    """AGORA pairwise protocol (``kingems_ray.community.pairwise.run_pair``): this model with ``params.partner``.

    Parameters: ``partner`` (model path), ``diet`` (default ``western``), ``ec`` (both partners as ecGEMs), protocol
    settings ``coupling``, ``min_growth``, ``sig``. Each model's growth alone is computed once per worker.
    """
    mod = _require("kingems_ray.community.pairwise", "pairwise")
    w = inp.worker
    if not params.get("partner"):
        raise KingemsError("analysis 'pairwise' needs params.partner (a model path)")
    ec = params.get("ec")
    diet = params.get("diet", "western")
    kw = {k: params[k] for k in ("coupling", "min_growth", "sig") if k in params}
    partner = str(params["partner"])
    pkey = params.get("partner_key") or w.content_id(partner)
    _, cma, _ = w.compiled(inp.model, inp.model_key, ec)
    _, cmb, _ = w.compiled(partner, pkey, ec)
    alone = {k: v for k, v in kw.items() if k == "coupling"}
    sa = w.memo(("single", inp.model_key, repr(ec), diet), lambda: mod.single_growth(cma, diet, **alone))
    sb = w.memo(("single", pkey, repr(ec), diet), lambda: mod.single_growth(cmb, diet, **alone))
    return mod.run_pair(cma, cmb, diet, single_a=sa, single_b=sb, **kw)


@register("community", needs="input", requires="kingems_ray.community.community")
def community(inp: UnitInput, params: dict[str, Any]) -> Result:
    """MICOM-style cooperative trade-off of a community (``kingems_ray.community.community.run_community``).

    Parameters: ``members`` (model paths; the unit's model is added first when missing), ``abundances``,
    ``diet`` (default ``western``), ``tradeoff`` (0.5), ``perturbations``, ``ec``.
    """
    mod = _require("kingems_ray.community.community", "community")
    w = inp.worker
    ec = params.get("ec")
    paths = [str(m) for m in params.get("members") or []]
    if inp.model not in paths:
        paths.insert(0, inp.model)
    cms = [w.compiled(p, inp.model_key if p == inp.model else w.content_id(p), ec)[1] for p in paths]
    res = mod.run_community(cms, params.get("abundances"), params.get("diet", "western"),
                            float(params.get("tradeoff", 0.5)), params.get("perturbations"))
    row = {"status_lp": res["status"], "community_growth": res["community_growth"],
           "max_community_growth": res["max_community_growth"], "n_members": len(cms),
           "seconds": res["seconds"]}
    tables = {"": res["growth"]}
    for k in ("exchanges", "cross_feeding", "perturbations"):
        if isinstance(res.get(k), pd.DataFrame) and len(res[k].columns):
            tables[k] = res[k]
    return row, tables


@register("cohort_sample", needs="input", requires="kingems_ray.community.cohort")
def cohort_sample(inp: UnitInput, params: dict[str, Any]) -> Result:
    """One sample of a cohort (``kingems_ray.community.cohort.run_sample``); see ``distributed.cohort_units``.

    Parameters: ``sample`` (a matched sample), ``diet``, ``tradeoff``, ``metabolites``, ``fluxes``, ``min_growth``,
    ``perturbations`` (this unit's chunk), ``chunk``, ``baseline`` (whether this unit writes the baseline tables).
    The member library and the last built samples stay in the worker between units.
    """
    from collections import OrderedDict

    mod = _require("kingems_ray.community.cohort", "cohort_sample")
    w = inp.worker
    lib = w.memo(("cohort_library",), lambda: mod.MemberLibrary(cache_dir=os.environ.get("KINGEMS_MEMBER_CACHE")))
    built = w.memo(("cohort_built",), OrderedDict)
    diet = params.get("diet", "western")
    key = (inp.model_key, canonical_json(diet), float(params.get("tradeoff", 0.5)))
    sc = built.get(key)
    kw = {k: params[k] for k in ("tradeoff", "metabolites", "fluxes", "min_growth", "media", "media_min_growth")
          if params.get(k) is not None}
    if sc is None:
        spec = mod.SampleSpec.from_params(params["sample"])
        try:
            sc = mod.build_sample(spec, lib, mod.read_diet(diet), float(params.get("tradeoff", 0.5)),
                                  params.get("metabolites") or mod.DEFAULT_METABOLITES)
            built[key] = sc
            while len(built) > 2:
                built.popitem(last=False)
        except Exception:  # noqa: BLE001 - run_sample records the error in the row
            sc = None
    if not params.get("baseline", True):
        kw["fluxes"] = "none"
        kw["media"] = False  # media belong to the sample's baseline unit only
    row, tables = mod.run_sample(params["sample"], lib, diet, perturbations=params.get("perturbations"),
                                 built=sc, **kw)
    row["chunk"] = int(params.get("chunk", 0))
    if not params.get("baseline", True):
        tables = {k: v for k, v in tables.items() if k.startswith("perturbation")}
    return row, tables


# -- kcat samples (kingems_ray.analysis.uncertainty): one unit per sample index ---------------------------------------
# A config entry with ``samples: N`` becomes N units whose params carry ``sample: i`` (part of the unit id), so a
# killed sweep resumes without repeating or losing a sample. The sample's kcats are written into the worker's
# persistent problem and written back afterwards (never a recompile); ``sample_seed`` and the spread options
# (``spread_scale``, ``fallback_log10_sd``, ``fallback_grouping``) are ordinary params.
_SAMPLERS: dict = {}
_SAMPLER_KEYS = ("spread_scale", "fallback_log10_sd", "fallback_grouping")


def _sampler(compiled, params: dict[str, Any], offset: int = 0):
    """The worker's sampler of a compiled model (seed ``sample_seed + offset``), built once and kept (8 at most)."""
    from ..analysis.uncertainty import KcatSampler

    if "sample" not in params:
        raise KingemsError("a sampled analysis needs params.sample (use 'samples: N' in the sweep config)")
    kw = {k: params[k] for k in _SAMPLER_KEYS if params.get(k) is not None}
    seed = int(params.get("sample_seed", 0)) + offset
    key = (id(compiled), seed, tuple(sorted(kw.items())))
    if key not in _SAMPLERS:
        if compiled.pairs is None or len(compiled.pairs) == 0:
            raise KingemsError("a sampled analysis needs an ecGEM with kcats (set 'ec' for it)")
        while len(_SAMPLERS) >= 8:
            _SAMPLERS.pop(next(iter(_SAMPLERS)))
        _SAMPLERS[key] = KcatSampler.from_pairs(compiled.pairs, seed=seed, **kw)
    return _SAMPLERS[key]


def _sample_row(sampler, params: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    return {"sample": int(params["sample"]), "sample_seed": sampler.seed, "spread": sampler.label(), **extra}


@register("growth_sample")
def growth_sample(problem, params: dict[str, Any]) -> dict[str, Any]:
    """Growth with the kcats of sample ``params.sample`` (in place, restored)."""
    from ..analysis.sampled import growth_sample as run

    s = _sampler(problem.cm, params)
    df = run(problem, s.sample(int(params["sample"])))
    return _sample_row(s, params, {"growth": float(df["growth"].iloc[0]), "solve_status": df["status"].iloc[0]})


@register("fva_sample", defaults={"fraction": 0.9})
def fva_sample(problem, params: dict[str, Any]) -> Result:
    """FVA at ``fraction`` of optimal growth with the kcats of sample ``params.sample``; the table per reaction."""
    from ..analysis.fva import variability_summary
    from ..analysis.sampled import fva_sample as run

    s = _sampler(problem.cm, params)
    df = run(problem, s.sample(int(params["sample"])), float(params.get("fraction", 0.9)), params.get("reactions"))
    row = _sample_row(s, params, {"growth": df.attrs.get("growth"), "n_solves": df.attrs.get("n_solves")})
    row.update(variability_summary(df))
    return row, df.assign(sample=int(params["sample"]))


#: Per worker: the point model's wild-type growth of a problem (kept with the problem, compared by identity).
_POINT_WT: dict[int, tuple[Any, float]] = {}


def _point_wild_type(problem) -> float:
    """The point model's wild-type growth on the problem's medium, solved once per worker and problem (before any
    sample is applied: the problem holds the table's kcats between units)."""
    from ..analysis.sampled import point_wild_type_growth

    hit = _POINT_WT.get(id(problem))
    if hit is None or hit[0] is not problem:
        _POINT_WT.clear()
        hit = _POINT_WT[id(problem)] = (problem, point_wild_type_growth(problem)["model"])
    return hit[1]


@register("knockout_sample", requires="kingems_ray.analysis.knockout")
def knockout_sample(problem, params: dict[str, Any]) -> Result:
    """Single-gene knockouts with the kcats of sample ``params.sample``: lethal count and the table.

    ``params.condition_on_growth: F`` (and ``max_attempts``, default 64) screens the sample's first draw whose
    wild type grows >= F x the point model's (:class:`~kingems_ray.analysis.uncertainty.WildTypeConditioning`,
    the same draws as ``knockout --samples N --condition-on-growth F``).
    """
    from ..analysis.sampled import conditioned_knockout_sample
    from ..analysis.sampled import knockout_sample as run
    from ..analysis.uncertainty import WildTypeConditioning, conditioning_label

    s = _sampler(problem.cm, params)
    i = int(params["sample"])
    cond = None
    if params.get("condition_on_growth") is not None:
        cond = WildTypeConditioning(float(params["condition_on_growth"]), int(params.get("max_attempts", 64)))
        pwt = _point_wild_type(problem)
        if not pwt > 1e-3:
            raise KingemsError(f"the point model's wild type does not grow ({pwt:g}): nothing to condition on")
        df = conditioned_knockout_sample(problem, s, i, None, params.get("genes"),
                                         min_growth={"model": cond.min_fraction * pwt}, conditioning=cond)
    else:
        df = run(problem, s.sample(i), None, params.get("genes"))
    thr = float(params.get("growth_threshold", 1e-3))
    extra = {"wild_type_growth": float(df["wild_type_growth"].iloc[0]) if len(df) else np.nan,
             "n_genes": len(df), "n_lethal": int((df["growth"].fillna(0.0) <= thr).sum()),
             "n_lp": int(df["solved"].sum()), "conditioning": conditioning_label(cond)}
    if cond is not None:
        accepted = bool((df["method"] != "not_accepted").all())
        extra.update(attempt=int(df["attempt"].iloc[0]), accepted=accepted)
        if not accepted:  # nothing was screened: no lethal count
            extra["n_lethal"] = None
    row = _sample_row(s, params, extra)
    return row, df.assign(sample=i, conditioning=conditioning_label(cond))


@register("pairwise_sample", needs="input", requires="kingems_ray.community.sampled")
def pairwise_sample(inp: UnitInput, params: dict[str, Any]) -> Result:
    """The pairwise protocol with sample ``params.sample`` of both partners' kcats (``ec`` required)."""
    mod = _require("kingems_ray.community.sampled", "pairwise_sample")
    w = inp.worker
    ec = params.get("ec")
    if not params.get("partner") or not ec:
        raise KingemsError("analysis 'pairwise_sample' needs params.partner and ec settings (ecGEM partners)")
    partner = str(params["partner"])
    _, cma, _ = w.compiled(inp.model, inp.model_key, ec)
    _, cmb, _ = w.compiled(partner, params.get("partner_key") or w.content_id(partner), ec)
    kw = {k: params[k] for k in ("coupling", "min_growth", "sig") if k in params}
    # Partners are sampled independently: seeds sample_seed and sample_seed + 1.
    smp = [_sampler(cm, params, k) if cm.pairs is not None and len(cm.pairs) else None
           for k, cm in enumerate((cma, cmb))]
    df = mod.sampled_pairs(cma, cmb, params.get("diet", "western"), 1, samplers=smp, start=int(params["sample"]),
                           **kw)
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in df.iloc[0].items()}


def split_result(res: Result) -> tuple[dict[str, Any], pd.DataFrame | dict[str, pd.DataFrame] | None]:
    """Normalise an analysis result to ``(row dict, detail table(s) or None)``.

    The table part may be a DataFrame or a dict name -> DataFrame (``""`` the main one, others stored beside it).
    """
    if isinstance(res, tuple):
        row, table = res
        row = dict(row or {})
        main = table.get("") if isinstance(table, dict) else table
        if main is not None:
            row.setdefault("n_rows", len(main))
        return row, table
    if isinstance(res, pd.DataFrame):
        return {"n_rows": len(res)}, res
    if isinstance(res, dict):
        return dict(res), None
    raise KingemsError(f"an analysis must return a dict, a DataFrame or both, got {type(res).__name__}")


@register("selftest", needs="input")
def selftest(inp: UnitInput, params: dict[str, Any]) -> dict[str, Any]:
    """Checks the machinery, not the science: sleeps, fails on purpose, or kills its worker process.

    Parameters (all optional): ``sleep`` seconds; ``fail_times`` with ``marker_dir``: raise ``RuntimeError`` on
    the first n attempts (attempts are counted as files in ``marker_dir``, so across processes); ``error``:
    always raise ``KingemsError`` with this message; ``exit_times`` with ``marker_dir``: ``os._exit`` the worker
    on the first n attempts (a crashed worker).
    """
    import os
    import time
    from pathlib import Path

    if params.get("sleep"):
        time.sleep(float(params["sleep"]))
    n_prev = 0
    if params.get("marker_dir"):
        d = Path(params["marker_dir"])
        d.mkdir(parents=True, exist_ok=True)
        tag = params.get("tag", inp.model_key.replace(":", "_")[-16:])
        n_prev = len(list(d.glob(f"{tag}.*")))
        (d / f"{tag}.{n_prev}.{os.getpid()}").touch()
    if n_prev < int(params.get("exit_times", 0)):
        os._exit(3)
    if n_prev < int(params.get("fail_times", 0)):
        raise RuntimeError(f"selftest: planned failure {n_prev + 1}")
    if params.get("error"):
        raise KingemsError(str(params["error"]))
    return {"model_key": inp.model_key, "attempt": n_prev + 1, "pid": os.getpid()}
