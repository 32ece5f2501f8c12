"""The report's model tables: flux variability per ablation level, the annealing trajectory, tuned kcats, maintenance.

Plain computations returning DataFrames (the rendering is in :mod:`.report_render`, the knockout scoring in
:mod:`.report_knockouts`). The only place the report builds ecGEMs is :func:`compile_levels`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import KingemsError
from .fva import flux_variability, variability_summary
from .tuning import TuneResult, trajectory_path

__all__ = [
    "DEFAULT_LEVELS",
    "LEVEL_NAMES",
    "ReportInputError",
    "ablation_fva",
    "annealing_table",
    "compile_levels",
    "maintenance_table",
    "read_table",
    "tuned_changes",
    "tuned_inputs",
]

DEFAULT_LEVELS = ("L1", "L2", "L3a", "L3b", "L3c", "L4")
#: Row key of the tuned kcats in the ablation table (not a ``--level``: the CLI's levels end at L4).
TUNED = "tuned"
LEVEL_NAMES = {
    "L1": "baseline GEM",
    "L2": "single enzyme + pool",
    "L3a": "+ isoenzymes",
    "L3b": "+ complexes",
    "L3c": "+ promiscuous",
    "L4": "all constraints",
    # kinGEMs calls this "L5"; kingems-ray has no such level: it is L4 with the kcats `kingems-ray tune` wrote.
    TUNED: "L4 tuned (kcats from kingems-ray tune)",
}

TableInput = pd.DataFrame | str | Path


class ReportInputError(KingemsError):
    """A report input is unusable: a missing or unreadable table, a bad label, a knockout table without a truth."""


def read_table(x: TableInput | None, what: str = "table") -> pd.DataFrame | None:
    """A DataFrame as is, or a Parquet (``.parquet``) / CSV file read into one (``None`` stays ``None``).

    Raises
    ------
    ReportInputError
        A missing or unreadable file (``what`` names it in the message).
    """
    if x is None or isinstance(x, pd.DataFrame):
        return x
    p = Path(x)
    if not p.is_file():
        raise ReportInputError(f"{what}: {p}: file not found")
    try:
        return pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p)
    except (OSError, ValueError) as exc:  # pyarrow's and pandas' parse errors are ValueErrors
        raise ReportInputError(f"{what}: {p}: not a readable {'Parquet' if p.suffix == '.parquet' else 'CSV'} "
                               f"table ({exc})") from exc


def compile_levels(model, kcats, levels: Sequence[str], tuned: pd.DataFrame | None, pool: float) -> dict:
    """The compiled model of every ablation level, and of the tuned kcats at L4 (key ``"tuned"``).

    The one place the report builds ecGEMs, through :class:`~kingems_ray.ec.spec.EcSpec` like every command.

    Returns
    -------
    dict
        Level -> :class:`~kingems_ray.ec.compile.CompiledModel`, in ``levels`` order, ``"tuned"`` last.
    """
    from ..ec.compile import compile_model
    from ..ec.spec import EcSpec

    spec = EcSpec(level="L4", pool=pool)
    b = spec.build(model, kcats)
    compiled = {}
    for lvl in levels:
        if lvl != "L1" and b.kcats is None:
            raise KingemsError(f"level {lvl} needs a kcat table")
        # The matched table is compiled per level directly: matching it again would only repeat the work.
        compiled[lvl] = compile_model(b.model, b.kcats, level=lvl, pool=spec.pool)
    if tuned is not None:
        compiled[TUNED] = spec.build(b.model, kcats=tuned).compiled
    return compiled


def ablation_fva(
    model,
    kcats=None,
    levels: Sequence[str] = DEFAULT_LEVELS,
    tuned: TuneResult | pd.DataFrame | str | Path | None = None,
    fraction: float = 0.9,
    processes: int = 1,
    pool: float = 0.25,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """FVA at every ablation level (and with tuned kcats at L4).

    Returns
    -------
    (summary, fva)
        ``summary``: one row per level: ``level, description, growth, median_variability, mean_variability,
        n_reactions, fraction_zero, n_solves, seconds`` (+ ``fold_vs_L1`` when L1 is there). ``fva``: long table
        ``level, reaction_id, minimum, maximum, variability, status``.
    """
    tb = tuned.table if isinstance(tuned, TuneResult) else tuned
    rows, longs = [], []
    for lvl, cm in compile_levels(model, kcats, levels, tb, pool).items():
        t = time.perf_counter()
        df = flux_variability(cm, fraction=fraction, processes=processes)
        dt = time.perf_counter() - t
        s = variability_summary(df)
        rows.append({"level": lvl, "description": LEVEL_NAMES.get(lvl, lvl), "growth": df.attrs.get("growth"),
                     **s, "n_solves": df.attrs.get("n_solves"), "seconds": dt})
        longs.append(df.assign(level=lvl, variability=(df["maximum"] - df["minimum"]).abs()))
    summary = pd.DataFrame(rows)
    base = summary.loc[summary["level"] == "L1", "median_variability"]
    if len(base) and base.iloc[0] > 0:
        summary["fold_vs_L1"] = base.iloc[0] / summary["median_variability"]
    fva = pd.concat(longs, ignore_index=True)[["level", "reaction_id", "minimum", "maximum", "variability", "status"]]
    return summary, fva


def tuned_inputs(tuned: TuneResult | TableInput | None, trajectory: TableInput | None
                 ) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """The tuned kcat table and its annealing trajectory.

    A tuned table given as a path brings its trajectory (``<stem>_trajectory.parquet``) when present; an explicit
    ``trajectory`` overrides it.
    """
    table, traj = None, None
    if isinstance(tuned, TuneResult):
        table, traj = tuned.table, tuned.trajectory
    elif tuned is not None:
        table = read_table(tuned, what="tuned kcats")
        if not isinstance(tuned, pd.DataFrame) and trajectory_path(tuned).exists():
            traj = pd.read_parquet(trajectory_path(tuned))
    if trajectory is not None:
        traj = read_table(trajectory, what="trajectory")
    return table, traj


def annealing_table(traj: pd.DataFrame) -> pd.DataFrame:
    """Per chain: ``chain, steps, accepted`` (fraction), ``start_growth, best_growth``."""
    return traj.groupby("chain").agg(steps=("iteration", "max"), accepted=("accepted", "mean"),
                                     start_growth=("growth", "first"),
                                     best_growth=("best_growth", "max")).reset_index()


def tuned_changes(tuned: pd.DataFrame | None) -> dict[str, float] | None:
    """How tuning moved the kcats: ``n_changed`` and the ``median``, ``min``, ``max`` fold change.

    ``None`` when the table does not carry ``kcat_original`` (it was not written by ``kingems-ray tune``). With no
    kcat changed, the fold changes are 1.
    """
    if tuned is None or "kcat_original" not in tuned.columns:
        return None
    ch = tuned[tuned["kcat"] != tuned["kcat_original"]]
    fold = (ch["kcat"] / ch["kcat_original"]).to_numpy(float)
    if not len(fold):
        return {"n_changed": 0, "median": 1.0, "min": 1.0, "max": 1.0}
    return {"n_changed": len(ch), "median": float(np.median(fold)), "min": float(fold.min()),
            "max": float(fold.max())}


def maintenance_table(grid: pd.DataFrame) -> pd.DataFrame:
    """Growth over the NGAM x GAM grid as a table: one row per NGAM, one column per GAM."""
    t = grid.pivot(index="ngam", columns="gam", values="growth").reset_index()
    t.columns = ["NGAM \\ GAM"] + [f"{c:g}" for c in t.columns[1:]]
    return t
