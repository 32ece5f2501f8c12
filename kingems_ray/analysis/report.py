"""The paper's table for one model, as Markdown + HTML with figures and the Parquet behind them.

Contents:

* flux-variability ablation: growth and median / mean flux variability (``|max - min|`` at ``fraction`` of the
  optimum) for every ablation level (L1 ... L4) and, when given, the tuned kcats (``tuned``, kinGEMs' L5), with a
  figure of the per-reaction variability distributions;
* the annealing trajectory (growth per step and chain) when a tuned table comes with its trajectory;
* knockout accuracy of one or several models side by side (e.g. the plain GEM, the ecGEM and the tuned ecGEM): per
  model n, accuracy, balanced accuracy, MCC, ROC-AUC, PR-AUC of both classes and, with several conditions, the mean
  over conditions of the per-condition ROC-AUC; a model x condition table; one ROC curve per model in one figure;
* the maintenance (NGAM x GAM) grid as a heat map, when given.

Knockout tables are scored against a truth set exactly as ``kingems-ray evaluate knockouts`` scores them: the truth
(a named set of :func:`kingems_ray.analysis.validation_data.load_truth`, or a CSV read by the same code as
``evaluate``) is joined with each table by :func:`~kingems_ray.analysis.validation_data.join_knockouts` (conditions
named by exchange id, as screens made with ``--carbon-sources`` name them, are mapped back to the Keio carbon-source
names automatically) and scored by :func:`kingems_ray.analysis.metrics.knockout_metrics` (scores rounded to 1e-9
before ranking). Without a truth, each table must carry its own truth column (``grows`` or ``truth``).

Figures are matplotlib PNGs (Agg backend). Nothing here knows about Ray.
"""

from __future__ import annotations

import html
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import cobra  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..ec.build import build  # noqa: E402
from ..ec.compile import compile_model  # noqa: E402
from ..errors import KingemsError  # noqa: E402
from ..gem.io import load_model  # noqa: E402
from .fva import flux_variability, variability_summary  # noqa: E402
from .metrics import COMPARE_SCORES, GROWTH_THRESHOLD, SCORE_DECIMALS, knockout_metrics, ranking_score  # noqa: E402
from .tuning import TuneResult, trajectory_path  # noqa: E402
from .validation_data import TRUTH_SETS, join_knockouts, parse_condition_map, read_truth  # noqa: E402

__all__ = [
    "DEFAULT_LEVELS",
    "GROWTH_THRESHOLD",
    "KnockoutComparison",
    "Report",
    "ReportInputError",
    "ablation_fva",
    "knockout_comparison",
    "knockout_roc",
    "knockout_tables",
    "prepare_knockouts",
    "resolve_condition_map",
    "resolve_truth",
    "write_report",
]

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
#: Columns a knockout table may carry its own measured truth in (True = the mutant grows), in order of preference.
TRUTH_COLUMNS = ("grows", "truth", "measured_grows")
#: Scores ROC-AUC / PR-AUC can rank knockouts by (columns of a knockout table).
KNOCKOUT_SCORES = COMPARE_SCORES
#: Label of a single knockout table given without one.
DEFAULT_LABEL = "model"
#: Condition of a knockout table without a ``condition`` column (as a screen run in the model's own medium).
_NO_CONDITION = "model"
#: Columns of the knockout tables in the Markdown / HTML report (the Parquet files hold every metric).
_OVERALL_SHOWN = ("model", "n", "n_grow", "n_no_growth", "accuracy", "balanced_accuracy", "mcc", "roc_auc", "pr_auc",
                  "pr_auc_no_growth", "mean_condition_roc_auc")
_CONDITION_SHOWN = ("model", "condition", "n", "n_no_growth", "accuracy", "roc_auc")

KnockoutInput = pd.DataFrame | str | Path


class ReportInputError(KingemsError):
    """A report input is unusable: a missing or unreadable table, a bad label, a knockout table without a truth."""


