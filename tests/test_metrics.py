"""Metrics against scikit-learn on hand examples (ties included), FVA precision on a hand table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from kingems_ray.analysis.metrics import (
    average_precision,
    classification_metrics,
    growth_phenotype_metrics,
    knockout_metrics,
    roc_auc,
    variability_precision,
)

# 12 mutants: measured grows?, predicted growth (ties at 0 and at the wild type 0.8)
Y = np.array([1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0], dtype=bool)
S = np.array([0.8, 0.8, 0.8, 0.5, 0.0, 0.0004, 0.8, 0.3, 0.0, 0.8, 0.0, 0.002])


def test_classification_equals_sklearn():
    pred = S > 1e-3
    m = classification_metrics(Y, pred, S)
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(Y, pred))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(Y, pred))
    assert m["mcc"] == pytest.approx(skm.matthews_corrcoef(Y, pred))
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(Y, S))
    assert m["pr_auc"] == pytest.approx(skm.average_precision_score(Y, S))
    assert m["pr_auc_no_growth"] == pytest.approx(skm.average_precision_score(~Y, -S))
    assert m["f1"] == pytest.approx(skm.f1_score(Y, pred))
    tn, fp, fn, tp = skm.confusion_matrix(Y, pred).ravel()
    assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (tp, fp, tn, fn)
    assert m["n"] == 12 and m["n_grow"] == 8


def test_random_examples_equal_sklearn():
    rng = np.random.default_rng(0)
    for _ in range(20):
        y = rng.random(50) < 0.7
        s = np.round(rng.random(50), 1)  # many ties
        assert roc_auc(y, s) == pytest.approx(skm.roc_auc_score(y, s))
        assert average_precision(y, s) == pytest.approx(skm.average_precision_score(y, s))


def test_degenerate_cases():
    m = classification_metrics([True, True], [True, True], [1.0, 1.0])
    assert m["mcc"] == 0.0 and np.isnan(m["roc_auc"]) and m["accuracy"] == 1.0
    with pytest.raises(ValueError):
        classification_metrics([True], [True, False])


def test_knockout_metrics_per_condition():
    df = pd.DataFrame({"gene_id": list("abcdef"), "condition": ["x"] * 3 + ["y"] * 3,
                       "growth": [0.5, 0.0, np.nan, 0.5, 0.5, 0.0], "relative_growth": [1, 0, 0, 1, 1, 0],
                       "grows": [True, False, False, True, False, None]})
    r = knockout_metrics(df, by="condition")
    assert r["overall"]["n"] == 5  # the row without a measurement is dropped
    assert r["per_condition"]["x"]["accuracy"] == 1.0  # NaN predicted growth = no growth
    assert r["per_condition"]["y"]["accuracy"] == 0.5


def test_solver_noise_does_not_break_ties():
    rng = np.random.default_rng(1)
    base = pd.DataFrame({"gene_id": [f"g{i}" for i in range(200)], "condition": "c",
                         "growth": np.where(rng.random(200) < 0.8, 0.877, 0.0), "grows": rng.random(200) < 0.9})
    noisy = base.assign(growth=base["growth"] + rng.normal(0, 1e-12, 200))
    exact = knockout_metrics(base)["overall"]["roc_auc"]
    assert knockout_metrics(noisy)["overall"]["roc_auc"] == pytest.approx(exact)
    assert knockout_metrics(noisy, score_decimals=None)["overall"]["roc_auc"] != pytest.approx(exact)


def test_variability_precision():
    plain = pd.DataFrame({"reaction_id": list("abcd"), "minimum": [0, -10, 0, 0], "maximum": [10, 10, 4, 0]})
    ec = pd.DataFrame({"reaction_id": list("abce"), "minimum": [0, -1, 0, 0], "maximum": [5, 1, 4, 1]})
    r = variability_precision(plain, ec)
    assert r["n_reactions"] == 3
    assert r["median_plain"] == 10 and r["median_ec"] == 4 and r["fold_median"] == 2.5
    assert r["median_fold_per_reaction"] == 2.0  # folds 2, 10, 1
    assert r["fraction_narrower"] == pytest.approx(2 / 3)


def test_growth_phenotypes():
    pred = pd.Series({"glc": 0.9, "ac": 0.2, "xyl": 0.0, "fum": 0.5})
    meas = pd.Series({"glc": 0.7, "ac": 0.3, "xyl": 0.0, "fum": 0.4, "other": 1.0})
    r = growth_phenotype_metrics(pred, meas)
    assert r["n"] == 4 and r["accuracy"] == 1.0
    assert r["spearman_rate"] == pytest.approx(1.0)
