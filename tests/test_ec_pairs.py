"""ecGEM pairs and communities: the reduced LP (enzyme columns projected out, pool rows added when violated) gives
the growth and labels of the full LP, with the pool slack and binding."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from kingems_ray.community.community import run_community
from kingems_ray.community.diets import read_diet
from kingems_ray.community.ec import agora_kcats
from kingems_ray.community.joint import make_block
from kingems_ray.community.models import load_member
from kingems_ray.community.pairwise import run_pair, single_growth
from kingems_ray.gem.io import load_model

# two taxa that grow together on the Western diet (a third only makes the full-LP reference slower)
MODELS = ["Abiotrophia_defectiva_ATCC_49176", "Acetivibrio_ethanolgignens_ACET_33324"]
GROWTH = ["growth_a_alone", "growth_b_alone", "growth_a_paired", "growth_b_paired"]


@pytest.fixture(scope="module")
def ec_sets(data_dir, tmp_path_factory):
    """Plain members and L4 members (fallback kcats) with the default pool (slack on the Western diet) and a small
    one (binding)."""
    cache = tmp_path_factory.mktemp("cache")
    paths = [data_dir / "agora" / "models" / f"{m}.xml.gz" for m in MODELS]
    tables = [agora_kcats(load_model(p)) for p in paths]
    out = {"plain": [load_member(p, cache_dir=cache) for p in paths]}
    for pool in (0.25, 0.02):
        out[pool] = [load_member(p, cache_dir=cache, kcats=t, level="L4", pool=pool) for p, t in zip(paths, tables)]
    return out


def test_reduced_block_drops_enzyme_columns(ec_sets):
    mem = ec_sets[0.25][1]
    full = make_block(mem)
    red = make_block(mem, reduce_enzymes=True, lazy_pool=True)
    cm = mem.compiled
    assert red.n_cols < full.n_cols and red.n_rows < full.n_rows
    assert (red.col_index[list(cm.enzyme_col.values())] == -1).all()
    # exchanges and biomass keep their columns (mapped), and the pool row is held out
    assert np.array_equal(red.env_cols, red.col_index[full.env_cols])
    assert red.biomass_cols == [int(red.col_index[c]) for c in full.biomass_cols]
    assert len(red.lazy_rows) == 1 and red.lazy_rows[0][3] == pytest.approx(0.25)


@pytest.mark.parametrize("pool", [0.25, 0.02])
def test_fast_pairs_equal_full_lp(ec_sets, pool):
    diet = read_diet("western")
    mems = ec_sets[pool]
    for fast in (True, False):
        singles = [single_growth(m, diet, fast=fast) for m in mems]
        rows = [run_pair(mems[i], mems[j], diet, singles[i], singles[j], fast=fast)
                for i, j in itertools.combinations(range(len(mems)), 2)]
        if fast:
            fast_rows = rows
        else:
            slow_rows = rows
    assert fast_rows[0]["status"] == "optimal"
    for f, s in zip(fast_rows, slow_rows):
        assert f["interaction"] == s["interaction"] and f["status"] == s["status"]
        for k in GROWTH:
            assert f[k] == pytest.approx(s[k], abs=1e-6, nan_ok=True)
    if pool == 0.02:
        # the small pool binds: growth alone falls below the plain model's, so the pool rows were needed
        plain = [single_growth(m, diet).growth for m in ec_sets["plain"]]
        ec = [single_growth(m, diet).growth for m in mems]
        assert any(e < p - 1e-6 for e, p in zip(ec, plain))


def test_fast_community_equals_full_lp(ec_sets):
    mems = ec_sets[0.02]
    gene = sorted(g for g in mems[1].compiled.enzyme_col)[0]
    perts = [{"kind": "remove_taxon", "taxon": mems[0].name},
             {"kind": "gene_knockout", "taxon": mems[1].name, "genes": [gene]}]
    ab = [0.6, 0.4]
    fast = run_community(mems, ab, "western", 0.5, perts, reduce_enzymes=True)
    slow = run_community(mems, ab, "western", 0.5, perts, reduce_enzymes=False)
    assert fast["status"] == slow["status"] == "optimal"
    assert fast["community_growth"] == pytest.approx(slow["community_growth"], abs=1e-6)
    np.testing.assert_allclose(fast["growth"]["growth"], slow["growth"]["growth"], atol=1e-6)
    np.testing.assert_allclose(fast["perturbations"]["growth_perturbed"], slow["perturbations"]["growth_perturbed"],
                               atol=1e-6)



def test_community_blocks_shared_and_aggregator_off(ec_sets):
    """Reduced ecGEM communities reuse one cached block per member and run presolve without its aggregator; a
    community built from the cached blocks after another one was perturbed gives the same trade-off."""
    from kingems_ray.community.community import Community
    from kingems_ray.solver.highs import PRESOLVE_RULE_AGGREGATOR

    mems = ec_sets[0.02]
    first = Community(mems, [0.6, 0.4], "western", reduce_enzymes=True)
    r1 = first.cooperative_tradeoff(0.5)
    with first.without_taxon(mems[0].name):
        first.cooperative_tradeoff(0.5)
    second = Community(mems, [0.6, 0.4], "western", reduce_enzymes=True)
    assert all(a is b for a, b in zip(first.joint.blocks, second.joint.blocks))
    assert second.solver.option_value("presolve_rule_off") == PRESOLVE_RULE_AGGREGATOR
    plain = Community(ec_sets["plain"], [0.6, 0.4], "western")
    assert plain.solver.option_value("presolve_rule_off") == 0
    r2 = second.cooperative_tradeoff(0.5)
    assert r2.community_growth == pytest.approx(r1.community_growth, rel=1e-9)
    np.testing.assert_allclose(r2.growth, r1.growth, atol=1e-7)

# -- toy models, no reference data: hand-computed growth (see tests/test_compile.py), full vs reduced blocks ---------
def _toy(rule1: str, rule2: str):
    """EX_A (uptake <= 10) -> A --R1--> B --R2--> C --BIO-->."""
    import cobra

    m = cobra.Model("toy")
    a, b, c = (cobra.Metabolite(x, compartment="c") for x in "ABC")
    rxns = []
    for rid, lo, mets in (("EX_A", -10, {a: -1}), ("R1", 0, {a: -1, b: 1}), ("R2", 0, {b: -1, c: 1}),
                          ("BIO", 0, {c: -1})):
        r = cobra.Reaction(rid, lower_bound=lo, upper_bound=0 if rid == "EX_A" else 1000)
        r.add_metabolites(mets)
        rxns.append(r)
    m.add_reactions(rxns)
    m.reactions.R1.gene_reaction_rule = rule1
    m.reactions.R2.gene_reaction_rule = rule2
    m.objective = "BIO"
    return m


def _toy_member(rule1: str, rule2: str, level: str):
    import pandas as pd

    from kingems_ray.community.models import member_from_compiled
    from kingems_ray.ec.compile import compile_model

    rows = [("R1", "g1", "both", 1.0, np.nan, 36000.0, "t"), ("R1", "g2", "both", 3.0, np.nan, 54000.0, "t"),
            ("R2", "g1", "both", 2.0, np.nan, 36000.0, "t")]
    t = pd.DataFrame(rows, columns=["reaction_id", "gene_id", "direction", "kcat", "kcat_std", "mw", "source"])
    return member_from_compiled(compile_model(_toy(rule1, rule2), t, level=level, pool=0.01))


@pytest.mark.parametrize("rule1,rule2,level,expected", [
    ("g1", "", "L4", 1.0),                 # single enzyme: v <= 3600 * 0.01/36
    ("g1 or g2", "", "L4", 2.0),           # isoenzymes: the cheaper clause takes the pool
    ("g1 and g2", "", "L4", 2 / 3),        # complex: both subunits paid for
    ("g1", "g1", "L4", 2 / 3),             # promiscuous g1 shared by R1 and R2
    ("g1", "g1", "L2", 1.0),               # per-reaction rows, E_g in two rows: kept, pool stays in the LP
    ("g1 or g2", "", "L3a", 2.0),
])
def test_reduced_toy_blocks_keep_growth(rule1, rule2, level, expected):
    from kingems_ray.community.joint import assemble
    from kingems_ray.community.pairwise import _solve_joint

    mem = _toy_member(rule1, rule2, level)
    got = []
    for reduce in (False, True):
        blk = make_block(mem, coupling=None, reduce_enzymes=reduce, lazy_pool=reduce)
        joint = assemble([blk], None)
        status, obj, x = _solve_joint(joint)
        assert status == "optimal"
        got.append(joint.growth(x, 0))
    # gecko L4 / L3a: every enzyme column projected out and the pool held out; L2 (an enzyme in two capacity rows)
    # keeps its enzyme columns and the pool row
    reduced = blk.col_index is not None and (blk.col_index[list(mem.compiled.enzyme_col.values())] < 0).all()
    assert reduced == (level != "L2") and len(blk.lazy_rows) == (level != "L2")
    assert got[0] == pytest.approx(expected, rel=1e-9)
    assert got[1] == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("reduced", [True, False])
def test_structural_zeros_fixed_once_per_block_change_no_pair(ec_sets, reduced):
    """Blocks from the pair cache have their structurally zero columns fixed to 0 (dead ends, by sign alone); every
    pair and growth alone solves to the same optimum as from blocks without that step."""
    from kingems_ray.community.joint import COUPLING_C, COUPLING_U, assemble
    from kingems_ray.community.pairwise import MIN_GROWTH, _solve_joint, pair_block, pair_problem

    diet = read_diet("western")
    mems = ec_sets[0.02]
    raw = [make_block(m, coupling=COUPLING_C, coupling_u=COUPLING_U, reduce_enzymes=reduced, lazy_pool=reduced)
           for m in mems]
    cached = [pair_block(m, COUPLING_C, COUPLING_U, reduced) for m in mems]
    assert any((c.col_ub == 0).sum() > (r.col_ub == 0).sum() for c, r in zip(cached, raw))
    for c, r in zip(cached, raw):  # only fixing: no bound loosened, nothing else changed
        assert (c.col_lb >= r.col_lb).all() and (c.col_ub <= r.col_ub).all()
        assert (c.A != r.A).nnz == 0
    for i, j in [(0, 1), *itertools.combinations(range(len(mems)), 2)][:3]:
        ref = assemble([raw[i], raw[j]], diet)
        for k in (0, 1):
            col = ref.growth_cols(k)[0][0]
            ref.lp.col_lb[col] = max(ref.lp.col_lb[col], MIN_GROWTH)
        s_ref, obj_ref, _ = _solve_joint(ref)
        s_new, obj_new, _ = _solve_joint(pair_problem(mems[i], mems[j], diet, reduced=reduced))
        assert s_new == s_ref
        if s_ref == "optimal":
            assert obj_new == pytest.approx(obj_ref, rel=1e-9, abs=1e-12)