@dataclass
class Report:
    """What :func:`write_report` produced: output paths and the tables behind them."""

    out_dir: Path
    files: dict[str, Path] = field(default_factory=dict)
    summary: pd.DataFrame | None = None
    #: One row per knockout model: ``model`` and every metric (see :func:`knockout_comparison`).
    knockout_summary: pd.DataFrame | None = None
    #: One row per knockout model x condition.
    knockout_conditions: pd.DataFrame | None = None


@dataclass
class KnockoutComparison:
    """Knockout accuracy of several models (:func:`knockout_comparison`).

    Attributes
    ----------
    overall : DataFrame
        One row per model, in input order: ``model``, the metrics of
        :func:`kingems_ray.analysis.metrics.classification_metrics` over all points (``n, n_grow, n_no_growth,
        accuracy, balanced_accuracy, mcc, ..., roc_auc, pr_auc, pr_auc_no_growth, tp, fp, tn, fn``), then
        ``n_conditions``, ``n_conditions_roc_auc`` (conditions holding both classes) and ``mean_condition_roc_auc``
        (mean of their per-condition ROC-AUC; NaN with a single condition).
    by_condition : DataFrame
        One row per model x condition (``model, condition`` + the same metrics), conditions in order of first
        appearance, models in input order within a condition.
    roc : DataFrame
        ``model, condition, fpr, tpr, threshold``: ROC curve points over all points (``condition = "all"``) and per
        condition when a model has several; models or conditions with a single class have no curve.
    joined : dict
        Label -> the scored table (knockouts joined with the truth, truth column named ``grows``).
    truth : str
        What the tables were scored against, in words.
    condition_map : dict or None
        Knockout condition -> truth condition applied before joining.
    """

    overall: pd.DataFrame
    by_condition: pd.DataFrame
    roc: pd.DataFrame
    joined: dict[str, pd.DataFrame]
    truth: str
    condition_map: dict[str, str] | None = None


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


def _read_table(x: KnockoutInput | None, what: str = "table") -> pd.DataFrame | None:
    """A DataFrame as is, or a Parquet (``.parquet``) / CSV file read into one."""
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


def knockout_tables(knockouts: KnockoutInput | Mapping[str, KnockoutInput] | None) -> dict[str, pd.DataFrame]:
    """Knockout tables by label.

    Parameters
    ----------
    knockouts : DataFrame, path, mapping or None
        One table or Parquet/CSV path (labelled ``"model"``), or ``{label: table or path}`` (e.g.
        ``{"plain": ..., "ecGEM L4": ..., "tuned": ...}``; the order is kept).

    Returns
    -------
    dict
        Label -> DataFrame (``{}`` for ``None``).

    Raises
    ------
    ReportInputError
        An empty mapping, an empty label, a missing or unreadable file.
    """
    if knockouts is None:
        return {}
    items = list(knockouts.items()) if isinstance(knockouts, Mapping) else [(DEFAULT_LABEL, knockouts)]
    if not items:
        raise ReportInputError("knockouts: empty mapping (give {label: table or path})")
    out: dict[str, pd.DataFrame] = {}
    for label, table in items:
        name = str(label).strip()
        if not name:
            what = "a table" if isinstance(table, pd.DataFrame) else str(table)
            raise ReportInputError(f"knockouts: empty label for {what}")
        out[name] = _read_table(table, what=f"knockouts {name!r}")
    return out


