"""The paper's table for one model, as Markdown + HTML with figures and the Parquet behind them.

Contents:

* flux-variability ablation: growth and median / mean flux variability (``|max - min|`` at ``fraction`` of the
  optimum) for every ablation level (L1 ... L4) and, when given, the tuned kcats (``tuned``, kinGEMs' L5), with a
  figure of the per-reaction variability distributions;
* the annealing trajectory (growth per step and chain) when a tuned table comes with its trajectory;
* knockout accuracy (accuracy, balanced accuracy, ROC-AUC, MCC) and ROC curves, when knockout results are given;
* the maintenance (NGAM x GAM) grid as a heat map, when given.

Figures are matplotlib PNGs (Agg backend). Nothing here knows about Ray.
"""

from __future__ import annotations

import html
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..ec.build import build  # noqa: E402
from ..ec.compile import compile_model  # noqa: E402
from ..errors import KingemsError  # noqa: E402
from .fva import flux_variability, variability_summary  # noqa: E402
from .tuning import TuneResult, trajectory_path  # noqa: E402

DEFAULT_LEVELS = ("L1", "L2", "L3a", "L3b", "L3c", "L4")
_LEVEL_NAMES = {
    "L1": "baseline GEM",
    "L2": "single enzyme + pool",
    "L3a": "+ isoenzymes",
    "L3b": "+ complexes",
    "L3c": "+ promiscuous",
    "L4": "all constraints",
    "tuned": "after tuning (L5)",
}
GROWTH_THRESHOLD = 1e-3


@dataclass
class Report:
    """What :func:`write_report` produced: output paths and the tables behind them."""

    out_dir: Path
    files: dict[str, Path] = field(default_factory=dict)
    summary: pd.DataFrame | None = None
    knockout_summary: pd.DataFrame | None = None


