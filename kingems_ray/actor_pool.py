"""Bookkeeping of calls in flight on a set of Ray actors: one future -> (actor, payload) map.

Shared by the sweep scheduler (solver actors, :mod:`kingems_ray.distributed.scheduler`) and the kcat predictor
(:mod:`kingems_ray.kcat.actor`). Like Ray's ``ray.util.ActorPool`` it keeps a single map from each pending future to
the actor that runs it, but it leaves *which* actor gets the next call to the caller (the scheduler keeps a model on
the actor that holds it warm; the predictor picks the least-loaded actor), bounds the calls queued per actor, and
lets a dead or stuck actor be swapped for a new one in place.

Plain Python: it never calls Ray itself (the caller submits with ``actor.method.remote`` and waits with
``ray.wait``), so it sits below both users and is tested without a cluster.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ActorPool", "ActorSlot"]


@dataclass
class ActorSlot:
    """One actor's place in the pool; its handle changes when the actor is replaced.

    Attributes
    ----------
    handle : ActorHandle
    calls : deque
        Futures of its calls in submission order. An actor runs one call at a time, so the first is the one
        running.
    since : float
        ``time.monotonic()`` when the running call started (a call's clock starts when the previous one ended).
    starting : future or None
        A readiness ping while the actor starts up; the actor gets work once it is ``None``.
    holds : Any
        What the actor has loaded (the scheduler's model key), for callers that route by it.
    """

    handle: Any
    calls: deque = field(default_factory=deque)
    since: float = 0.0
    starting: Any = None
    holds: Any = None

    @property
    def load(self) -> int:
        """Calls submitted and not yet collected."""
        return len(self.calls)


class ActorPool:
    """Calls in flight over a list of actors, at most ``max_in_flight_per_actor`` queued on each.

    Parameters
    ----------
    actors : sequence of ActorHandle
    max_in_flight_per_actor : int
        Calls queued per actor (2 keeps an actor busy while its last result travels back).

    Raises
    ------
    ValueError
        Without actors.
    """

    def __init__(self, actors: Sequence[Any], max_in_flight_per_actor: int = 2) -> None:
        if not actors:
            raise ValueError("need at least one actor")
        self.slots = [ActorSlot(a) for a in actors]
        self.per_actor = max(1, int(max_in_flight_per_actor))
        #: future -> (slot index, actor handle it was sent to, payload)
        self.in_flight: dict[Any, tuple[int, Any, Any]] = {}

    def __len__(self) -> int:
        return len(self.slots)

    @property
    def handles(self) -> list[Any]:
        """The current actor handles, by slot."""
        return [s.handle for s in self.slots]

    def has_room(self, i: int) -> bool:
        """Whether actor ``i`` is up and has fewer than ``max_in_flight_per_actor`` calls queued."""
        s = self.slots[i]
        return s.starting is None and s.load < self.per_actor

    def full(self) -> bool:
        """Whether every actor has its quota of calls queued."""
        return len(self.in_flight) >= self.per_actor * len(self.slots)

    def least_loaded(self) -> int:
        """Index of the actor with the fewest calls queued (the first one on a tie)."""
        return min(range(len(self.slots)), key=lambda i: self.slots[i].load)

    def submit(self, i: int, call: Callable[[Any], Any], payload: Any = None) -> Any:
        """Send a call to actor ``i``: ``call(handle)`` returns its future, remembered with ``payload``."""
        s = self.slots[i]
        if not s.calls:
            s.since = time.monotonic()
        ref = call(s.handle)
        s.calls.append(ref)
        self.in_flight[ref] = (i, s.handle, payload)
        return ref

    def pop(self, ref: Any) -> tuple[int, Any, Any] | None:
        """Forget a finished future: ``(slot index, handle it ran on, payload)``, or ``None`` when not in flight."""
        item = self.in_flight.pop(ref, None)
        if item is None:
            return None
        s = self.slots[item[0]]
        try:
            s.calls.remove(ref)
        except ValueError:
            pass
        s.since = time.monotonic()  # the next queued call runs from now on
        return item

    def drop_calls(self, i: int) -> list[tuple[Any, Any]]:
        """Forget every call queued on actor ``i`` (running one first): ``[(handle, payload), ...]``."""
        s = self.slots[i]
        out = []
        for ref in s.calls:
            _, handle, payload = self.in_flight.pop(ref)
            out.append((handle, payload))
        s.calls.clear()
        return out

    def replace(self, i: int, handle: Any, starting: Any = None) -> None:
        """Put a new actor in slot ``i`` (calls still queued for the old one come back as errors and are popped)."""
        s = self.slots[i]
        s.handle = handle
        s.starting = starting

    def waiting(self) -> list[Any]:
        """Every future worth waiting for: calls in flight and readiness pings."""
        return list(self.in_flight) + [s.starting for s in self.slots if s.starting is not None]
