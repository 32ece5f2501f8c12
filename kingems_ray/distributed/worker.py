"""A solver replica: holds compiled models and their persistent solvers, and runs many work units.

:class:`SolverWorker` is plain Python (the NeMo-Curator "stage" shape: set up once, then ``run(unit)`` many
times); :mod:`kingems_ray.distributed.actors` turns it into Ray actors. A unit arrives as ids and paths
(``unit_id, model, model_key, analysis, params``); the worker

1. resolves the model file (absolute, or relative to its working directory, which for a ``ray job submit
   --working-dir`` job is the uploaded copy on every node);
2. gets the compiled model from its in-memory LRU, else from the on-disk :class:`CompiledCache`
   (a few ms), else parses and compiles the SBML once and stores it (keyed by content hash + compile
   parameters: ``ec`` settings and the kcat table's content);
3. keeps one :class:`~kingems_ray.ec.problem.Problem` per (compiled model, medium), the medium applied once
   when the problem is made, runs the analysis and returns a plain record.

Every exception becomes a failed record carrying the error type and message (never ``None``); ``retryable``
says whether running it again could help (input errors, :data:`DETERMINISTIC_ERRORS`, cannot).
"""

from __future__ import annotations

import logging
import os
import socket
import time
import traceback
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pandas as pd

from ..ec.compile import CompiledModel
from ..ec.spec import EcSpec
from ..errors import KingemsError
from ..store.cache import CompiledCache, ContentCache, cache_key, canonical_json, file_sha256, model_content_id
from . import analyses as registry

log = logging.getLogger(__name__)

#: Errors that a second attempt would only repeat (bad input, e.g. GPRTooComplex is a ValueError): not retried.
DETERMINISTIC_ERRORS = (KingemsError, ValueError, KeyError, TypeError)

#: Keys of a unit's params that prepare the model rather than parameterise the analysis.
PREP_KEYS = ("ec", "medium")


def resolve_model_path(model: str, base_dir: str | Path | None = None) -> str:
    """An absolute path for a model reference (builtin names are returned unchanged)."""
    from ..gem.io import _BUILTIN

    p = Path(model)
    if p.is_absolute() or (model in _BUILTIN and not p.exists()):
        return model
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    return str((base / p).resolve())


def _short_error(exc: BaseException, limit: int = 2000) -> str:
    msg = str(exc).strip() or type(exc).__name__
    return msg[:limit]