def resolve_truth(truth: str | Path | pd.DataFrame | None, model: cobra.Model | str | Path | None = None
                  ) -> pd.DataFrame | None:
    """The truth table ``gene_id, condition, grows`` (+ ``fitness``, ``exchange``, ...) a report scores against.

    Parameters
    ----------
    truth : str, path, DataFrame or None
        A truth set name (:data:`kingems_ray.analysis.validation_data.TRUTH_SETS`), a CSV/TSV
        (``gene_id, condition, grows`` or ``fitness``; read exactly as ``kingems-ray evaluate knockouts --truth``
        reads it) or a ready table with ``gene_id, condition, grows``.
    model : cobra.Model, path or builtin name, optional
        Needed by ``ecoli-glc-essential`` (its genes are the non-essential set) and used by ``selongatus-bg11``
        (ids mapped to the model's genes), as ``evaluate knockouts --model`` does.

    Returns
    -------
    DataFrame or None
        ``None`` when ``truth`` is ``None``.
    """
    if truth is None:
        return None
    if isinstance(truth, pd.DataFrame):
        missing = [c for c in ("gene_id", "condition", "grows") if c not in truth.columns]
        if missing:
            raise ReportInputError(f"truth table lacks column(s) {', '.join(missing)}")
        return truth
    name = str(truth)
    if name in TRUTH_SETS and model is not None and not isinstance(model, cobra.Model):
        model = load_model(model)
    # The same reader as `evaluate knockouts`, so a truth name or CSV means the same in both.
    return read_truth(name, model)


def resolve_condition_map(condition_map: Mapping[str, str] | str | Path | None, truth: pd.DataFrame | None
                          ) -> dict[str, str] | None:
    """Knockout condition -> truth condition, as ``kingems-ray evaluate knockouts --condition-map`` resolves it.

    Parameters
    ----------
    condition_map : mapping, str, path or None
        A mapping; a JSON file or inline JSON object; or ``None``: when the truth names each condition's carbon
        exchange (``ecoli-keio-fitness``), screens named by exchange id (``--carbon-sources``) are mapped back to the
        truth's names automatically. An explicit map replaces the automatic one.
    truth : DataFrame or None
        The resolved truth (:func:`resolve_truth`).

    Returns
    -------
    dict or None
    """
    if truth is None:
        if condition_map:
            raise ReportInputError("a condition map needs a truth set to map to (truth= / --truth)")
        return None
    if isinstance(condition_map, Mapping):
        return {str(k): str(v) for k, v in condition_map.items()}
    return parse_condition_map(None if condition_map is None else str(condition_map), truth)


def _truth_column(ko: pd.DataFrame) -> str:
    for c in TRUTH_COLUMNS:
        if c in ko.columns:
            return c
    raise ReportInputError(
        "knockout table needs a truth column ('grows' or 'truth': True when the measured mutant grows), or a truth "
        f"set to be joined with (truth= / --truth); it has {', '.join(map(str, ko.columns))}"
    )


def prepare_knockouts(
    table: KnockoutInput,
    truth: pd.DataFrame | None = None,
    condition_map: Mapping[str, str] | None = None,
    *,
    score: str = "growth",
    label: str = DEFAULT_LABEL,
) -> pd.DataFrame:
    """A knockout table ready to be scored, with the measured class in ``grows``.

    Parameters
    ----------
    table : DataFrame or path
        ``gene_id, condition, growth, status`` (+ ``relative_growth``) from ``kingems-ray knockout``; a table
        without ``condition`` gets the single condition ``"model"``.
    truth : DataFrame, optional
        A resolved truth (:func:`resolve_truth`). When given, the table is inner-joined with it by
        :func:`~kingems_ray.analysis.validation_data.join_knockouts` (as ``evaluate knockouts`` does); a truth column
        the table carries itself is dropped first (the truth decides). Without it, the table's own ``grows`` /
        ``truth`` column is used.
    condition_map : mapping, optional
        Knockout condition -> truth condition (:func:`resolve_condition_map`).
    score : {"growth", "relative_growth"}
        The column ROC-AUC / PR-AUC will rank by; it must exist.
    label : str
        Names the table in error messages.

    Returns
    -------
    DataFrame
    """
    if score not in KNOCKOUT_SCORES:
        raise ReportInputError(f"unknown knockout score {score!r}; choose one of {', '.join(KNOCKOUT_SCORES)}")
    ko = _read_table(table, what=f"knockouts {label!r}")
    missing = [c for c in ("gene_id", "growth", score) if c not in ko.columns]
    if missing:
        raise ReportInputError(f"knockouts {label!r}: no column(s) {', '.join(dict.fromkeys(missing))} (a knockout "
                               "table has gene_id, condition, growth, status, relative_growth: kingems-ray knockout)")
    ko = ko.copy()  # never edit the caller's table
    ko["growth"] = pd.to_numeric(ko["growth"], errors="coerce")
    if "condition" not in ko.columns:
        ko["condition"] = _NO_CONDITION
    if truth is None:
        try:
            tcol = _truth_column(ko)
        except ReportInputError as exc:
            raise ReportInputError(f"knockouts {label!r}: {exc}") from exc
        return ko.rename(columns={tcol: "grows"}) if tcol != "grows" else ko
    ko = ko.drop(columns=[c for c in TRUTH_COLUMNS if c in ko.columns])
    try:
        return join_knockouts(ko, truth, dict(condition_map) if condition_map else None)
    except KingemsError as exc:
        raise ReportInputError(f"knockouts {label!r}: {exc}") from exc


