"""Sweeps described by YAML files (``configs/*.yaml``): models x analyses x parameters -> work units.

Format::

    name: agora_fba                       # optional, for logs
    models:                               # one of folder / glob / list (or several), plus optional limit
      folder: ${KINGEMS_DATA}/agora/models
      glob: "*.xml.gz"                    # within folder (default: every .xml/.xml.gz/.json/.json.gz/.sbml)
      list: [textbook, ../models/x.xml]   # files or cobra builtin names
      limit: 20
    medium:                               # optional, applied around every analysis (bounds restored after)
      file: media.csv                     # kingems_ray.gem.media format ...
      condition: glucose
      # exchanges: {EX_glc__D_e: 10}      # ... or inline uptake rates, or  diet: <name> (AGORA diets)
    ec:                                   # ecGEM settings used by analyses with ``ec: true``
      kcats: fallback                     # fallback | predicted | path to a kcat table
      level: L4
      pool: 0.25
      sequences: ${KINGEMS_DATA}/sequences/ecoli_gp.faa.gz   # for predicted kcats
    analyses:
      - fba                               # a name alone: defaults, plain GEM
      - name: fva_summary
        params: {fraction: 0.9}
      - name: knockout
        label: knockout_ec                # optional label stored with the rows
        ec: true                          # true: the ``ec`` block; a mapping overrides keys of it
      - name: knockout_sample             # kcat uncertainty: one unit per sample (index in the unit id)
        ec: true
        samples: 64
        params: {sample_seed: 0}
    run: {retries: 2, max_in_flight_per_worker: 2, workers: null, cache_dir: null}
    predictor: {actors: 1}                # predictor actors for ``kcats: predicted`` (0: load in each worker)

Every block is checked against a schema (:mod:`kingems_ray.config_schema`): an unknown key, a wrong type or a
value out of range is an error. Paths are relative to the config file; ``~`` and ``${VAR}`` are expanded for
``KINGEMS_*`` variables and ``HOME``, ``USER``, ``TMPDIR``, ``PWD``, ``SLURM_SUBMIT_DIR``, ``SLURM_JOB_ID``,
``SLURM_TMPDIR`` only (others may hold secrets and are refused); ``${KINGEMS_DATA}`` defaults to
:func:`kingems_ray.paths.data_root`. Two analyses that differ only in their ``label`` are two units.
A path inside the current working directory is sent to workers relative to
it, so that a ``ray job submit --working-dir .`` job finds it in each node's copy of the working directory.
"""

from __future__ import annotations

import copy
import fnmatch
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import KingemsError
from ..store.cache import model_content_id
from ..store.results import Unit, unit_id
from . import analyses as registry

MODEL_SUFFIXES = (".xml", ".xml.gz", ".sbml", ".sbml.gz", ".json", ".json.gz")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass
class SweepConfig:
    """A parsed sweep configuration (paths resolved)."""

    name: str
    path: Path | None
    models: list[str]
    analyses: list[dict[str, Any]]
    medium: dict[str, Any] | None = None
    ec: dict[str, Any] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)
    predictor: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    def needs_predictor(self) -> bool:
        """Whether any unit builds predicted kcats."""
        return any((a.get("ec") or {}).get("kcats") == "predicted" for a in self.analyses)


def expand(text: str, base: Path | None) -> str:
    """Expand ``${VAR}`` (``KINGEMS_DATA`` defaults to the data root) and ``~``; make relative paths absolute."""

    from ..config_schema import expand_variable

    def var(m: re.Match) -> str:
        return expand_variable(m.group(1))  # only KINGEMS_* and documented variables: no secrets in results

    s = os.path.expanduser(_VAR.sub(var, text))
    p = Path(s)
    if not p.is_absolute() and base is not None:
        p = base / p
    return str(p.resolve()) if not p.is_absolute() or ".." in p.parts else str(p)


def _is_builtin(name: str) -> bool:
    from ..gem.io import _BUILTIN

    return name in _BUILTIN


def _path_or_builtin(item: str, base: Path | None) -> str:
    if _is_builtin(item) and not (base is not None and (base / item).exists()):
        return item
    return expand(item, base)


def _for_workers(path: str) -> str:
    """A path relative to the working directory when it lies inside it (see the module docstring)."""
    if _is_builtin(path):
        return path
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return path


