"""Pairwise screens: classification rules, protocol checks against cobrapy, bad input, resumable sweeps."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from kingems_ray.community.diets import read_diet
from kingems_ray.community.models import load_member
from kingems_ray.community.pairwise import classify, run_pair, single_growth
from kingems_ray.community.screen import screen_pairs

MODELS = [
    "Abiotrophia_defectiva_ATCC_49176",
    "Acetivibrio_ethanolgignens_ACET_33324",
    "Acidaminobacter_hydrogenoformans_DSM_2784",
    "Acaricomes_phytoseiuli_DSM_14247",  # cannot grow on the Western diet
]


@pytest.fixture(scope="module")
def members(data_dir, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return [load_member(data_dir / "agora" / "models" / f"{m}.xml.gz", cache_dir=cache) for m in MODELS]


@pytest.mark.parametrize(
    "pa,pb,sa,sb,expected",
    [
        (1.0, 1.0, 1.0, 1.05, ("Neutralism", "Neutralism", "Neutralism")),
        (1.5, 1.0, 1.0, 1.0, ("Commensalism_Taker", "Commensalism_Giver", "Commensalism")),
        (1.0, 0.5, 1.0, 1.0, ("Amensalism_Unaffected", "Amensalism_Affected", "Amensalism")),
        (1.2, 1.2, 1.0, 1.0, ("Mutualism", "Mutualism", "Mutualism")),
        (0.5, 1.5, 1.0, 1.0, ("Parasitism_Giver", "Parasitism_Taker", "Parasitism")),
        (0.5, 0.5, 1.0, 1.0, ("Competition", "Competition", "Competition")),
        # growth from nothing counts as an increase (x/0 = inf, as in MATLAB)
        (0.2, 1.0, 0.0, 1.0, ("Commensalism_Taker", "Commensalism_Giver", "Commensalism")),
        # exactly on the band edge: the Toolbox's strict tests fit no case
        (1.1, 1.0, 1.0, 1.0, ("No_Result", "No_Result", "No_Result")),
    ],
)
def test_classify(pa, pb, sa, sb, expected):
    assert classify(pa, pb, sa, sb) == expected


def _cobra_growth_on_diet(path, diet):
    """Independent reference: cobrapy FBA with the diet on the model's own exchanges."""
    from kingems_ray.community.diets import canonical_key, resolve_keys
    from kingems_ray.community.models import exchange_key
    from kingems_ray.gem.io import load_model

    model = load_model(path)
    ex = [r for r in model.exchanges if r.id.startswith("EX_") and "biomass" not in r.id]
    keys = [canonical_key(exchange_key(r.id)) for r in ex]
    mapping, _ = resolve_keys(diet, keys)
    inv = {v: k for k, v in mapping.items()}
    for r, k in zip(ex, keys):
        r.bounds = (-diet.uptake.get(inv.get(k, k), 0.0), 1000.0)
    return model.slim_optimize()


def test_single_growth_matches_cobrapy(members):
    diet = read_diet("western")
    m = members[0]
    uncoupled = single_growth(m, diet, coupling=None)
    assert uncoupled.growth == pytest.approx(_cobra_growth_on_diet(m.source, diet), rel=1e-6)
    coupled = single_growth(m, diet)
    assert coupled.status == "optimal" and coupled.growth <= uncoupled.growth + 1e-9


def test_pair_protocol(members):
    diet = read_diet("western")
    a, b = members[0], members[1]
    row = run_pair(a, b, diet)
    assert row["status"] == "optimal"
    assert row["growth_a_paired"] >= 0.001 - 1e-9 and row["growth_b_paired"] >= 0.001 - 1e-9
    assert classify(row["growth_a_paired"], row["growth_b_paired"], row["growth_a_alone"],
                    row["growth_b_alone"])[2] == row["interaction"]
    # the same pair in reverse order gives the same joint growth
    rev = run_pair(b, a, diet)
    assert rev["growth_a_paired"] + rev["growth_b_paired"] == pytest.approx(
        row["growth_a_paired"] + row["growth_b_paired"], rel=1e-6)


def test_infeasible_pair_recorded(members):
    row = run_pair(members[0], members[3], "western")
    assert row["interaction"] == "Infeasible" and "paired infeasible" in row["status"]
    assert row["growth_b_alone"] == 0.0 and math.isnan(row["growth_a_paired"])


def test_unknown_diet_components_not_fatal(members):
    diet = read_diet("western").with_changes({"EX_unobtainium(e)": 10.0})
    row = run_pair(members[0], members[1], diet)
    assert row["status"] == "optimal"


def test_screen_resumable_and_parallel_equals_serial(members, tmp_path):
    diet = read_diet("western")
    out = tmp_path / "pairs.parquet"
    t1, s1 = screen_pairs(members[:3], diet, out, processes=1, chunk=1, progress=False)
    assert len(t1) == 3 and s1["n_run"] == 3
    t2, s2 = screen_pairs(members[:3], diet, out, processes=1, chunk=1, progress=False)
    assert s2["n_run"] == 0 and len(t2) == 3
    out2 = tmp_path / "pairs_par.parquet"
    t3, _ = screen_pairs(members[:3], diet, out2, processes=2, chunk=1, progress=False)
    key = ["model_a", "model_b"]
    a = t1.sort_values(key).reset_index(drop=True)
    b = t3.sort_values(key).reset_index(drop=True)
    assert list(a["interaction"]) == list(b["interaction"])
    pd.testing.assert_series_equal(a["growth_a_alone"], b["growth_a_alone"], rtol=1e-9)
    for col in ("model_a", "model_b", "growth_a_alone", "growth_b_alone", "growth_a_paired", "growth_b_paired",
                "interaction"):
        assert col in t1.columns


def test_cli_pairwise(members, tmp_path):
    from kingems_ray.cli import main

    out = tmp_path / "cli.parquet"
    rc = main(["pairwise", members[0].source, members[1].source, "--diet", "western", "--out", str(out),
               "--cache-dir", str(tmp_path / "c")])
    assert rc == 0
    df = pd.read_parquet(out)
    assert len(df) == 1 and df["interaction"].iloc[0] != ""
    rc = main(["pairwise", str(tmp_path / "missing.xml"), "--out", str(out)])
    assert rc == 2
