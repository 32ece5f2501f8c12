"""Shared fixtures: reference data location, one local Ray per test session."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from kingems_ray.paths import data_root

os.environ.setdefault("RAY_ACCEPT_EXPERIMENTAL_FEATURES", "1")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
# The compiled-model cache `kingems-ray fva` and sweeps use: a private one per test session, not the user's.
os.environ.setdefault("KINGEMS_CACHE", tempfile.mkdtemp(prefix="kingems-test-cache-"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The reference data folder; tests that need it skip with a clear reason when it is absent."""
    root = data_root()
    if root is None:
        pytest.skip("reference data not found (set KINGEMS_DATA or put shared/data beside the checkout)")
    return root


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray instance for the whole test session (starting Ray costs ~5 s)."""
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()