# ---------------------------------------------------------------------------------------------------------------------
# computations
# ---------------------------------------------------------------------------------------------------------------------
def ablation_fva(
    model,
    kcats=None,
    levels: Sequence[str] = DEFAULT_LEVELS,
    tuned: pd.DataFrame | str | Path | None = None,
    fraction: float = 0.9,
    processes: int = 1,
    pool: float = 0.25,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """FVA at every ablation level (and with tuned kcats at L4).

    Returns
    -------
    (summary, fva)
        ``summary``: one row per level: ``level, description, growth, median_variability, mean_variability,
        n_reactions, fraction_zero, n_solves, seconds``. ``fva``: long table ``level, reaction_id, minimum,
        maximum, variability, status``.
    """
    b = build(model, kcats, level="L4", pool=pool)
    compiled = {}
    for lvl in levels:
        if lvl != "L1" and b.kcats is None:
            raise KingemsError(f"level {lvl} needs a kcat table")
        compiled[lvl] = compile_model(b.model, b.kcats, level=lvl, pool=pool)
    if tuned is not None:
        tb = tuned.table if isinstance(tuned, TuneResult) else tuned
        compiled["tuned"] = build(b.model, tb, level="L4", pool=pool).compiled
    rows, longs = [], []
    for lvl, cm in compiled.items():
        t = time.perf_counter()
        df = flux_variability(cm, fraction=fraction, processes=processes)
        dt = time.perf_counter() - t
        s = variability_summary(df)
        rows.append({"level": lvl, "description": _LEVEL_NAMES.get(lvl, lvl), "growth": df.attrs.get("growth"),
                     **s, "n_solves": df.attrs.get("n_solves"), "seconds": dt})
        longs.append(df.assign(level=lvl, variability=(df["maximum"] - df["minimum"]).abs()))
    summary = pd.DataFrame(rows)
    base = summary.loc[summary["level"] == "L1", "median_variability"]
    if len(base) and base.iloc[0] > 0:
        summary["fold_vs_L1"] = base.iloc[0] / summary["median_variability"]
    fva = pd.concat(longs, ignore_index=True)[["level", "reaction_id", "minimum", "maximum", "variability", "status"]]
    return summary, fva


def _truth_column(ko: pd.DataFrame) -> str:
    for c in ("grows", "truth", "measured_grows"):
        if c in ko.columns:
            return c
    raise KingemsError(
        "knockout table needs a truth column ('grows' or 'truth': True when the measured mutant grows); "
        f"has {', '.join(map(str, ko.columns))}"
    )


def knockout_roc(knockouts: pd.DataFrame, threshold: float = GROWTH_THRESHOLD) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Accuracy metrics and ROC curves of knockout predictions (positive class: grows).

    Parameters
    ----------
    knockouts : DataFrame
        ``gene_id, condition, growth, status`` and a truth column ``grows`` (or ``truth``), True when the
        measured mutant grows. Rows without a truth value are dropped; a missing growth counts as no growth.

    Returns
    -------
    (metrics, roc)
        ``metrics``: one row per condition plus ``all``; ``roc``: ``condition, fpr, tpr, threshold``.
    """
    from sklearn.metrics import roc_curve

    tcol = _truth_column(knockouts)
    ko = knockouts.dropna(subset=[tcol]).copy()
    ko["growth"] = pd.to_numeric(ko["growth"], errors="coerce").fillna(0.0)
    if "condition" not in ko.columns:
        ko["condition"] = "all"
    groups = [("all", ko)] + ([(str(k), g) for k, g in ko.groupby("condition", sort=True)]
                              if ko["condition"].nunique() > 1 else [])
    rows, curves = [], []
    for name, g in groups:
        y = g[tcol].astype(bool).to_numpy()
        s = g["growth"].to_numpy(float)
        m = _classification(y, s > threshold, s)
        rows.append({"condition": name, **m})
        if y.any() and (~y).any():
            fpr, tpr, thr = roc_curve(y, s)
            curves.append(pd.DataFrame({"condition": name, "fpr": fpr, "tpr": tpr, "threshold": thr}))
    roc = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=["condition", "fpr", "tpr",
                                                                                      "threshold"])
    return pd.DataFrame(rows), roc


def _classification(y: np.ndarray, pred: np.ndarray, score: np.ndarray) -> dict:
    try:  # the project's metrics module (numpy, checked against sklearn) when present
        from .metrics import classification_metrics

        m = classification_metrics(y, pred, score)
        keys = ["n", "n_grow", "n_no_growth", "accuracy", "balanced_accuracy", "roc_auc", "mcc", "tp", "fp", "tn",
                "fn"]
        return {k: m.get(k, np.nan) for k in keys}
    except ImportError:  # pragma: no cover - fallback before metrics.py existed
        from sklearn.metrics import accuracy_score, balanced_accuracy_score, matthews_corrcoef, roc_auc_score

        both = y.any() and (~y).any()
        return {"n": len(y), "n_grow": int(y.sum()), "n_no_growth": int((~y).sum()),
                "accuracy": accuracy_score(y, pred), "balanced_accuracy": balanced_accuracy_score(y, pred),
                "roc_auc": roc_auc_score(y, score) if both else np.nan, "mcc": matthews_corrcoef(y, pred)}


# ---------------------------------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------------------------------
def plot_variability(fva: pd.DataFrame, path: Path, floor: float = 1e-6) -> Path:
    """Box plots of log10 flux variability per level (reactions with finite ranges)."""
    levels = list(dict.fromkeys(fva["level"]))
    data = []
    for lvl in levels:
        v = fva.loc[fva["level"] == lvl, "variability"].to_numpy(float)
        v = v[np.isfinite(v)]
        data.append(np.log10(np.maximum(v, floor)))
    fig, ax = plt.subplots(figsize=(1.3 * len(levels) + 2, 4))
    ax.boxplot(data, showfliers=True, flierprops={"markersize": 2})
    ax.set_xticks(range(1, len(levels) + 1), levels)
    ax.set_ylabel(f"log10 flux variability (floor {floor:g})")
    ax.set_title("Flux variability per ablation level")
    for i, d in enumerate(data, start=1):
        if len(d):
            ax.plot(i, np.median(d), "r_", markersize=18)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_trajectory(traj: pd.DataFrame, path: Path, target: float | None = None) -> Path:
    """Growth per annealing step: current (lines) and best (dashed) per chain."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for c, d in traj.groupby("chain"):
        col = "current_growth" if "current_growth" in d else "growth"
        line = ax.plot(d["iteration"], d[col], lw=1, label=f"chain {c}")[0]
        ax.plot(d["iteration"], d["best_growth"], ls="--", lw=1, color=line.get_color())
    if target is not None:
        ax.axhline(target, color="k", lw=0.8, ls=":", label="target")
    ax.set_xlabel("step")
    ax.set_ylabel("growth [1/h]")
    ax.set_title("Simulated annealing of kcats")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_roc(roc: pd.DataFrame, metrics: pd.DataFrame, path: Path) -> Path:
    """ROC curves per condition (and over all)."""
    fig, ax = plt.subplots(figsize=(5, 5))
    auc = dict(zip(metrics["condition"], metrics["roc_auc"]))
    for c, d in roc.groupby("condition", sort=False):
        ax.plot(d["fpr"], d["tpr"], lw=2 if c == "all" else 1, label=f"{c} (AUC {auc.get(c, np.nan):.2f})")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("Knockouts: grows vs no growth")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_maintenance(grid: pd.DataFrame, path: Path) -> Path:
    """Heat map of growth over the NGAM x GAM grid."""
    t = grid.pivot(index="ngam", columns="gam", values="growth")
    fig, ax = plt.subplots(figsize=(6, 4))
    im = ax.imshow(t.to_numpy(), origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(t.shape[1]), [f"{v:g}" for v in t.columns], rotation=45)
    ax.set_yticks(range(t.shape[0]), [f"{v:g}" for v in t.index])
    ax.set_xlabel("GAM [mmol ATP/gDW]")
    ax.set_ylabel("NGAM [mmol/gDW/h]")
    fig.colorbar(im, ax=ax, label="growth [1/h]")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------------------------------------------------
# documents
# ---------------------------------------------------------------------------------------------------------------------
def _fmt(v) -> str:
    if isinstance(v, float | np.floating):
        return "" if not np.isfinite(v) else f"{v:.4g}"
    return str(v)


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""
    cols = list(df.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_fmt(v) for v in row) + " |")
    return "\n".join(lines)