def list_models(spec: Any, base: Path | None, pattern: str | None = None) -> list[str]:
    """Model references from a ``models`` block (folder / glob / list / limit), optionally filtered.

    Parameters
    ----------
    spec : mapping, list or str
    base : Path
        Folder of the config file.
    pattern : str, optional
        The ``--models`` option. Without a ``/``: keep the block's models whose file name matches this glob (or
        contains it, when it has no wildcard). With a ``/`` (``my_models/*.xml``, ``./one.xml``): a path glob,
        relative to the current folder, whose files replace the block's models.

    Raises
    ------
    KingemsError
        No models, or a folder that does not exist.
    """
    if pattern and "/" in pattern:
        return _glob_models(pattern)
    if isinstance(spec, str):
        spec = {"list": [spec]}
    elif isinstance(spec, list):
        spec = {"list": spec}
    if not isinstance(spec, dict):
        raise KingemsError("config 'models' must be a folder/glob/list mapping, a list or a string")
    out: list[str] = []
    folder = spec.get("folder")
    glob = spec.get("glob")
    if folder:
        f = Path(expand(str(folder), base))
        if not f.is_dir():
            raise KingemsError(f"models folder not found: {f}")
        files = sorted(f.glob(glob)) if glob else sorted(p for p in f.iterdir() if p.name.endswith(MODEL_SUFFIXES))
        out += [str(p) for p in files if p.is_file()]
    elif glob:
        g = expand(str(glob), base)
        out += sorted(str(p) for p in Path("/").glob(g.lstrip("/")) if p.is_file())
    for item in spec.get("list") or []:
        out.append(_path_or_builtin(str(item), base))
    if pattern:
        pat = pattern if any(c in pattern for c in "*?[") else f"*{pattern}*"
        out = [m for m in out if fnmatch.fnmatch(Path(m).name, pat)]
    if spec.get("limit") is not None:
        out = out[: int(spec["limit"])]
    if not out:
        raise KingemsError("the sweep has no models (check models.folder / glob / list and --models)")
    return list(dict.fromkeys(out))


def _glob_models(pattern: str) -> list[str]:
    """Model files matching a path glob (``~`` and ``$VARS`` expanded, ``**`` recursive), as absolute paths."""
    import glob as globmod

    g = os.path.expandvars(os.path.expanduser(pattern))
    hits = sorted(str(Path(p).resolve()) for p in globmod.glob(g, recursive=True) if Path(p).is_file())
    if not hits:
        raise KingemsError(f"--models {pattern!r}: no model file matches this path (relative to {Path.cwd()})")
    return list(dict.fromkeys(hits))


_EC_PATH_KEYS = ("sequences", "checkpoint")


def _resolve_ec(ec: dict[str, Any], base: Path | None) -> dict[str, Any]:
    ec = dict(ec)
    k = ec.get("kcats", "fallback")
    if k not in ("fallback", "predicted"):
        ec["kcats"] = expand(str(k), base)
    for key in _EC_PATH_KEYS:
        if ec.get(key):
            ec[key] = expand(str(ec[key]), base)
    return ec


def _resolve_medium(med: Any, base: Path | None) -> dict[str, Any] | None:
    if not med:
        return None
    if isinstance(med, str):
        med = {"file": med}
    med = dict(med)
    if med.get("file"):
        med["file"] = expand(str(med["file"]), base)
    return med


def load_config(path: str | Path | dict, models_pattern: str | None = None) -> SweepConfig:
    """Read and check a sweep config.

    Parameters
    ----------
    path : str, Path or dict
        YAML file (or an already-parsed mapping, paths relative to the working directory).
    models_pattern : str, optional
        The ``--models`` filter.

    Raises
    ------
    KingemsError
        Missing file, invalid YAML, unknown analyses, no models.
    """
    if isinstance(path, dict):
        raw, base, p = copy.deepcopy(path), Path.cwd(), None
    else:
        p = Path(path)
        if not p.is_file():
            raise KingemsError(f"sweep config not found: {p}")
        try:
            raw = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as exc:
            raise KingemsError(f"{p}: invalid YAML ({' '.join(str(exc).split())})") from exc
        except UnicodeDecodeError as exc:
            raise KingemsError(f"{p}: not a text (UTF-8) file ({exc.reason})") from exc
        base = p.resolve().parent
    if not isinstance(raw, dict) or "models" not in raw or "analyses" not in raw:
        raise KingemsError(f"{p or 'config'}: a sweep config needs 'models' and 'analyses'")
    from ..config_schema import check_sweep_config

    check_sweep_config(raw, str(p or "config"))  # unknown keys (with a suggestion), types and ranges
    ec_default = _resolve_ec(raw.get("ec") or {}, base)
    analyses = []
    for item in raw["analyses"]:
        a = {"name": item} if isinstance(item, str) else dict(item)
        if "name" not in a:
            raise KingemsError(f"{p or 'config'}: every analysis needs a name ({a})")
        registry.get(a["name"])  # unknown names fail here, before any work
        ec = a.get("ec")
        if ec is True:
            ec = dict(ec_default)
        elif isinstance(ec, dict):
            ec = _resolve_ec({**ec_default, **ec}, base)
        elif ec:
            raise KingemsError(f"analysis {a['name']}: 'ec' must be true or a mapping")
        a["ec"] = ec or None
        a["params"] = dict(a.get("params") or {})
        for k in ("partner", "members"):  # model paths inside parameters, relative to the config file
            v = a["params"].get(k)
            if isinstance(v, str):
                a["params"][k] = _path_or_builtin(v, base)
            elif isinstance(v, list):
                a["params"][k] = [_path_or_builtin(str(x), base) for x in v]
        if "samples" in a:
            from ..analysis.uncertainty import check_n_samples

            a["samples"] = check_n_samples(a["samples"])
            if "sample" in a["params"]:
                raise KingemsError(f"analysis {a['name']}: give 'samples: N', not params.sample")
        if a.get("pairs") not in (None, "all"):
            raise KingemsError(f"analysis {a['name']}: 'pairs' can only be 'all'")
        if "medium" in a:
            a["medium"] = _resolve_medium(a["medium"], base)
        analyses.append(a)
    run = dict(raw.get("run") or {})
    if run.get("cache_dir"):
        run["cache_dir"] = expand(str(run["cache_dir"]), base)
    return SweepConfig(
        name=str(raw.get("name") or (p.stem if p else "sweep")),
        path=p,
        models=list_models(raw["models"], base, models_pattern),
        analyses=analyses,
        medium=_resolve_medium(raw.get("medium"), base),
        ec=ec_default,
        run=run,
        predictor=dict(raw.get("predictor") or {}),
        raw=raw,
    )


