"""Knockout screens: golden values from cobrapy, shortcuts vs full LPs, ecGEM vs an independently edited model,
parallel vs serial, bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from cobra.flux_analysis import single_gene_deletion
from cobra.manipulation import remove_genes

from kingems_ray.analysis.knockout import knockout_screen, knockout_targets
from kingems_ray.ec.build import build
from kingems_ray.ec.kcats import read_kcat_table
from kingems_ray.ec.problem import Problem
from kingems_ray.errors import KingemsError
from kingems_ray.gem.media import carbon_source_medium


def _cobra_growth(model, genes=None) -> pd.Series:
    model.solver = "glpk"
    ref = single_gene_deletion(model, gene_list=genes)
    ref["gene"] = [next(iter(i)) for i in ref["ids"]]
    # cobrapy reports an infeasible knockout as NaN growth; ours is 0 with status "infeasible".
    return ref.set_index("gene")["growth"].fillna(0.0).clip(lower=0.0)


@pytest.fixture(scope="module")
def core():
    return build("e_coli_core")


def test_targets_match_problem_gpr_evaluation(core):
    p = Problem(core.compiled)
    targets = knockout_targets(core.compiled)
    assert len(targets) == len(core.model.genes)
    for g, t in targets.items():
        assert list(t.reactions) == sorted(p.reactions_of_knockout([g]))


def test_core_all_genes_equal_cobrapy(core):
    ko = knockout_screen(core.compiled)
    ref = _cobra_growth(core.model)
    got = ko.set_index("gene_id")["growth"]
    assert len(got) == len(ref) == 137
    np.testing.assert_allclose(got[ref.index].to_numpy(), ref.to_numpy(), atol=1e-6)
    # The shortcuts did most of the work.
    assert ko.attrs["n_lp"] < 40
    assert set(ko["method"]) <= {"lp", "zero_flux", "no_effect", "same_as_previous"}


def test_core_carbon_source_equals_cobrapy_medium(core):
    med = carbon_source_medium(core.model, None, "EX_ac_e", uptake=10)
    ko = knockout_screen(core.compiled, {"acetate": med})
    m = core.model.copy()
    m.medium = {k: v for k, v in med.items()}
    ref = _cobra_growth(m)
    got = ko.set_index("gene_id")["growth"]
    np.testing.assert_allclose(got[ref.index].to_numpy(), ref.to_numpy(), atol=1e-6)
    assert ko["wild_type_growth"].iloc[0] == pytest.approx(m.slim_optimize(), abs=1e-7)


def test_shortcuts_equal_full_lp_plain_and_ec(core, data_dir):
    conds = {"glc": None, "ac": carbon_source_medium(core.model, None, "EX_ac_e")}
    for b in (core, build("e_coli_core", data_dir / "kingems/e_coli_core_fva_ablation/tuned_data.csv", level="L4")):
        fast = knockout_screen(b.compiled, conds)
        full = knockout_screen(b.compiled, conds, shortcuts=False)
        assert (fast["method"] == "zero_flux").sum() > 20
        assert full["method"].isin(["lp", "no_effect"]).all()
        np.testing.assert_allclose(fast["growth"], full["growth"], atol=1e-9)
        assert (fast["status"] == full["status"]).all()


def test_ec_knockout_equals_model_without_the_gene(data_dir):
    """Knocking out g in the ecGEM (GPR + E_g = 0) equals compiling a model whose GPRs no longer hold g."""
    path = data_dir / "kingems/e_coli_core_fva_ablation/tuned_data.csv"
    b = build("e_coli_core", path, level="L4")
    raw = read_kcat_table(path)
    ko = knockout_screen(b.compiled).set_index("gene_id")
    # isoenzyme genes (no reaction disabled, but an enzyme column) and genes of essential reactions
    iso = [g for g in ko.index if ko.at[g, "n_reactions_off"] == 0 and g in b.compiled.enzyme_col]
    genes = iso[:4] + ["b0351", "b1136", "b2926"]
    reduced = 0
    for g in genes:
        m = b.model.copy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            remove_genes(m, [g], remove_reactions=False)
        p = Problem(build(m, raw[raw["gene_id"] != g], level="L4").compiled)
        for r in b.model.genes.get_by_id(g).reactions:
            if not m.reactions.get_by_id(r.id).gene_reaction_rule:
                p.set_reaction_bounds(r.id, 0.0, 0.0)  # every clause held g: the reaction is gone
        assert ko.at[g, "growth"] == pytest.approx(p.growth(), abs=1e-8), g
        reduced += ko.at[g, "growth"] < ko.at[g, "wild_type_growth"] - 1e-6
    assert reduced >= 2  # b0351 (an isoenzyme: growth drops only through E_g = 0) and the lethal ones


def test_parallel_equals_serial(core):
    conds = {"glc": None, "fru": carbon_source_medium(core.model, None, "EX_fru_e")}
    s = knockout_screen(core.compiled, conds)
    p = knockout_screen(core.compiled, conds, processes=2)
    pd.testing.assert_frame_equal(s.drop(columns=["growth", "relative_growth"]),
                                  p.drop(columns=["growth", "relative_growth"]))
    np.testing.assert_allclose(s["growth"], p["growth"], atol=1e-9)


def test_problem_left_unchanged(core):
    p = Problem(core.compiled)
    before = p.growth()
    bounds = [p.reaction_bounds(r) for r in core.compiled.rxn_ids]
    knockout_screen(p, {"ac": carbon_source_medium(core.model, None, "EX_ac_e")})
    assert [p.reaction_bounds(r) for r in core.compiled.rxn_ids] == bounds
    assert p.growth() == pytest.approx(before, abs=1e-9)


def test_ec_pricing_option_restored_and_results_independent_of_it(data_dir, monkeypatch):
    """ecGEM knockout LPs use devex pricing inside the screen only; optima equal those of HiGHS' default pricing."""
    b = build("e_coli_core", data_dir / "kingems/e_coli_core_fva_ablation/tuned_data.csv", level="L4")
    p = Problem(b.compiled)
    key = "simplex_dual_edge_weight_strategy"

    def value():
        v = p.solver.option_value(key)
        return v[1] if isinstance(v, tuple) else v

    before = value()
    devex = knockout_screen(p, shortcuts=False)
    assert value() == before
    from kingems_ray.analysis import knockout as ko_mod

    monkeypatch.setattr(ko_mod, "DEVEX", before)  # the screen then keeps HiGHS' default pricing
    default = knockout_screen(p, shortcuts=False)
    np.testing.assert_allclose(devex["growth"], default["growth"], atol=1e-9)
    assert (devex["status"] == default["status"]).all()