def _read_table(x) -> pd.DataFrame | None:
    if x is None or isinstance(x, pd.DataFrame):
        return x
    p = Path(x)
    if not p.exists():
        raise KingemsError(f"{p}: file not found")
    return pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p)


def write_report(
    model,
    kcats,
    out_dir: str | Path,
    *,
    tuned: TuneResult | pd.DataFrame | str | Path | None = None,
    trajectory: pd.DataFrame | str | Path | None = None,
    knockouts: pd.DataFrame | str | Path | None = None,
    maintenance: pd.DataFrame | str | Path | None = None,
    levels: Sequence[str] = DEFAULT_LEVELS,
    fraction: float = 0.9,
    processes: int = 1,
    pool: float = 0.25,
    target_growth: float | None = None,
    title: str | None = None,
) -> Report:
    """Write ``report.md``, ``report.html``, PNG figures and Parquet tables for one model into ``out_dir``.

    Parameters
    ----------
    model : path, builtin name or cobra.Model
    kcats : path or DataFrame
        The kcat table (predicted kcats).
    out_dir : path
    tuned : TuneResult, DataFrame or path, optional
        Tuned kcat table; a path's trajectory (``<stem>_trajectory.parquet``) is picked up when present.
    trajectory : DataFrame or path, optional
        Annealing trajectory (overrides the one found next to ``tuned``).
    knockouts : DataFrame or path, optional
        ``gene_id, condition, growth, status`` plus ``grows`` / ``truth`` (measured growth, bool).
    maintenance : DataFrame or path, optional
        A grid from :func:`kingems_ray.analysis.maintenance.maintenance_sweep`.
    levels, fraction, processes, pool
        FVA settings (fraction of optimal growth kept; 0.9 as in the paper).
    target_growth : float, optional
        Drawn on the trajectory figure.

    Returns
    -------
    Report
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rep = Report(out_dir=out)
    traj = None
    tuned_table = None
    if isinstance(tuned, TuneResult):
        tuned_table, traj = tuned.table, tuned.trajectory
    elif tuned is not None:
        tuned_table = _read_table(tuned)
        if not isinstance(tuned, pd.DataFrame) and trajectory_path(tuned).exists():
            traj = pd.read_parquet(trajectory_path(tuned))
    if trajectory is not None:
        traj = _read_table(trajectory)
    ko = _read_table(knockouts)
    grid = _read_table(maintenance)

    summary, fva = ablation_fva(model, kcats, levels=levels, tuned=tuned_table, fraction=fraction,
                                processes=processes, pool=pool)
    rep.summary = summary
    files = rep.files
    files["summary"] = out / "ablation_summary.parquet"
    summary.to_parquet(files["summary"], index=False)
    files["fva"] = out / "fva.parquet"
    fva.to_parquet(files["fva"], index=False)
    files["fig_variability"] = plot_variability(fva, out / "flux_variability.png")
    model_name = getattr(model, "id", None) or Path(str(model)).name
    md = [f"# {title or f'kingems-ray report: {model_name}'}", ""]
    md += [f"Model `{model_name}`; FVA at {fraction:g} of optimal growth; enzyme pool {pool:g} g/gDW.", ""]
    md += ["## Flux variability per ablation level", "", markdown_table(summary.drop(columns=["seconds"])), "",
           "![flux variability](flux_variability.png)", ""]
    sections_html = [("Flux variability per ablation level", summary.drop(columns=["seconds"]), "flux_variability.png")]

    if traj is not None and len(traj):
        files["trajectory"] = out / "annealing_trajectory.parquet"
        traj.to_parquet(files["trajectory"], index=False)
        files["fig_trajectory"] = plot_trajectory(traj, out / "annealing.png", target_growth)
        per_chain = traj.groupby("chain").agg(steps=("iteration", "max"),
                                              accepted=("accepted", "mean"),
                                              start_growth=("growth", "first"),
                                              best_growth=("best_growth", "max")).reset_index()
        md += ["## Annealing trajectory", "", markdown_table(per_chain), "", "![annealing](annealing.png)", ""]
        sections_html.append(("Annealing trajectory", per_chain, "annealing.png"))
    if tuned_table is not None and "kcat_original" in tuned_table.columns:
        ch = tuned_table[tuned_table["kcat"] != tuned_table["kcat_original"]]
        fold = (ch["kcat"] / ch["kcat_original"]).to_numpy(float)
        md += [f"{len(ch)} kcats changed by tuning; median fold change {np.median(fold) if len(fold) else 1:.3g} "
               f"(range {fold.min() if len(fold) else 1:.3g} to {fold.max() if len(fold) else 1:.3g}).", ""]

    if ko is not None:
        metrics, roc = knockout_roc(ko)
        rep.knockout_summary = metrics
        files["knockout_metrics"] = out / "knockout_metrics.parquet"
        metrics.to_parquet(files["knockout_metrics"], index=False)
        files["roc"] = out / "roc.parquet"
        roc.to_parquet(files["roc"], index=False)
        files["fig_roc"] = plot_roc(roc, metrics, out / "roc.png")
        md += ["## Gene knockouts", "", f"Predicted growth > {GROWTH_THRESHOLD:g} 1/h = grows.", "",
               markdown_table(metrics), "", "![ROC](roc.png)", ""]
        sections_html.append(("Gene knockouts", metrics, "roc.png"))
    if grid is not None:
        files["fig_maintenance"] = plot_maintenance(grid, out / "maintenance.png")
        t = grid.pivot(index="ngam", columns="gam", values="growth").reset_index()
        t.columns = ["NGAM \\ GAM"] + [f"{c:g}" for c in t.columns[1:]]
        md += ["## Maintenance sweep (growth)", "", markdown_table(t), "", "![maintenance](maintenance.png)", ""]
        sections_html.append(("Maintenance sweep (growth)", t, "maintenance.png"))

    files["markdown"] = out / "report.md"
    files["markdown"].write_text("\n".join(md))
    body = [f"<h1>{html.escape(md[0][2:])}</h1>", f"<p>{html.escape(md[2])}</p>"]
    for head, table, img in sections_html:
        body += [f"<h2>{html.escape(head)}</h2>",
                 table.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0, classes="tbl"),
                 f'<p><img src="{img}" alt="{html.escape(head)}"></p>']
    style = ("body{font-family:sans-serif;max-width:1100px;margin:auto}"
             ".tbl{border-collapse:collapse}.tbl td,.tbl th{padding:2px 8px;border-bottom:1px solid #ddd}")
    files["html"] = out / "report.html"
    files["html"].write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(md[0][2:])}"
                             f"</title><style>{style}</style></head><body>{''.join(body)}</body></html>")
    return rep
