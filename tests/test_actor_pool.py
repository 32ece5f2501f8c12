"""ActorPool bookkeeping (no Ray): one future -> (actor, payload) map, per-actor order, quotas, replacement."""

from __future__ import annotations

import itertools

import pytest

from kingems_ray.actor_pool import ActorPool


class _Handle:
    """Stands in for an actor handle: ``call`` returns a fresh future id."""

    _ids = itertools.count()

    def __init__(self, name: str) -> None:
        self.name = name

    def call(self) -> str:
        return f"{self.name}:{next(self._ids)}"


def test_submit_pop_and_quotas():
    a, b = _Handle("a"), _Handle("b")
    pool = ActorPool([a, b], max_in_flight_per_actor=2)
    refs = []
    while not pool.full():
        i = pool.least_loaded()
        refs.append(pool.submit(i, lambda h: h.call(), payload=len(refs)))
    # least-loaded alternates a, b, a, b; two per actor
    assert [r.split(":")[0] for r in refs] == ["a", "b", "a", "b"]
    assert [s.load for s in pool.slots] == [2, 2] and not pool.has_room(0)
    assert list(pool.slots[0].calls) == [refs[0], refs[2]]  # submission order: the head is the running call
    i, handle, payload = pool.pop(refs[2])
    assert (i, handle, payload) == (0, a, 2) and pool.slots[0].load == 1 and pool.has_room(0)
    assert pool.pop(refs[2]) is None  # popped once
    assert pool.least_loaded() == 0
    assert sorted(pool.waiting()) == sorted([refs[0], refs[1], refs[3]])


def test_starting_actor_gets_no_work_and_replacement():
    a, b = _Handle("a"), _Handle("b")
    pool = ActorPool([a], max_in_flight_per_actor=3)
    pool.slots[0].starting = "ping-a"
    assert not pool.has_room(0) and pool.waiting() == ["ping-a"]
    pool.slots[0].starting = None
    r1 = pool.submit(0, lambda h: h.call(), "u1")
    r2 = pool.submit(0, lambda h: h.call(), "u2")
    pool.replace(0, b, starting="ping-b")
    assert pool.handles == [b]
    # calls sent to the old actor still resolve to it (so a caller can tell a stale error from a new one)
    assert pool.pop(r1) == (0, a, "u1")
    r3 = pool.slots[0].handle.call()  # not submitted: unknown futures are ignored
    assert pool.pop(r3) is None
    dropped = pool.drop_calls(0)
    assert dropped == [(a, "u2")] and pool.slots[0].load == 0 and r2 not in pool.in_flight


def test_drop_calls_keeps_order():
    a = _Handle("a")
    pool = ActorPool([a], max_in_flight_per_actor=3)
    for u in ("x", "y", "z"):
        pool.submit(0, lambda h: h.call(), u)
    assert [p for _, p in pool.drop_calls(0)] == ["x", "y", "z"] and not pool.in_flight


def test_needs_actors():
    with pytest.raises(ValueError, match="at least one actor"):
        ActorPool([])
