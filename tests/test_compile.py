"""Compilation to an LP: hand-checkable toy models, ablation levels, the kinGEMs reference formulation."""

from __future__ import annotations

import cobra
import numpy as np
import pandas as pd
import pytest

from kingems_ray.analysis.fva import flux_variability
from kingems_ray.ec.compile import LEVELS, compile_model
from kingems_ray.ec.irreversible import reference_variability, to_irreversible
from kingems_ray.ec.kcats import from_kingems_reference, match_to_model, validate_table
from kingems_ray.ec.problem import Problem
from kingems_ray.errors import KingemsError, ModelLoadError


def toy(rule1: str = "g1", rule2: str = "", reversible: bool = False) -> cobra.Model:
    """EX_A (uptake <= 10) -> A --R1--> B --R2--> C --BIO--> ; R1 carries the enzyme constraint."""
    m = cobra.Model("toy")
    a, b, c = (cobra.Metabolite(x, compartment="c") for x in "ABC")
    ex = cobra.Reaction("EX_A", lower_bound=-10, upper_bound=0)
    ex.add_metabolites({a: -1})
    r1 = cobra.Reaction("R1", lower_bound=-1000 if reversible else 0, upper_bound=1000)
    r1.add_metabolites({a: -1, b: 1})
    r2 = cobra.Reaction("R2", lower_bound=0, upper_bound=1000)
    r2.add_metabolites({b: -1, c: 1})
    bio = cobra.Reaction("BIO", lower_bound=0, upper_bound=1000)
    bio.add_metabolites({c: -1})
    m.add_reactions([ex, r1, r2, bio])
    r1.gene_reaction_rule = rule1
    r2.gene_reaction_rule = rule2
    m.objective = "BIO"
    return m


def kc(rows):
    return pd.DataFrame(rows, columns=["reaction_id", "gene_id", "direction", "kcat", "kcat_std", "mw", "source"])


def growth(model, table, level="L4", pool=0.01, **kw):
    return Problem(compile_model(model, table, level=level, pool=pool, **kw)).growth()


# kcat 1/s = 3600/h, MW 36 kDa, pool 0.01 g/gDW -> E <= 0.01/36 mmol/gDW -> v <= 3600 * 0.01/36 = 1.0
def test_single_enzyme_cap_gives_known_growth():
    m = toy("g1")
    t = kc([("R1", "g1", "both", 1.0, np.nan, 36000.0, "t")])
    assert growth(m, None, "L1") == pytest.approx(10.0)
    for level in ("L2", "L3a", "L3b", "L3c", "L4"):
        assert growth(m, t, level) == pytest.approx(1.0, rel=1e-9)
    # the cap scales with kcat and pool
    t2 = t.assign(kcat=2.5)
    assert growth(m, t2, "L2") == pytest.approx(2.5)
    assert growth(m, t, "L2", pool=0.02) == pytest.approx(2.0)


def test_isoenzymes_are_alternatives():
    # g1: 1/s & 36 kDa -> 1.0 per 0.01 g;  g2: 3/s & 54 kDa -> 2.0 per 0.01 g: the best enzyme takes the pool
    m = toy("g1 or g2")
    t = kc([("R1", "g1", "both", 1.0, np.nan, 36000.0, "t"), ("R1", "g2", "both", 3.0, np.nan, 54000.0, "t")])
    assert growth(m, t, "L2") == pytest.approx(10.0)  # isoenzymes not constrained at L2
    assert growth(m, t, "L3a") == pytest.approx(2.0)
    assert growth(m, t, "L4") == pytest.approx(2.0)


def test_complex_needs_every_subunit():
    # v/k1*MW1 + v/k2*MW2 <= pool: v*(36000/3600 + 54000/(3*3600)) / 1000 <= 0.01 -> v = 0.01*1000/15 = 2/3
    m = toy("g1 and g2")
    t = kc([("R1", "g1", "both", 1.0, np.nan, 36000.0, "t"), ("R1", "g2", "both", 3.0, np.nan, 54000.0, "t")])
    assert growth(m, t, "L3a") == pytest.approx(10.0)
    assert growth(m, t, "L3b") == pytest.approx(2 / 3)
    assert growth(m, t, "L4") == pytest.approx(2 / 3)


def test_promiscuous_enzyme_is_shared():
    # g1 runs R1 (1/s) and R2 (2/s): v/3600 + v/7200 <= E1 = 0.01/36 -> v = 2/3; per-reaction rows alone: 1.0
    m = toy("g1", "g1")
    t = kc([("R1", "g1", "both", 1.0, np.nan, 36000.0, "t"), ("R2", "g1", "both", 2.0, np.nan, 36000.0, "t")])
    assert growth(m, t, "L2") == pytest.approx(1.0)
    assert growth(m, t, "L3c") == pytest.approx(2 / 3)
    assert growth(m, t, "L4") == pytest.approx(2 / 3)


