"""Ray actors over :class:`~kingems_ray.distributed.worker.SolverWorker` (the only Ray code around the solver)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ray

from .worker import SolverWorker


def solver_actor_options(num_cpus: float = 1.0) -> dict[str, Any]:
    """Ray options of one solver replica: one CPU (HiGHS runs single-threaded here), no automatic restart.

    The scheduler replaces a dead actor itself (and re-queues its units), so Ray's own restart is off: that keeps
    "which units were lost" in one place.
    """
    return {"num_cpus": num_cpus, "max_restarts": 0, "max_task_retries": 0}


def start_solver_actors(
    n: int,
    cache_dir: str | Path | None = None,
    predictor_actors: list | None = None,
    base_dir: str | Path | None = None,
    max_models: int = 16,
    num_cpus: float = 1.0,
) -> list[Any]:
    """Start ``n`` solver-replica actors on the current Ray cluster and wait until they are up."""
    actors = [new_solver_actor(cache_dir, predictor_actors, base_dir, max_models, num_cpus) for _ in range(n)]
    ray.get([a.stats.remote() for a in actors])
    return actors


def new_solver_actor(
    cache_dir: str | Path | None = None,
    predictor_actors: list | None = None,
    base_dir: str | Path | None = None,
    max_models: int = 16,
    num_cpus: float = 1.0,
) -> Any:
    """One solver-replica actor (not waited for)."""
    cls = ray.remote(SolverWorker).options(**solver_actor_options(num_cpus))
    return cls.remote(str(cache_dir) if cache_dir else None, max_models, predictor_actors,
                      str(base_dir) if base_dir else None)


def default_num_solvers(reserved_cpus: float = 0.0) -> int:
    """One solver per CPU of the cluster, minus CPUs reserved for other actors (at least one)."""
    cpus = float(ray.cluster_resources().get("CPU", 1.0))
    return max(1, int(cpus - reserved_cpus))