def _roc_points(ko: pd.DataFrame, score: str, condition: str) -> pd.DataFrame | None:
    """ROC curve of a table with ``grows`` (missing dropped), ranked as knockout_metrics ranks (rounded scores)."""
    from sklearn.metrics import roc_curve

    y = ko["grows"].astype(bool).to_numpy()
    if y.all() or not y.any():
        return None
    # Same missing-value and rounding rules as knockout_metrics, so the curve's area is the reported ROC-AUC.
    s = ranking_score(ko, score, ko["growth"].fillna(0.0).to_numpy(float), SCORE_DECIMALS)
    fpr, tpr, thr = roc_curve(y, s)
    return pd.DataFrame({"condition": condition, "fpr": fpr, "tpr": tpr, "threshold": thr})


def _score(ko: pd.DataFrame, threshold: float, score: str) -> tuple[dict, dict[str, dict], list[pd.DataFrame]]:
    """Metrics over all points, per condition, and the ROC curves (all, then each condition) of a prepared table."""
    res = knockout_metrics(ko, growth_threshold=threshold, score=score, by="condition")
    scored = ko.dropna(subset=["grows"])
    curves = [_roc_points(scored, score, "all")]
    curves += [_roc_points(g, score, str(c)) for c, g in scored.groupby("condition", sort=False)]
    return res["overall"], res["per_condition"], [c for c in curves if c is not None]