def test_unknown_gene_is_a_clear_error(core):
    with pytest.raises(KingemsError, match="not in model.*nope"):
        knockout_screen(core.compiled, genes=["b0008", "nope"])


def test_iml1515_sample_equals_cobrapy(data_dir):
    b = build(data_dir / "bigg/iML1515.xml.gz")
    genes = [g.id for g in b.model.genes][::40]
    conds = {"glc": None, "ac": carbon_source_medium(b.model, None, "EX_ac_e")}
    ko = knockout_screen(b.compiled, conds, genes=genes)
    ref = _cobra_growth(b.model, genes)
    got = ko[ko["condition"] == "glc"].set_index("gene_id")["growth"]
    np.testing.assert_allclose(got[ref.index].to_numpy(), ref.to_numpy(), atol=1e-6)
    m = b.model
    m.medium = conds["ac"]
    ref = _cobra_growth(m, genes)
    got = ko[ko["condition"] == "ac"].set_index("gene_id")["growth"]
    np.testing.assert_allclose(got[ref.index].to_numpy(), ref.to_numpy(), atol=1e-6)
    assert (ref < 1e-3).sum() >= 2  # the sample holds lethal knockouts too


def test_cli_knockout_and_evaluate(tmp_path, capsys, data_dir):
    from kingems_ray.cli import main

    media = tmp_path / "media.csv"
    media.write_text("condition,reaction_id,lower_bound\n"
                     + "".join(f"glucose,{r},-1000\n" for r in ("EX_o2_e", "EX_nh4_e", "EX_pi_e", "EX_h2o_e", "EX_h_e"))
                     + "glucose,EX_glc__D_e,-10\nglucose,EX_not_there_e,-1\n")
    out = tmp_path / "ko.parquet"
    assert main(["knockout", "e_coli_core", "--media", str(media), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "EX_not_there_e" in err  # unknown exchange: reported, not fatal
    ko = pd.read_parquet(out)
    assert len(ko) == 137 and set(ko.columns) >= {"gene_id", "condition", "growth", "status", "wild_type_growth",
                                                   "relative_growth", "n_reactions_off", "solved"}
    assert main(["evaluate", "knockouts", str(out), "--truth", "ecoli-glc-essential", "--model", "e_coli_core",
                 "--out", str(tmp_path / "m.json")]) == 0
    assert (tmp_path / "m.json").exists()
    assert main(["knockout", "e_coli_core", "--genes", "b0008", "bogus", "--out", str(out)]) == 2
    assert "bogus" in capsys.readouterr().err
