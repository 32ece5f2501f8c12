"""From files to a compiled (enzyme-constrained) model: the one path every command uses."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ..gem.io import load_model, load_model_fast
from .compile import CompiledModel, compile_model
from .kcats import KcatReport, match_to_model, read_kcat_table

if TYPE_CHECKING:  # cobra is imported only where a model is read through it
    import cobra

log = logging.getLogger(__name__)


@dataclass
class Built:
    """A loaded model, its matched kcats and the compiled LP."""

    model: cobra.Model
    compiled: CompiledModel
    kcats: pd.DataFrame | None
    kcat_report: KcatReport | None


def build(
    model: str | Path | cobra.Model,
    kcats: str | Path | pd.DataFrame | None = None,
    level: str = "L4",
    pool: float = 0.25,
    aggregate: str = "max",
    gene_mw: dict[str, float] | None = None,
    formulation: str = "gecko",
    irreversible: bool = False,
    light: bool = False,
) -> Built:
    """Load a model and a kcat table and compile them at an ablation level.

    Parameters
    ----------
    model : path, builtin name or cobra.Model
    kcats : path or DataFrame, optional
        A kcat table (see :mod:`kingems_ray.ec.kcats`); ``None`` compiles the plain GEM.
    level : str
        Ablation level ``L1`` ... ``L4``.
    pool : float
        Total enzyme pool [g/gDW].
    aggregate : str
        How several rows per (reaction, gene, direction) are combined.
    gene_mw : dict, optional
        Gene -> molecular weight [g/mol].
    formulation : {"gecko", "kingems"}
        ``"kingems"`` reproduces the published kinGEMs rows (see :mod:`kingems_ray.ec.compile`).
    irreversible : bool
        Split every reversible reaction into ``R`` / ``R_reverse`` first, as the kinGEMs reference does (needed
        for its "FVi" variability metric).
    light : bool
        For a plain compile from a file or builtin name, read SBML with the streaming reader instead of cobra
        (:func:`~kingems_ray.gem.io.load_model_fast`); :attr:`Built.model` is then a light model, not a
        ``cobra.Model``. Ignored when kcats are given or ``irreversible`` is set (those need cobra objects).
    """
    if not isinstance(model, (str, Path)):
        m = model
    elif light and kcats is None and not irreversible:
        m = load_model_fast(model)
    else:
        m = load_model(model)
    table = None
    report = None
    if kcats is not None:
        raw = read_kcat_table(kcats) if not isinstance(kcats, pd.DataFrame) else kcats
        table, report = match_to_model(raw, m, gene_mw=gene_mw, aggregate=aggregate)
        from ..validate import check_kcat_match

        check_kcat_match(report, "kcat table" if isinstance(kcats, pd.DataFrame) else str(kcats), m.id)
        log.info(report.summary())
    if irreversible:
        from .irreversible import to_irreversible

        m, table = to_irreversible(m, table)
    cm = compile_model(m, table, level=level if table is not None else "L1", pool=pool, formulation=formulation)
    return Built(model=m, compiled=cm, kcats=table, kcat_report=report)