def knockout_roc(
    knockouts: pd.DataFrame, threshold: float = GROWTH_THRESHOLD, score: str = "growth"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Accuracy metrics and ROC curves of one table of knockout predictions (positive class: grows).

    Parameters
    ----------
    knockouts : DataFrame
        ``gene_id, condition, growth, status`` and a truth column ``grows`` (or ``truth``), True when the
        measured mutant grows (:func:`prepare_knockouts` joins a screen with a truth set). Rows without a truth
        value are dropped; a missing growth counts as no growth.
    threshold : float
        Predicted growth above this [1/h] means *grows*.
    score : {"growth", "relative_growth"}
        What ROC-AUC / PR-AUC rank by (rounded to 1e-9, as :func:`kingems_ray.analysis.metrics.knockout_metrics`).

    Returns
    -------
    (metrics, roc)
        ``metrics``: ``condition`` (``all``, then one row per condition when there are several) and the metrics of
        :func:`kingems_ray.analysis.metrics.classification_metrics`; ``roc``: ``condition, fpr, tpr, threshold``.
    """
    ko = prepare_knockouts(knockouts, score=score)
    overall, per, curves = _score(ko, threshold, score)
    rows = [{"condition": "all", **overall}]
    if len(per) > 1:
        rows += [{"condition": c, **m} for c, m in per.items()]
    else:
        curves = curves[:1]
    roc = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=["condition", "fpr", "tpr",
                                                                                      "threshold"])
    return pd.DataFrame(rows), roc


def knockout_comparison(
    knockouts: KnockoutInput | Mapping[str, KnockoutInput],
    truth: str | Path | pd.DataFrame | None = None,
    condition_map: Mapping[str, str] | str | Path | None = None,
    *,
    model: cobra.Model | str | Path | None = None,
    score: str = "growth",
    threshold: float = GROWTH_THRESHOLD,
) -> KnockoutComparison:
    """Knockout accuracy of one or several models side by side (the paper's table).

    Each table is scored on its own joined points, exactly as ``kingems-ray evaluate knockouts TABLE --truth TRUTH
    [--model MODEL] [--condition-map MAP] --score SCORE --threshold THRESHOLD`` scores it.

    Parameters
    ----------
    knockouts : DataFrame, path or mapping
        One table (label ``"model"``) or ``{label: table or path}`` (see :func:`knockout_tables`).
    truth : str, path, DataFrame or None
        Truth set name, CSV or table (:func:`resolve_truth`); ``None``: every table carries ``grows`` / ``truth``.
    condition_map : mapping, str, path or None
        Knockout condition -> truth condition (:func:`resolve_condition_map`; automatic for exchange-id screens).
    model : cobra.Model, path or builtin name, optional
        For truth sets that need the model's genes.
    score : {"growth", "relative_growth"}
        Score ranked by ROC-AUC / PR-AUC.
    threshold : float
        Predicted growth above this [1/h] means *grows*.

    Returns
    -------
    KnockoutComparison

    Raises
    ------
    ReportInputError
        Missing / unreadable tables, bad labels, a table without a truth and no truth given, a table sharing no
        point with the truth, a missing score column.
    """
    tables = knockout_tables(knockouts)
    if not tables:
        raise ReportInputError("no knockout table given")
    if score not in KNOCKOUT_SCORES:
        raise ReportInputError(f"unknown knockout score {score!r}; choose one of {', '.join(KNOCKOUT_SCORES)}")
    tr = resolve_truth(truth, model)
    cmap = resolve_condition_map(condition_map, tr)
    joined = {label: prepare_knockouts(t, tr, cmap, score=score, label=label) for label, t in tables.items()}
    overall, per_rows, curves = [], [], []
    for label, ko in joined.items():
        allm, per, roc = _score(ko, threshold, score)
        auc = np.array([m.get("roc_auc", np.nan) for m in per.values()], dtype=float)
        ok = np.isfinite(auc)
        overall.append({"model": label, **allm, "n_conditions": len(per), "n_conditions_roc_auc": int(ok.sum()),
                        # with one condition the "mean" would only repeat the pooled ROC-AUC
                        "mean_condition_roc_auc": float(auc[ok].mean()) if len(per) > 1 and ok.any() else np.nan})
        per_rows += [{"model": label, "condition": c, **m} for c, m in per.items()]
        if len(per) == 1:
            roc = roc[:1]
        curves += [c.assign(model=label) for c in roc]
    by_cond = pd.DataFrame(per_rows)
    # Condition-major order, so the models' rows for one condition sit next to each other.
    cond_order = {c: i for i, c in enumerate(dict.fromkeys(by_cond["condition"]))}
    model_order = {m: i for i, m in enumerate(joined)}
    by_cond = (by_cond.assign(_c=by_cond["condition"].map(cond_order), _m=by_cond["model"].map(model_order))
               .sort_values(["_c", "_m"], kind="stable").drop(columns=["_c", "_m"]).reset_index(drop=True))
    roc_cols = ["model", "condition", "fpr", "tpr", "threshold"]
    roc = pd.concat(curves, ignore_index=True)[roc_cols] if curves else pd.DataFrame(columns=roc_cols)
    if truth is None:
        what = "each table's own truth column (grows / truth)"
    elif isinstance(truth, pd.DataFrame):
        what = f"the given truth table ({len(truth)} rows)"
    else:
        what = f"truth {truth}"
    return KnockoutComparison(overall=pd.DataFrame(overall), by_condition=by_cond, roc=roc, joined=joined,
                              truth=what, condition_map=cmap)


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
    """ROC curves over all points, one per model, in one figure (legend with each model's ROC-AUC).

    Parameters
    ----------
    roc : DataFrame
        ``model, condition, fpr, tpr`` (:attr:`KnockoutComparison.roc`); only ``condition == "all"`` is drawn.
        Without a ``model`` column the table is one model.
    metrics : DataFrame
        ``model, roc_auc`` (:attr:`KnockoutComparison.overall`).
    path : Path
        The PNG written.
    """
    if "model" not in roc.columns:
        roc = roc.assign(model=DEFAULT_LABEL)
    if "model" not in metrics.columns:
        metrics = metrics.assign(model=DEFAULT_LABEL)
    if "condition" in metrics.columns:
        metrics = metrics[metrics["condition"] == "all"]
    auc = dict(zip(metrics["model"], metrics["roc_auc"]))
    pooled = roc[roc["condition"] == "all"]
    fig, ax = plt.subplots(figsize=(5, 5))
    for label in dict.fromkeys(metrics["model"]):
        d = pooled[pooled["model"] == label]
        if len(d):
            ax.plot(d["fpr"], d["tpr"], lw=1.5, label=f"{label} (AUC {auc.get(label, np.nan):.3f})")
        else:
            ax.plot([], [], lw=1.5, label=f"{label} (no ROC: one class)")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("Knockouts: grows vs no growth (conditions pooled)")
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


def _shown(df: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    """The report's columns of a metrics table, without columns that hold no value (e.g. a one-condition mean)."""
    keep = [c for c in cols if c in df.columns and not (df[c].dtype.kind == "f" and df[c].isna().all())]
    return df[keep]


def write_report(
    model,
    kcats,
    out_dir: str | Path,
    *,
    tuned: TuneResult | pd.DataFrame | str | Path | None = None,
    trajectory: pd.DataFrame | str | Path | None = None,
    knockouts: KnockoutInput | Mapping[str, KnockoutInput] | None = None,
    truth: str | Path | pd.DataFrame | None = None,
    condition_map: Mapping[str, str] | str | Path | None = None,
    score: str = "growth",
    growth_threshold: float = GROWTH_THRESHOLD,
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
        The kcat table (predicted kcats); ``None`` is enough for ``levels=["L1"]``.
    out_dir : path
    tuned : TuneResult, DataFrame or path, optional
        Tuned kcat table; a path's trajectory (``<stem>_trajectory.parquet``) is picked up when present.
    trajectory : DataFrame or path, optional
        Annealing trajectory (overrides the one found next to ``tuned``).
    knockouts : DataFrame, path or mapping, optional
        Knockout results (``gene_id, condition, growth, status``, ``relative_growth``) of one model (label
        ``"model"``) or ``{label: table or path}`` of several (e.g. ``{"plain": ..., "ecGEM L4": ..., "tuned": ...}``),
        shown side by side in input order.
    truth : str, path or DataFrame, optional
        What the knockouts are scored against: a truth set name (``ecoli-keio-fitness``, ``ecoli-glc-essential``,
        ``selongatus-bg11``, ``putida-mutants``), a CSV (``gene_id, condition, grows`` or ``fitness``) or a table.
        Each knockout table is joined with it as ``kingems-ray evaluate knockouts`` joins it (with this ``model``
        as ``--model``). Without a truth, every knockout table must carry ``grows`` / ``truth``.
    condition_map : mapping, str or path, optional
        Knockout condition -> truth condition (mapping, JSON file or inline JSON). By default, screens naming
        conditions by exchange id (``--carbon-sources``) are mapped to ``ecoli-keio-fitness``'s names automatically.
    score : {"growth", "relative_growth"}
        Score ranked by ROC-AUC / PR-AUC.
    growth_threshold : float
        Predicted growth above this [1/h] means the knockout grows (0.001).
    maintenance : DataFrame or path, optional
        A grid from :func:`kingems_ray.analysis.maintenance.maintenance_sweep`.
    levels, fraction, processes, pool
        FVA settings (fraction of optimal growth kept; 0.9 as in the paper).
    target_growth : float, optional
        Drawn on the trajectory figure.
    title : str, optional
        The document's title.

    Returns
    -------
    Report
        Files written: ``markdown``, ``html``, ``summary`` (ablation_summary.parquet), ``fva``, ``fig_variability``
        and, with their inputs, ``trajectory``, ``fig_trajectory``, ``knockout_metrics`` (one row per model, column
        ``model``), ``knockout_conditions`` (model x condition), ``roc`` (``model, condition, fpr, tpr, threshold``),
        ``fig_roc``, ``fig_maintenance``.

    Raises
    ------
    ReportInputError
        Missing or unusable inputs; knockout inputs are checked (and scored) before the FVA runs.
    """
    model_name = getattr(model, "id", None) or Path(str(model)).name
    out = Path(out_dir)
    # Knockout inputs first: a bad table, label or truth fails in seconds, not after minutes of FVA.
    if knockouts is None and (truth is not None or condition_map):
        raise ReportInputError("a truth set / condition map was given without knockout tables to score")
    cmodel = model if isinstance(model, cobra.Model) else load_model(model)  # loaded once: truth sets + FVA
    comp = None
    if knockouts is not None:
        comp = knockout_comparison(knockouts, truth, condition_map, model=cmodel, score=score,
                                   threshold=growth_threshold)
    traj = None
    tuned_table = None
    if isinstance(tuned, TuneResult):
        tuned_table, traj = tuned.table, tuned.trajectory
    elif tuned is not None:
        tuned_table = _read_table(tuned, what="tuned kcats")
        if not isinstance(tuned, pd.DataFrame) and trajectory_path(tuned).exists():
            traj = pd.read_parquet(trajectory_path(tuned))
    if trajectory is not None:
        traj = _read_table(trajectory, what="trajectory")
    grid = _read_table(maintenance, what="maintenance grid")

    out.mkdir(parents=True, exist_ok=True)
    rep = Report(out_dir=out)
    summary, fva = ablation_fva(cmodel, kcats, levels=levels, tuned=tuned_table, fraction=fraction,
                                processes=processes, pool=pool)
    rep.summary = summary
    files = rep.files
    files["summary"] = out / "ablation_summary.parquet"
    summary.to_parquet(files["summary"], index=False)
    files["fva"] = out / "fva.parquet"
    fva.to_parquet(files["fva"], index=False)
    files["fig_variability"] = plot_variability(fva, out / "flux_variability.png")
    md = [f"# {title or f'kingems-ray report: {model_name}'}", ""]
    md += [f"Model `{model_name}`; FVA at {fraction:g} of optimal growth; enzyme pool {pool:g} g/gDW.", ""]
    md += ["## Flux variability per ablation level", "", markdown_table(summary.drop(columns=["seconds"])), "",
           "![flux variability](flux_variability.png)", ""]
    # (heading, paragraph, [(sub-heading, table)], image) per HTML section
    sections_html: list[tuple[str, str, list[tuple[str | None, pd.DataFrame]], str]] = [
        ("Flux variability per ablation level", "", [(None, summary.drop(columns=["seconds"]))], "flux_variability.png")
    ]

    if traj is not None and len(traj):
        files["trajectory"] = out / "annealing_trajectory.parquet"
        traj.to_parquet(files["trajectory"], index=False)
        files["fig_trajectory"] = plot_trajectory(traj, out / "annealing.png", target_growth)
        per_chain = traj.groupby("chain").agg(steps=("iteration", "max"),
                                              accepted=("accepted", "mean"),
                                              start_growth=("growth", "first"),
                                              best_growth=("best_growth", "max")).reset_index()
        md += ["## Annealing trajectory", "", markdown_table(per_chain), "", "![annealing](annealing.png)", ""]
        sections_html.append(("Annealing trajectory", "", [(None, per_chain)], "annealing.png"))
    if tuned_table is not None and "kcat_original" in tuned_table.columns:
        ch = tuned_table[tuned_table["kcat"] != tuned_table["kcat_original"]]
        fold = (ch["kcat"] / ch["kcat_original"]).to_numpy(float)
        md += [f"{len(ch)} kcats changed by tuning; median fold change {np.median(fold) if len(fold) else 1:.3g} "
               f"(range {fold.min() if len(fold) else 1:.3g} to {fold.max() if len(fold) else 1:.3g}).", ""]

    if comp is not None:
        rep.knockout_summary, rep.knockout_conditions = comp.overall, comp.by_condition
        for key, name, table in (("knockout_metrics", "knockout_metrics.parquet", comp.overall),
                                 ("knockout_conditions", "knockout_conditions.parquet", comp.by_condition),
                                 ("roc", "roc.parquet", comp.roc)):
            files[key] = out / name
            table.to_parquet(files[key], index=False)
        files["fig_roc"] = plot_roc(comp.roc, comp.overall, out / "roc.png")
        mapped = ""
        if comp.condition_map:
            mapped = (" (knockout conditions named by exchange id mapped to the truth's names)" if condition_map is None
                      else f" (condition map of {len(comp.condition_map)} entries)")
        text = (f"{len(comp.overall)} model(s) scored against {comp.truth}{mapped}. A knockout is predicted to grow "
                f"when its growth exceeds {growth_threshold:g} 1/h; ROC-AUC and PR-AUC rank knockouts by `{score}` "
                f"(rounded to 1e-{SCORE_DECIMALS}); pr_auc_no_growth ranks the no-growth class. "
                "mean_condition_roc_auc: mean over conditions holding both classes of the per-condition ROC-AUC.")
        overall, per_cond = _shown(comp.overall, _OVERALL_SHOWN), _shown(comp.by_condition, _CONDITION_SHOWN)
        md += ["## Gene knockouts", "", text, "", markdown_table(overall), "", "### Per condition", "",
               markdown_table(per_cond), "", "![ROC](roc.png)", ""]
        sections_html.append(("Gene knockouts", text, [(None, overall), ("Per condition", per_cond)], "roc.png"))
    if grid is not None:
        files["fig_maintenance"] = plot_maintenance(grid, out / "maintenance.png")
        t = grid.pivot(index="ngam", columns="gam", values="growth").reset_index()
        t.columns = ["NGAM \\ GAM"] + [f"{c:g}" for c in t.columns[1:]]
        md += ["## Maintenance sweep (growth)", "", markdown_table(t), "", "![maintenance](maintenance.png)", ""]
        sections_html.append(("Maintenance sweep (growth)", "", [(None, t)], "maintenance.png"))

    files["markdown"] = out / "report.md"
    files["markdown"].write_text("\n".join(md))
    body = [f"<h1>{html.escape(md[0][2:])}</h1>", f"<p>{html.escape(md[2])}</p>"]
    for head, text, tables, img in sections_html:
        body.append(f"<h2>{html.escape(head)}</h2>")
        if text:
            body.append(f"<p>{html.escape(text)}</p>")
        for sub, table in tables:
            if sub:
                body.append(f"<h3>{html.escape(sub)}</h3>")
            body.append(table.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0, classes="tbl"))
        body.append(f'<p><img src="{img}" alt="{html.escape(head)}"></p>')
    style = ("body{font-family:sans-serif;max-width:1100px;margin:auto}"
             ".tbl{border-collapse:collapse}.tbl td,.tbl th{padding:2px 8px;border-bottom:1px solid #ddd}")
    files["html"] = out / "report.html"
    files["html"].write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(md[0][2:])}"
                             f"</title><style>{style}</style></head><body>{''.join(body)}</body></html>")
    return rep
