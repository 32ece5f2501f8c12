"""Evaluation metrics: flux-variability precision and growth / no-growth classification.

Classification conventions (kinGEMs, Bernstein et al. 2023): the positive class is *grows*. A measured mutant grows
when its RB-TnSeq fitness is above ``-2`` (or when it is not in an essential-gene list); a prediction grows when the
knockout's growth is above ``0.001`` 1/h. ROC-AUC and PR-AUC rank the genes by a continuous score (predicted growth,
or growth relative to the wild type). Every metric is computed here with numpy (checked against scikit-learn in
the tests).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

#: Predicted growth above this [1/h] means the knockout grows.
GROWTH_THRESHOLD = 1e-3
#: Measured fitness above this means the mutant grows.
FITNESS_THRESHOLD = -2.0


# -- classification ---------------------------------------------------------------------------------------------------
def confusion(y_true: Sequence[bool], y_pred: Sequence[bool]) -> dict[str, int]:
    """Confusion matrix counts with *grows* as the positive class: ``tp, fp, tn, fn``."""
    t = np.asarray(y_true, dtype=bool)
    p = np.asarray(y_pred, dtype=bool)
    return {
        "tp": int(np.sum(t & p)),
        "fp": int(np.sum(~t & p)),
        "tn": int(np.sum(~t & ~p)),
        "fn": int(np.sum(t & ~p)),
    }


def mcc(tp: int, fp: int, tn: int, fn: int) -> float:
    """Matthews correlation coefficient (0 when a row or column of the confusion matrix is empty, as sklearn)."""
    den = float(tp + fp) * float(tp + fn) * float(tn + fp) * float(tn + fn)
    if den == 0:
        return 0.0
    return float((tp * tn - fp * fn) / np.sqrt(den))


def roc_auc(y_true: Sequence[bool], score: Sequence[float]) -> float:
    """Area under the ROC curve (Mann-Whitney U with ties counted as half); NaN with a single class."""
    t = np.asarray(y_true, dtype=bool)
    s = np.asarray(score, dtype=float)
    n_pos, n_neg = int(t.sum()), int((~t).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = pd.Series(s).rank(method="average").to_numpy()
    u = ranks[t].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def average_precision(y_true: Sequence[bool], score: Sequence[float]) -> float:
    """Area under the precision-recall curve as average precision (step-wise, sklearn's definition)."""
    t = np.asarray(y_true, dtype=bool)
    s = np.asarray(score, dtype=float)
    n_pos = int(t.sum())
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-s, kind="mergesort")
    s_sorted, t_sorted = s[order], t[order]
    # One point per distinct score threshold (the last index of each run of equal scores).
    last = np.r_[np.nonzero(np.diff(s_sorted))[0], len(s_sorted) - 1]
    tp = np.cumsum(t_sorted)[last]
    fp = (last + 1) - tp
    precision = tp / (tp + fp)
    recall = tp / n_pos
    recall_prev = np.r_[0.0, recall[:-1]]
    return float(np.sum((recall - recall_prev) * precision))


def classification_metrics(
    y_true: Sequence[bool], y_pred: Sequence[bool], score: Sequence[float] | None = None
) -> dict[str, float]:
    """Accuracy, balanced accuracy, MCC, precision/recall of both classes, ROC-AUC, PR-AUC, confusion matrix.

    Parameters
    ----------
    y_true : sequence of bool
        Measured: True = grows.
    y_pred : sequence of bool
        Predicted: True = grows.
    score : sequence of float, optional
        Continuous prediction for ROC-AUC and PR-AUC (higher = more likely to grow).

    Returns
    -------
    dict
        ``n, n_grow, n_no_growth, accuracy, balanced_accuracy, mcc, sensitivity, specificity, precision,
        npv, f1, roc_auc, pr_auc, tp, fp, tn, fn``. PR-AUC is for the *grows* class; ``pr_auc_no_growth``
        is the same for the no-growth class (the informative one when most mutants grow).
    """
    t = np.asarray(y_true, dtype=bool)
    p = np.asarray(y_pred, dtype=bool)
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in length ({t.size} vs {p.size})")
    c = confusion(t, p)
    tp, fp, tn, fn = c["tp"], c["fp"], c["tn"], c["fn"]
    n = tp + fp + tn + fn
    sens = tp / (tp + fn) if tp + fn else float("nan")
    spec = tn / (tn + fp) if tn + fp else float("nan")
    prec = tp / (tp + fp) if tp + fp else float("nan")
    npv = tn / (tn + fn) if tn + fn else float("nan")
    out: dict[str, float] = {
        "n": n,
        "n_grow": int(t.sum()),
        "n_no_growth": int((~t).sum()),
        "accuracy": (tp + tn) / n if n else float("nan"),
        "balanced_accuracy": float(np.nanmean([sens, spec])) if n else float("nan"),
        "mcc": mcc(tp, fp, tn, fn),
        "sensitivity": sens,
        "specificity": spec,
        "precision": prec,
        "npv": npv,
        "f1": 2 * prec * sens / (prec + sens) if prec + sens > 0 else 0.0,
    }
    if score is not None:
        s = np.asarray(score, dtype=float)
        if s.shape != t.shape:
            raise ValueError(f"score and y_true differ in length ({s.size} vs {t.size})")
        s = np.nan_to_num(s, nan=0.0)
        out["roc_auc"] = roc_auc(t, s)
        out["pr_auc"] = average_precision(t, s)
        out["pr_auc_no_growth"] = average_precision(~t, -s)
    out.update(c)
    return {k: (float(v) if isinstance(v, float | np.floating) else v) for k, v in out.items()}


