"""Serving the kcat predictor on Ray: actors that load the ensemble once, and a streaming driver.

The science stays in plain functions (:mod:`.build_table`); this module only wraps them:

* :class:`PredictorServer` -- a plain class (``setup`` in ``__init__``, ``predict_keys(batch)``) that holds
  one predictor; :func:`start_actors` turns it into Ray actors with resources from :func:`actor_options`
  (``num_gpus`` when the cluster has GPUs, CPUs otherwise).
* :class:`RayPredictor` -- the ``predict(sequences, smiles)`` interface of ``KcatPredictor`` spread over
  actors, so :func:`.build_table.build_kcat_table` can use it unchanged.
* :func:`stream_kcat_tables` -- many models: rows prepared in Ray tasks, unique ``(sequence, smiles)`` keys
  de-duplicated across models and sent in batches with a bounded number in flight, each model's table
  finished and yielded as soon as its keys are known (results unordered, as in NeMo Curator / ActorPool).

Calls in flight are kept by :class:`kingems_ray.actor_pool.ActorPool`, the same bookkeeping the sweep scheduler uses
for its solver actors; here each batch goes to the least-loaded actor.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import ray

from ..actor_pool import ActorPool
from .build_table import (
    KEY_FIELDS,
    Key,
    PreparedRows,
    finish_table,
    keys_frame,
    load_default_predictor,
    predictor_spread_kind,
    prepare_rows,
    result_tuples,
)
from .fallback import KcatDatabase
from .pairs import PairOptions
from .structures import StructureResolver

Result = tuple[float, float, str, str]  # (kcat, kcat_std, status, mode): what the table needs
#: One predictor output row: (log10_kcat_mean, log10_kcat_std, kcat, kcat_std, status, mode).
Row = tuple[float, float, float, float, str, str]
PREDICTION_COLUMNS = ["log10_kcat_mean", "log10_kcat_std", "kcat", "kcat_std", "status", "mode"]


def _rows(res: pd.DataFrame, n: int, keys: list[Key] | None = None) -> list[Row]:
    # Validate through result_tuples (length, numeric kcat) and keep the log10 columns as they came.
    base = result_tuples(res, n, keys)
    lm = (pd.to_numeric(res["log10_kcat_mean"], errors="coerce").tolist() if "log10_kcat_mean" in res
          else [math.log10(b[0]) if b[0] > 0 else math.nan for b in base])
    ls = (pd.to_numeric(res["log10_kcat_std"], errors="coerce").tolist() if "log10_kcat_std" in res
          else [math.nan] * n)
    return [(float(a), float(b), k, sd, st, md) for a, b, (k, sd, st, md, _) in zip(lm, ls, base)]


def _predict_row_keys(predictor: Any, keys: list[Key]) -> pd.DataFrame:
    """Full row keys (:data:`KEY_FIELDS`): ``predict_rows`` when the predictor has it, else ``predict`` on the
    keys with a sequence and a SMILES (the others unscored, empty status), as in-process."""
    if hasattr(predictor, "predict_rows"):
        return predictor.predict_rows(keys_frame(keys))
    nan = math.nan
    out = pd.DataFrame({"log10_kcat_mean": nan, "log10_kcat_std": nan, "kcat": nan, "kcat_std": nan,
                        "status": [""] * len(keys), "mode": [""] * len(keys)})
    idx = [i for i, k in enumerate(keys) if k[0] and k[1]]
    if idx:
        res = predictor.predict([keys[i][0] for i in idx], [keys[i][1] for i in idx])
        res = res.reset_index(drop=True)
        for c in ("log10_kcat_mean", "log10_kcat_std", "kcat", "kcat_std", "status"):
            if c in res:
                out.loc[idx, c] = res[c].to_numpy()
        out.loc[idx, "mode"] = "sequence"
    return out


def actor_options(
    num_gpus_per_actor: float | None = None, num_cpus_per_actor: float = 1.0, resources: dict | None = None
) -> dict[str, float]:
    """Ray options for one predictor actor, from the cluster's resources.

    Parameters
    ----------
    num_gpus_per_actor : float, optional
        GPUs per actor when the cluster has any (default 1; a fraction packs several actors on one GPU).
        ``0`` forces CPU actors.
    num_cpus_per_actor : float
        CPUs per actor.
    resources : dict, optional
        Cluster resources; default ``ray.cluster_resources()`` (so a test can pass a fake cluster).

    Returns
    -------
    dict
        ``{"num_cpus": ..., "num_gpus": ...}`` (``num_gpus`` only when GPUs are used).
    """
    res = resources if resources is not None else ray.cluster_resources()
    opts: dict[str, float] = {"num_cpus": num_cpus_per_actor}
    gpus = float(res.get("GPU", 0.0))
    want = 1.0 if num_gpus_per_actor is None else float(num_gpus_per_actor)
    if gpus > 0 and want > 0:
        opts["num_gpus"] = min(want, gpus)
    return opts


def default_num_actors(options: dict[str, float], resources: dict | None = None, max_actors: int = 8) -> int:
    """How many actors fit: one per GPU share when on GPU, else half the CPUs (ESM uses threads too)."""
    res = resources if resources is not None else ray.cluster_resources()
    if options.get("num_gpus"):
        n = int(float(res.get("GPU", 0.0)) // options["num_gpus"])
    else:
        n = int(float(res.get("CPU", 1.0)) // (2 * options.get("num_cpus", 1.0)))
    return max(1, min(n, max_actors))


class PredictorServer:
    """Holds one predictor (loaded once) and answers batches. Plain Python; :func:`start_actors` wraps it.

    Parameters
    ----------
    factory : callable, optional
        Builds the predictor (anything with ``predict(sequences, smiles)``); default loads
        ``KcatPredictor.from_checkpoint(checkpoint, device)``.
    checkpoint, device
        For the default factory. ``device=None`` lets the predictor pick CUDA when the actor was given a GPU.
    """

    def __init__(
        self, factory: Callable[[], Any] | None = None, checkpoint: str | Path | None = None,
        device: str | None = None,
    ) -> None:
        self.predictor = factory() if factory is not None else load_default_predictor(checkpoint, device)
        self.n_predicted = 0

    def predict_keys(self, keys: list[Key]) -> list[Row]:
        """``(log10_kcat_mean, log10_kcat_std, kcat, kcat_std, status, mode)`` per key.

        Keys are ``(sequence, smiles)`` pairs (``predict``) or full row keys of :data:`KEY_FIELDS`
        (``predict_rows`` when the predictor has it). Plain tuples rather than a DataFrame: cheaper to
        serialise between processes.
        """
        if not keys:
            return []
        if len(keys[0]) > 2:
            res = _predict_row_keys(self.predictor, list(keys))
            rows = _rows(res, len(keys), list(keys))
        else:
            res = self.predictor.predict([k[0] for k in keys], [k[1] for k in keys])
            rows = _rows(res, len(keys))
        self.n_predicted += len(keys)
        return rows

    def predict(self, sequences: list[str], smiles: list[str]) -> pd.DataFrame:
        """The predictor's own DataFrame for one batch."""
        return self.predictor.predict(list(sequences), list(smiles))

    def info(self) -> dict[str, Any]:
        """Process id, predictions served and the GPUs Ray gave this actor."""
        import os

        return {"pid": os.getpid(), "n_predicted": self.n_predicted, "gpu_ids": ray.get_gpu_ids(),
                "spread_kind": predictor_spread_kind(self.predictor)}


