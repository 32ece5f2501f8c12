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

from ..errors import KingemsError

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


def ranking_score(df: pd.DataFrame, score: str, growth: np.ndarray, decimals: int | None) -> np.ndarray:
    """The values ROC-AUC / PR-AUC rank: column ``score`` (missing -> 0, ``growth`` where the column is absent),
    rounded to ``decimals`` (see :func:`knockout_metrics`)."""
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
    sc = ranking_score(df, score, growth, score_decimals)
    res: dict = {"overall": classification_metrics(df["grows"].astype(bool), growth > growth_threshold, sc)}
    if by is not None:
        res[f"per_{by}"] = {}
        for key, sub in df.groupby(by, sort=False):
            g = sub["growth"].fillna(0.0).to_numpy(float)
            s = ranking_score(sub, score, g, score_decimals)
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


# -- comparing two models' knockout rankings ------------------------------------------------------------------------
#: Scores :func:`compare_knockout_scores` accepts (columns of a joined knockout table).
COMPARE_SCORES = ("growth", "relative_growth")
#: Resamples evaluated at once by the bootstrap: bounds memory to a few (chunk x points) float arrays.
_BOOT_CHUNK = 100


class _Ranker:
    """Weighted ROC-AUC of one fixed score per stratum, for many weight vectors at once.

    Points are sorted once by (stratum, score) and cut into runs of tied scores. For a weight vector ``w`` (a gene's
    bootstrap multiplicity on each of its points), AUC = sum over positive-negative pairs of ``w_p w_n`` times
    ``[s_p > s_n] + 0.5 [s_p == s_n]``, over ``W_pos W_neg``: the Mann-Whitney U with average ranks for ties, so with
    unit weights it equals :func:`roc_auc`, and with integer weights it equals :func:`roc_auc` of the table with each
    row repeated that many times. Each evaluation is a few sums over tie runs, O(points) per weight vector.
    """

    def __init__(self, score: np.ndarray, y: np.ndarray, strata: np.ndarray, n_strata: int) -> None:
        self.order = np.lexsort((score, strata))
        s, st = score[self.order], strata[self.order]
        new_run = np.r_[True, (s[1:] != s[:-1]) | (st[1:] != st[:-1])]
        self.starts = np.flatnonzero(new_run)
        run_stratum = st[self.starts]
        first = np.r_[True, run_stratum[1:] != run_stratum[:-1]]
        self.stratum_starts = np.flatnonzero(first)  # index (among runs) of each stratum's first run
        self.strata_present = run_stratum[self.stratum_starts]
        # For every run, the index of the first run of its stratum (cumulative sums restart per stratum).
        self.first_of = np.maximum.accumulate(np.where(first, np.arange(len(first)), 0))
        self.pos = y[self.order].astype(float)
        self.n_strata = n_strata

    def auc(self, w: np.ndarray) -> np.ndarray:
        """AUC per stratum, shape ``(n_weight_vectors, n_strata)``; NaN where a stratum lacks a class."""
        ws = np.atleast_2d(w)[:, self.order]
        wp = ws * self.pos
        p = np.add.reduceat(wp, self.starts, axis=1)
        n = np.add.reduceat(ws - wp, self.starts, axis=1)
        below = np.cumsum(n, axis=1) - n  # negative weight strictly below each run (whole table) ...
        below -= below[:, self.first_of]  # ... restricted to the run's stratum
        num = np.add.reduceat(p * (below + 0.5 * n), self.stratum_starts, axis=1)
        den = np.add.reduceat(p, self.stratum_starts, axis=1) * np.add.reduceat(n, self.stratum_starts, axis=1)
        out = np.full((ws.shape[0], self.n_strata), np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, self.strata_present] = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
        return out


def _row_mean(x: np.ndarray) -> np.ndarray:
    """Mean of each row over its finite entries (NaN for a row without any), without numpy's empty-slice warning."""
    ok = np.isfinite(x)
    cnt = ok.sum(axis=1)
    tot = np.where(ok, x, 0.0).sum(axis=1)
    return np.where(cnt > 0, tot / np.maximum(cnt, 1), np.nan)


def _difference_summary(a: float, b: float, boot: np.ndarray, level: float) -> dict[str, float]:
    """Point values, difference B - A, its percentile interval and the fraction of resamples with B - A <= 0."""
    ok = boot[np.isfinite(boot)]
    lo, hi = (np.percentile(ok, [50 * (1 - level), 50 * (1 + level)]) if ok.size else (np.nan, np.nan))
    return {
        "a": float(a),
        "b": float(b),
        "diff": float(b - a),
        "ci_low": float(lo),
        "ci_high": float(hi),
        "p_b_not_better": float(np.mean(ok <= 0)) if ok.size else float("nan"),
        "n_boot_valid": int(ok.size),
    }


