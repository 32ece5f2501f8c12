"""Report: FVA table against cobrapy, ROC against sklearn, files written, CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from cobra.flux_analysis import flux_variability_analysis, single_gene_deletion
from sklearn.metrics import roc_auc_score

from kingems_ray.analysis.report import knockout_roc, write_report
from kingems_ray.analysis.tuning import AnnealingSettings, tune_kcats
from kingems_ray.cli import main as cli_main
from kingems_ray.ec.build import build
from kingems_ray.ec.problem import Problem
from kingems_ray.errors import KingemsError
from kingems_ray.gem.io import load_model


@pytest.fixture(scope="module")
def ref_table(data_dir):
    return data_dir / "kingems" / "e_coli_core_fva_ablation" / "tuned_data.csv"


@pytest.fixture(scope="module")
def knockouts():
    """Predicted knockout growth from the in-place LP, truth from cobrapy's deletions of the plain model."""
    model = load_model("e_coli_core")
    truth = single_gene_deletion(model)
    truth["gene_id"] = truth["ids"].map(lambda s: next(iter(s)))
    grows = dict(zip(truth["gene_id"], truth["growth"].fillna(0) > 0.1))
    p = Problem(build(model).compiled)
    rows = []
    for g in model.genes:
        rx = p.reactions_of_knockout([g.id])
        with p.reactions_bounded({j: (0.0, 0.0) for j in rx}):
            res = p.optimize(need_x=False)
        # a noisy score so the ROC is not trivially perfect
        rows.append({"gene_id": g.id, "condition": "glucose", "growth": res.objective if res.ok else 0.0,
                     "status": res.status, "grows": grows[g.id]})
    df = pd.DataFrame(rows)
    rng = np.random.default_rng(0)
    df2 = df.assign(condition="glucose_noisy", growth=df["growth"] * rng.uniform(0, 1, len(df)))
    return pd.concat([df, df2], ignore_index=True)


def test_roc_matches_sklearn(knockouts):
    metrics, roc = knockout_roc(knockouts)
    m = metrics.set_index("condition")
    for cond in ("glucose", "glucose_noisy"):
        sub = knockouts[knockouts.condition == cond]
        assert m.loc[cond, "roc_auc"] == pytest.approx(roc_auc_score(sub["grows"], sub["growth"]))
    assert m.loc["glucose", "accuracy"] == pytest.approx(1.0)  # same LP as cobrapy's deletions
    assert set(roc["condition"]) == {"all", "glucose", "glucose_noisy"}
    with pytest.raises(KingemsError, match="truth"):
        knockout_roc(knockouts.drop(columns=["grows"]))


def test_write_report(tmp_path, ref_table, knockouts):
    core = build("e_coli_core", ref_table, level="L4")
    s = AnnealingSettings(temperature=0.01, cooling_rate=0.95, min_temperature=1e-6)
    tuned = tune_kcats(core.compiled, 0.3, iterations=15, chains=2, seed=0, settings=s)
    tuned_path, _ = tuned.write(tmp_path / "tuned.parquet")
    grid = pd.DataFrame({"ngam": [0, 0, 8.39, 8.39], "gam": [40, 59.81, 40, 59.81], "growth": [1, 0.9, 0.95, 0.87],
                         "status": "optimal"})
    rep = write_report("e_coli_core", ref_table, tmp_path / "rep", tuned=tuned_path, knockouts=knockouts,
                       maintenance=grid, levels=["L1", "L2", "L4"], target_growth=0.3)
    for key in ("markdown", "html", "summary", "fva", "fig_variability", "fig_trajectory", "fig_roc", "roc",
                "trajectory", "fig_maintenance"):
        assert rep.files[key].exists() and rep.files[key].stat().st_size > 0, key
    summ = rep.summary.set_index("level")
    assert list(summ.index) == ["L1", "L2", "L4", "tuned"]
    # golden values from cobrapy for the plain GEM
    model = load_model("e_coli_core")
    assert summ.loc["L1", "growth"] == pytest.approx(model.slim_optimize(), abs=1e-7)
    fva = flux_variability_analysis(model, fraction_of_optimum=0.9)
    assert summ.loc["L1", "median_variability"] == pytest.approx((fva["maximum"] - fva["minimum"]).abs().median(),
                                                                  abs=1e-6)
    assert summ.loc["L4", "growth"] == pytest.approx(Problem(core.compiled).growth(), abs=1e-7)
    assert summ.loc["tuned", "growth"] == pytest.approx(tuned.best_growth, abs=1e-7)
    # enzyme constraints narrow the solution space
    assert summ.loc["L4", "median_variability"] < summ.loc["L1", "median_variability"]
    md = rep.files["markdown"].read_text()
    assert "| level |" in md and "annealing.png" in md and "roc.png" in md
    assert "<img src=\"flux_variability.png\"" in rep.files["html"].read_text()