def start_actors(
    n_actors: int | None = None,
    factory: Callable[[], Any] | None = None,
    checkpoint: str | Path | None = None,
    device: str | None = None,
    num_gpus_per_actor: float | None = None,
    num_cpus_per_actor: float = 1.0,
    startup_timeout_s: float | None = 600.0,
) -> list[Any]:
    """Start predictor actors on the current Ray cluster (``ray.init`` must have been called).

    Parameters
    ----------
    n_actors : int, optional
        Default :func:`default_num_actors`.
    factory, checkpoint, device
        See :class:`PredictorServer`.
    num_gpus_per_actor, num_cpus_per_actor
        See :func:`actor_options`.
    startup_timeout_s : float, optional
        How long to wait for every actor to load; an actor whose resources never free up would otherwise
        block forever.

    Returns
    -------
    list of ActorHandle
        Ready actors (each has loaded its predictor; a load error surfaces here, not at the first batch).

    Raises
    ------
    TimeoutError
        When the actors are not up within ``startup_timeout_s`` (they are killed first).
    """
    opts = actor_options(num_gpus_per_actor, num_cpus_per_actor)
    n = n_actors if n_actors is not None else default_num_actors(opts)
    cls = ray.remote(PredictorServer).options(**opts)
    actors = [cls.remote(factory, checkpoint, device) for _ in range(max(1, n))]
    try:
        ray.get([a.info.remote() for a in actors], timeout=startup_timeout_s)
    except ray.exceptions.GetTimeoutError as exc:
        for a in actors:
            ray.kill(a)
        raise TimeoutError(
            f"{len(actors)} predictor actor(s) with {opts} not up after {startup_timeout_s} s; "
            f"cluster resources {ray.cluster_resources()}, available {ray.available_resources()}"
        ) from exc
    return actors