def compare_knockout_scores(
    a: pd.DataFrame,
    b: pd.DataFrame,
    score: str = "growth",
    by: str | None = "condition",
    n_boot: int = 1000,
    seed: int = 0,
    score_decimals: int | None = SCORE_DECIMALS,
    level: float = 0.95,
) -> dict:
    """Is model B better than model A at ranking knockouts? ROC-AUC of both, their difference and a gene bootstrap.

    Parameters
    ----------
    a, b : DataFrame
        Joined knockout/truth tables (:func:`kingems_ray.analysis.validation_data.join_knockouts`) of model A (e.g.
        the plain GEM) and model B (e.g. the ecGEM): columns ``gene_id, condition, grows`` and the score column. Rows
        without a measurement (``grows`` missing) are dropped; the tables are then inner-joined on
        ``(gene_id, condition)``, so both models are scored on exactly the same points.
    score : {"growth", "relative_growth"}
        Continuous score ranked by ROC-AUC (a missing value counts as 0, as in :func:`knockout_metrics`).
    by : str or None
        Column whose values are the conditions of the per-condition mean ROC-AUC (``None``: pooled only).
    n_boot : int
        Bootstrap resamples (0: point values only).
    seed : int
        Seed of ``numpy.random.default_rng``; the same seed gives the same result.
    score_decimals : int or None
        Round scores before ranking, as :func:`knockout_metrics` does (ties up to LP noise stay ties).
    level : float
        Coverage of the percentile interval (0.95).

    Returns
    -------
    dict
        ``n`` (common points), ``n_genes``, ``n_conditions``, ``n_grow``, ``n_no_growth``, ``n_only_a``,
        ``n_only_b`` (measured points of one table missing from the other), ``score``, ``n_boot``, ``seed``,
        ``level``; ``pooled_roc_auc`` (ROC-AUC over all points) and, with ``by``, ``mean_condition_roc_auc`` (mean over
        conditions holding both classes of the per-condition ROC-AUC; ``n_conditions_used``, ``skipped_conditions``)
        and ``per_condition`` ({condition: ``n, a, b, diff``}). Each summary has ``a, b, diff`` (B - A),
        ``ci_low, ci_high`` (percentile interval of B - A over resamples), ``p_b_not_better`` (fraction of resamples
        with B - A <= 0, a one-sided p-value-like figure) and ``n_boot_valid`` (resamples where the statistic exists).

    Raises
    ------
    KingemsError
        Unknown score or missing columns, duplicate ``(gene_id, condition)`` rows, no common point, the tables
        disagree on ``grows``, the common points lack a class, or ``n_boot < 0``.

    Notes
    -----
    The bootstrap resamples *genes* with replacement and takes every condition of a drawn gene along (cluster
    bootstrap). A gene's knockouts in different conditions are strongly correlated (an essential gene is usually
    essential everywhere, and a model makes the same call for it everywhere), so resampling single points would
    treat those correlated points as independent evidence and give too narrow an interval. The resamples are
    paired: A and B are scored on the same drawn genes, so the interval is of the difference itself.
    """
    if score not in COMPARE_SCORES:
        raise KingemsError(f"unknown score {score!r}; choose one of {', '.join(COMPARE_SCORES)}")
    if n_boot < 0:
        raise KingemsError(f"n_boot must be >= 0, got {n_boot}")
    if not 0 < level < 1:
        raise KingemsError(f"level must be in (0, 1), got {level}")
    key = ["gene_id", "condition"]
    need = [*key, "grows", score] + ([by] if by is not None and by not in key else [])
    tables = []
    for name, t in (("A", a), ("B", b)):
        missing = [c for c in need if c not in t.columns]
        if missing:
            raise KingemsError(f"table {name} lacks column(s) {', '.join(missing)}")
        t = t.dropna(subset=["grows"])
        dup = t.duplicated(key)
        if dup.any():
            raise KingemsError(f"table {name} has {int(dup.sum())} duplicate (gene_id, condition) rows, "
                               f"e.g. {tuple(t.loc[dup, key].iloc[0])}")
        tables.append(t)
    ta, tb = tables
    extra = [by] if by is not None and by not in key else []
    m = ta[[*key, "grows", score, *extra]].merge(tb[[*key, "grows", score]], on=key, how="inner", suffixes=("_a", "_b"))
    if m.empty:
        raise KingemsError("the two knockout tables share no measured (gene_id, condition) point")
    ya, yb = m["grows_a"].astype(bool).to_numpy(), m["grows_b"].astype(bool).to_numpy()
    if (ya != yb).any():
        raise KingemsError(f"the tables disagree on the measured class ('grows') of {int((ya != yb).sum())} points: "
                           "were they joined with the same truth?")
    y = ya
    if y.all() or not y.any():
        raise KingemsError(f"the {len(m)} common points are all {'grows' if y.all() else 'no growth'}: "
                           "ROC-AUC needs both classes")

    # Same missing-value and rounding rules as knockout_metrics (the fallback argument is unused: the column exists).
    sa = ranking_score(m, f"{score}_a", np.zeros(len(m)), score_decimals)
    sb = ranking_score(m, f"{score}_b", np.zeros(len(m)), score_decimals)
    genes, gene_code = np.unique(m["gene_id"].astype(str).to_numpy(), return_inverse=True)
    zeros = np.zeros(len(m), dtype=np.int64)
    rankers = {"pooled": (_Ranker(sa, y, zeros, 1), _Ranker(sb, y, zeros, 1))}
    if by is not None:
        conds, cond_code = np.unique(m[by].astype(str).to_numpy(), return_inverse=True)
        rankers["condition"] = (_Ranker(sa, y, cond_code, len(conds)), _Ranker(sb, y, cond_code, len(conds)))

    def stats(w: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        # Pooled AUC, or the mean over conditions with both classes (in this resample) of the per-condition AUC.
        out = {}
        for name, (ra, rb) in rankers.items():
            pa, pb = ra.auc(w), rb.auc(w)
            out[name] = (pa[:, 0], pb[:, 0]) if name == "pooled" else (_row_mean(pa), _row_mean(pb))
        return out

    rng = np.random.default_rng(seed)
    n_genes = len(genes)
    boot: dict[str, list[np.ndarray]] = {name: [] for name in rankers}
    for start in range(0, n_boot, _BOOT_CHUNK):
        c = min(_BOOT_CHUNK, n_boot - start)
        draws = rng.integers(0, n_genes, size=(c, n_genes))
        # Multiplicity of each gene in each resample; every point of a gene carries its gene's multiplicity.
        counts = np.bincount((draws + n_genes * np.arange(c)[:, None]).ravel(), minlength=c * n_genes)
        w = counts.reshape(c, n_genes)[:, gene_code].astype(float)
        for name, (va, vb) in stats(w).items():
            boot[name].append(vb - va)
    diffs = {name: np.concatenate(v) if v else np.empty(0) for name, v in boot.items()}

    ones = np.ones(len(m))
    pooled_a, pooled_b = rankers["pooled"][0].auc(ones)[0, 0], rankers["pooled"][1].auc(ones)[0, 0]
    res: dict = {
        "score": score,
        "n": int(len(m)),
        "n_genes": int(n_genes),
        "n_conditions": int(m["condition"].nunique()),
        "n_grow": int(y.sum()),
        "n_no_growth": int((~y).sum()),
        "n_only_a": int(len(ta) - len(m)),
        "n_only_b": int(len(tb) - len(m)),
        "n_boot": int(n_boot),
        "seed": int(seed),
        "level": float(level),
        "pooled_roc_auc": _difference_summary(pooled_a, pooled_b, diffs["pooled"], level),
    }
    if by is not None:
        per_a, per_b = rankers["condition"][0].auc(ones)[0], rankers["condition"][1].auc(ones)[0]
        used = np.isfinite(per_a)
        mean_a = float(per_a[used].mean()) if used.any() else float("nan")
        mean_b = float(per_b[used].mean()) if used.any() else float("nan")
        mean = _difference_summary(mean_a, mean_b, diffs["condition"], level)
        mean["n_conditions_used"] = int(used.sum())
        mean["skipped_conditions"] = [str(c) for c in conds[~used]]
        res["mean_condition_roc_auc"] = mean
        n_per = np.bincount(cond_code, minlength=len(conds))
        res["per_condition"] = {
            str(c): {"n": int(n_per[i]), "a": float(per_a[i]), "b": float(per_b[i]), "diff": float(per_b[i] - per_a[i])}
            for i, c in enumerate(conds)
        }
    return res
