"""Cohorts (issue 15): taxonomy tables, matching, pooled models vs MICOM, per-sample runs, media, sweeps, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kingems_ray.community.taxonomy import (
    ModelDB,
    agora_ranks,
    match_taxonomy,
    normalise_name,
    read_taxonomy,
    samples_table,
)
from kingems_ray.errors import KingemsError

TRIO = ["Abiotrophia_defectiva_ATCC_49176", "Acetatifactor_muris_GP69", "Acetobacterium_wieringae_DSM_1911"]


# -- taxonomy tables (no data needed) ----------------------------------------------------------------------------
def test_read_taxonomy_variants():
    long = pd.DataFrame({"#SampleID": ["a", "a", "b"], "Taxon": ["g__Bacteroides", "g__Blautia", "g__Blautia"],
                         "relative_abundance": [0.7, 0.3, 1.0]})
    t = read_taxonomy(long, rank="genus")
    assert list(t.columns[:3]) == ["sample_id", "id", "abundance"]
    assert [normalise_name(g) for g in t["genus"]] == ["bacteroides", "blautia", "blautia"]
    wide = pd.DataFrame({"sample": ["a", "b"], "k__Bacteria;g__Bacteroides;s__caccae": [5, 0],
                         "k__Bacteria;g__Blautia;s__": [5, 10]})
    w = read_taxonomy(wide)
    assert len(w) == 3  # zero entries dropped
    row = w[(w.sample_id == "a") & (w.genus == "Bacteroides")].iloc[0]
    assert row["species"] == "Bacteroides caccae"  # epithet-only species gets its genus
    taxa_x_samples = pd.DataFrame({"#OTU ID": ["X", "Y"], "s1": [1, 2], "s2": [3, 0]})
    tx = read_taxonomy(taxa_x_samples, rank="genus")
    assert set(tx["sample_id"]) == {"s1", "s2"} and len(tx) == 3
    with pytest.raises(KingemsError):
        read_taxonomy(pd.DataFrame({"only": [1]}))


def test_agora_ranks():
    assert agora_ranks("Bacteroides_caccae_ATCC_43185") == {"genus": "Bacteroides", "species": "Bacteroides caccae",
                                                            "strain": "Bacteroides_caccae_ATCC_43185"}
    assert "species" not in agora_ranks("Desulfovibrio_sp_6_1_46AFAA")
    assert agora_ranks("uncultured_Blautia_sp_ERR1022472")["genus"] == "Blautia"


def test_matching_cutoff_unmatched_and_bad_samples():
    db = ModelDB.open(pd.DataFrame({"file": ["/m/A1.xml", "/m/A2.xml", "/m/B1.xml"],
                                    "genus": ["Alpha", "Alpha", "Beta"], "species": ["Alpha x", "Alpha y", "Beta z"]}))
    tax = pd.DataFrame({"sample_id": ["s"] * 4 + ["zero", "miss"],
                        "genus": ["g__Alpha", "Beta", "Gamma", "Beta", "Alpha", "Delta"],
                        "abundance": [50, 30, 19.99, 0.01, 0, 3]})
    samples, rep = match_taxonomy(read_taxonomy(tax, rank="genus"), db, rank="genus", cutoff=1e-3)
    s = {x.sample_id: x for x in samples}
    # Alpha pooled from two models; Beta twice in the table -> one taxon; Gamma unmatched; 1e-4 below the cutoff
    assert [t.name for t in s["s"].taxa] == ["alpha", "beta"]
    assert s["s"].taxa[0].files == ["/m/A1.xml", "/m/A2.xml"] and s["s"].taxa[0].pooled
    assert s["s"].found_abundance_fraction == pytest.approx(0.8)
    assert s["s"].abundances == pytest.approx([50 / 80, 30 / 80])
    assert s["s"].unmatched == ["Gamma"] and s["s"].n_below_cutoff == 1
    assert s["zero"].error == "abundances sum to 0" and not s["zero"].taxa
    assert s["miss"].error.startswith("no taxon") and s["miss"].unmatched == ["Delta"]
    tab = samples_table(samples).set_index("sample_id")
    assert tab.loc["s", "unmatched_abundance_fraction"] == pytest.approx(0.2)
    assert set(rep["reason"]) >= {"", "no model at rank genus", "below cutoff 0.001", "sample abundances sum to 0"}
    with pytest.raises(KingemsError):
        match_taxonomy(read_taxonomy(tax, rank="genus"), db, rank="order")


# -- pooled models vs MICOM's join_models -----------------------------------------------------------------------
def test_pooled_model_matches_micom_join_models(tmp_path):
    """Two variants of the textbook model pooled by us and by micom.util.join_models: same reactions, same growth."""
    cobra = pytest.importorskip("cobra")
    micom_util = pytest.importorskip("micom.util")
    from kingems_ray.community.taxonomy import build_pooled

    a = cobra.io.load_model("textbook")
    b = a.copy()
    b.reactions.get_by_id("PGI").knock_out()  # a different member: no glycolytic entry via PGI
    b.remove_reactions([b.reactions.get_by_id("PFL")])
    new = cobra.Reaction("EXTRA_r", lower_bound=0, upper_bound=1000)
    new.add_metabolites({b.metabolites.get_by_id("pyr_c"): -1, b.metabolites.get_by_id("lac__D_c"): 1})
    b.add_reactions([new])
    b.reactions.get_by_id("Biomass_Ecoli_core").objective_coefficient = 1
    fa, fb = tmp_path / "a.xml", tmp_path / "b.xml"
    cobra.io.write_sbml_model(a, str(fa))
    cobra.io.write_sbml_model(b, str(fb))
    ref = micom_util.join_models([str(fa), str(fb)], id="pooled")
    ours = build_pooled([str(fa), str(fb)], "pooled")
    ref_ids = {r.id for r in ref.reactions if not r.id.startswith("micom_combined_biomass")}
    assert set(ours.rxn_ids) - {"micom_combined_biomass"} == ref_ids
    from kingems_ray.ec.problem import Problem

    growth = Problem(ours).optimize(need_x=False).objective
    assert growth == pytest.approx(ref.slim_optimize(), rel=1e-6)


# -- with the AGORA data -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def agora(data_dir, tmp_path_factory):
    from kingems_ray.community.cohort import MemberLibrary

    db = ModelDB.open(data_dir / "agora" / "models")
    return db, MemberLibrary(cache_dir=tmp_path_factory.mktemp("members"))


def _trio_tax(extra=()):
    rows = [("s1", t, a) for t, a in zip(TRIO, [0.5, 0.3, 0.2])] + list(extra)
    return pd.DataFrame(rows, columns=["sample_id", "id", "abundance"])


def test_run_sample_matches_community_and_perturbs(agora):
    from kingems_ray.community.cohort import run_sample
    from kingems_ray.community.community import Community
    from kingems_ray.community.diets import read_diet

    db, lib = agora
    samples, _ = match_taxonomy(read_taxonomy(_trio_tax(), rank="strain"), db, rank="strain")
    pert = [{"kind": "remove_taxon", "taxon": TRIO[0]}, {"kind": "supplement", "add": {"inulin": 0.05}},
            {"kind": "remove_taxon", "taxon": "Not_a_taxon"}, {"kind": "diet", "diet": "no_such_diet"},
            {"kind": "gene_knockout", "taxon": TRIO[1], "genes": ["nope"]}]
    row, tabs = run_sample(samples[0], lib, "western", perturbations=pert, metabolites=["ac", "but"])
    ref = Community([lib.get(t) for t in samples[0].taxa], [0.5, 0.3, 0.2], read_diet("western"))
    res = ref.cooperative_tradeoff(0.5)
    assert row["sample_status"] == "optimal"
    assert row["community_growth"] == pytest.approx(res.community_growth, rel=1e-6)
    g = tabs["growth"].set_index("taxon")["growth_rate"]
    np.testing.assert_allclose(g.reindex(res.growth.index), res.growth, rtol=1e-5, atol=1e-8)
    ex = tabs["exchanges"]
    assert set(ex["taxon"]) >= {"medium"} | {TRIO[0]}
    # pFBA fluxes keep the trade-off growth and balance every medium metabolite: sum_i a_i v_i = medium flux
    med = ex[ex.taxon == "medium"].set_index("metabolite")["flux"]
    tax_sum = ex[ex.taxon != "medium"].groupby("metabolite")["community_flux"].sum()
    both = med.index.intersection(tax_sum.index)
    np.testing.assert_allclose(med[both], tax_sum[both], atol=1e-6)
    pg = tabs["perturbation_growth"]
    removed = pg[pg.perturbation == f"remove {TRIO[0]}"].set_index("taxon")
    assert removed.loc[TRIO[0], "growth"] == 0.0 and removed["status"].eq("optimal").all()
    # bad perturbations are rows with an error, never an exception
    errs = pg[pg["status"] == "error"]
    assert set(errs["perturbation"]) == {"remove Not_a_taxon", "diet no_such_diet", f"knockout nope in {TRIO[1]}"}
    pp = tabs["perturbation_production"]
    assert set(pp["metabolite"]) == {"ac", "but"}
    # an unknown diet for the whole sample is reported, not raised
    row2, tabs2 = run_sample(samples[0], lib, "no_such_diet")
    assert row2["sample_status"] == "error" and "diet" in row2["error"] and not tabs2


def test_run_sample_minimal_imports_fluxes(agora):
    """``fluxes="minimal_imports"`` (MICOM grow's default): the medium imports of the exchange table are the
    sample's minimal medium; an unknown strategy is a per-sample error."""
    from kingems_ray.community.cohort import build_sample, run_sample
    from kingems_ray.community.diets import read_diet
    from kingems_ray.community.medium import minimal_medium

    db, lib = agora
    samples, _ = match_taxonomy(read_taxonomy(_trio_tax(), rank="strain"), db, rank="strain")
    sc = build_sample(samples[0], lib, read_diet("western"), 0.5, [])
    row, tabs = run_sample(samples[0], lib, "western", metabolites=[], fluxes="minimal_imports", built=sc)
    assert row["sample_status"] == "optimal"
    ex = tabs["exchanges"]
    imports = -ex[(ex.taxon == "medium") & (ex.flux < 0)]["flux"].sum()
    mm = minimal_medium(sc.community, sc.baseline.growth, sc.baseline.community_growth)
    assert imports == pytest.approx(mm["uptake"].sum(), rel=1e-6)
    bad, tabs_bad = run_sample(samples[0], lib, "western", metabolites=[], fluxes="fastest", built=sc)
    assert "unknown fluxes strategy" in bad["error"] and "exchanges" not in tabs_bad

def test_cohort_sample_s157_is_decided(agora):
    """Regression: on cohort sample S157 (20 AGORA taxa) the cohort solver's cold max-growth solve with Devex
    pricing ended "unknown" (the whole sample reported NaN growth); the undecided retry with HiGHS's default
    pricing solves it to the plain community's optimum."""
    from kingems_ray.community.cohort import build_sample
    from kingems_ray.community.community import Community
    from kingems_ray.community.diets import read_diet

    db, lib = agora
    cohort = pd.read_csv(Path(__file__).resolve().parents[1] / "configs" / "cohort_agora_200.csv.gz")
    tax = cohort[cohort["sample_id"] == "S157"]
    samples, _ = match_taxonomy(read_taxonomy(tax, rank="strain"), db, rank="strain", cutoff=0.0)
    diet = read_diet("western")
    sc = build_sample(samples[0], lib, diet, 0.5, [])
    ref = Community([lib.get(t) for t in samples[0].taxa], samples[0].abundances, diet).max_growth()
    assert ref[0] == "optimal" and sc.baseline.status == "optimal"
    assert sc.baseline.max_community_growth == pytest.approx(ref[1], rel=1e-7)
    assert sc.baseline.community_growth == pytest.approx(0.5 * ref[1], rel=1e-6)

def test_medium_completion_lets_every_taxon_grow(agora):
    from kingems_ray.community.cohort import build_sample
    from kingems_ray.community.community import Community
    from kingems_ray.community.diets import read_diet
    from kingems_ray.community.medium import complete_medium, completed_diet, minimal_medium

    db, lib = agora
    samples, _ = match_taxonomy(read_taxonomy(_trio_tax(), rank="strain"), db, rank="strain")
    diet = read_diet("western")
    sc = build_sample(samples[0], lib, diet, 0.5, [])
    assert sc.baseline.growth[TRIO[2]] < 1e-6  # A. wieringae does not grow on the Western diet here
    add = complete_medium(sc.community, diet, min_growth=0.05)
    assert len(add) and (add["added"] > 0).all() and (add["added"] <= 1.0 + 1e-9).all()
    done = completed_diet(diet, add)
    com = Community([lib.get(t) for t in samples[0].taxa], [0.5, 0.3, 0.2], done)
    for i, t in enumerate(com.taxa):  # each taxon can now reach 0.05 1/h inside the community
        cost = np.zeros(len(com.taxa))
        cost[i] = 1.0
        com._set_growth_cost(cost, maximize=True)
        assert com.solver.solve(need_x=False).objective >= 0.05 - 1e-6, t
    milp = complete_medium(sc.community, diet, min_growth=0.05, formulation="milp")
    assert len(milp) <= len(add)  # fewest components vs least flux
    mm = minimal_medium(sc.community, sc.baseline.growth, sc.baseline.community_growth)
    assert mm.attrs["status"] == "optimal" and len(mm) and (mm["uptake"] > 0).all()
    assert set(mm["metabolite"]) <= set(diet.uptake) | {"glc_D"}


def test_cohort_sweep_serial_resumes_and_reports_bad_samples(agora, tmp_path, data_dir):
    from kingems_ray.distributed.cohort_units import run_cohort

    extra = [("s2", TRIO[0], 1.0), ("s2", TRIO[1], 1.0), ("nomodel", "Nope_x", 1.0), ("zero", TRIO[0], 0.0)]
    tax = _trio_tax(extra)
    tax.to_csv(tmp_path / "tax.csv", index=False)
    spec = {"name": "t", "taxonomy": str(tmp_path / "tax.csv"), "models": str(data_dir / "agora" / "models"),
            "rank": "strain", "diet": "western", "metabolites": ["ac"], "fluxes": "none",
            "perturbations": {"remove_each_taxon": True}, "perturbations_per_unit": 2}
    out = tmp_path / "out"
    first = run_cohort(spec, out, serial=True, progress=False)
    # s1: 3 removals in chunks of 2 -> 2 units; s2: 1 unit; the two bad samples: 1 unit each
    assert first["n_units"] == 5 and first["n_ok"] == 5 and first["n_failed"] == 0
    again = run_cohort(spec, out, serial=True, progress=False)
    assert again["n_skipped"] == 5 and again["n_ok"] == 0
    samples = pd.read_parquet(out / "_cohort" / "samples.parquet").set_index("sample_id")
    assert samples.loc["s1", "sample_status"] == "optimal"
    assert samples.loc["nomodel", "error"].startswith("no taxon")
    assert samples.loc["zero", "error"] == "abundances sum to 0"
    pg = pd.read_parquet(out / "_cohort" / "perturbation_growth.parquet")
    assert sorted(pg.loc[pg.sample_id == "s1", "perturbation"].unique()) == sorted(f"remove {t}" for t in TRIO)
    from kingems_ray.community.cohort_report import write_report

    md = write_report(out)
    assert (out / "growth_heatmap.png").exists() and "Cohort report" in md.read_text()


def test_elasticities_finite_differences(agora):
    from kingems_ray.community.cohort import build_sample, elasticities
    from kingems_ray.community.community import Community
    from kingems_ray.community.diets import read_diet

    db, lib = agora
    samples, _ = match_taxonomy(read_taxonomy(_trio_tax(), rank="strain"), db, rank="strain")
    diet = read_diet("western")
    sc = build_sample(samples[0], lib, diet, 0.5, ["ac"])
    el = elasticities(sc, lib, ["ac"], diet_components=["glc_D", "not_in_diet"], h=0.1)
    assert set(el["kind"]) == {"diet", "abundance"} and set(el["effector"]) == {"glc_D", *TRIO}
    # the abundance elasticity of community growth, recomputed independently
    ab = np.array([0.5, 0.3, 0.2])
    ab[0] *= 1.1
    res = Community([lib.get(t) for t in samples[0].taxa], ab / ab.sum(), diet).cooperative_tradeoff(0.5)
    want = (res.community_growth - sc.baseline.community_growth) / (sc.baseline.community_growth * 0.1)
    got = el[(el.effector == TRIO[0]) & (el.metabolite == "community_growth")]["elasticity"].iloc[0]
    assert got == pytest.approx(want, rel=1e-4, abs=1e-6)


def test_cohort_config_typos_are_errors_with_a_suggestion(tmp_path):
    import yaml

    from kingems_ray.config_schema import ConfigError
    from kingems_ray.distributed.cohort_units import check_cohort_keys, load_cohort_config

    shipped = Path(__file__).resolve().parents[1] / "configs" / "cohort_screen.yaml"
    check_cohort_keys(yaml.safe_load(shipped.read_text()), str(shipped))  # the shipped config is clean
    bad = tmp_path / "c.yaml"
    bad.write_text("cohort:\n  taxonomy: t.csv\n  models: m\n  tradeof: 0.5\n")
    with pytest.raises(ConfigError, match="did you mean 'tradeoff'"):
        load_cohort_config(bad)
    bad.write_text("cohort:\n  taxonomy: t.csv\n  models: m\n  perturbations: {remove_each_taxa: true}\n")
    with pytest.raises(ConfigError, match="remove_each_taxon"):
        load_cohort_config(bad)


def test_cohort_command_writes_media(agora, tmp_path, data_dir):
    """``kingems-ray cohort --media``: per-sample completed and minimal media as Parquet, checked by re-solving."""
    from kingems_ray.cli import main
    from kingems_ray.community.community import Community
    from kingems_ray.community.diets import read_diet

    _, lib = agora
    tax = _trio_tax([("nomodel", "Nope_x", 1.0)])
    tax.to_csv(tmp_path / "tax.csv", index=False)
    out = tmp_path / "out"
    rc = main(["cohort", str(tmp_path / "tax.csv"), "--models", str(data_dir / "agora" / "models"), "--rank", "strain",
               "--out", str(out), "--serial", "--no-report", "--no-progress", "--fluxes", "none",
               "--metabolites", "ac", "--media", "--media-min-growth", "0.05"])
    assert rc == 0
    comp = pd.read_parquet(out / "_cohort" / "completed_medium.parquet")
    mini = pd.read_parquet(out / "_cohort" / "minimal_medium.parquet")
    assert set(comp["sample_id"]) == {"s1"} and set(mini["sample_id"]) == {"s1"}  # the bad sample has none
    assert (comp["status"] == "optimal").all() and (comp["added"] > 0).all() and (comp["added"] <= 1 + 1e-9).all()
    diet = read_diet("western")
    done = diet.with_changes(dict(zip(comp["metabolite"], comp["completed_uptake"])), name="done")
    com = Community([lib.get({"name": t, "files": [str(data_dir / "agora" / "models" / f"{t}.xml.gz")]})
                     for t in TRIO], [0.5, 0.3, 0.2], done)
    for i, t in enumerate(com.taxa):  # independently: each taxon now reaches 0.05 1/h in the community
        cost = np.zeros(len(com.taxa))
        cost[i] = 1.0
        com._set_growth_cost(cost, maximize=True)
        assert com.solver.solve(need_x=False).objective >= 0.05 - 1e-6, t
    # the minimal medium stays within the diet and still carries the baseline trade-off growth
    assert (mini["status"] == "optimal").all() and (mini["uptake"] > 0).all()
    limits = dict(diet.uptake)
    assert all(u <= limits[m] * (1 + 1e-6) + 1e-6 for m, u in zip(mini["metabolite"], mini["uptake"]) if m in limits)
    growth = pd.read_parquet(out / "_cohort" / "growth.parquet")
    base = float((growth["abundance"] * growth["growth_rate"]).sum())
    mcom = Community(com.members, [0.5, 0.3, 0.2], diet.with_changes(
        {**{k: 0.0 for k in diet.uptake}, **dict(zip(mini["metabolite"], mini["uptake"] * (1 + 1e-6)))}, name="min"))
    assert mcom.max_growth()[1] >= base * (1 - 1e-5)


def test_reduced_blocks_keep_every_optimum(agora):
    """Community blocks without their structurally zero columns, with linear pathways merged into one column and
    without the rows this empties (``joint.reduce_block``) give the same maximal growth, trade-off, gene-knockout
    growth and pFBA flux norm as the unreduced blocks, on a smaller LP."""
    from kingems_ray.community import community as cmod
    from kingems_ray.community.cohort import pfba_problem
    from kingems_ray.community.diets import read_diet
    from kingems_ray.solver.highs import PersistentLP

    db, lib = agora
    samples, _ = match_taxonomy(read_taxonomy(_trio_tax(), rank="strain"), db, rank="strain")
    members = [lib.get(t) for t in samples[0].taxa]
    diet = read_diet("western")
    red = cmod.Community(members, [0.5, 0.3, 0.2], diet)
    saved = cmod._BLOCKS
    cmod._BLOCKS = cmod.BlockStore(maxsize=8)  # no prepare step: the unreduced blocks
    try:
        full = cmod.Community(members, [0.5, 0.3, 0.2], diet)
    finally:
        cmod._BLOCKS = saved
    assert red.solver.n_cols < 0.7 * full.solver.n_cols and red.solver.n_rows < 0.7 * full.solver.n_rows
    blk = red.joint.blocks[0]
    assert blk.zero_cols is not None and blk.zero_cols.size > 0
    assert blk.l1_weight is not None and blk.l1_weight.max() > 1  # merged pathways
    assert red.max_growth()[1] == pytest.approx(full.max_growth()[1], rel=1e-9)
    a, b = red.cooperative_tradeoff(0.5), full.cooperative_tradeoff(0.5)
    np.testing.assert_allclose(a.growth, b.growth, rtol=1e-5, atol=1e-7)
    # the L1 norm of all reactions' fluxes at those growth rates (pFBA): merged columns weigh their pathway
    l1 = [PersistentLP(pfba_problem(c, b.growth)[0]).solve(need_x=False) for c in (red, full)]
    assert l1[0].status == l1[1].status == "optimal"
    assert l1[0].objective == pytest.approx(l1[1].objective, rel=1e-6)
    # knocking out genes whose reactions include dropped columns: skipped there, the same growth as unreduced
    cm = members[0].compiled
    dropped = set(blk.zero_cols.tolist())
    genes = [g for g in cm.gene_ids if set(cm.knockout_columns([g], enzymes=False)) & dropped][:3]
    assert genes  # AGORA models have genes on dead-end reactions
    genes += [g for g in cm.gene_ids if g not in genes][:3]
    for g in genes:
        with red.with_gene_knockout(red.taxa[0], [g]), full.with_gene_knockout(full.taxa[0], [g]):
            assert red.max_growth()[1] == pytest.approx(full.max_growth()[1], rel=1e-7, abs=1e-9)


def test_warm_perturbation_tradeoff_equals_cold(agora):
    """A perturbation solved from the baseline's cuts and bases (bounds changed in place) gives the optimum of a
    cold trade-off on a freshly built, perturbed community, and the same maximal production."""
    from kingems_ray.community.cohort import build_sample, max_production
    from kingems_ray.community.community import Community
    from kingems_ray.community.diets import read_diet

    db, lib = agora
    samples, _ = match_taxonomy(read_taxonomy(_trio_tax(), rank="strain"), db, rank="strain")
    diet = read_diet("western")
    mets = ["ac", "but", "ppa", "h2s"]
    sc = build_sample(samples[0], lib, diet, 0.5, mets)
    assert sc.baseline.state is not None and len(sc.baseline.state.cuts) >= 3 * len(TRIO)
    members = [lib.get(t) for t in samples[0].taxa]
    com = sc.community
    supp = diet.with_changes({"inulin": float(diet.uptake.get("inulin", 0.0)) + 0.05})
    cases = [(com.with_diet(supp), lambda: Community(members, [0.5, 0.3, 0.2], supp)),
             (com.without_taxon(TRIO[0]), None)]
    for ctx, fresh in cases:
        with ctx:
            warm = com.cooperative_tradeoff(0.5, warm=sc.baseline.state, then=lambda mu: max_production(com, mu, mets))
            com.solver.cold_start()
            com._solved = False
            cold = com.cooperative_tradeoff(0.5)  # cold, from the default cuts
            cold_prod = max_production(com, cold.growth, mets)
        assert warm.status == cold.status == "optimal"
        np.testing.assert_allclose(warm.growth, cold.growth, rtol=1e-5, atol=1e-7)
        for m in mets:
            assert warm.after[m] == pytest.approx(cold_prod[m], rel=1e-6, abs=1e-8, nan_ok=True)
        assert np.isfinite([warm.after[m] for m in mets]).sum() >= 2
        if fresh is not None:  # and an independently built community with the perturbation in its diet
            ref = fresh().cooperative_tradeoff(0.5)
            np.testing.assert_allclose(warm.growth.reindex(ref.growth.index), ref.growth, rtol=1e-5, atol=1e-7)


def test_probiotic_from_seeded_cuts_equals_fresh_community(agora, data_dir):
    """A probiotic perturbation (a new community, cutting planes seeded by the baseline's tangents) gives the
    trade-off of an independently built community with the probiotic at 10 %."""
    from kingems_ray.community.cohort import build_sample, perturb_sample
    from kingems_ray.community.community import Community
    from kingems_ray.community.diets import read_diet
    from kingems_ray.community.taxonomy import TaxonModel

    db, lib = agora
    samples, _ = match_taxonomy(read_taxonomy(_trio_tax(), rank="strain"), db, rank="strain")
    diet = read_diet("western")
    sc = build_sample(samples[0], lib, diet, 0.5, ["ac"])
    path = data_dir / "agora" / "models" / "Bifidobacterium_longum_NCC2705.xml.gz"
    g, _ = perturb_sample(sc, [{"kind": "probiotic", "taxon": str(path), "abundance": 0.1}], lib, ["ac"])
    tm = TaxonModel(path.name.split(".")[0], [str(path)], "")
    members = [lib.get(t) for t in samples[0].taxa] + [lib.get(tm)]
    ref = Community(members, [0.45, 0.27, 0.18, 0.1], diet).cooperative_tradeoff(0.5)
    got = g.set_index("taxon")["growth"]
    assert (g["status"] == "optimal").all()
    # the cutting planes' accuracy (~1e-4 relative to the exact min-norm point, see Community.cooperative_tradeoff)
    np.testing.assert_allclose(got.reindex(ref.growth.index), ref.growth, rtol=1e-4, atol=1e-7)
    assert g["community_growth"].iloc[0] == pytest.approx(ref.community_growth, rel=1e-6)


def test_perturbation_production_from_baseline_bases_equals_fresh(agora):
    """Production LPs of a perturbation start from the baseline's bases (dual simplex); the values equal those of a
    freshly built perturbed community whose production LPs start cold (no bases carried)."""
    from kingems_ray.community.cohort import build_sample, max_production, perturb_sample
    from kingems_ray.community.community import Community
    from kingems_ray.community.diets import read_diet

    db, lib = agora
    samples, _ = match_taxonomy(read_taxonomy(_trio_tax(), rank="strain"), db, rank="strain")
    diet = read_diet("western")
    mets = ["ac", "but", "ppa", "h2s"]
    sc = build_sample(samples[0], lib, diet, 0.5, mets)
    assert set(sc.production_bases) == {m for m in mets if np.isfinite(sc.base_production[m])}
    members = [lib.get(t) for t in samples[0].taxa]
    supp = diet.with_changes({"inulin": float(diet.uptake.get("inulin", 0.0)) + 0.05})
    pert = [{"kind": "supplement", "add": {"inulin": 0.05}, "label": "inulin"},
            {"kind": "remove_taxon", "taxon": TRIO[2]}]
    _, prod = perturb_sample(sc, pert, lib, mets)
    fresh = {"inulin": Community(members, [0.5, 0.3, 0.2], supp),
             f"remove {TRIO[2]}": Community(members[:2], [0.5, 0.3], diet)}
    for label, com in fresh.items():
        res = com.cooperative_tradeoff(0.5)
        ref = max_production(com, res.growth, mets)
        got = prod[prod.perturbation == label].set_index("metabolite")["production"]
        assert np.isfinite(got).sum() >= 2
        for m in mets:
            assert got[m] == pytest.approx(ref[m], rel=1e-5, abs=1e-7, nan_ok=True), (label, m)
