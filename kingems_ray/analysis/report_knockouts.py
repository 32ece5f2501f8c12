"""The report's knockout tables: several models' screens joined with a truth and scored side by side.

Knockout tables are scored against a truth set exactly as ``kingems-ray evaluate knockouts`` scores them: the truth
(a named set of :func:`kingems_ray.analysis.validation_data.load_truth`, or a CSV read by the same code as
``evaluate``) is joined with each table by :func:`~kingems_ray.analysis.validation_data.join_knockouts` (conditions
named by exchange id, as screens made with ``--carbon-sources`` name them, are mapped back to the Keio carbon-source
names automatically) and scored by :func:`kingems_ray.analysis.metrics.knockout_metrics` (scores rounded to 1e-9
before ranking). Without a truth, each table must carry its own truth column (``grows`` or ``truth``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import cobra
import numpy as np
import pandas as pd

from ..errors import KingemsError
from ..gem.io import load_model
from .metrics import COMPARE_SCORES, GROWTH_THRESHOLD, SCORE_DECIMALS, knockout_metrics, ranking_score
from .report_tables import ReportInputError, read_table
from .validation_data import TRUTH_SETS, join_knockouts, parse_condition_map, read_truth

__all__ = [
    "DEFAULT_LABEL",
    "KNOCKOUT_SCORES",
    "TRUTH_COLUMNS",
    "KnockoutComparison",
    "knockout_comparison",
    "knockout_roc",
    "knockout_tables",
    "prepare_knockouts",
    "resolve_condition_map",
    "resolve_truth",
]

#: Columns a knockout table may carry its own measured truth in (True = the mutant grows), in order of preference.
TRUTH_COLUMNS = ("grows", "truth", "measured_grows")
#: Scores ROC-AUC / PR-AUC can rank knockouts by (columns of a knockout table).
KNOCKOUT_SCORES = COMPARE_SCORES
#: Label of a single knockout table given without one.
DEFAULT_LABEL = "model"
#: Condition of a knockout table without a ``condition`` column (as a screen run in the model's own medium).
_NO_CONDITION = "model"
#: Columns of the knockout tables in the Markdown / HTML report (the Parquet files hold every metric).

KnockoutInput = pd.DataFrame | str | Path


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
        out[name] = read_table(table, what=f"knockouts {name!r}")
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
    ko = read_table(table, what=f"knockouts {label!r}")
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
    by_cond = _condition_major(pd.DataFrame(per_rows), list(joined))
    roc_cols = ["model", "condition", "fpr", "tpr", "threshold"]
    roc = pd.concat(curves, ignore_index=True)[roc_cols] if curves else pd.DataFrame(columns=roc_cols)
    return KnockoutComparison(overall=pd.DataFrame(overall), by_condition=by_cond, roc=roc, joined=joined,
                              truth=_truth_words(truth), condition_map=cmap)


def _condition_major(by_cond: pd.DataFrame, models: list[str]) -> pd.DataFrame:
    """Rows ordered by condition (first appearance), then model (input order): one condition's models side by side."""
    cond_order = {c: i for i, c in enumerate(dict.fromkeys(by_cond["condition"]))}
    model_order = {m: i for i, m in enumerate(models)}
    return (by_cond.assign(_c=by_cond["condition"].map(cond_order), _m=by_cond["model"].map(model_order))
            .sort_values(["_c", "_m"], kind="stable").drop(columns=["_c", "_m"]).reset_index(drop=True))


def _truth_words(truth: str | Path | pd.DataFrame | None) -> str:
    """What the tables were scored against, in words."""
    if truth is None:
        return "each table's own truth column (grows / truth)"
    if isinstance(truth, pd.DataFrame):
        return f"the given truth table ({len(truth)} rows)"
    return f"truth {truth}"