def test_reverse_direction_has_its_own_kcat():
    m = toy("g1", reversible=True)
    m.reactions.EX_A.bounds = (0, 0)  # feed B instead, and run R1 backwards into A
    ex_b = cobra.Reaction("EX_B", lower_bound=-10, upper_bound=0)
    ex_b.add_metabolites({m.metabolites.B: -1})
    sink = cobra.Reaction("SINK_A", lower_bound=0, upper_bound=1000)
    sink.add_metabolites({m.metabolites.A: -1, m.metabolites.C: 1})
    m.add_reactions([ex_b, sink])
    m.reactions.R2.bounds = (0, 0)
    t = kc([("R1", "g1", "forward", 1.0, np.nan, 36000.0, "t"), ("R1", "g1", "reverse", 0.5, np.nan, 36000.0, "t")])
    assert growth(m, t, "L2") == pytest.approx(0.5)
    cm = compile_model(m, t, level="L2", pool=0.01)
    assert cm.rev_col[cm.rxn_ids.index("R1")] >= 0


def test_set_kcat_edits_in_place():
    m = toy("g1")
    t = kc([("R1", "g1", "both", 1.0, np.nan, 36000.0, "t")])
    p = Problem(compile_model(m, t, level="L4", pool=0.01))
    p.set_kcat(0, 4.0)
    assert p.growth() == pytest.approx(4.0)


def test_kingems_formulation_on_toys():
    t = kc([("R1", "g1", "both", 1.0, np.nan, 36000.0, "t"), ("R1", "g2", "both", 3.0, np.nan, 54000.0, "t")])
    # isoenzymes: the reference adds k1*E1 + k2*E2 at L3a (same optimum) ...
    assert growth(toy("g1 or g2"), t, "L3a", formulation="kingems") == pytest.approx(2.0)
    # ... but its promiscuous rows make each isoenzyme carry the whole flux (like a complex): 2/3
    assert growth(toy("g1 or g2"), t, "L3c", formulation="kingems") == pytest.approx(2 / 3)
    # complexes: every subunit capped with the *largest* kcat of the complex: v <= 3*3600*E_g for g1 and g2
    # -> v*(36000 + 54000)/(3*3600*1000) <= 0.01 -> v = 1.2
    assert growth(toy("g1 and g2"), t, "L3b", formulation="kingems") == pytest.approx(1.2)


def test_errors():
    m = toy("g1")
    with pytest.raises(KingemsError, match="unknown ablation level"):
        compile_model(m, None, level="L9")
    with pytest.raises(KingemsError, match="unknown formulation"):
        compile_model(m, None, formulation="nope")
    m.objective = {}
    with pytest.raises(ModelLoadError, match="no objective"):
        compile_model(m, None)
    assert set(LEVELS) == {"L1", "L2", "L3a", "L3b", "L3c", "L4"}


def test_to_irreversible_and_reference_fvi():
    m = cobra.io.load_model("textbook")
    irr, _ = to_irreversible(m)
    assert all(r.lower_bound >= 0 for r in irr.reactions)
    assert irr.slim_optimize() == pytest.approx(m.slim_optimize())
    fva = pd.DataFrame(
        {"reaction_id": ["A", "A_reverse", "B"], "minimum": [0.0, 0.0, -2.0], "maximum": [1000.0, 1000.0, 3.0]}
    )
    fvi = reference_variability(fva)
    assert fvi["A"] == 2000.0 and fvi["B"] == 5.0 and len(fvi) == 2


@pytest.fixture(scope="module")
def reference(data_dir):
    d = data_dir / "kingems/e_coli_core_fva_ablation"
    m = cobra.io.load_model("textbook")
    table, _ = match_to_model(
        validate_table(from_kingems_reference(pd.read_csv(d / "tuned_data.csv"))), m, aggregate="all"
    )
    irr, itab = to_irreversible(m, table)
    return d, irr, itab


@pytest.mark.parametrize(
    "level,csv,median",
    [
        ("L1", "level1_baseline_irreversible", 68.644),
        ("L2", "level2_single_enzyme", 68.644),
        ("L3a", "level3a_isoenzymes", 44.7595830),
        ("L3b", "level3b_complexes", 23.2526540),
    ],
)
def test_kingems_formulation_reproduces_reference_fva(reference, level, csv, median):
    """Per-reaction min/max of the published ablation, level by level (MWs differ from Biopython's by ~1e-5)."""
    d, irr, itab = reference
    ref = pd.read_csv(d / f"{csv}.csv").set_index("Reactions")
    ref = ref.rename(index={"FORt_reverse": "FORti", "FORt": "FORt_blocked"})
    cm = compile_model(irr, itab, level=level, pool=0.25, formulation="kingems")
    f = flux_variability(cm, fraction=0.9)
    assert f.attrs["growth"] == pytest.approx(ref["Solution Biomass"].iloc[0], rel=1e-5)
    j = f.set_index("reaction_id").join(ref, how="inner")
    assert len(j) >= 135  # the reference also splits secretion-only exchanges (reverse fixed at 0)
    assert np.allclose(j["maximum"], j["Max Solutions"], rtol=1e-4, atol=1e-6)
    assert np.allclose(j["minimum"], j["Min Solutions"], rtol=1e-4, atol=1e-6)
    assert reference_variability(f).median() == pytest.approx(median, rel=1e-5)
