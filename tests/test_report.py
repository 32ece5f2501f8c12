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
from kingems_ray.errors import KingemsError
from kingems_ray.gem.io import load_model
from kingems_ray.solver.problem import Problem


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
