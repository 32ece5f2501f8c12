"""Enzyme-constrained community members: kcats for AGORA models and L4 compilation per taxon.

kcats come from :func:`kingems_ray.kcat.build_table.build_kcat_table` (the project's kcat table of a model:
predictor where sequences and structures allow, else its fallbacks: database by EC number, EC-class medians, a
global median). AGORA SBML files carry no protein sequences, so for them the table is fallbacks only unless a
sequence file is given. Each taxon is compiled with ``compile_model(model, kcats, level="L4")`` and keeps its own
protein pool row (``pool`` g/gDW of that taxon).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from ..ec.kcats import match_to_model
from .models import Member, load_member

log = logging.getLogger(__name__)


def agora_kcats(model, predictor=None, sequences=None) -> pd.DataFrame | None:
    """Matched kcat table of a cobra model (fallbacks only without sequences), or ``None`` when empty."""
    from ..kcat.build_table import build_kcat_table

    raw = build_kcat_table(model, sequences=sequences, predictor=predictor)
    raw = raw[raw["kcat"].notna() & (raw["kcat"] > 0)]
    if raw.empty:
        return None
    table, report = match_to_model(raw, model)
    log.info("%s: %s", model.id, report.summary())
    return table


def load_ec_member(path: str | Path, cache_dir: str | Path | None = None, pool: float = 0.25,
                   predictor=None) -> Member:
    """Load an enzyme-constrained (L4) member, cached separately from the plain one."""
    tag = "fallback" if predictor is None else "predicted"
    mem = load_member(path, cache_dir=cache_dir, kcats=lambda m: agora_kcats(m, predictor), level="L4", pool=pool,
                      kcat_tag=tag)
    return mem


def ec_summary(members: list[Member]) -> pd.DataFrame:
    """Per taxon: level, enzymes, constrained reactions, pool."""
    rows = []
    for m in members:
        rep = m.compiled.report
        rows.append({"model": m.name, "level": m.compiled.level, "n_enzymes": rep.get("n_enzymes", 0),
                     "n_constrained_reactions": rep.get("n_constrained_reactions", 0), "pool": m.compiled.pool})
    return pd.DataFrame(rows)
