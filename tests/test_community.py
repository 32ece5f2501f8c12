"""Communities: agreement with MICOM's cooperative trade-off, perturbations, cross-feeding, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kingems_ray.community.community import Community, run_community
from kingems_ray.community.diets import micom_medium, read_diet
from kingems_ray.community.models import load_member
from kingems_ray.errors import KingemsError

TAXA = ["Abiotrophia_defectiva_ATCC_49176", "Acetivibrio_ethanolgignens_ACET_33324",
        "Acidaminobacter_hydrogenoformans_DSM_2784"]
ABUNDANCES = [0.5, 0.3, 0.2]
MICOM_TAXA = ["Abiotrophia_defectiva_ATCC_49176", "Acetatifactor_muris_GP69", "Acetobacterium_wieringae_DSM_1911"]


@pytest.fixture(scope="module")
def members(data_dir, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return [load_member(data_dir / "agora" / "models" / f"{m}.xml.gz", cache_dir=cache) for m in TAXA]


@pytest.fixture(scope="module")
def micom_members(data_dir, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache_micom")
    return [load_member(data_dir / "agora" / "models" / f"{m}.xml.gz", cache_dir=cache) for m in MICOM_TAXA]


@pytest.fixture(scope="module")
def micom_community(micom_members):
    """MICOM 0.39's community of the same taxa and medium (optlang 'hybrid': HiGHS LP + OSQP QP)."""
    micom = pytest.importorskip("micom")
    members = micom_members
    tax = pd.DataFrame({"id": MICOM_TAXA, "file": [m.source for m in members], "abundance": ABUNDANCES})
    com = micom.Community(tax, solver="hybrid", progress=False)
    # same medium as ours: MICOM's table has AGORA1 ids (EX_glc_m) that AGORA2 taxa lack
    keys = {k for m in members for k in m.ex_key}
    com.medium = {r: f for r, f in micom_medium(read_diet("micom_western"), keys).items() if r in com.reactions}
    return com


@pytest.fixture(scope="module")
def micom_result(micom_community):
    """MICOM's max community growth and cooperative trade-off (0.5)."""
    com = micom_community
    max_growth = com.slim_optimize()
    sol = com.cooperative_tradeoff(fraction=0.5)
    return max_growth, sol


def test_tradeoff_matches_micom(micom_members, micom_result):
    micom_max, sol = micom_result
    com = Community(micom_members, ABUNDANCES, read_diet("micom_western"))
    res = com.cooperative_tradeoff(0.5)
    assert res.ok
    # the LP step is exact on both sides
    assert res.max_community_growth == pytest.approx(micom_max, rel=1e-7)
    if sol.growth_rate < 0.5 * micom_max * (1 - 1e-4):
        pytest.xfail(f"MICOM's OSQP/crossover answer {sol.growth_rate:.6g} violates its own bound "
                     f"{0.5 * micom_max:.6g}")
    micom_result = sol
    ref = micom_result.members["growth_rate"].drop("medium", errors="ignore")
    ours = res.growth.reindex(ref.index)
    # MICOM's QP goes through OSQP (first-order, ~1e-6..1e-4 accuracy): growth rates agree to 2e-3 relative
    np.testing.assert_allclose(ours.to_numpy(), ref.to_numpy(), rtol=2e-3, atol=1e-5)
    assert res.community_growth == pytest.approx(micom_result.growth_rate, rel=1e-3)