#: Scores are rounded to this many decimals before ranking: LP optima equal up to solver noise (1e-12) are ties.
SCORE_DECIMALS = 9


def _score(df: pd.DataFrame, score: str, growth: np.ndarray, decimals: int | None) -> np.ndarray:
    s = df[score].fillna(0.0).to_numpy(float) if score in df else growth
    return np.round(s, decimals) if decimals is not None else s


def knockout_metrics(
    table: pd.DataFrame,
    growth_threshold: float = GROWTH_THRESHOLD,
    score: str = "growth",
    by: str | None = None,
    score_decimals: int | None = SCORE_DECIMALS,
) -> dict:
    """Metrics of a joined knockout/truth table.

    Parameters
    ----------
    table : DataFrame
        Columns ``grows`` (measured, bool), ``growth`` (predicted [1/h]) and, when ``score`` says so,
        ``relative_growth``. Rows with a missing measurement are dropped; a missing prediction counts as no growth.
    growth_threshold : float
        Predicted growth above this means *grows*.
    score : {"growth", "relative_growth"}
        Continuous score for ROC-AUC / PR-AUC.
    by : str, optional
        Also report the metrics per value of this column (e.g. ``condition``).
    score_decimals : int or None
        Round the score before ranking (default 9). Many knockouts keep exactly the wild-type growth; an LP returns
        it up to ~1e-12 noise, and unrounded noise would break those ties at random and move ROC-AUC by ~0.002
        on iML1515 (cobrapy + GLPK results vary the same way from run to run). ``None`` ranks raw values.

    Returns
    -------
    dict
        ``overall`` metrics and, with ``by``, ``per_<by>``: {value: metrics}.
    """
    df = table.dropna(subset=["grows"])
    growth = df["growth"].fillna(0.0).to_numpy(float)
    sc = _score(df, score, growth, score_decimals)
    res: dict = {"overall": classification_metrics(df["grows"].astype(bool), growth > growth_threshold, sc)}
    if by is not None:
        res[f"per_{by}"] = {}
        for key, sub in df.groupby(by, sort=False):
            g = sub["growth"].fillna(0.0).to_numpy(float)
            s = _score(sub, score, g, score_decimals)
            res[f"per_{by}"][str(key)] = classification_metrics(sub["grows"].astype(bool), g > growth_threshold, s)
    return res


# -- precision: flux variability --------------------------------------------------------------------------------------
def flux_variability_ranges(fva: pd.DataFrame) -> pd.Series:
    """Per-reaction variability ``|max - min|`` from an FVA table (``reaction_id, minimum, maximum``)."""
    rng = (fva["maximum"] - fva["minimum"]).abs()
    return pd.Series(rng.to_numpy(float), index=fva["reaction_id"].astype(str), name="variability")


def variability_precision(plain: pd.DataFrame, ec: pd.DataFrame, zero: float = 1e-9) -> dict[str, float]:
    """Compare the flux variability of a plain GEM and an ecGEM over the reactions both tables hold.

    Returns
    -------
    dict
        ``median_plain, median_ec, fold_median`` (plain / ec median), ``mean_plain, mean_ec``,
        ``median_fold_per_reaction`` (median over reactions of plain/ec, reactions variable in both),
        ``fraction_narrower`` (reactions whose range shrank by > 1 %), ``fraction_wider``, ``n_reactions``,
        ``fraction_zero_plain, fraction_zero_ec``.
    """
    a = flux_variability_ranges(plain)
    b = flux_variability_ranges(ec)
    common = a.index.intersection(b.index)
    a, b = a[common], b[common]
    ok = np.isfinite(a.to_numpy()) & np.isfinite(b.to_numpy())
    a, b = a[ok], b[ok]
    both = (a > zero) & (b > zero)
    med_a, med_b = float(a.median()), float(b.median())
    return {
        "n_reactions": int(len(a)),
        "median_plain": med_a,
        "median_ec": med_b,
        "fold_median": med_a / med_b if med_b > 0 else float("inf"),
        "mean_plain": float(a.mean()),
        "mean_ec": float(b.mean()),
        "median_fold_per_reaction": float((a[both] / b[both]).median()) if both.any() else float("nan"),
        "fraction_narrower": float((b < a * 0.99).mean()),
        "fraction_wider": float((b > a * 1.01 + zero).mean()),
        "fraction_zero_plain": float((a <= zero).mean()),
        "fraction_zero_ec": float((b <= zero).mean()),
    }


# -- growth / no-growth on media --------------------------------------------------------------------------------
def growth_phenotype_metrics(predicted: pd.Series, measured: pd.Series, threshold: float = GROWTH_THRESHOLD) -> dict:
    """Growth / no-growth on conditions (e.g. carbon sources) against measured growth.

    Parameters
    ----------
    predicted : Series
        Condition -> predicted growth [1/h].
    measured : Series
        Condition -> measured growth (bool, or a rate where > 0 means growth).
    """
    common = predicted.index.intersection(measured.index)
    m = measured[common]
    grows = m.astype(bool) if m.dtype == bool else m.astype(float) > 0
    p = predicted[common].fillna(0.0).astype(float)
    res = classification_metrics(grows.to_numpy(), p.to_numpy() > threshold, p.to_numpy())
    if m.dtype != bool:
        rate = m.astype(float)
        sel = rate > 0
        if sel.sum() >= 3:
            res["pearson_rate"] = float(np.corrcoef(p[sel], rate[sel])[0, 1])
            res["spearman_rate"] = float(pd.Series(p[sel]).rank().corr(pd.Series(rate[sel]).rank()))
    return res