def test_cli_report(tmp_path, ref_table, capsys):
    out = tmp_path / "r"
    assert cli_main(["report", "e_coli_core", "--kcats", str(ref_table), "--levels", "L1,L4", "--out", str(out)]) == 0
    assert (out / "report.md").exists() and (out / "report.html").exists()
    assert "L4" in capsys.readouterr().out
    assert cli_main(["report", "e_coli_core", "--kcats", str(ref_table), "--knockouts", str(tmp_path / "no.parquet"),
                     "--out", str(out)]) == 2


# -- several models side by side, scored against a truth set ---------------------------------------------------------
@pytest.fixture(scope="module")
def two_models(knockouts, tmp_path_factory):
    """Two models' screens in two conditions (no truth column) and a truth CSV; the second model is noisy."""
    d = tmp_path_factory.mktemp("two_models")
    glc = knockouts[knockouts.condition == "glucose"].reset_index(drop=True)
    rng = np.random.default_rng(1)
    flip = rng.uniform(size=len(glc)) < 0.15  # the acetate truth differs from glucose's for some genes
    truth = pd.concat([glc[["gene_id"]].assign(condition="glc", grows=glc["grows"]),
                       glc[["gene_id"]].assign(condition="ac", grows=glc["grows"] ^ flip)], ignore_index=True)
    truth_csv = d / "truth.csv"
    truth.to_csv(truth_csv, index=False)
    wt = glc["growth"].max()
    tables = {}
    for label, noise in (("plain", None), ("noisy", rng.uniform(0, 1, (2, len(glc))))):
        parts = []
        for i, cond in enumerate(("glc", "ac")):
            g = glc["growth"].to_numpy() * (1.0 if noise is None else noise[i])
            parts.append(pd.DataFrame({"gene_id": glc["gene_id"], "condition": cond, "growth": g,
                                       "status": "optimal", "relative_growth": g / wt}))
        tables[label] = pd.concat(parts, ignore_index=True)
    plain_path = d / "ko_plain.parquet"
    tables["plain"].to_parquet(plain_path, index=False)
    return {"tables": tables, "plain_path": plain_path, "truth_csv": truth_csv, "dir": d}


def _expected(table: pd.DataFrame, truth: pd.DataFrame, cmap=None, score="growth") -> dict:
    from kingems_ray.analysis.metrics import knockout_metrics
    from kingems_ray.analysis.validation_data import join_knockouts

    return knockout_metrics(join_knockouts(table, truth, cmap), score=score, by="condition")


def _assert_same(row, metrics: dict) -> None:
    for k, v in metrics.items():
        assert row[k] == pytest.approx(v, nan_ok=True), k


