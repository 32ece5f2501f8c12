"""The Ray backend of the sweep scheduler: solver actors fed with model affinity, results written as they arrive.

:func:`run_on_actors` keeps the actors in an :class:`~kingems_ray.actor_pool.ActorPool` (one future -> (actor,
unit) map, calls queued per actor in order) and the pending units in the scheduler's model groups. What it does on
failures (retries, a dead actor replaced and its units re-queued, a stuck unit timed out) is described in
:mod:`kingems_ray.distributed.scheduler`.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..actor_pool import ActorPool
from ..store.results import STATUS_FAILED, STATUS_OK

if TYPE_CHECKING:
    from .scheduler import _Groups, _Writer

log = logging.getLogger(__name__)

#: Extra attempts allowed for units whose worker died (not the unit's fault).
SYSTEM_RETRY_SLACK = 3


def _system_failure(exc: BaseException) -> dict[str, Any]:
    return {"status": STATUS_FAILED, "row": {}, "table": None, "error_type": type(exc).__name__,
            "error_message": str(exc).strip().splitlines()[0][:2000] if str(exc).strip() else type(exc).__name__,
            "retryable": True, "elapsed_s": None, "worker": None}


def run_on_actors(groups: _Groups, writer: _Writer, n_workers: int | None, actors: list | None,
                  actor_factory: Callable[[], Any] | None, cache_dir, base_dir, per_worker: int, retries: int,
                  wait_timeout: float, unit_timeout: float | None) -> None:
    """Run every unit of ``groups`` on solver actors, writing each result with ``writer`` as it arrives.

    The Ray backend of :func:`kingems_ray.distributed.scheduler.run_units` (see it for the parameters): starts
    ``n_workers`` actors from ``actor_factory`` unless ``actors`` are given, and kills the ones it started.
    """
    import ray

    from .actors import default_num_solvers, new_solver_actor

    if not ray.is_initialized():
        raise RuntimeError("run_units(backend='ray') needs ray.init() first")
    factory = actor_factory or (lambda: new_solver_actor(cache_dir=cache_dir, base_dir=base_dir))
    own = actors is None
    given = [] if own else list(actors)  # replacements stay local; the caller's list is not changed
    if own:
        n = max(1, min(n_workers or default_num_solvers(), len(groups)))
        actors = [factory() for _ in range(n)]
    run = _RayRun(groups, writer, list(actors), factory, per_worker, retries, unit_timeout)
    run.loop(wait_timeout)
    for a in run.pool.handles:
        if own or not any(a is b for b in given):  # our own actors and the replacements we started
            with_suppress_kill(a)


class _RayRun:
    """One ``_run_ray`` call: the solver actors (an :class:`~kingems_ray.actor_pool.ActorPool`) and the unit queue."""

    def __init__(self, groups: _Groups, writer: _Writer, actors: list, factory: Callable[[], Any], per_worker: int,
                 retries: int, unit_timeout: float | None) -> None:
        import ray

        self.ray = ray
        self.writer, self.stats, self.factory = writer, writer.stats, factory
        self.retries, self.unit_timeout = retries, unit_timeout
        self.pool = ActorPool(actors, per_worker)
        self.groups = groups
        self.attempts: Counter = Counter()
        self.max_restarts = 10 * len(actors) + 10
        # An actor gets work once it is up (imports take seconds; after a node loss a replacement may wait for
        # resources): until then its ping is pending. Its timeout clock starts then, too.
        for slot in self.pool.slots:
            slot.starting = slot.handle.stats.remote()

    def loop(self, wait_timeout: float) -> None:
        """Keep every actor fed and write each result as it arrives, until no unit is left."""
        ray, pool = self.ray, self.pool
        while len(self.groups) or pool.in_flight:
            self.poll_starting()
            for i in range(len(pool)):
                while pool.has_room(i) and self.submit(i):
                    pass
            waiting = pool.waiting()
            if not waiting:
                break
            ready, rest = ray.wait(waiting, num_returns=1, timeout=wait_timeout)
            if ready and rest:  # collect everything else that is already finished, without waiting
                more, _ = ray.wait(rest, num_returns=len(rest), timeout=0)
                ready += more
            for ref in ready:
                self.collect(ref)
            self.check_timeouts()

    def submit(self, i: int) -> bool:
        """Give actor ``i`` its next unit (one of the model it holds, if any is left); False when none is."""
        slot = self.pool.slots[i]
        unit = self.groups.take(slot.holds)
        if unit is None:
            return False
        if slot.holds != unit.model_key:
            if slot.holds is not None:
                self.groups.holders[slot.holds] -= 1
            self.groups.holders[unit.model_key] += 1
            slot.holds = unit.model_key
        self.attempts[unit.unit_id] += 1
        self.pool.submit(i, lambda a: a.run.remote(unit.to_dict()), unit)
        return True

    def collect(self, ref: Any) -> None:
        """Record one finished call: write it, or re-queue it (retryable failure, dead actor)."""
        item = self.pool.pop(ref)
        if item is None:
            return  # a readiness ping, or dropped by a timeout in the meantime
        i, handle, unit = item
        ray, stats = self.ray, self.stats
        try:
            res = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:  # the task raised outside SolverWorker.run's guard
            res = _system_failure(exc.cause if getattr(exc, "cause", None) else exc)
        except ray.exceptions.RayError as exc:  # the actor, its process or its node died
            self.replace(i, handle)
            if self.attempts[unit.unit_id] < self.retries + 1 + SYSTEM_RETRY_SLACK:
                stats.n_requeued += 1
                self.groups.push_front(unit)
                return
            res = _system_failure(exc)
        if res["status"] != STATUS_OK and res.get("retryable") and self.attempts[unit.unit_id] <= self.retries:
            stats.n_retries += 1
            self.groups.push_front(unit)
            return
        self.writer.write(unit, res, self.attempts[unit.unit_id])

    def poll_starting(self) -> None:
        """Mark actors whose readiness ping came back as up; replace those that died while starting."""
        now = time.monotonic()
        for i, slot in enumerate(self.pool.slots):
            if slot.starting is None:
                continue
            up, _ = self.ray.wait([slot.starting], timeout=0)
            if not up:
                continue
            try:
                self.ray.get(slot.starting)
            except self.ray.exceptions.RayError:  # died before it was up (its node went away): start another
                self.replace(i, slot.handle)
                continue
            slot.starting = None
            slot.since = now

    def check_timeouts(self) -> None:
        """Fail the running unit of an actor stuck past ``unit_timeout``; kill the actor, re-queue its other units."""
        if self.unit_timeout is None:
            return
        now = time.monotonic()
        for i, slot in enumerate(self.pool.slots):
            if slot.starting is not None or not slot.calls or now - slot.since <= self.unit_timeout:
                continue
            since = slot.since
            (handle, unit), *queued = self.pool.drop_calls(i)
            # The stuck call cannot be interrupted: kill the actor, record the unit, re-queue the others.
            self.replace(i, handle)
            for _, u in queued:
                self.attempts[u.unit_id] -= 1
                self.groups.push_front(u)
                self.stats.n_requeued += 1
            res = {"status": STATUS_FAILED, "row": {}, "table": None, "error_type": "UnitTimeout",
                   "error_message": f"no result after {self.unit_timeout:g} s (worker killed)", "retryable": False,
                   "elapsed_s": now - since, "worker": None}
            self.writer.write(unit, res, self.attempts[unit.unit_id])

    def replace(self, i: int, handle: Any) -> None:
        """Kill actor ``i`` (if it is still ``handle``) and start a replacement in its slot."""
        if self.pool.slots[i].handle is not handle:
            return  # already replaced by an earlier error of the same actor
        with_suppress_kill(handle)
        if self.stats.n_worker_restarts >= self.max_restarts:
            raise RuntimeError(f"solver workers died {self.stats.n_worker_restarts} times: giving up "
                               "(see the Ray logs)")
        new = self.factory()
        self.pool.replace(i, new, starting=new.stats.remote())
        self.stats.n_worker_restarts += 1
        log.warning("solver worker %d died; started a replacement", i)


def with_suppress_kill(handle: Any) -> None:
    """Kill an actor, ignoring errors (it may be dead already)."""
    import ray

    try:
        ray.kill(handle, no_restart=True)
    except Exception:  # noqa: BLE001 - best effort on a handle that may already be gone
        pass
