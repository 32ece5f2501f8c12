"""One process pool for the science modules: spawned workers, each set up once by an initializer.

FVA, knockout screens and annealing chains all send small work items to worker processes that each hold a
solver built once from a compiled model. :func:`process_map` is that pattern; a work function reads its worker's
set-up with :func:`worker_state`. Workers are spawned (not forked): HiGHS and threads do not survive a fork, and a
script that calls this needs the ``if __name__ == "__main__":`` guard. Nothing here knows of Ray.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

_STATE: dict[str, Any] = {}


def _init(setup: Callable[..., Any], args: tuple) -> None:
    _STATE["value"] = setup(*args)


def worker_state() -> Any:
    """What the pool's ``setup`` returned in this worker process."""
    return _STATE["value"]


def process_map(
    fn: Callable[[Any], Any],
    items: Iterable[Any],
    processes: int,
    setup: Callable[..., Any],
    setup_args: tuple = (),
    ordered: bool = True,
) -> Iterator[Any]:
    """``fn(item)`` for every item in ``processes`` spawned workers, each set up once with ``setup(*setup_args)``.

    Parameters
    ----------
    fn : callable
        A module-level function (picklable) taking one item; it reads the worker's set-up via :func:`worker_state`.
    items : iterable
    processes : int
    setup : callable
        A module-level function run once per worker (e.g. build a Problem from a compiled model).
    setup_args : tuple
        Its arguments (pickled once per worker).
    ordered : bool
        Yield results in item order (True) or as they finish.

    Yields
    ------
    The results of ``fn``.
    """
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(processes, mp_context=ctx, initializer=_init, initargs=(setup, tuple(setup_args))) as ex:
        if ordered:
            yield from ex.map(fn, items)
        else:
            futures = [ex.submit(fn, it) for it in items]
            for fut in as_completed(futures):
                yield fut.result()
