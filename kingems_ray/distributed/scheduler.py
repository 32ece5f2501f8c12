"""Fan work units out to solver replicas with a bounded number in flight; stream results to the store.

The driver is the only writer of the results folder: workers return plain records (through Ray's object store)
and the driver writes each one atomically as it arrives (unordered), so worker nodes need no write access to the
output and a SIGKILL of the driver loses at most the units in flight, which a rerun redoes.

Locality: units are grouped by model; a worker with a free slot keeps taking units of the model it holds
(its compiled model and persistent solver stay warm), then takes a new model, and only when no untouched model is
left does it share the largest remaining group with the worker that holds it.

Failures:

* an analysis error comes back as a failed record; retryable ones (not input errors such as :class:`KingemsError`
  or ``ValueError``) are run again up to ``retries`` more times, then recorded with their type and message;
* a dead worker (its process or its node died: a Ray system error) is replaced by a fresh actor and its units
  are re-queued, up to ``retries + 3`` attempts per unit, so losing a node does not lose units;
* nothing stops the sweep except the driver itself.

This module plans (resume, model groups) and writes; the Ray backend (actors, in-flight calls, failures) is
:mod:`kingems_ray.distributed.ray_backend`, the serial one runs one in-process
:class:`~kingems_ray.distributed.worker.SolverWorker`.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..store.results import STATUS_FAILED, STATUS_OK, ResultStore, Unit
from .ray_backend import SYSTEM_RETRY_SLACK, run_on_actors

log = logging.getLogger(__name__)

__all__ = ["SYSTEM_RETRY_SLACK", "SweepStats", "pending_units", "run_units"]


@dataclass
class SweepStats:
    """What a run did.

    Attributes
    ----------
    n_planned : int
        Units in the sweep.
    n_skipped : int
        Units already done before this run (resume).
    n_ok, n_failed : int
        Units finished by this run, by status.
    n_retries : int
        Re-runs of failed units (analysis errors).
    n_requeued : int
        Units re-queued because their worker died.
    n_worker_restarts : int
        Actors replaced.
    elapsed_s : float
    model_sources : Counter
        Where each unit's compiled model came from: ``memory``, ``disk`` (cache), ``compiled`` (parsed SBML).
    """

    n_planned: int = 0
    n_skipped: int = 0
    n_ok: int = 0
    n_failed: int = 0
    n_retries: int = 0
    n_requeued: int = 0
    n_worker_restarts: int = 0
    elapsed_s: float = 0.0
    model_sources: Counter = field(default_factory=Counter)

    @property
    def n_run(self) -> int:
        """Units finished by this run."""
        return self.n_ok + self.n_failed

    @property
    def units_per_s(self) -> float:
        """Throughput of this run."""
        return self.n_run / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-able summary."""
        return {"n_planned": self.n_planned, "n_skipped": self.n_skipped, "n_ok": self.n_ok,
                "n_failed": self.n_failed, "n_retries": self.n_retries, "n_requeued": self.n_requeued,
                "n_worker_restarts": self.n_worker_restarts, "elapsed_s": round(self.elapsed_s, 3),
                "units_per_s": round(self.units_per_s, 3) if self.n_run and self.elapsed_s > 0 else None,
                "model_sources": dict(self.model_sources)}


def _record(result: dict[str, Any], attempts: int) -> dict[str, Any]:
    row = dict(result.get("row") or {})
    rec = {k: v for k, v in row.items()}
    rec.update(
        status=result["status"],
        error_type=result.get("error_type"),
        error_message=result.get("error_message"),
        attempts=attempts,
        elapsed_s=result.get("elapsed_s"),
        worker=result.get("worker"),
        model_id=row.get("model_id"),
        worker_peak_rss_mb=result.get("peak_rss_mb"),
    )
    return rec


class _Groups:
    """Pending units grouped by model, handed out with model affinity."""

    def __init__(self, units: Sequence[Unit]) -> None:
        self.groups: OrderedDict[str, deque[Unit]] = OrderedDict()
        for u in units:
            self.groups.setdefault(u.model_key, deque()).append(u)
        self.holders: Counter = Counter()  # model key -> workers currently assigned to it

    def __len__(self) -> int:
        return sum(len(g) for g in self.groups.values())

    def push_front(self, unit: Unit) -> None:
        self.groups.setdefault(unit.model_key, deque()).appendleft(unit)

    def take(self, current: str | None) -> Unit | None:
        if current is not None and self.groups.get(current):
            return self.groups[current].popleft()
        # A model nobody holds yet, in order.
        for key, g in self.groups.items():
            if g and self.holders[key] == 0:
                return g.popleft()
        # Share the largest remaining group.
        best = max((k for k, g in self.groups.items() if g), key=lambda k: len(self.groups[k]), default=None)
        return self.groups[best].popleft() if best is not None else None


