"""Metrics against scikit-learn on hand examples (ties included), FVA precision on a hand table, and the paired gene
bootstrap comparing two models' knockout ROC-AUC (library and ``evaluate compare`` CLI)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from kingems_ray.analysis.metrics import (
    _Ranker,
    average_precision,
    classification_metrics,
    compare_knockout_scores,
    growth_phenotype_metrics,
    knockout_metrics,
    roc_auc,
    variability_precision,
)
from kingems_ray.cli import main as cli_main
from kingems_ray.errors import KingemsError

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


# -- comparing two models (paired gene bootstrap) ---------------------------------------------------------------------
def _screen(n_genes: int = 60, conditions: tuple[str, ...] = ("glc", "ac", "fum"), seed: int = 0) -> pd.DataFrame:
    """A joined knockout/truth table: essential-ish genes mostly no-growth in every condition, tied scores."""
    rng = np.random.default_rng(seed)
    genes = np.repeat([f"g{i:03d}" for i in range(n_genes)], len(conditions))
    cond = np.tile(conditions, n_genes)
    ess = np.repeat(rng.random(n_genes) < 0.3, len(conditions))
    grows = ~ess ^ (rng.random(len(genes)) < 0.1)
    growth = np.round(np.where(rng.random(len(genes)) < 0.5, grows * 0.8, rng.random(len(genes))), 1)
    return pd.DataFrame({"gene_id": genes, "condition": cond, "grows": grows, "growth": growth,
                         "relative_growth": growth / 0.8})


def test_ranker_equals_roc_auc_and_replicated_rows():
    rng = np.random.default_rng(3)
    y = rng.random(80) < 0.6
    s = np.round(rng.random(80), 1)  # ties
    strata = rng.integers(0, 3, 80)
    r = _Ranker(s, y, strata, 4)  # stratum 3 is empty: NaN
    got = r.auc(np.ones(80))[0]
    for k in range(3):
        assert got[k] == pytest.approx(roc_auc(y[strata == k], s[strata == k]), rel=1e-12)
    assert np.isnan(got[3])
    # Integer weights = rows repeated that many times (what a bootstrap resample is).
    w = rng.integers(0, 4, size=(5, 80)).astype(float)
    got = _Ranker(s, y, np.zeros(80, dtype=int), 1).auc(w)[:, 0]
    for i in range(5):
        rep = np.repeat(np.arange(80), w[i].astype(int))
        assert got[i] == pytest.approx(roc_auc(y[rep], s[rep]), rel=1e-12)


def test_compare_point_values_equal_knockout_metrics():
    a = _screen(seed=0)
    b = a.assign(growth=_screen(seed=5)["growth"].to_numpy())
    b.loc[3, "growth"] = np.nan  # a missing prediction counts as 0, as in knockout_metrics
    a["grows"] = a["grows"].astype(object)
    a.loc[7, "grows"] = None  # unmeasured points are dropped (from both: inner join)
    r = compare_knockout_scores(a, b, n_boot=50)
    ka, kb = knockout_metrics(a, by="condition"), knockout_metrics(b.loc[a["grows"].notna()], by="condition")
    assert r["n"] == len(a) - 1 and r["n_genes"] == 60 and r["n_conditions"] == 3
    assert r["n_only_a"] == 0 and r["n_only_b"] == 1
    p = r["pooled_roc_auc"]
    assert p["a"] == pytest.approx(ka["overall"]["roc_auc"], rel=1e-12)
    assert p["b"] == pytest.approx(kb["overall"]["roc_auc"], rel=1e-12)
    assert p["diff"] == pytest.approx(p["b"] - p["a"])
    m = r["mean_condition_roc_auc"]
    assert m["a"] == pytest.approx(np.mean([v["roc_auc"] for v in ka["per_condition"].values()]), rel=1e-12)
    assert m["b"] == pytest.approx(np.mean([v["roc_auc"] for v in kb["per_condition"].values()]), rel=1e-12)
    assert r["per_condition"]["ac"]["a"] == pytest.approx(ka["per_condition"]["ac"]["roc_auc"], rel=1e-12)
    assert m["n_conditions_used"] == 3 and m["skipped_conditions"] == []
    # relative_growth is ranked when asked for (here a monotone transform: same AUC)
    assert compare_knockout_scores(a, b, score="relative_growth", n_boot=0)["pooled_roc_auc"]["a"] == p["a"]


def test_compare_identical_tables_give_zero():
    a = _screen()
    r = compare_knockout_scores(a, a.sample(frac=1.0, random_state=1), n_boot=200)
    for key in ("pooled_roc_auc", "mean_condition_roc_auc"):
        s = r[key]
        assert s["diff"] == 0.0 and s["ci_low"] == 0.0 and s["ci_high"] == 0.0
        assert s["p_b_not_better"] == 1.0 and s["n_boot_valid"] == 200


def test_compare_better_ranking_is_detected_and_seeded():
    a = _screen(n_genes=80)
    rng = np.random.default_rng(2)
    # B ranks strictly better: every grower scores above every non-grower (AUC 1), A keeps its mistakes.
    b = a.assign(growth=np.where(a["grows"], 0.5, 0.0) + rng.random(len(a)) * 0.1)
    r = compare_knockout_scores(a, b, n_boot=300, seed=7)
    for key in ("pooled_roc_auc", "mean_condition_roc_auc"):
        s = r[key]
        assert s["b"] == 1.0 and s["a"] < 0.95
        assert s["diff"] > 0 and s["ci_low"] > 0 and s["ci_low"] <= s["diff"] <= s["ci_high"]
        assert s["p_b_not_better"] == 0.0
    assert compare_knockout_scores(a, b, n_boot=300, seed=7) == r  # same seed, same result
    other_seed = compare_knockout_scores(a, b, n_boot=300, seed=8)
    assert other_seed["pooled_roc_auc"]["ci_low"] != r["pooled_roc_auc"]["ci_low"]
    # B worse than A: the figure flips
    assert compare_knockout_scores(b, a, n_boot=300, seed=7)["pooled_roc_auc"]["p_b_not_better"] == 1.0


def test_compare_resamples_genes_not_points():
    # Repeating every gene's point in 10 more conditions adds no independent evidence: with genes resampled the
    # pooled AUC and its interval are exactly those of the single-condition table (a point bootstrap would shrink it).
    one = _screen(n_genes=50, conditions=("c0",), seed=4)
    other = one.assign(growth=_screen(n_genes=50, conditions=("c0",), seed=9)["growth"].to_numpy())
    many_a = pd.concat([one.assign(condition=f"c{k}") for k in range(10)], ignore_index=True)
    many_b = pd.concat([other.assign(condition=f"c{k}") for k in range(10)], ignore_index=True)
    r1 = compare_knockout_scores(one, other, n_boot=200, seed=3)
    r10 = compare_knockout_scores(many_a, many_b, n_boot=200, seed=3)
    assert r10["n"] == 500 and r10["n_genes"] == 50
    for key in ("a", "b", "diff", "ci_low", "ci_high", "p_b_not_better"):
        assert r10["pooled_roc_auc"][key] == pytest.approx(r1["pooled_roc_auc"][key], rel=1e-12, abs=1e-15)


def test_compare_one_gene_in_three_conditions():
    a = pd.DataFrame({"gene_id": "g1", "condition": ["x", "y", "z"], "grows": [True, False, True],
                      "growth": [0.5, 0.1, 0.2]})
    b = a.assign(growth=[0.5, 0.0, 0.4])
    r = compare_knockout_scores(a, b, n_boot=20)
    assert r["n"] == 3 and r["n_genes"] == 1
    p = r["pooled_roc_auc"]
    assert p["a"] == 1.0 and p["b"] == 1.0
    # Every resample draws the one gene: the interval collapses onto the point difference.
    assert p["ci_low"] == p["ci_high"] == p["diff"] == 0.0
    m = r["mean_condition_roc_auc"]  # each condition has one point: all skipped, said so
    assert m["n_conditions_used"] == 0 and m["skipped_conditions"] == ["x", "y", "z"] and np.isnan(m["a"])
    assert m["n_boot_valid"] == 0
    assert "mean_condition_roc_auc" not in compare_knockout_scores(a, b, by=None, n_boot=5)


def test_compare_bad_inputs():
    a = _screen(n_genes=10)
    with pytest.raises(KingemsError, match="unknown score"):
        compare_knockout_scores(a, a, score="fitness")
    with pytest.raises(KingemsError, match="lacks column"):
        compare_knockout_scores(a, a.drop(columns="relative_growth"), score="relative_growth")
    with pytest.raises(KingemsError, match="no measured"):
        compare_knockout_scores(a, a.assign(gene_id="x" + a["gene_id"]))
    with pytest.raises(KingemsError, match="both classes"):
        compare_knockout_scores(a.assign(grows=True), a.assign(grows=True))
    with pytest.raises(KingemsError, match="disagree"):
        compare_knockout_scores(a, a.assign(grows=~a["grows"]))
    with pytest.raises(KingemsError, match="duplicate"):
        compare_knockout_scores(pd.concat([a, a.iloc[:1]]), a)
    with pytest.raises(KingemsError, match="n_boot"):
        compare_knockout_scores(a, a, n_boot=-1)


def test_evaluate_compare_cli(tmp_path, capsys):
    import json

    a = _screen(n_genes=30, conditions=("Glucose", "Acetate"))
    rng = np.random.default_rng(1)
    b = a.assign(growth=np.where(a["grows"], 0.5, 0.0) + rng.random(len(a)) * 0.1)
    a[["gene_id", "condition", "grows"]].to_csv(tmp_path / "truth.csv", index=False)
    for name, t in (("a", a), ("b", b)):
        t.drop(columns="grows").to_parquet(tmp_path / f"{name}.parquet")
    out = tmp_path / "cmp.json"
    rc = cli_main(["evaluate", "compare", str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet"),
                   "--truth", str(tmp_path / "truth.csv"), "--n-boot", "100", "--seed", "1", "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "pooled ROC-AUC" in text and "mean per-condition ROC-AUC (2 conditions)" in text
    res = json.loads(out.read_text())
    expected = compare_knockout_scores(a, b, n_boot=100, seed=1)
    assert res["n"] == 60 and res["truth"] == str(tmp_path / "truth.csv")
    assert res["pooled_roc_auc"] == pytest.approx(expected["pooled_roc_auc"])
    assert res["mean_condition_roc_auc"]["ci_low"] == pytest.approx(expected["mean_condition_roc_auc"]["ci_low"])
    # a bad score is an argparse error; tables without a common point are one readable line, exit 2
    (tmp_path / "other.csv").write_text("gene_id,condition,grows\nzz,Glucose,True\nyy,Acetate,False\n")
    assert cli_main(["evaluate", "compare", str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet"),
                     "--truth", str(tmp_path / "other.csv")]) == 2
    assert "share no" in capsys.readouterr().err
