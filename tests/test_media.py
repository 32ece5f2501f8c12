"""Media applied in place: same growth as cobrapy's model.medium, restored on exit, bad input reported."""

from __future__ import annotations

import pytest

from kingems_ray.ec.build import build
from kingems_ray.ec.problem import Problem
from kingems_ray.errors import KingemsError
from kingems_ray.gem.media import (
    apply_medium,
    carbon_source_medium,
    exchange_orientation,
    medium_applied,
    read_media,
    write_media,
)


@pytest.fixture(scope="module")
def core():
    return build("e_coli_core")


def test_exchanges_found(core):
    ex = exchange_orientation(core.compiled)
    assert set(ex) == {r.id for r in core.model.exchanges}
    assert all(v == -1.0 for v in ex.values())


@pytest.mark.parametrize("carbon", ["EX_ac_e", "EX_fru_e", "EX_succ_e", "EX_glc__D_e"])
def test_carbon_source_growth_equals_cobrapy(core, carbon):
    med = carbon_source_medium(core.model, None, carbon, uptake=8)
    assert med[carbon] == 8 and (carbon == "EX_glc__D_e" or "EX_glc__D_e" not in med)
    p = Problem(core.compiled)
    rep = apply_medium(p, med)
    assert rep.unknown == [] and rep.n_set == len(med)
    m = core.model.copy()
    m.medium = med
    assert p.growth() == pytest.approx(m.slim_optimize(), abs=1e-7)


def test_context_manager_restores_bounds(core):
    p = Problem(core.compiled)
    before = {r: p.reaction_bounds(r) for r in core.compiled.rxn_ids}
    g0 = p.growth()
    with medium_applied(p, carbon_source_medium(core.model, None, "EX_ac_e")) as rep:
        assert rep.n_closed == 1  # glucose
        assert p.reaction_bounds("EX_glc__D_e") == (0.0, 1000.0)
        assert 0 < p.growth() < g0
    assert {r: p.reaction_bounds(r) for r in core.compiled.rxn_ids} == before
    assert p.growth() == pytest.approx(g0, abs=1e-9)


def test_unknown_exchange_is_counted_not_fatal(core):
    p = Problem(core.compiled)
    rep = apply_medium(p, {"EX_glc__D_e": 5, "EX_o2_e": 1000, "EX_nonsense_e": 3}, close_others=False)
    assert rep.unknown == ["EX_nonsense_e"] and rep.n_set == 2
    assert "EX_nonsense_e" in rep.summary()
    assert p.reaction_bounds("EX_glc__D_e")[0] == -5


def test_flux_bound_pairs_and_bad_uptake(core):
    p = Problem(core.compiled)
    apply_medium(p, {"EX_glc__D_e": (-3.0, None)}, close_others=False)
    assert p.reaction_bounds("EX_glc__D_e") == (-3.0, 1000.0)
    with pytest.raises(KingemsError, match="uptake rates are >= 0"):
        apply_medium(p, {"EX_glc__D_e": -3.0})


def test_carbon_source_unknown_exchange(core):
    with pytest.raises(KingemsError, match="EX_xyl__D_e"):
        carbon_source_medium(core.model, None, "EX_xyl__D_e")


def test_media_csv_roundtrip_and_errors(core, tmp_path):
    media = {"glc": carbon_source_medium(core.model, None, "EX_glc__D_e"),
             "ac": carbon_source_medium(core.model, None, "EX_ac_e")}
    f = tmp_path / "media.csv"
    write_media(media, f)
    back = read_media(f)
    assert list(back) == ["glc", "ac"]
    assert back["ac"]["EX_ac_e"] == (-10.0, None)
    p = Problem(core.compiled)
    with medium_applied(p, back["ac"]):
        g_csv = p.growth()
    with medium_applied(p, media["ac"]):
        assert p.growth() == pytest.approx(g_csv, abs=1e-9)
    bad = tmp_path / "bad.csv"
    bad.write_text("condition,reaction\nx,EX_ac_e\n")
    with pytest.raises(KingemsError, match="lower_bound"):
        read_media(bad)
    bad.write_text("condition,reaction_id,lower_bound,upper_bound\nx,EX_ac_e,-1,-5\n")
    with pytest.raises(KingemsError, match="lower_bound > upper_bound"):
        read_media(bad)
    with pytest.raises(KingemsError, match="not found"):
        read_media(tmp_path / "missing.csv")
