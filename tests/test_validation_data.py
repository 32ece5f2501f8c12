"""Truth tables from the reference data: counts from the sources' SOURCES.md, mappings, joins, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kingems_ray.analysis import validation_data as vd
from kingems_ray.errors import KingemsError
from kingems_ray.gem.io import load_model


def test_keio_fitness_drops_genes_without_data(data_dir):
    f = vd.ecoli_keio_fitness()
    # 4,691 genes, 903 of them all-zero (no data): 3,788 remain, 10 carbon sources each (one NaN value dropped)
    assert f["gene_id"].nunique() == 3788
    assert set(f["condition"]) == set(vd.KEIO_CONDITIONS)
    assert len(f) == 37880
    per_gene = f.groupby("gene_id")["fitness"].apply(lambda s: (s == 0).all())
    assert not per_gene.any()
    assert f["grows"].equals(f["fitness"] > -2)
    with_lb = vd.ecoli_keio_fitness(conditions=None)
    assert "LB" in set(with_lb["condition"]) and (with_lb.loc[with_lb["condition"] == "LB", "exchange"] == "").all()


def test_keio_carbon_mapping(data_dir):
    ex = vd.keio_carbon_exchanges()
    assert ex == {
        "Glucose": "EX_glc__D_e", "Glucosamine": "EX_gam_e", "Glycerol": "EX_glyc_e", "Xylose": "EX_xyl__D_e",
        "Succinate": "EX_succ_e", "Mannose": "EX_man_e", "Galactose": "EX_gal_e", "Fructose": "EX_fru_e",
        "Acetate": "EX_ac_e", "Pyruvate": "EX_pyr_e",
    }
    m9 = vd.ecoli_m9_base_medium()
    assert "EX_nh4_e" in m9 and "EX_o2_e" in m9 and "EX_glc__D_e" not in m9 and len(m9) == 23


def test_ecoli_glucose_essential_and_truth(data_dir):
    ess = vd.ecoli_glucose_essential()
    assert len(ess) == 406 and all(g.startswith("b") for g in ess)
    t = vd.essentiality_truth(["b0001", "b3172", "b9999"], ess, "glucose")
    assert t["grows"].tolist() == [True, False, True]  # argG (b3172) is essential on M9


def test_selongatus_mapping_reproduces_reference_gene_count(data_dir):
    m = load_model(data_dir / "bigg/iJB785.xml.gz")
    t = vd.selongatus_fitness_bg11(m)
    assert len(t) == 339 and t["gene_id"].is_unique
    assert t["gene_id"].str.startswith("SYNPCC7942_RS").all()
    assert int((~t["grows"]).sum()) == 26
    raw = vd.selongatus_fitness_bg11()
    assert len(raw) == 1819 and raw["gene_id"].str.startswith("Synpcc7942_").all()


def test_putida_tables(data_dir):
    ess = vd.putida_essential_nogales2020()
    assert len(ess["LB"]) == 114 and len(ess["glucose"]) == 78 and len(ess["model_genes"]) == 1445
    lb = vd.putida_knockouts_lb()
    assert len(lb) == 54 and lb["gene_id"].str.startswith("PP_").all()
    assert int(lb["grows"].sum()) == 9 and int((lb["grows"] == lb["model_grows"]).sum()) == 46
    assert len(ess["prcc"]) == 2893 and len(ess["prcc_in_model"]) == 863
    rates = vd.putida_growth_rates()
    assert set(rates["source"]) == {"Gluconate", "Glucose"} and (rates["growth"] > 0.4).all()
    sp = vd.putida_specific_phenotypes()
    assert sp["condition"].nunique() == 54 and sp["gene_id"].str.startswith("PP_").all()
    assert np.allclose(sp["grows"], sp["fitness"] > -2)


def test_join_and_truth_errors(data_dir):
    ko = pd.DataFrame({"gene_id": ["b0002", "b0003"], "condition": ["Acetate", "Acetate"], "growth": [0.1, 0.0]})
    j = vd.join_knockouts(ko, vd.ecoli_keio_fitness())
    assert len(j) == 2 and {"grows", "fitness"} <= set(j.columns)
    with pytest.raises(KingemsError, match="share no"):
        vd.join_knockouts(ko.assign(condition="Nope"), vd.ecoli_keio_fitness())
    with pytest.raises(KingemsError, match="unknown truth set"):
        vd.load_truth("nope")
    with pytest.raises(KingemsError, match="needs the model"):
        vd.load_truth("ecoli-glc-essential")


def test_condition_map_inline_file_and_errors(tmp_path):
    """Inline JSON of any length, a JSON file, and clear errors for anything else."""
    from kingems_ray.analysis.validation_data import parse_condition_map

    truth = pd.DataFrame({"gene_id": ["g"], "condition": ["Glucose"], "grows": [True]})
    long = {f"EX_cond_{i}_e": f"Condition number {i}" for i in range(40)}  # > 255 characters inline
    assert parse_condition_map(json.dumps(long), truth) == long
    f = tmp_path / "map.json"
    f.write_text(json.dumps({"a": "b"}))
    assert parse_condition_map(str(f), truth) == {"a": "b"}
    assert parse_condition_map(None, truth) is None
    for bad, msg in [("{not json", "not a JSON object"), ("no_such_file.json", "neither a JSON object nor a file"),
                     (str(tmp_path / "list.json"), "not a JSON object")]:
        if bad.endswith("list.json"):
            Path(bad).write_text("[1, 2]")
        with pytest.raises(KingemsError, match=msg):
            parse_condition_map(bad, truth)
