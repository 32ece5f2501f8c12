"""Diets: file formats, AGORA1/AGORA2 id mapping, in-place application, growth checks against cobrapy."""

from __future__ import annotations

import numpy as np
import pytest

from kingems_ray.community.diets import Diet, apply_diet, check_diet, read_diet, resolve_keys
from kingems_ray.community.models import exchange_key, load_member
from kingems_ray.ec.problem import Problem
from kingems_ray.errors import KingemsError

GROWER = "Abiotrophia_defectiva_ATCC_49176"
NON_GROWER = "Acaricomes_phytoseiuli_DSM_14247"  # no growth on the Western diet


@pytest.fixture(scope="module")
def agora(data_dir, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    d = data_dir / "agora"
    return {
        "grower": load_member(d / "models" / f"{GROWER}.xml.gz", cache_dir=cache),
        "non_grower": load_member(d / "models" / f"{NON_GROWER}.xml.gz", cache_dir=cache),
        "ecoli1": load_member(d / "agora1" / "Escherichia_coli_str_K_12_substr_MG1655.xml.gz", cache_dir=cache),
        "dir": d,
    }


def test_exchange_key_spellings():
    for rid in ("EX_glc_D(e)", "EX_glc_D[e]", "EX_glc_D_LPAREN_e_RPAREN_", "EX_glc_D_e", "EX_glc_D_m"):
        assert exchange_key(rid) == "glc_D"


def test_read_all_diet_formats(data_dir):
    west = read_diet("western")
    assert len(west) == 166
    # AGORA1 id EX_glc(e) maps to the AGORA2 key glc_D
    assert west.uptake["glc_D"] == pytest.approx(0.148986)
    assert "glc" not in west.uptake
    for name in ("eu_average", "micom_western", "micom_agora103_western", "micom_high_fiber",
                 "dynamicgut_unhealthy"):
        d = read_diet(name)
        assert len(d) > 30 and all(v > 0 for v in d.uptake.values())
    vmh = read_diet(data_dir / "agora" / "diets" / "micom_media_vmh_eu_average.tsv")
    assert "etoh" in vmh.uptake
    json_diet = read_diet("dynamicgut_unhealthy")
    assert json_diet.uptake["ascb_L"] == pytest.approx(0.745862875)


def test_bad_diet_inputs(tmp_path):
    with pytest.raises(KingemsError, match="not found"):
        read_diet(tmp_path / "nope.tsv")
    bad = tmp_path / "bad.tsv"
    bad.write_text("a\tb\n1\t2\n")
    with pytest.raises(KingemsError, match="layout"):
        read_diet(bad)


def test_fast_reader_equals_cobrapy(agora):
    from kingems_ray.ec.compile import compile_model
    from kingems_ray.gem.io import load_model

    mem = agora["grower"]
    cm = compile_model(load_model(mem.source))
    fast = mem.compiled
    assert fast.rxn_ids == cm.rxn_ids and fast.met_ids == cm.met_ids and fast.gene_ids == cm.gene_ids
    assert abs(fast.lp.A - cm.lp.A).max() == 0
    assert np.array_equal(fast.lp.col_lb, cm.lp.col_lb) and np.array_equal(fast.lp.col_ub, cm.lp.col_ub)
    assert fast.objective_rxn == cm.objective_rxn and fast.rxn_clauses == cm.rxn_clauses


@pytest.mark.parametrize("which", ["grower", "ecoli1"])
def test_apply_diet_matches_cobrapy(agora, which):
    """Growth on the Western diet through Problem.set_reaction_bounds equals cobrapy FBA with the same bounds."""
    from kingems_ray.gem.io import load_model

    mem = agora[which]
    diet = read_diet("western")
    prob = Problem(mem.compiled)
    rep = apply_diet(prob, mem, diet)
    ours = prob.optimize(need_x=False).objective
    model = load_model(mem.source)
    mapping, _ = resolve_keys(diet, [exchange_key(r) for r in mem.exchange_rxn_ids()])
    inv = {v: k for k, v in mapping.items()}
    for rid, key in zip(mem.exchange_rxn_ids(), mem.ex_key):
        r = model.reactions.get_by_id(rid)
        from kingems_ray.community.diets import canonical_key

        ck = canonical_key(key)
        up = diet.uptake.get(inv.get(ck, ck), 0.0)
        r.bounds = (-up, r.upper_bound)
    ref = model.slim_optimize()
    assert ours == pytest.approx(ref, rel=1e-6, abs=1e-9)
    assert ours > 1e-3
    # AGORA1 (glc) and AGORA2 (glc_D) spellings both match glucose
    assert "glc_D" not in rep.unmatched


def test_unknown_components_and_non_grower(agora):
    diet = read_diet("western").with_changes({"EX_notametabolite(e)": 5.0, "EX_fake_LPAREN_e_RPAREN_": 1.0})
    table, unmatched = check_diet([agora["grower"], agora["non_grower"]], diet)
    assert {"notametabolite", "fake"} <= set(unmatched)
    row = table.set_index("model")
    assert bool(row.loc[GROWER, "grows"]) and not bool(row.loc[NON_GROWER, "grows"])
    assert row.loc[NON_GROWER, "status"] == "optimal"  # recorded, not an error


def test_diet_helpers():
    d = Diet("x", {"glc_D": 1.0, "ac": 2.0})
    assert d.scaled(2).uptake == {"glc_D": 2.0, "ac": 4.0}
    assert "ac" not in d.with_changes({"EX_ac(e)": 0}).uptake
    mapping, unmatched = resolve_keys(Diet("y", {"ala": 1.0, "zz": 1.0}), {"ala_L", "glc_D"})
    assert mapping == {"ala": "ala_L"} and unmatched == ["zz"]