class _Writer:
    """Writes finished units, keeps the in-memory manifest and the progress bar."""

    def __init__(self, store: ResultStore, planned: list[str], done: dict[str, str], stats: SweepStats,
                 total: int, progress: bool, manifest_every: float, desc: str) -> None:
        from tqdm.auto import tqdm

        self.store, self.planned, self.done, self.stats = store, planned, done, stats
        self.manifest_every = manifest_every
        self.last_manifest = time.monotonic()
        self.bar = tqdm(total=total, desc=desc, unit="unit", file=sys.stderr, disable=not progress,
                        dynamic_ncols=True, mininterval=0.5)

    def write(self, unit: Unit, result: dict[str, Any], attempts: int) -> None:
        self.store.write_unit(unit, _record(result, attempts), result.get("table"))
        self.done[unit.unit_id] = result["status"]
        if result["status"] == STATUS_OK:
            self.stats.n_ok += 1
        else:
            self.stats.n_failed += 1
            log.warning("unit %s (%s, %s) failed: %s: %s", unit.unit_id, unit.analysis, unit.model,
                        result.get("error_type"), result.get("error_message"))
        if result.get("model_source"):
            self.stats.model_sources[result["model_source"]] += 1
        self.bar.update(1)
        self.bar.set_postfix(ok=self.stats.n_ok, failed=self.stats.n_failed, refresh=False)
        if time.monotonic() - self.last_manifest > self.manifest_every:
            self.manifest()

    def manifest(self, final: bool = False) -> None:
        self.store.write_manifest_from(self.done, self.planned, {"running": not final,
                                                                 "last_run": self.stats.as_dict()})
        self.last_manifest = time.monotonic()

    def close(self) -> None:
        self.bar.close()


def pending_units(
    units: Sequence[Unit], store: ResultStore, retry_failed: bool = False
) -> tuple[list[Unit], dict[str, str]]:
    """Units still to run (resume), and the status of those already done.

    Duplicate ids in ``units`` are run once.
    """
    done = store.done_statuses()
    seen: set[str] = set()
    todo = []
    for u in units:
        if u.unit_id in seen:
            continue
        seen.add(u.unit_id)
        st = done.get(u.unit_id)
        if st is None or (retry_failed and st == STATUS_FAILED):
            todo.append(u)
    return todo, done


def run_units(
    units: Sequence[Unit],
    store: ResultStore | str | Path,
    *,
    backend: str = "ray",
    n_workers: int | None = None,
    actors: list | None = None,
    actor_factory: Callable[[], Any] | None = None,
    worker: Any = None,
    cache_dir: str | Path | None = None,
    base_dir: str | Path | None = None,
    max_in_flight_per_worker: int = 2,
    retries: int = 2,
    retry_failed: bool = False,
    progress: bool = True,
    manifest_every: float = 5.0,
    desc: str = "sweep",
    wait_timeout: float = 5.0,
    unit_timeout: float | None = None,
) -> SweepStats:
    """Run the units not yet done and write each result to the store as it arrives.

    Parameters
    ----------
    units : sequence of Unit
    store : ResultStore or path
    backend : {"ray", "serial"}
        ``"ray"``: solver-replica actors on the current Ray cluster (``ray.init`` first); ``"serial"``: one
        in-process :class:`~kingems_ray.distributed.worker.SolverWorker` (same records, no Ray).
    n_workers : int, optional
        Solver actors to start (default: one per cluster CPU); they are killed at the end.
    actors : list of ActorHandle, optional
        Solver actors to use instead (kept alive, so their models stay warm for the next call).
    actor_factory : callable, optional
        Makes one actor (default :func:`kingems_ray.distributed.actors.new_solver_actor` with ``cache_dir`` /
        ``base_dir``); also used to replace dead actors.
    worker : SolverWorker, optional
        The in-process worker of the serial backend (reuse one to keep its models warm).
    max_in_flight_per_worker : int
        Units queued per actor (2 keeps each busy while its last result travels back).
    retries : int
        Extra attempts of a unit whose analysis failed with a retryable error.
    retry_failed : bool
        Also re-run units recorded as failed by an earlier run.
    progress : bool
        A tqdm bar on stderr.
    manifest_every : float
        Seconds between manifest refreshes.
    unit_timeout : float, optional
        Ray backend: a unit running longer is recorded as failed (``UnitTimeout``, not retried) and its worker
        is replaced (a stuck solver call cannot be interrupted otherwise).

    Returns
    -------
    SweepStats
    """
    t0 = time.perf_counter()
    store = store if isinstance(store, ResultStore) else ResultStore(store)
    store.clean_temporaries()  # this driver is the only writer: leftovers are from a killed run
    stats = SweepStats(n_planned=len({u.unit_id for u in units}))
    todo, done = pending_units(units, store, retry_failed)
    stats.n_skipped = stats.n_planned - len(todo)
    planned = [u.unit_id for u in units]
    writer = _Writer(store, planned, dict(done), stats, len(todo), progress, manifest_every, desc)
    try:
        if todo:
            if backend == "serial":
                _run_serial(todo, writer, worker, cache_dir, base_dir, retries)
            elif backend == "ray":
                run_on_actors(_Groups(todo), writer, n_workers, actors, actor_factory, cache_dir, base_dir,
                              max_in_flight_per_worker, retries, min(wait_timeout, unit_timeout or wait_timeout),
                              unit_timeout)
            else:
                raise ValueError(f"backend must be 'ray' or 'serial', got {backend!r}")
        stats.elapsed_s = time.perf_counter() - t0
        writer.manifest(final=True)
    finally:
        writer.close()
    return stats


def _run_serial(todo, writer: _Writer, worker, cache_dir, base_dir, retries: int) -> None:
    from .worker import SolverWorker

    w = worker if worker is not None else SolverWorker(cache_dir=cache_dir, base_dir=base_dir)
    for unit in _Groups_order(todo):
        attempts = 0
        while True:
            attempts += 1
            res = w.run(unit.to_dict())
            if res["status"] == STATUS_OK or not res.get("retryable") or attempts > retries:
                break
            writer.stats.n_retries += 1
        writer.write(unit, res, attempts)


def _Groups_order(units: Sequence[Unit]) -> list[Unit]:  # noqa: N802 - small helper
    g = _Groups(units)
    out = []
    cur = None
    while True:
        u = g.take(cur)
        if u is None:
            return out
        cur = u.model_key
        out.append(u)
