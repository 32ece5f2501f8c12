"""Cohorts as sweeps: one work unit per sample (or per sample and chunk of its perturbations), resumable.

A cohort spec (the ``cohort:`` block of a sweep YAML, or what ``kingems-ray cohort`` builds from its arguments)::

    cohort:
      taxonomy: cohort.csv.gz          # MICOM long table or wide samples x taxa
      models: ${KINGEMS_DATA}/agora/models   # folder of models or a MICOM manifest
      rank: strain                     # rank to match at (species, genus: pooled models, ...)
      cutoff: 1.0e-4                   # relative abundance below which a taxon is dropped
      diet: western
      tradeoff: 0.5
      metabolites: [but, ppa, ac, h2s]
      fluxes: pfba                     # pfba | minimal_imports | tradeoff | none (baseline exchange fluxes)
      perturbations:                   # see kingems_ray.community.cohort.expand_perturbations
        remove_each_taxon: true
        supplements: [{add: {inulin: 1.0}, label: inulin}]
        probiotics: [{model: Bifidobacterium_longum_NCC2705.xml.gz, abundance: 0.1}]
      perturbations_per_unit: 12       # split a sample's perturbations over several units
      metadata: metadata.csv           # optional: sample groups for the report

Units are grouped by sample (the unit's ``model_key`` is the sample's key), so a worker keeps a sample's built
community for all of its chunks. Unit ids hash the sample's content (model files by content, abundances), the
analysis settings and the chunk, so a rerun resumes exactly where the last run stopped. Nothing here imports Ray.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from ..errors import KingemsError
from ..store.cache import canonical_json, model_content_id
from ..store.results import ResultStore, Unit, unit_id
from .config import _identity  # file paths -> content ids, as the sweep's unit ids do

ANALYSIS = "cohort_sample"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
TABLES = ("growth", "exchanges", "production", "perturbation_growth", "perturbation_production", "completed_medium",
          "minimal_medium")


def is_cohort_config(path: str | Path) -> bool:
    """Whether a sweep YAML describes a cohort (has a ``cohort:`` block)."""
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(raw, dict) and isinstance(raw.get("cohort"), dict)


def _expand(value: str, base: Path) -> str:
    def var(m: re.Match) -> str:
        name = m.group(1)
        if name in os.environ:
            return os.environ[name]
        if name == "KINGEMS_DATA":
            from ..paths import data_root

            return str(data_root(required=True))
        raise KingemsError(f"cohort config uses ${{{name}}}, which is not set")

    s = os.path.expanduser(_VAR.sub(var, str(value)))
    p = Path(s)
    return str(p if p.is_absolute() else (base / p).resolve())


#: Keys a cohort sweep config may hold, per block (a typo is an error with a suggestion, never a silent default).
COHORT_KEYS = {
    "config": ("name", "description", "cohort", "run"),
    "config.cohort": ("taxonomy", "models", "rank", "cutoff", "diet", "tradeoff", "metabolites", "fluxes", "metadata",
                      "group", "min_growth", "perturbations", "perturbations_per_unit", "media", "media_min_growth"),
    "config.cohort.perturbations": ("remove_each_taxon", "supplements", "diets", "probiotics", "knockouts"),
    "config.run": ("retries", "unit_timeout", "workers", "cache_dir", "max_in_flight_per_worker"),
}


def check_cohort_keys(raw: Any, source: str) -> None:
    """Reject unknown keys in a cohort config, naming the closest known one.

    Raises
    ------
    ConfigError
    """
    from ..config_schema import ConfigError, suggest

    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: a cohort config is a mapping with a 'cohort' block, got {type(raw).__name__}")
    blocks = {"config": raw, "config.cohort": raw.get("cohort"), "config.run": raw.get("run")}
    if isinstance(raw.get("cohort"), dict):
        blocks["config.cohort.perturbations"] = raw["cohort"].get("perturbations")
    for where, block in blocks.items():
        if not isinstance(block, dict):
            continue
        known = list(COHORT_KEYS[where])
        for key in block:
            if key not in known:
                raise ConfigError(f"{source}: unknown key {key!r} in {where}{suggest(key, known)}")


def load_cohort_config(path: str | Path) -> dict[str, Any]:
    """Read a cohort sweep YAML; paths are made absolute relative to the file.

    Raises
    ------
    KingemsError
        Missing file or keys.
    """
    p = Path(path)
    if not p.is_file():
        raise KingemsError(f"cohort config not found: {p}")
    raw = yaml.safe_load(p.read_text()) or {}
    check_cohort_keys(raw, str(p))
    spec = dict(raw.get("cohort") or {})
    spec["name"] = raw.get("name") or p.stem
    spec["run"] = dict(raw.get("run") or {})
    return resolve_spec(spec, p.resolve().parent)


def resolve_spec(spec: dict[str, Any], base: Path) -> dict[str, Any]:
    """Absolute paths for the files a cohort spec names; probiotic models may be names inside the database."""
    spec = dict(spec)
    for k in ("taxonomy", "models"):
        if not spec.get(k):
            raise KingemsError(f"cohort spec needs '{k}'")
        spec[k] = _expand(spec[k], base)
    if spec.get("metadata"):
        spec["metadata"] = _expand(spec["metadata"], base)
    diet = spec.get("diet", "western")
    if isinstance(diet, str) and (os.sep in diet or diet.endswith((".tsv", ".csv", ".txt", ".json"))):
        spec["diet"] = _expand(diet, base)
    pert = spec.get("perturbations")
    if isinstance(pert, dict) and pert.get("probiotics"):
        db = Path(spec["models"])
        probs = []
        for pr in pert["probiotics"]:
            pr = dict(pr)
            m = str(pr.pop("model", "") or "")
            if m:
                cand = db / m if db.is_dir() and (db / m).exists() else Path(_expand(m, base))
                name = re.sub(r"(\.xml|\.json|\.sbml)(\.gz)?$", "", cand.name)
                pr["taxon"] = {"name": name, "files": [str(cand)], "rank": "strain"}
            probs.append(pr)
        spec["perturbations"] = dict(pert, probiotics=probs)
    return spec


def plan_cohort(spec: dict[str, Any]) -> tuple[list[Unit], list, pd.DataFrame]:
    """Match the taxonomy to the database and make the units.

    Returns
    -------
    units : list of Unit
    samples : list of SampleSpec
    match_report : DataFrame
        Per sample and taxon: matched or why not.
    """
    from ..community.cohort import expand_perturbations
    from ..community.taxonomy import ModelDB, match_taxonomy, read_taxonomy

    rank = spec.get("rank", "species")
    tax = read_taxonomy(spec["taxonomy"], rank=rank)
    db = ModelDB.open(spec["models"])
    samples, report = match_taxonomy(tax, db, rank=rank, cutoff=float(spec.get("cutoff", 1e-4)))
    files = sorted({f for s in samples for t in s.taxa for f in t.files})
    pert = spec.get("perturbations")
    if isinstance(pert, dict):
        for pr in pert.get("probiotics") or []:
            files += list((pr.get("taxon") or {}).get("files") or [])
    ids = {f: model_content_id(f) for f in files}
    diet = spec.get("diet", "western")
    if isinstance(diet, str) and Path(diet).is_file():
        ids[diet] = model_content_id(diet)
    from ..community.cohort import FLUX_STRATEGIES

    fluxes = spec.get("fluxes", "pfba")
    if fluxes not in FLUX_STRATEGIES:  # a typo would otherwise fail every sample alike
        raise KingemsError(f"cohort fluxes must be one of {', '.join(FLUX_STRATEGIES)}, got {fluxes!r}")
    common = {"diet": diet, "tradeoff": float(spec.get("tradeoff", 0.5)),
              "metabolites": spec.get("metabolites"), "fluxes": fluxes,
              "min_growth": float(spec.get("min_growth", 1e-3))}
    if spec.get("media"):  # only when asked: unit ids of runs without media stay as they were
        common.update(media=True, media_min_growth=float(spec.get("media_min_growth", 0.01)))
    per_unit = spec.get("perturbations_per_unit")
    units = []
    for s in samples:
        sp = s.to_params()
        skey = "sample:" + hashlib.sha256(canonical_json(_identity(sp, ids)).encode()).hexdigest()[:32]
        plist = expand_perturbations(pert, [t.name for t in s.taxa]) if not s.error else []
        n = int(per_unit) if per_unit else max(1, len(plist))
        chunks = [plist[i:i + n] for i in range(0, len(plist), n)] or [[]]
        for k, ch in enumerate(chunks):
            params = {"sample": sp, **common, "perturbations": ch, "chunk": k, "baseline": k == 0}
            ident = _identity({k2: v for k2, v in params.items() if k2 != "sample"}, ids)
            uid = unit_id(skey, ANALYSIS, ident)
            units.append(Unit(uid, spec["taxonomy"], skey, ANALYSIS, params, label=f"{s.sample_id}#{k}"))
    return units, samples, report


def collect(out: str | Path) -> dict[str, pd.DataFrame]:
    """Tidy tables of a cohort run, joinable on ``sample_id``, ``taxon``, ``metabolite``.

    Written to ``OUT/_cohort/<name>.parquet``: ``samples`` (one row per sample: status, community growth,
    matched abundance, errors), and each of :data:`TABLES` concatenated over units.
    """
    store = ResultStore(out)
    rows = store.read()
    res: dict[str, pd.DataFrame] = {}
    if len(rows):
        rows = rows[rows.get("analysis", ANALYSIS) == ANALYSIS] if "analysis" in rows else rows
        keep = [c for c in ("sample_id", "sample_status", "status", "community_growth", "max_community_growth",
                            "n_taxa", "n_growing", "found_abundance_fraction", "unmatched_taxa", "unmatched_diet",
                            "error", "error_message", "build_s", "solve_s", "elapsed_s", "chunk", "unit_id", "label",
                            "worker_peak_rss_mb") if c in rows.columns]
        res["units"] = rows[keep].reset_index(drop=True)
        if "chunk" in rows.columns:
            base = rows[rows["chunk"] == 0]
        else:
            base = rows
        res["samples"] = base[[c for c in keep if c not in ("chunk", "unit_id", "label")]].reset_index(drop=True)
    for name in TABLES:
        try:
            df = store.read_tables(ANALYSIS, name)
        except Exception:  # noqa: BLE001 - a table no unit produced
            df = pd.DataFrame()
        if len(df):
            res[name] = df.drop(columns=[c for c in ("unit_id",) if c in df.columns and name != "units"])
    folder = Path(out) / "_cohort"
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in res.items():
        df.to_parquet(folder / f"{name}.parquet", index=False)
    return res


def run_cohort(spec: dict[str, Any], out: str | Path, *, serial: bool = False, workers: int | None = None,
               address: str | None = None, num_cpus: int | None = None, progress: bool = True,
               retries: int = 1, cache_dir: str | None = None, unit_timeout: float | None = 1800.0,
               retry_failed: bool = False) -> dict[str, Any]:
    """Plan, run (Ray actors, or in this process with ``serial``), and collect a cohort; resumable.

    Returns
    -------
    dict
        Sweep statistics plus ``n_samples``, ``n_units`` and ``out``.
    """
    from .scheduler import run_units

    out = Path(out)
    store = ResultStore(out)
    units, samples, report = plan_cohort(spec)
    out.mkdir(parents=True, exist_ok=True)
    (out / "_cohort").mkdir(exist_ok=True)
    report.to_parquet(out / "_cohort" / "matching.parquet", index=False)
    from ..community.taxonomy import samples_table

    samples_table(samples).to_parquet(out / "_cohort" / "matching_samples.parquet", index=False)
    store.write_units(units)
    (out / "_cohort.yaml").write_text(yaml.safe_dump(
        {k: v for k, v in spec.items() if k != "run"}, sort_keys=False))
    common = dict(retries=retries, retry_failed=retry_failed, progress=progress, cache_dir=cache_dir,
                  max_in_flight_per_worker=1, desc=str(spec.get("name", "cohort")))
    if serial:
        stats = run_units(units, store, backend="serial", **common)
    else:
        from .actors import new_solver_actor
        from .cluster import connect

        info = connect(address, num_cpus=num_cpus)
        n = workers or int(info["resources"].get("CPU", 1))
        stats = run_units(units, store, backend="ray", n_workers=int(n), unit_timeout=unit_timeout,
                          actor_factory=lambda: new_solver_actor(cache_dir, None), **common)
    collect(out)
    return {"out": str(out), "n_samples": len(samples), "n_units": len(units), **stats.as_dict()}