def test_minimal_imports_match_micom(micom_members, micom_community):
    """MICOM grow's default exchange step ("minimal imports": ``minimal_medium(..., solution=True)``) at our
    trade-off growth rates: the smallest total import is unique, so both LPs must reach the same value."""
    from micom.media import minimal_medium as micom_minimal_medium

    from kingems_ray.community.medium import minimal_imports

    com = Community(micom_members, ABUNDANCES, read_diet("micom_western"))
    res = com.cooperative_tradeoff(0.5)
    med, x = minimal_imports(com, res.growth, res.community_growth)
    assert med.attrs["status"] == "optimal" and x is not None
    # the flux vector keeps the growth rates and its medium imports are the reported uptakes
    np.testing.assert_allclose([com.joint.growth(x, i) for i in range(3)], res.growth.to_numpy(), rtol=1e-5,
                               atol=1e-6)
    env = pd.Series(x[com.joint.env_col0: com.joint.env_col0 + len(com.joint.env_keys)], index=com.joint.env_keys)
    np.testing.assert_allclose(-env[med["metabolite"]].to_numpy(), med["uptake"].to_numpy(), atol=1e-7)
    with micom_community as mc:
        ref = micom_minimal_medium(mc, community_growth=res.community_growth * (1 - 1e-6),
                                   min_growth=res.growth.reindex([t for t in mc.taxa]).to_numpy() * (1 - 1e-6),
                                   solution=True, atol=1e-6, rtol=1e-6)
    assert ref is not None
    assert med["uptake"].sum() == pytest.approx(float(ref["medium"].sum()), rel=1e-4)

def test_tradeoff_properties(members):
    com = Community(members, ABUNDANCES, "micom_western")
    full = com.cooperative_tradeoff(1.0)
    half = com.cooperative_tradeoff(0.5)
    assert full.community_growth == pytest.approx(full.max_community_growth, rel=1e-6)
    assert half.community_growth == pytest.approx(0.5 * half.max_community_growth, rel=1e-6)
    # the L2 objective spreads growth: never a larger norm than at full community growth
    assert np.linalg.norm(half.growth) <= np.linalg.norm(full.growth) + 1e-9
    # column vector is a feasible flux distribution reproducing the growth rates
    assert np.allclose([com.joint.growth(half.x, i) for i in range(3)], half.growth.to_numpy(), atol=1e-9)


def test_perturbations_and_cross_feeding(members):
    west = read_diet("micom_western")
    res = run_community(
        members, ABUNDANCES, west, 0.5,
        perturbations=[
            {"kind": "remove_taxon", "taxon": TAXA[1]},
            {"kind": "diet", "diet": west.scaled(0.5)},
            {"kind": "gene_knockout", "taxon": TAXA[0], "genes": [members[0].compiled.gene_ids[0]]},
        ],
    )
    assert res["status"] == "optimal"
    p = res["perturbations"]
    removed = p[p["perturbation"] == f"remove {TAXA[1]}"].set_index("taxon")
    assert removed.loc[TAXA[1], "growth_perturbed"] == pytest.approx(0.0, abs=1e-9)
    assert set(p["perturbation"].str.split().str[0]) == {"remove", "diet", "knockout"}
    xf = res["cross_feeding"]
    assert list(xf.columns) == ["metabolite", "producers", "consumers", "produced", "consumed"]
    ex = res["exchanges"]
    assert set(ex["taxon"]) <= set(TAXA)


def test_bad_inputs(members):
    with pytest.raises(KingemsError, match="abundances"):
        Community(members, [1.0, -1.0, 1.0], "western")
    com = Community(members, None, "western")
    with pytest.raises(KingemsError, match="unknown taxon"):
        with com.without_taxon("nobody"):
            pass
    with pytest.raises(KingemsError, match="genes not in"):
        com.knockout_columns(TAXA[0], ["no_such_gene"])
    # a diet of unknown metabolites only: recorded, the community just cannot grow
    starving = read_diet({"EX_unobtainium(e)": 10.0})
    res = Community(members, None, starving).cooperative_tradeoff(0.5, then=lambda mu: ("then", mu.sum()))
    assert res.status in ("optimal", "infeasible")
    if res.status == "optimal":
        assert res.community_growth == pytest.approx(0.0, abs=1e-9)
        assert res.after == ("then", 0.0)  # `then` runs when nothing grows too (production at zero growth)
    assert Community(members, None, starving).joint.unmatched == ["unobtainium"]


