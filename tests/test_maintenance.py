"""Maintenance sweep: in-place NGAM/GAM edits against cobrapy and against a fresh compile of the edited model."""

from __future__ import annotations

import pandas as pd
import pytest

from kingems_ray.analysis.maintenance import gam_edit, maintenance_sweep, read_sweep_config
from kingems_ray.cli import main as cli_main
from kingems_ray.ec.build import build
from kingems_ray.ec.compile import compile_model
from kingems_ray.ec.problem import Problem
from kingems_ray.errors import KingemsError

HYD = {"atp_c": -1.0, "h2o_c": -1.0, "adp_c": 1.0, "pi_c": 1.0, "h_c": 1.0}


def _edited(model, ngam, gam, base_gam):
    """A cobra copy with the same NGAM/GAM edits, made the cobrapy way."""
    m = model.copy()
    m.reactions.ATPM.lower_bound = ngam
    bio = m.reactions.get_by_id("Biomass_Ecoli_core")
    d = gam - base_gam
    bio.add_metabolites({m.metabolites.get_by_id(k): s * d for k, s in HYD.items()}, combine=True)
    return m


@pytest.fixture(scope="module")
def core(data_dir):
    return build("e_coli_core", data_dir / "kingems" / "e_coli_core_fva_ablation" / "tuned_data.csv", level="L4")


NGAM = [0.0, 8.39, 25.0]
GAM = [30.0, 59.81, 100.0]


def test_plain_grid_matches_cobrapy(core):
    plain = build(core.model)
    grid = maintenance_sweep(plain.compiled, NGAM, GAM)
    assert grid.attrs["base_gam"] == pytest.approx(59.81) and grid.attrs["base_ngam"] == pytest.approx(8.39)
    assert len(grid) == 9
    for row in grid.itertuples():
        m = _edited(core.model, row.ngam, row.gam, 59.81)
        assert row.growth == pytest.approx(m.slim_optimize(), abs=1e-7), (row.ngam, row.gam)
    # growth falls with both kinds of maintenance
    t = grid.pivot(index="ngam", columns="gam", values="growth")
    assert (t.diff(axis=0).iloc[1:] < 0).all().all() and (t.diff(axis=1).iloc[:, 1:] < 0).all().all()


def test_ec_grid_matches_fresh_compile(core):
    p = Problem(core.compiled)
    g0 = p.growth()
    grid = maintenance_sweep(p, NGAM, GAM)
    for row in grid.iloc[[0, 4, 8, 2]].itertuples():
        m = _edited(core.model, row.ngam, row.gam, 59.81)
        fresh = Problem(compile_model(m, core.kcats, level="L4")).growth()
        assert row.growth == pytest.approx(fresh, abs=1e-7)
    # the problem is left as it was
    assert p.growth() == pytest.approx(g0, abs=1e-9)
    assert p.reaction_bounds("ATPM") == (8.39, 1000.0)
    base = grid[(grid.ngam == 8.39) & (grid.gam == 59.81)].growth.iloc[0]
    assert base == pytest.approx(g0, abs=1e-9)


def test_basis_and_errors(core, data_dir):
    e = gam_edit(core.compiled, basis="adp")
    assert e.base_gam == pytest.approx(59.81)
    with pytest.raises(KingemsError, match="not in model"):
        maintenance_sweep(core.compiled, [1.0], [50.0], ngam_reaction="NOPE")
    with pytest.raises(KingemsError, match="hydrolysis"):
        gam_edit(core.compiled, biomass="PFK")
    with pytest.raises(KingemsError, match="at least one"):
        maintenance_sweep(core.compiled, [], [50.0])
    ngam, gam, rxn = read_sweep_config(data_dir / "kingems" / "configs" / "iML1515_GEM.json")
    assert ngam == [0, 1, 2, 3, 4, 5, 6, 7] and 75.55 in gam and rxn == "ATPM"


def test_cli(tmp_path, capsys):
    out = tmp_path / "grid.parquet"
    assert cli_main(["maintenance", "e_coli_core", "--ngam", "0,8.39", "--gam", "40,59.81", "--target-growth",
                     "0.9", "--out", str(out)]) == 0
    grid = pd.read_parquet(out)
    assert len(grid) == 4 and {"ngam", "gam", "growth", "status"} <= set(grid.columns)
    assert "closest to 0.9" in capsys.readouterr().out
    assert cli_main(["maintenance", "e_coli_core", "--out", str(out)]) == 2