def _predictor_pool(actors: list[Any], max_in_flight_per_actor: int) -> ActorPool:
    if not actors:
        raise ValueError("need at least one predictor actor")
    return ActorPool(actors, max_in_flight_per_actor)


def _submit_batch(pool: ActorPool, keys: list[Key]) -> None:
    """Send one batch of keys to the least-loaded actor."""
    pool.submit(pool.least_loaded(), lambda a: a.predict_keys.remote(keys), keys)


def _collect_batch(pool: ActorPool, ref: Any) -> tuple[list[Key], list[Row]]:
    """A finished batch: its keys and their rows."""
    _, _, keys = pool.pop(ref)
    return keys, ray.get(ref)


def predict_keys_on_actors(
    actors: list[Any], keys: list[Key], batch_size: int = 256, max_in_flight_per_actor: int = 2
) -> dict[Key, Row]:
    """Predict unique keys over actors with at most ``max_in_flight_per_actor`` batches queued per actor.

    Returns
    -------
    dict
        key -> ``(log10_kcat_mean, log10_kcat_std, kcat, kcat_std, status, mode)``.
    """
    pool = _predictor_pool(actors, max_in_flight_per_actor)
    # Sorted, so a batch holds few distinct sequences (featurised once per call by the predictor).
    keys = sorted(keys)
    todo = deque(keys[i : i + batch_size] for i in range(0, len(keys), batch_size))
    out: dict[Key, Row] = {}
    while todo or pool.in_flight:
        while todo and not pool.full():
            _submit_batch(pool, todo.popleft())
        ready, _ = ray.wait(list(pool.in_flight), num_returns=1)
        for ref in ready:
            out.update(zip(*_collect_batch(pool, ref)))
    return out


class RayPredictor:
    """``KcatPredictor.predict`` / ``predict_rows`` over a pool of actors (same signatures, same numbers).

    Parameters
    ----------
    actors : list of ActorHandle
        From :func:`start_actors`.
    batch_size : int
        Pairs per actor call.
    max_in_flight_per_actor : int
        Batches queued per actor (bounds driver memory and keeps every actor busy).
    """

    def __init__(self, actors: list[Any], batch_size: int = 256, max_in_flight_per_actor: int = 2) -> None:
        self.actors = actors
        self.batch_size = batch_size
        self.max_in_flight_per_actor = max_in_flight_per_actor
        self._spread_kind: str | None = None

    @property
    def spread_kind(self) -> str:
        """What the actors' ``log10_kcat_std`` is (:func:`~.build_table.predictor_spread_kind` of their
        predictor, asked once): ``calibrated``, ``ensemble`` or ``""``; ``""`` when the actors disagree."""
        if self._spread_kind is None:
            kinds = {ray.get(a.info.remote()).get("spread_kind", "") for a in self.actors}
            self._spread_kind = kinds.pop() if len(kinds) == 1 else ""
        return self._spread_kind

    def predict(self, sequences: list[str], smiles: list[str]) -> pd.DataFrame:
        """One row per input pair: ``log10_kcat_mean, log10_kcat_std, kcat, kcat_std, status``."""
        keys = list(zip(sequences, smiles))
        res = predict_keys_on_actors(self.actors, list(dict.fromkeys(keys)), self.batch_size,
                                     self.max_in_flight_per_actor)
        return pd.DataFrame([res[k] for k in keys], columns=PREDICTION_COLUMNS)

    def predict_rows(self, rows: pd.DataFrame, batch_size: int = 4096) -> pd.DataFrame:
        """One row per input row (columns of :data:`KEY_FIELDS`, any missing): ``log10_kcat_mean,
        log10_kcat_std, kcat, kcat_std, status, mode``. Actors whose predictor has no ``predict_rows`` score
        the rows with a sequence and a SMILES only."""
        cols = [rows[c] if c in rows else pd.Series("", index=rows.index) for c in KEY_FIELDS]
        keys = [tuple(v.strip() if isinstance(v, str) else "" for v in t) for t in zip(*cols)]
        res = predict_keys_on_actors(self.actors, list(dict.fromkeys(keys)), self.batch_size,
                                     self.max_in_flight_per_actor)
        return pd.DataFrame([res[k] for k in keys], columns=PREDICTION_COLUMNS)