class SolverWorker:
    """Compiled models and solvers of one worker process, reused across units.

    Parameters
    ----------
    cache_dir : str or Path, optional
        Compiled-model cache folder (default :func:`kingems_ray.store.cache.default_cache_dir`).
    max_models : int
        Compiled models / problems kept in memory (least recently used are dropped).
    predictor_actors : list, optional
        Ray predictor actors (:func:`kingems_ray.kcat.actor.start_actors`) for predicted kcats; without them
        the worker loads the predictor in-process when a unit first needs it.
    base_dir : str or Path, optional
        Folder relative model paths are resolved against (default: the working directory).
    """

    def __init__(
        self,
        cache_dir: str | Path | None = None,
        max_models: int = 16,
        predictor_actors: list | None = None,
        base_dir: str | Path | None = None,
    ) -> None:
        self.cache = CompiledCache(cache_dir)
        self.max_models = max(1, int(max_models))
        self.predictor_actors = predictor_actors
        self.base_dir = base_dir
        self._compiled: OrderedDict[str, CompiledModel] = OrderedDict()
        self._problems: OrderedDict[str, Any] = OrderedDict()
        self._media: dict[str, Any] = {}
        self._predictor = None
        self._file_ids: dict[str, str] = {}
        self._memo: dict[Any, Any] = {}
        self._content_ids: dict[str, str] = {}
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.n_units = 0
        self.n_parsed = 0

    # -- model preparation ------------------------------------------------------------------------------------------
    def _file_id(self, path: str | Path | None) -> str | None:
        if path is None:
            return None
        s = str(path)
        if s not in self._file_ids:
            self._file_ids[s] = "sha256:" + file_sha256(s) if Path(s).is_file() else f"missing:{s}"
        return self._file_ids[s]

    def _kcat_source_id(self, ec: dict[str, Any]) -> dict[str, Any]:
        """The parts of the ecGEM settings that decide the kcat table, with files replaced by content hashes."""
        src = ec.get("kcats", "fallback")
        out: dict[str, Any] = {"kcats": src, "organism": ec.get("organism")}
        if src == "predicted":
            from ..kcat.predict import default_checkpoint_path

            ckpt = ec.get("checkpoint") or default_checkpoint_path()
            out["checkpoint"] = self._file_id(ckpt)
            out["sequences"] = self._file_id(ec.get("sequences"))
        elif src == "fallback":
            from ..paths import data_root

            out["database"] = str(data_root() is not None)
            out["sequences"] = None
        else:
            out["kcats"] = self._file_id(resolve_model_path(str(src), self.base_dir))
        return out

    def compile_params(self, ec: dict[str, Any] | None) -> dict[str, Any]:
        """The compile parameters that enter the cache key (:meth:`EcSpec.params`: every field, formulation too)."""
        spec = EcSpec.from_mapping(ec)
        if spec is None:
            return {"level": "L1"}
        return spec.params(kcat_id=self._kcat_source_id(ec))

    def _load_predictor(self):
        if self.predictor_actors:
            from ..kcat.actor import RayPredictor

            return RayPredictor(self.predictor_actors)
        if self._predictor is None:
            from ..kcat.build_table import load_default_predictor

            self._predictor = load_default_predictor()
        return self._predictor

    def kcat_table(self, model: Any, model_key: str, ec: dict[str, Any]) -> pd.DataFrame:
        """The kcat table of a model for the given settings, cached on disk next to the compiled models.

        ``model`` is a path / builtin name or an already loaded cobra model (so a compile parses the SBML once).
        """
        from ..kcat.build_table import build_kcat_table

        src = ec.get("kcats", "fallback")
        if src not in ("predicted", "fallback"):
            from ..ec.kcats import read_kcat_table

            return read_kcat_table(resolve_model_path(str(src), self.base_dir))
        tables = ContentCache(self.cache.root.parent / "kcats")
        key = cache_key(model_key, {"kcat_table": self._kcat_source_id(ec)})
        cached = tables.get_table(key)
        if cached is not None:
            return cached
        if isinstance(model, str):
            model = self._load(model)
        seqs = ec.get("sequences")
        seqs = resolve_model_path(str(seqs), self.base_dir) if seqs else None
        predictor = self._load_predictor() if src == "predicted" else None
        table = build_kcat_table(model, sequences=seqs, predictor=predictor, organism=ec.get("organism"))
        tables.put_table(key, table)
        return table

    def _load(self, model: str, fast: bool = False):
        """Parse a model file: through cobra, or (``fast``: a plain compile needs no cobra objects) through the
        streaming SBML reader, ~5x faster."""
        from ..gem.io import load_model, load_model_fast

        self.n_parsed += 1
        return (load_model_fast if fast else load_model)(resolve_model_path(model, self.base_dir))

    def _compile(self, model: str, model_key: str, ec: dict[str, Any] | None) -> CompiledModel:
        from ..ec.build import build

        spec = EcSpec.from_mapping(ec)
        if spec is None:
            return build(self._load(model, fast=True)).compiled
        m = self._load(model)
        return spec.build(m, kcats=self.kcat_table(m, model_key, ec)).compiled

    def compiled(self, model: str, model_key: str, ec: dict[str, Any] | None = None) -> tuple[str, CompiledModel, str]:
        """The compiled model (memory, disk cache, or parse+compile) and where it came from."""
        key = cache_key(model_key, self.compile_params(ec))
        if key in self._compiled:
            self._compiled.move_to_end(key)
            return key, self._compiled[key], "memory"
        cm, hit = self.cache.get_or_compile(key, lambda: self._compile(model, model_key, ec))
        self._compiled[key] = cm
        while len(self._compiled) > self.max_models:
            old, _ = self._compiled.popitem(last=False)
            for pk in [k for k in self._problems if k.startswith(old + "|")]:
                self._problems.pop(pk)
        return key, cm, "disk" if hit else "compiled"

    def problem(self, key: str, cm: CompiledModel, medium: Any = None):
        """The persistent Problem of a compiled model under a medium (built and set up once per worker).

        Problems are kept per (compiled model, medium), with the medium applied once at creation, so a sweep of
        several analyses under one diet sets the bounds once per model.
        """
        from ..ec.problem import Problem

        pkey = key + "|" + canonical_json(medium)
        if pkey in self._problems:
            self._problems.move_to_end(pkey)
            return pkey, self._problems[pkey]
        p = Problem(cm, threads=1)
        self.apply_medium(p, medium)
        self._problems[pkey] = p
        while len(self._problems) > self.max_models:
            self._problems.popitem(last=False)
        return pkey, p

    def apply_medium(self, problem, spec: Any) -> None:
        """Set a unit's ``medium`` on a problem, in place (``None``: the model's own bounds).

        ``{"file": path, "condition": name}`` reads :func:`kingems_ray.gem.media.read_media`;
        ``{"exchanges": {id: uptake}}`` is given inline; ``{"diet": name or file}`` applies an AGORA / VMH diet
        with :func:`kingems_ray.community.diets.apply_diet` (ids mapped between AGORA versions).
        """
        if not spec:
            return
        if "diet" in spec:
            diets = registry._require("kingems_ray.community.diets", "diet")
            from ..community.models import member_from_compiled

            k = canonical_json(spec)
            if k not in self._media:
                d = spec["diet"]
                self._media[k] = diets.read_diet(resolve_model_path(d, self.base_dir) if os.sep in str(d) else d)
            rep = diets.apply_diet(problem, member_from_compiled(problem.cm), self._media[k])
            if rep.n_components and not rep.n_matched:  # growth 0 on a diet that matched nothing is no answer
                raise KingemsError(f"diet {spec['diet']!r}: none of its {rep.n_components} components matches an "
                                   f"exchange of {problem.cm.model_id!r}; check the id namespace (AGORA / BiGG)")
            return
        from ..gem.media import apply_medium

        apply_medium(problem, self.medium(spec))

    def medium(self, spec: Any) -> dict | None:
        """A medium mapping from a ``{"file": ...}`` or ``{"exchanges": ...}`` spec (read once per worker)."""
        if not spec:
            return None
        k = canonical_json(spec)
        if k in self._media:
            return self._media[k]
        if "exchanges" in spec:
            med = dict(spec["exchanges"])
        elif "file" in spec:
            from ..gem.media import read_media

            media = read_media(resolve_model_path(spec["file"], self.base_dir))
            cond = spec.get("condition") or next(iter(media))
            if cond not in media:
                raise KingemsError(f"{spec['file']}: no condition {cond!r} (has {', '.join(media)})")
            med = media[cond]
        else:
            raise KingemsError(f"medium must have 'file', 'exchanges' or 'diet', got {sorted(spec)}")
        self._media[k] = med
        return med

    # -- running units ------------------------------------------------------------------------------------------
    def _run_analysis(self, unit: dict[str, Any]) -> tuple[dict[str, Any], pd.DataFrame | None, str]:
        an = registry.get(unit["analysis"])
        params = dict(unit.get("params") or {})
        prep = {k: params.pop(k, None) for k in PREP_KEYS}
        for k, v in an.defaults.items():
            params.setdefault(k, v)
        if an.needs == "input":
            params.update({k: v for k, v in prep.items() if v})
            res = an.fn(registry.UnitInput(unit["model"], unit["model_key"], self), params)
            return (*registry.split_result(res), "n/a")
        key, cm, source = self.compiled(unit["model"], unit["model_key"], prep["ec"])
        if an.needs == "compiled":
            return (*registry.split_result(an.fn(cm, params)), source)
        pkey, problem = self.problem(key, cm, prep["medium"])
        try:
            res = an.fn(problem, params)
        finally:
            if an.mutates:  # rebuilt from the (disk-cached) compiled model next time
                self._problems.pop(pkey, None)
                self._compiled.pop(key, None)
        return (*registry.split_result(res), source)

    def run(self, unit: dict[str, Any]) -> dict[str, Any]:
        """Run one unit; never raises for errors of the unit itself.

        Returns
        -------
        dict
            ``unit_id, status ("ok"/"failed"), row, table, error_type, error_message, retryable, elapsed_s,
            worker, model_source`` (``memory``/``disk``/``compiled``: where the compiled model came from).
        """
        t0 = time.perf_counter()
        self.n_units += 1
        out: dict[str, Any] = {"unit_id": unit["unit_id"], "worker": self.name, "table": None, "row": {},
                               "error_type": None, "error_message": None, "retryable": False}
        try:
            row, table, source = self._run_analysis(unit)
            out.update(status="ok", row=row, table=table, model_source=source)
        except Exception as exc:  # recorded with its type and message; the sweep goes on
            out.update(status="failed", error_type=type(exc).__name__, error_message=_short_error(exc),
                       retryable=not isinstance(exc, DETERMINISTIC_ERRORS), model_source=None)
            log.debug("unit %s failed:\n%s", unit["unit_id"], traceback.format_exc())
        out["elapsed_s"] = time.perf_counter() - t0
        out["peak_rss_mb"] = _peak_rss_mb()
        return out

    def run_batch(self, units: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Run several units in order (fewer round trips for very short units)."""
        return [self.run(u) for u in units]

    def memo(self, key: Any, fn):
        """A value computed once per worker (e.g. a model's growth alone in pairwise screens)."""
        if key not in self._memo:
            self._memo[key] = fn()
        return self._memo[key]

    def content_id(self, model: str) -> str:
        """Content id of a model reference (hashed once per worker)."""
        if model not in self._content_ids:
            self._content_ids[model] = content_id(model, self.base_dir)
        return self._content_ids[model]

    def stats(self) -> dict[str, Any]:
        """Counters: units run, models parsed, cache hits/misses, models held."""
        peak = _peak_rss_mb()
        return {"worker": self.name, "n_units": self.n_units, "n_parsed": self.n_parsed,
                "cache_hits": self.cache.hits, "cache_misses": self.cache.misses, "models_held": len(self._compiled),
                "peak_rss_mb": peak}


def _peak_rss_mb() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)  # kB on Linux


def content_id(model: str, base_dir: str | Path | None = None) -> str:
    """Content id of a model reference, resolving a relative path like a worker does."""
    return model_content_id(resolve_model_path(model, base_dir))