def test_write_report_two_models_truth_csv(tmp_path, two_models):
    tables, truth_csv = two_models["tables"], two_models["truth_csv"]
    # the noisy table also carries a wrong truth column: with a truth set given, the truth decides
    noisy = tables["noisy"].assign(grows=False)
    rep = write_report("e_coli_core", None, tmp_path / "rep", knockouts={"plain": two_models["plain_path"],
                                                                          "noisy": noisy},
                       truth=str(truth_csv), levels=["L1"])
    truth = pd.read_csv(truth_csv)
    overall = rep.knockout_summary
    assert list(overall["model"]) == ["plain", "noisy"]
    for label, row in overall.set_index("model").iterrows():
        exp = _expected(tables[label], truth)
        _assert_same(row, exp["overall"])
        per = exp["per_condition"]
        assert row["n_conditions"] == 2
        assert row["mean_condition_roc_auc"] == pytest.approx(np.mean([m["roc_auc"] for m in per.values()]))
        bc = rep.knockout_conditions.query("model == @label").set_index("condition")
        for cond, m in per.items():
            _assert_same(bc.loc[cond], m)
        # independent check of the ranking rule: sklearn on scores rounded to 1e-9
        j = tables[label].merge(truth, on=["gene_id", "condition"])
        assert row["roc_auc"] == pytest.approx(roc_auc_score(j["grows"], np.round(j["growth"], 9)))
    assert overall.set_index("model").loc["plain", "roc_auc"] > overall.set_index("model").loc["noisy", "roc_auc"]
    # conditions first, models next to each other
    assert list(zip(rep.knockout_conditions["condition"], rep.knockout_conditions["model"])) == [
        ("glc", "plain"), ("glc", "noisy"), ("ac", "plain"), ("ac", "noisy")]
    # the Parquet behind the tables, and the ROC curves' areas are the reported ROC-AUCs
    km = pd.read_parquet(rep.files["knockout_metrics"])
    assert list(km["model"]) == ["plain", "noisy"] and km["roc_auc"].tolist() == overall["roc_auc"].tolist()
    roc = pd.read_parquet(rep.files["roc"])
    assert list(roc.columns) == ["model", "condition", "fpr", "tpr", "threshold"]
    from sklearn.metrics import auc

    for label, d in roc[roc.condition == "all"].groupby("model"):
        assert auc(d["fpr"], d["tpr"]) == pytest.approx(overall.set_index("model").loc[label, "roc_auc"])
    assert set(roc["condition"]) == {"all", "glc", "ac"}
    assert rep.files["fig_roc"].stat().st_size > 0 and rep.files["knockout_conditions"].exists()
    md = rep.files["markdown"].read_text()
    assert "| model | n |" in md and "### Per condition" in md and "| noisy |" in md and "roc.png" in md
    assert "<h3>Per condition</h3>" in rep.files["html"].read_text()
    assert rep.summary["level"].tolist() == ["L1"]  # the FVA section is still there


def test_report_equals_evaluate_knockouts(tmp_path, two_models, capsys):
    """Same numbers as `kingems-ray evaluate knockouts` for a table, overall and per condition, both scores."""
    import json

    from kingems_ray.analysis.report import knockout_comparison

    path, truth_csv = two_models["plain_path"], str(two_models["truth_csv"])
    for score in ("growth", "relative_growth"):
        out = tmp_path / f"eval_{score}.json"
        assert cli_main(["evaluate", "knockouts", str(path), "--truth", truth_csv, "--score", score,
                         "--out", str(out)]) == 0
        ev = json.loads(out.read_text())
        comp = knockout_comparison({"plain": path}, truth_csv, score=score)
        _assert_same(comp.overall.iloc[0], ev["overall"])
        for cond, m in ev["per_condition"].items():
            _assert_same(comp.by_condition.set_index("condition").loc[cond], m)
    capsys.readouterr()


