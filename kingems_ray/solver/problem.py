"""Moved: the ecGEM problem is :mod:`kingems_ray.ec.problem` (``solver/`` knows nothing of ecGEMs).

Kept only so that old imports (``from kingems_ray.solver.problem import Problem``) keep working until every caller
is moved; the name is resolved lazily, so importing :mod:`kingems_ray.solver` never loads ``ec/``.
"""

from __future__ import annotations

import importlib


def __getattr__(name: str):
    if name in ("Problem", "ProblemState"):
        return getattr(importlib.import_module("kingems_ray.ec.problem"), name)
    raise AttributeError(name)