@dataclass
class StreamStats:
    """Counters of :func:`stream_kcat_tables`.

    Attributes
    ----------
    models : int
        Tables yielded.
    pair_keys : int
        Sum over models of their unique ``(sequence, smiles)`` keys.
    predicted_keys : int
        Keys actually sent to the actors (``pair_keys - predicted_keys`` were shared between models).
    batches : int
        Actor calls.
    failed : dict
        Model name -> error message for models whose rows could not be prepared.
    """

    models: int = 0
    pair_keys: int = 0
    predicted_keys: int = 0
    batches: int = 0
    failed: dict[str, str] = field(default_factory=dict)


def _prepare_task(
    model: Any, sequences: Any, options: PairOptions | None, resolver: StructureResolver | None,
    organism: str | None = None,
) -> PreparedRows:
    return prepare_rows(model, sequences, options, resolver, organism=organism)


def stream_kcat_tables(
    models: Iterable[tuple[str, Any, Any]],
    actors: list[Any],
    *,
    organism: str | dict[str, str] | None = None,
    options: PairOptions | None = None,
    database: KcatDatabase | None = None,
    resolver: StructureResolver | None = None,
    batch_size: int = 256,
    max_in_flight_per_actor: int = 2,
    max_preparing: int = 2,
    prep_cpus: float = 0.0,
    stats: StreamStats | None = None,
) -> Iterator[tuple[str, pd.DataFrame]]:
    """Build the kcat tables of many models through a pool of predictor actors.

    Parameters
    ----------
    models : iterable of (name, model, sequences)
        ``model`` is a path / built-in name (loaded inside a Ray task) or a cobra model; ``sequences`` as in
        :func:`.build_table.prepare_rows`. Consumed lazily, at most ``max_preparing`` at a time.
    actors : list of ActorHandle
        From :func:`start_actors`.
    organism : str or dict, optional
        Preferred organism for database fallbacks, one for all or name -> organism.
    options, database, resolver
        As in :func:`.build_table.build_kcat_table` (the database is loaded once, in the driver; the resolver,
        default loaded in each task, is shipped to the tasks).
    batch_size, max_in_flight_per_actor
        Keys per actor call; batches queued per actor.
    max_preparing : int
        Models being loaded / paired at once (Ray tasks).
    prep_cpus : float
        CPUs each preparation task reserves (default 0: never blocked by the actors' reservations).
    stats : StreamStats, optional
        Filled in as the stream runs.

    Yields
    ------
    (str, DataFrame)
        Model name and its kcat table (as :func:`.build_table.finish_table`), in completion order. A model
        whose preparation fails is recorded in ``stats.failed`` and skipped, so one bad file does not stop
        a sweep.
    """
    stream = _KcatStream(actors, organism, options, database, resolver, batch_size, max_in_flight_per_actor,
                         prep_cpus, stats if stats is not None else StreamStats())
    model_iter = iter(models)
    exhausted = False
    while True:
        while not exhausted and len(stream.preparing) < max_preparing:
            try:
                stream.prepare(*next(model_iter))
            except StopIteration:
                exhausted = True
        stream.fill_actors()
        pending = list(stream.preparing) + list(stream.pool.in_flight)
        if not pending:
            break
        ready, _ = ray.wait(pending, num_returns=1)
        done: list[str] = []
        for ref in ready:
            done += stream.prepared(ref) if ref in stream.preparing else stream.predicted(ref)
        for name in done:
            yield stream.finish(name)