def test_keio_exchange_conditions_mapped(tmp_path, data_dir):
    """Screens naming conditions by exchange id (--carbon-sources) are mapped to the Keio truth's names."""
    from kingems_ray.analysis.report import knockout_comparison
    from kingems_ray.analysis.validation_data import ecoli_keio_fitness, keio_carbon_exchanges

    truth = ecoli_keio_fitness()
    ex = keio_carbon_exchanges()
    genes = ["b0720", "b0118", "b0726", "b3870", "b4014", "b0902", "b1241", "b4152", "b3739", "b2276"]
    rng = np.random.default_rng(3)
    ko = pd.concat([pd.DataFrame({"gene_id": genes, "condition": ex[c], "growth": rng.uniform(0, 0.8, len(genes)),
                                  "status": "optimal"}) for c in ("Glucose", "Acetate")], ignore_index=True)
    path = tmp_path / "ko_keio.parquet"
    ko.to_parquet(path, index=False)
    comp = knockout_comparison({"ec": path}, "ecoli-keio-fitness")
    assert comp.condition_map == {e: n for n, e in ex.items()}
    assert set(comp.by_condition["condition"]) == {"Glucose", "Acetate"}
    exp = _expected(ko, truth, {e: n for n, e in ex.items()})
    _assert_same(comp.overall.iloc[0], exp["overall"])
    assert comp.overall.iloc[0]["n"] == 2 * len(genes)  # every one of these genes has Keio data in both
    # and `evaluate knockouts` (same automatic mapping) agrees
    import json

    out = tmp_path / "ev.json"
    assert cli_main(["evaluate", "knockouts", str(path), "--truth", "ecoli-keio-fitness", "--out", str(out)]) == 0
    _assert_same(comp.overall.iloc[0], json.loads(out.read_text())["overall"])


def test_cli_report_labelled_knockouts(tmp_path, two_models, capsys):
    d = two_models["dir"]
    noisy = d / "ko_noisy.parquet"
    two_models["tables"]["noisy"].to_parquet(noisy, index=False)
    out = tmp_path / "r"
    assert cli_main(["report", "e_coli_core", "--levels", "L1", "--knockouts", f"GEM={two_models['plain_path']}",
                     "--knockouts", str(noisy), "--truth", str(two_models["truth_csv"]), "--score",
                     "relative_growth", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "knockouts GEM:" in text and "knockouts ko_noisy:" in text and "mean per-condition ROC-AUC" in text
    km = pd.read_parquet(out / "knockout_metrics.parquet")
    assert km["model"].tolist() == ["GEM", "ko_noisy"]
    exp = _expected(two_models["tables"]["plain"], pd.read_csv(two_models["truth_csv"]), score="relative_growth")
    _assert_same(km.iloc[0], exp["overall"])


def test_report_input_errors(tmp_path, two_models, capsys):
    from kingems_ray.analysis.report import ReportInputError
    from kingems_ray.commands.report import parse_knockout_args

    plain = str(two_models["plain_path"])
    out = tmp_path / "r"
    base = ["report", "e_coli_core", "--levels", "L1", "--out", str(out)]
    bad = [
        ("LABEL=PATH", ["--knockouts", f"={plain}"]),
        ("LABEL=PATH", ["--knockouts", "plain="]),
        ("file not found", ["--knockouts", f"plain={tmp_path / 'missing.parquet'}"]),
        ("given twice", ["--knockouts", f"a={plain}", "--knockouts", f"a={plain}"]),
        ("truth column", ["--knockouts", f"plain={plain}"]),  # no grows column and no --truth
        ("without knockout tables", ["--truth", str(two_models["truth_csv"])]),
        ("unknown truth set", ["--knockouts", plain, "--truth", "no-such-truth"]),
        ("not a JSON object", ["--knockouts", plain, "--truth", str(two_models["truth_csv"]), "--condition-map",
                               "{not json"]),
    ]
    for what, extra in bad:
        assert cli_main(base + extra) == 2, what
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and what in err, (what, err)
    assert not out.exists()  # knockout inputs are checked before the FVA runs
    with pytest.raises(ReportInputError, match="LABEL=PATH"):
        parse_knockout_args(["=x.parquet"])
    with pytest.raises(ReportInputError, match="truth column"):
        write_report("e_coli_core", None, out, knockouts={"plain": plain}, levels=["L1"])
    with pytest.raises(ReportInputError, match="no column"):  # relative_growth asked for, not in the table
        knockout_roc(two_models["tables"]["plain"].drop(columns=["relative_growth"]).assign(grows=True),
                     score="relative_growth")
    with pytest.raises(ReportInputError, match="share no"):
        write_report("e_coli_core", None, out, knockouts={"plain": plain},
                     truth=pd.DataFrame({"gene_id": ["x"], "condition": ["glc"], "grows": [True]}), levels=["L1"])
    assert issubclass(ReportInputError, KingemsError)