def _identity(obj: Any, ids: dict[str, str]) -> Any:
    """Replace file paths in parameters by content ids, so unit ids do not depend on where files are."""
    if isinstance(obj, dict):
        return {k: _identity(v, ids) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_identity(v, ids) for v in obj]
    if isinstance(obj, str) and obj in ids:
        return ids[obj]
    return obj


def _file_params(obj: Any, out: set[str]) -> None:
    if isinstance(obj, dict):
        for v in obj.values():
            _file_params(v, out)
    elif isinstance(obj, list):
        for v in obj:
            _file_params(v, out)
    elif isinstance(obj, str) and os.sep in obj and Path(obj).is_file():
        out.add(obj)


def plan_units(cfg: SweepConfig) -> list[Unit]:
    """Every (model, analysis) unit of a sweep, with deterministic ids.

    The unit id hashes the model's content (not its path), the analysis name and its parameters, with any file
    named in the parameters (kcat table, medium, sequences) also replaced by its content hash.
    """
    key_of = {m: model_content_id(m) for m in cfg.models}
    units = []
    files: set[str] = set()
    for a in cfg.analyses:
        _file_params({"ec": a["ec"], "medium": a.get("medium", cfg.medium), "p": a["params"]}, files)
    ids = {f: model_content_id(f) for f in files}
    for a in cfg.analyses:
        for k in ("partner", "members"):
            v = a["params"].get(k)
            if isinstance(v, str) and os.sep in v:
                files.add(v)
            elif isinstance(v, list):
                files.update(x for x in v if isinstance(x, str) and os.sep in x)
        if a.get("pairs") == "all":
            files.update(m for m in cfg.models if not _is_builtin(m))
    ids.update({f: model_content_id(f) for f in files if f not in ids})
    for a in cfg.analyses:
        if a.get("pairs") == "all":  # pairwise screens: one unit per unordered pair of the sweep's models
            for i, m in enumerate(cfg.models):
                for partner in cfg.models[i + 1 :]:
                    params = dict(a["params"], partner=_for_workers(partner), partner_key=key_of[partner])
                    if a["ec"]:
                        params["ec"] = a["ec"]
                    ident = _identity({**a["params"], "partner": key_of[partner], "ec": a["ec"]}, ids)
                    if a.get("label"):
                        ident["label"] = a["label"]
                    for s_params, s_ident in _per_sample(a, params, ident):
                        units.append(Unit(unit_id(key_of[m], a["name"], s_ident), _for_workers(m), key_of[m],
                                          a["name"], s_params, label=a.get("label") or a["name"]))
    for m in cfg.models:
        for a in cfg.analyses:
            if a.get("pairs") == "all":
                continue
            params = dict(a["params"])
            for k in ("partner", "members"):  # model paths in parameters travel like the model itself
                if isinstance(params.get(k), str):
                    params[k] = _for_workers(params[k])
                elif isinstance(params.get(k), list):
                    params[k] = [_for_workers(x) if isinstance(x, str) else x for x in params[k]]
            med = a.get("medium", cfg.medium)
            if a["ec"]:
                params["ec"] = {k: (_for_workers(v) if isinstance(v, str) and v in files else v)
                                for k, v in a["ec"].items()}
            if med:
                params["medium"] = {k: (_for_workers(v) if isinstance(v, str) and v in files else v)
                                    for k, v in med.items()}
            ident = _identity({**a["params"], "ec": a["ec"], "medium": med}, ids)
            if a.get("label"):  # two analyses that differ only in their label are two units (and two rows)
                ident["label"] = a["label"]
            for s_params, s_ident in _per_sample(a, params, ident):
                uid = unit_id(key_of[m], a["name"], s_ident)
                units.append(Unit(uid, _for_workers(m), key_of[m], a["name"], s_params,
                                  label=a.get("label") or a["name"]))
    return units


def _per_sample(a: dict[str, Any], params: dict[str, Any], ident: dict[str, Any]):
    """One (params, identity) per kcat sample of an analysis with ``samples: N`` (the index enters the unit id),
    else the unit itself."""
    if not a.get("samples"):
        yield params, ident
        return
    for i in range(int(a["samples"])):
        yield {**params, "sample": i}, {**ident, "sample": i}