class _KcatStream:
    """State of one :func:`stream_kcat_tables` run: models being prepared, keys queued / predicted, models waiting."""

    def __init__(self, actors: list[Any], organism, options: PairOptions | None, database: KcatDatabase | None,
                 resolver: StructureResolver | None, batch_size: int, max_in_flight_per_actor: int,
                 prep_cpus: float, stats: StreamStats) -> None:
        self.organism, self.options, self.batch_size, self.stats = organism, options, batch_size, stats
        self.database = database if database is not None else KcatDatabase.default()
        # Preparation tasks reserve no CPU by default: when the actors hold every CPU (2 actors on a 2-CPU node) a
        # task asking for one would wait forever. ``max_preparing`` bounds how many run at once instead.
        self.prep_remote = ray.remote(num_cpus=prep_cpus)(_prepare_task)
        self.resolver_ref = ray.put(resolver) if resolver is not None else None
        self.pool = _predictor_pool(actors, max_in_flight_per_actor)
        self.spread_kind = RayPredictor(actors).spread_kind  # what every table's log10_kcat_std is
        self.preparing: dict[Any, str] = {}  # preparation task -> model name
        self.results: dict[Key, Result] = {}
        self.submitted: set[Key] = set()
        self.queue: deque[Key] = deque()  # keys no model has sent yet
        self.waiting: dict[str, tuple[PreparedRows, set[Key]]] = {}  # model -> (rows, keys still missing)
        self.key_to_models: dict[Key, list[str]] = {}

    def prepare(self, name: str, model: Any, sequences: Any) -> None:
        """Start the preparation task of one model."""
        self.preparing[self.prep_remote.remote(model, sequences, self.options, self.resolver_ref,
                                               self._organism(name))] = name

    def _organism(self, name: str) -> str | None:
        return self.organism.get(name) if isinstance(self.organism, dict) else self.organism

    def fill_actors(self) -> None:
        """Send queued keys to the actors, in batches, while they have room."""
        while self.queue and not self.pool.full():
            batch = [self.queue.popleft() for _ in range(min(self.batch_size, len(self.queue)))]
            _submit_batch(self.pool, batch)
            self.stats.batches += 1

    def prepared(self, ref: Any) -> list[str]:
        """A model's rows are ready: queue its unknown keys; returns ``[name]`` when it needs no prediction."""
        name = self.preparing.pop(ref)
        try:
            prepared = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause if getattr(exc, "cause", None) else exc
            self.stats.failed[name] = f"{type(cause).__name__}: {str(cause).splitlines()[0]}"
            return []
        self.stats.pair_keys += len(prepared.keys)
        missing = set()
        for k in sorted(prepared.keys):  # sequence-contiguous batches, as in predict_keys_on_actors
            if k in self.results:
                continue
            missing.add(k)
            self.key_to_models.setdefault(k, []).append(name)
            if k not in self.submitted:
                self.submitted.add(k)
                self.queue.append(k)
                self.stats.predicted_keys += 1
        self.waiting[name] = (prepared, missing)
        return [] if missing else [name]

    def predicted(self, ref: Any) -> list[str]:
        """A batch came back: record its keys; returns the models that now have every key."""
        done = []
        ks, res = _collect_batch(self.pool, ref)
        for k, r in zip(ks, res):
            self.results[k] = (r[2], r[3], r[4], r[5], r[1])
            for name in self.key_to_models.pop(k, []):
                miss = self.waiting[name][1]
                miss.discard(k)
                if not miss:
                    done.append(name)
        return done

    def finish(self, name: str) -> tuple[str, pd.DataFrame]:
        """The finished kcat table of a model whose keys are all known."""
        prepared, _ = self.waiting.pop(name)
        preds = {k: self.results[k] for k in prepared.keys}
        self.stats.models += 1
        return name, finish_table(prepared, preds, self.database, self._organism(name),
                                  spread_kind=self.spread_kind)