def test_cli_community(members, tmp_path):
    from kingems_ray.cli import main

    ab = tmp_path / "ab.csv"
    pd.DataFrame({"model": TAXA, "abundance": ABUNDANCES}).to_csv(ab, index=False)
    out = tmp_path / "out"
    rc = main(["community", *[m.source for m in members], "--abundances", str(ab), "--diet", "micom_western",
               "--out", str(out), "--remove-each", "--cache-dir", str(tmp_path / "c")])
    assert rc == 0
    g = pd.read_parquet(out / "growth.parquet")
    assert list(g["taxon"]) == TAXA
    assert len(pd.read_parquet(out / "perturbations.parquet")) == 9


# -- the trade-off QP: cutting planes (default) against Wolfe's min-norm point, and the LP kept in shape ------------
@pytest.fixture(scope="module")
def textbook_members(tmp_path_factory):
    """Three E. coli core variants (bundled with cobrapy, no reference data needed) that compete for glucose."""
    cobra = pytest.importorskip("cobra")
    tmp = tmp_path_factory.mktemp("textbook")
    base = cobra.io.load_model("textbook")
    variants = {"full": [], "no_pgi": ["PGI"], "no_pfl_ppc": ["PFL", "PPC"]}
    out = []
    for name, kos in variants.items():
        m = base.copy()
        for r in kos:
            m.reactions.get_by_id(r).knock_out()
        m.id = name
        f = tmp / f"{name}.xml"
        cobra.io.write_sbml_model(m, str(f))
        out.append(load_member(f, cache_dir=tmp / "cache"))
    return out


TEXTBOOK_DIET = {"glc__D": 10.0, "o2": 15.0, "nh4": 1000.0, "pi": 1000.0, "h2o": 1000.0, "h": 1000.0,
                 "co2": 1000.0}


@pytest.mark.parametrize("fraction", [0.3, 0.5, 0.9])
def test_cutting_planes_match_wolfe(textbook_members, fraction):
    """Two exact algorithms for the same QP (Kelley's cutting planes, Wolfe's min-norm point) agree, and the
    community LP keeps its shape, bounds and costs' size after the cutting planes' added rows and columns."""
    com = Community(textbook_members, [0.5, 0.3, 0.2], TEXTBOOK_DIET)
    n_cols, n_rows = com.solver.n_cols, com.solver.n_rows
    cut = com.cooperative_tradeoff(fraction)
    assert (com.solver.n_cols, com.solver.n_rows) == (n_cols, n_rows)
    wolfe = com.cooperative_tradeoff(fraction, method="wolfe")
    assert cut.ok and wolfe.ok
    assert cut.max_community_growth == pytest.approx(wolfe.max_community_growth, rel=1e-9)
    assert cut.community_growth == pytest.approx(fraction * cut.max_community_growth, rel=1e-6)
    assert cut.growth.gt(1e-6).sum() >= 2  # a real trade-off: more than one taxon grows
    np.testing.assert_allclose(cut.growth.to_numpy(), wolfe.growth.to_numpy(), rtol=1e-4, atol=1e-6)
    # the returned column vector is a feasible point of the community LP with those growth rates
    assert cut.x.shape == (n_cols,)
    assert np.allclose(com._growths(cut.x), cut.growth.to_numpy(), atol=1e-9)
    lb, ub = com.solver.col_bounds()
    assert np.all(cut.x >= lb - 1e-7) and np.all(cut.x <= ub + 1e-7)
    A = com.joint.lp.A
    assert np.all(A @ cut.x >= com.joint.lp.row_lb - 1e-6) and np.all(A @ cut.x <= com.joint.lp.row_ub + 1e-6)


def test_tradeoff_method_is_checked(textbook_members):
    with pytest.raises(KingemsError, match="unknown trade-off method"):
        Community(textbook_members, None, TEXTBOOK_DIET).cooperative_tradeoff(0.5, method="osqp")
