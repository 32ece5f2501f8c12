"""kcat ensembles: seeded grouped sampling, in-place application against recompiled models, summaries, calibration,
and the pCN chain on the posterior conditioned on growth."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

from kingems_ray.analysis.fva import flux_variability
from kingems_ray.analysis.knockout import knockout_screen
from kingems_ray.analysis.sampled import (
    accepted_draw,
    pcn_chain,
    sampled_fva,
    sampled_growth,
    sampled_knockouts,
    wild_type_growth,
)
from kingems_ray.analysis.uncertainty import (
    ChainSampler,
    KcatSampler,
    WildTypeConditioning,
    brier_score,
    kcat_spread,
    kcats_applied,
    lethality_calibration,
    probability_scores,
    reliability_curve,
    summarise_fva,
    summarise_knockouts,
    summarise_pairs,
    summarise_taxa,
)
from kingems_ray.ec.build import build
from kingems_ray.ec.problem import Problem
from kingems_ray.errors import KingemsError
from kingems_ray.paths import package_data

TABLE = "textbook_kcats_predicted.parquet"


@pytest.fixture(scope="module")
def demo():
    return build("textbook", package_data("kcat_default", TABLE), level="L4", pool=0.25)


def _table() -> pd.DataFrame:
    return pd.DataFrame({
        "reaction_id": ["R1", "R2", "R3", "R4", "R5", "R6", "R7"],
        "gene_id": ["g1", "g1", "g2", "g3", "g4", "g5", "g6"],
        "direction": ["forward"] * 7,
        # R1/R2: one prediction reused (bit-identical); R3: another; R4/R5: global median; R6: EC-class median.
        "kcat": [12.5, 12.5, 3.0, 10.0, 10.0, 7.0, 4.0],
        "kcat_std": [2.0, 2.0, 1.5, 10.0 * math.log(10), 10.0 * math.log(10), 7.0 * math.log(10) * 0.5, np.nan],
        "source": ["prediction", "prediction", "prediction", "global_median", "global_median", "ec_class_median",
                   "prediction"],
    })


def test_sampling_is_seeded_and_independent_of_n():
    t = _table()
    a = KcatSampler.from_pairs(t, seed=3).samples(5)
    b = KcatSampler.from_pairs(t, seed=3).samples(8)
    c = KcatSampler.from_pairs(t, seed=4).samples(5)
    assert np.array_equal(a, b[:5])  # sample i does not depend on how many are drawn
    assert np.array_equal(KcatSampler.from_pairs(t, seed=3).sample(6), b[6])
    assert not np.allclose(a, c)
    # row order does not change what a pair gets
    perm = [6, 2, 0, 5, 3, 1, 4]
    d = KcatSampler.from_pairs(t.iloc[perm].reset_index(drop=True), seed=3).samples(5)
    assert np.allclose(d, a[:, perm])


def test_grouping_shared_pairs_and_fallback_sources_move_together():
    t = _table()
    s = KcatSampler.from_pairs(t, seed=0)
    x = s.samples(200)
    assert np.array_equal(x[:, 0], x[:, 1])  # one prediction used by two reactions: identical in every vector
    assert np.array_equal(x[:, 3], x[:, 4])  # one fallback source: one draw
    # independent estimates are uncorrelated, different groups differ
    assert not np.allclose(x[:, 0], x[:, 2])
    assert abs(np.corrcoef(np.log(x[:, 0]), np.log(x[:, 2]))[0, 1]) < 0.3
    # source grouping: every pair of one fallback rule shares a draw even with different values
    t2 = t.copy()
    t2.loc[4, ["kcat", "kcat_std"]] = [20.0, 20.0 * math.log(10)]
    s2 = KcatSampler.from_pairs(t2, seed=0)
    z = np.log10(s2.samples(20)[:, [3, 4]] / t2.loc[[3, 4], "kcat"].to_numpy())
    assert np.allclose(z[:, 0], z[:, 1])
    s3 = KcatSampler.from_pairs(t2, seed=0, fallback_grouping="value")
    z3 = np.log10(s3.samples(20)[:, [3, 4]] / t2.loc[[3, 4], "kcat"].to_numpy())
    assert not np.allclose(z3[:, 0], z3[:, 1])


def test_spread_sources_are_recorded_and_converted():
    t = _table()
    sd, src = kcat_spread(t)
    assert list(src) == ["kcat_std"] * 6 + ["fallback"]
    assert sd[3] == pytest.approx(1.0)  # delta-method fallback rows inverted exactly
    assert sd[5] == pytest.approx(0.5)
    assert sd[6] == pytest.approx(1.0)  # documented fallback: one order of magnitude
    # predictions: log-normal with median k and sd s -> small spreads agree with the delta method
    assert sd[0] == pytest.approx(2.0 / (12.5 * math.log(10)), rel=0.05)
    t["log10_kcat_std"] = [0.3, 0.3, np.nan, np.nan, np.nan, np.nan, 0.2]
    sd2, src2 = kcat_spread(t, spread_scale=2.0)
    assert src2[0] == "log10_kcat_std" and src2[6] == "log10_kcat_std" and src2[2] == "kcat_std"
    assert sd2[0] == pytest.approx(0.6) and sd2[6] == pytest.approx(0.4)
    # empirical spread of the draws matches
    s = KcatSampler.from_pairs(t, seed=1)
    x = np.log10(s.samples(2000)[:, 0] / 12.5)
    assert np.std(x) == pytest.approx(0.3, rel=0.08)
    assert "log10_kcat_std:3" in s.label()


def test_bad_input_gives_clear_errors():
    t = _table()
    s = KcatSampler.from_pairs(t)
    for n in (0, -1, 1.5, "x"):
        with pytest.raises(KingemsError, match="number of samples"):
            s.samples(n)
    with pytest.raises(KingemsError, match="no spread"):
        KcatSampler.from_pairs(t.drop(columns=["kcat_std"]))
    with pytest.raises(KingemsError, match="no spread"):
        KcatSampler.from_pairs(t.assign(kcat_std=np.nan))
    ok = KcatSampler.from_pairs(t.drop(columns=["kcat_std"]), fallback_log10_sd=0.5)
    assert (ok.log10_sd == 0.5).all()
    with pytest.raises(KingemsError, match="'kcat'"):
        KcatSampler.from_pairs(t.drop(columns=["kcat"]))
    with pytest.raises(KingemsError, match="finite and > 0"):
        KcatSampler.from_pairs(t.assign(kcat=0.0))
    with pytest.raises(KingemsError, match="spread_scale"):
        KcatSampler.from_pairs(t, spread_scale=0)
    with pytest.raises(KingemsError, match="fallback_grouping"):
        KcatSampler.from_pairs(t, fallback_grouping="x")


def test_in_place_sample_equals_recompiled_model(demo):
    """Golden: FVA and growth of a sample applied in place equal a model compiled from scratch with those kcats."""
    cm = demo.compiled
    s = KcatSampler.from_pairs(cm.pairs, seed=0)
    p = Problem(cm)
    point = p.growth()
    fva = sampled_fva(p, s, 3, fraction=0.9)
    growth = sampled_growth(p, s, 3)
    for i in range(3):
        table = cm.pairs.assign(kcat=s.sample(i))
        ref_cm = build(demo.model, table, level="L4", pool=0.25).compiled
        g_ref = Problem(ref_cm).growth()
        assert growth.loc[growth["sample"] == i, "growth"].iloc[0] == pytest.approx(g_ref, rel=1e-7, abs=1e-9)
        if g_ref > 0:
            ref = flux_variability(ref_cm, fraction=0.9).set_index("reaction_id")
            got = fva[fva["sample"] == i].set_index("reaction_id")
            assert np.allclose(got["minimum"], ref.loc[got.index, "minimum"], atol=1e-6)
            assert np.allclose(got["maximum"], ref.loc[got.index, "maximum"], atol=1e-6)
    # the problem is left exactly as it was
    assert np.array_equal(p.kcats, cm.pairs["kcat"].to_numpy(float))
    assert p.growth() == pytest.approx(point, rel=1e-9)


def test_kcats_applied_restores_and_checks_length(demo):
    p = Problem(demo.compiled)
    k0 = p.kcats
    with kcats_applied(p, k0 * 2):
        assert np.allclose(p.kcats, k0 * 2)
    assert np.array_equal(p.kcats, k0)
    with pytest.raises(KingemsError, match="pairs"):
        with kcats_applied(p, k0[:-1]):
            pass


def test_identical_samples_give_the_point_model(demo):
    """With zero spread every sample is the point model: p(lethal) is the point call, quantiles the point growth."""
    cm = demo.compiled
    s = KcatSampler.from_pairs(cm.pairs.assign(kcat_std=np.nan, log10_kcat_std=np.nan), fallback_log10_sd=1e-300)
    assert np.array_equal(s.sample(0), cm.pairs["kcat"].to_numpy(float))
    genes = list(cm.gene_ids[:40])
    per = sampled_knockouts(cm, s, 3, genes=genes)
    point = knockout_screen(Problem(cm), None, genes=genes)
    summ = summarise_knockouts(per, point)
    assert set(summ["p_lethal"]) <= {0.0, 1.0}
    assert (summ["p_lethal"].astype(bool) == summ["point_lethal"]).all()
    assert np.allclose(summ["growth_q05"], summ["point_growth"], rtol=1e-7, atol=1e-10)
    assert np.allclose(summ["growth_q95"], summ["point_growth"], rtol=1e-7, atol=1e-10)


def test_parallel_samples_equal_serial(demo):
    cm = demo.compiled
    s = KcatSampler.from_pairs(cm.pairs, seed=5)
    ser = sampled_growth(cm, s, 4, processes=1)
    par = sampled_growth(cm, s, 4, processes=2)
    assert np.allclose(ser["growth"], par["growth"], rtol=1e-9)


def test_summaries():
    per = pd.DataFrame({
        "sample": [0, 0, 1, 1, 2, 2],
        "reaction_id": ["A", "B"] * 3,
        "minimum": [0.0, -1.0, 0.0, -2.0, 0.0, -3.0],
        "maximum": [0.0, 1.0, 0.0, 1.0, 0.0, 1.0],
    })
    s = summarise_fva(per).set_index("reaction_id")
    assert s.loc["A", "blocked_frequency"] == 1.0 and not s.loc["A", "kcat_dependent"]
    assert s.loc["B", "kcat_dependent"] and s.loc["B", "min_q50"] == -2.0
    assert s.loc["B", "band_width"] == pytest.approx(-1.1 - (-2.9))
    ko = pd.DataFrame({"sample": [0, 1, 2, 3], "gene_id": "g", "condition": "c", "growth": [0.0, 0.5, np.nan, 0.2]})
    k = summarise_knockouts(ko)
    assert k["p_lethal"].iloc[0] == 0.5  # NaN counts as no growth
    pairs = pd.DataFrame({"sample": [0, 1, 2], "model_a": "a", "model_b": "b",
                          "interaction": ["Mutualism", "Mutualism", "Neutralism"],
                          "growth_a_paired": [0.1, 0.2, 0.3], "growth_b_paired": [0.1, 0.1, 0.1]})
    ps = summarise_pairs(pairs).set_index("label")
    assert ps.loc["Mutualism", "frequency"] == pytest.approx(2 / 3) and (ps["modal"] == "Mutualism").all()
    taxa = summarise_taxa(pd.DataFrame({"sample": [0, 1], "taxon": "t", "growth": [0.0, 1.0]}))
    assert taxa["p_no_growth"].iloc[0] == 0.5


def test_calibration_metrics_against_sklearn():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    p = rng.random(500)
    y = rng.random(500) < p
    assert brier_score(p, y) == pytest.approx(sk.brier_score_loss(y, p))
    rel = reliability_curve(p, y, n_bins=5)
    from sklearn.calibration import calibration_curve

    frac, mean = calibration_curve(y, p, n_bins=5)
    assert np.allclose(rel["observed_frequency"], frac) and np.allclose(rel["mean_predicted"], mean)
    joined = pd.DataFrame({"p_lethal": p, "grows": ~y, "point_lethal": p > 0.5})
    cal = lethality_calibration(joined)
    assert cal["roc_auc_p_lethal"] == pytest.approx(sk.roc_auc_score(y, p))
    assert cal["brier_point"] == pytest.approx(sk.brier_score_loss(y, (p > 0.5).astype(float)))
    with pytest.raises(KingemsError, match=r"\[0, 1\]"):
        brier_score([1.5], [True])


def test_probability_scores_keep_probability_order():
    summ = pd.DataFrame({"gene_id": list("abcd"), "condition": "c", "p_lethal": [0.0, 0.0, 0.5, 1.0],
                         "growth_q50": [0.9, 0.1, 0.8, 0.0], "n_samples": 2})
    sc = probability_scores(summ)["growth"].to_numpy()
    assert sc[0] > sc[1] > sc[2] > sc[3]


def test_sweep_sample_units_are_unique_and_resumable(tmp_path):
    """``samples: N`` plans one unit per sample index (ids unique, stable across plans); the serial backend runs
    them on one persistent problem and gives the same growth as the in-process sampler."""
    from kingems_ray.distributed.config import load_config, plan_units
    from kingems_ray.distributed.scheduler import run_units
    from kingems_ray.store.results import ResultStore

    table = str(package_data("kcat_default", TABLE))
    cfg = {"name": "samples", "models": {"list": ["textbook"]}, "ec": {"kcats": table, "level": "L4", "pool": 0.25},
           "analyses": [{"name": "growth_sample", "ec": True, "samples": 4, "params": {"sample_seed": 2}},
                        {"name": "fba", "ec": True}],
           "run": {"cache_dir": str(tmp_path / "cache")}}
    units = plan_units(load_config(cfg))
    sampled = [u for u in units if u.analysis == "growth_sample"]
    assert len(sampled) == 4 and len({u.unit_id for u in units}) == len(units)
    assert sorted(u.params["sample"] for u in sampled) == [0, 1, 2, 3]
    assert [u.unit_id for u in plan_units(load_config(cfg))] == [u.unit_id for u in units]
    with pytest.raises(KingemsError, match="samples: 0 is out of range"):  # the config schema names the key
        load_config({**cfg, "analyses": [{"name": "growth_sample", "ec": True, "samples": 0}]})
    store = ResultStore(tmp_path / "out")
    run_units(units[:2], store, backend="serial", progress=False, cache_dir=str(tmp_path / "cache"))
    stats = run_units(units, store, backend="serial", progress=False, cache_dir=str(tmp_path / "cache"))
    assert stats.as_dict()["n_skipped"] == 2  # the first two were done: not run again
    res = store.read()
    got = res[res["analysis"] == "growth_sample"]
    assert sorted(got["sample"]) == [0, 1, 2, 3]
    b = build("textbook", table, level="L4", pool=0.25)
    ref = sampled_growth(b.compiled, KcatSampler.from_pairs(b.compiled.pairs, seed=2), 4)
    assert np.allclose(got.sort_values("sample")["growth"].to_numpy(float), ref["growth"].to_numpy(), rtol=1e-7)


def test_sweep_conditioned_knockout_samples_equal_the_in_process_screen(tmp_path, demo):
    """``knockout_sample`` with ``condition_on_growth`` in a sweep draws the same accepted vectors and gives the
    same growth as :func:`sampled_knockouts` with the same conditioning."""
    from kingems_ray.distributed.config import load_config, plan_units
    from kingems_ray.distributed.scheduler import run_units
    from kingems_ray.store.results import ResultStore

    table = str(package_data("kcat_default", TABLE))
    genes = list(demo.compiled.gene_ids[:12])
    cfg = {"name": "cond", "models": {"list": ["textbook"]}, "ec": {"kcats": table, "level": "L4", "pool": 0.25},
           "analyses": [{"name": "knockout_sample", "ec": True, "samples": 3,
                         "params": {"sample_seed": 0, "condition_on_growth": 0.8, "max_attempts": 8,
                                    "genes": genes}}],
           "run": {"cache_dir": str(tmp_path / "cache")}}
    store = ResultStore(tmp_path / "out")
    run_units(plan_units(load_config(cfg)), store, backend="serial", progress=False,
              cache_dir=str(tmp_path / "cache"))
    rows = store.read().sort_values("sample")
    cond = WildTypeConditioning(0.8, max_attempts=8)
    ref = sampled_knockouts(demo.compiled, KcatSampler.from_pairs(demo.compiled.pairs, seed=0), 3, genes=genes,
                            conditioning=cond)
    first = ref.drop_duplicates("sample").sort_values("sample")
    assert rows["attempt"].tolist() == first["attempt"].tolist()
    assert rows["accepted"].tolist() == (first["method"] != "not_accepted").tolist()
    assert (rows["conditioning"] == cond.label()).all()
    ok = first["method"] != "not_accepted"
    assert np.allclose(rows.loc[ok.to_numpy(), "wild_type_growth"], first.loc[ok, "wild_type_growth"], rtol=1e-7)
    lethal = ref.groupby("sample")["growth"].apply(lambda g: int((g.fillna(0.0) <= 1e-3).sum()))
    assert rows.loc[ok.to_numpy(), "n_lethal"].astype(int).tolist() == lethal[ok.to_numpy()].tolist()
    assert rows.loc[~ok.to_numpy(), "n_lethal"].isna().all()


AGORA_PAIR = ("Abiotrophia_defectiva_ATCC_49176", "Acetivibrio_ethanolgignens_ACET_33324")
PAIR_GROWTH = ("growth_a_alone", "growth_b_alone", "growth_a_paired", "growth_b_paired")


@pytest.fixture(scope="module")
def agora_ec(data_dir, tmp_path_factory):
    """Two AGORA L4 members (fallback kcats), their samplers, and per sample 0-1 both members compiled from scratch
    with the sampled kcats (from one parse of each SBML file)."""
    from kingems_ray.community.ec import load_ec_member
    from kingems_ray.community.models import member_from_compiled, strip_complex_gprs
    from kingems_ray.ec.compile import compile_model
    from kingems_ray.gem.io import load_model

    paths = [data_dir / "agora" / "models" / f"{m}.xml.gz" for m in AGORA_PAIR]
    mems = [load_ec_member(p, cache_dir=tmp_path_factory.mktemp("cache")) for p in paths]
    samplers = [KcatSampler.from_pairs(m.compiled.pairs, seed=7 + i) for i, m in enumerate(mems)]
    models = [load_model(p) for p in paths]
    for m in models:
        strip_complex_gprs(m)
    ref = {i: [member_from_compiled(compile_model(cb, m.compiled.pairs.assign(kcat=s.sample(i)), level="L4",
                                                  pool=m.compiled.pool), name=m.name)
               for cb, m, s in zip(models, mems, samplers)]
           for i in (0, 1)}
    return mems, samplers, ref


def test_reduced_pool_row_of_sampled_kcats_equals_recompiled_block(agora_ec):
    """Golden: the pool row a sample writes (ReducedKcats) is the one make_block reduces from a member compiled with
    those kcats; the point kcats give the block's own row back."""
    from kingems_ray.community.joint import make_block
    from kingems_ray.community.sampled import ReducedKcats

    mems, samplers, ref = agora_ec
    for j, m in enumerate(mems):
        blk = make_block(m, reduce_enzymes=True, lazy_pool=True)
        rk = ReducedKcats(blk)
        [(cols, vals, lb, ub)] = rk.lazy_rows(m.compiled.pairs["kcat"].to_numpy(float))
        assert np.array_equal(cols, blk.lazy_rows[0][0]) and np.allclose(vals, blk.lazy_rows[0][1], rtol=1e-14)
        for i, members in ref.items():
            rb = make_block(members[j], reduce_enzymes=True, lazy_pool=True)
            [(cols, vals, lb, ub)] = rk.lazy_rows(samplers[j].sample(i))
            assert np.array_equal(cols, rb.lazy_rows[0][0])
            assert np.allclose(vals, rb.lazy_rows[0][1], rtol=1e-12, atol=0)
            assert (lb, ub) == rb.lazy_rows[0][2:]
            assert not np.allclose(vals, blk.lazy_rows[0][1])  # the sample moved the row
    with pytest.raises(KingemsError, match="kcats for"):
        rk.lazy_rows(np.ones(3))


def test_sampled_pair_equals_recompiled_members_and_full_lp(agora_ec):
    """Golden: a sample on the persistent reduced LPs (pool rows recomputed, relaxation solved once) equals run_pair
    on members compiled from scratch with those kcats, and the full-LP path that edits kcat entries in place."""
    from kingems_ray.community.pairwise import run_pair
    from kingems_ray.community.sampled import sampled_pairs

    mems, samplers, ref = agora_ec
    red = sampled_pairs(mems[0], mems[1], "western", 2, samplers=samplers)
    full = sampled_pairs(mems[0], mems[1], "western", 2, samplers=samplers, fast=False)
    assert list(red["lp"]) == ["reduced"] * 2 and list(full["lp"]) == ["full"] * 2
    for i, members in ref.items():
        r = run_pair(members[0], members[1], "western")
        got, fl = red.iloc[i], full.iloc[i]
        for k in PAIR_GROWTH:
            assert got[k] == pytest.approx(r[k], rel=1e-6, abs=1e-8), k
            assert got[k] == pytest.approx(fl[k], rel=1e-6, abs=1e-8), k
        assert got["interaction"] == r["interaction"] == fl["interaction"]
        assert got["status"] == "optimal"
    # the pool binds: growth of the second taxon alone moves with its kcats
    assert red["growth_b_alone"].nunique() == 2
    assert summarise_pairs(red)["frequency"].sum() == pytest.approx(1.0)
    # A tail sample (seed 0, sample 3: pool coefficients 2e-8..8e8) once stalled the warm re-solve for > 90 s; it is
    # infeasible (the second taxon alone grows < 0.001), as run_pair finds on recompiled members, full LP or reduced.
    tail = [KcatSampler.from_pairs(m.compiled.pairs, seed=i) for i, m in enumerate(mems)]
    red = sampled_pairs(mems[0], mems[1], "western", 1, samplers=tail, start=3).iloc[0]
    assert red["status"] == "paired infeasible" and red["seconds"] < 30 and red["growth_b_alone"] < 1e-3


@pytest.mark.parametrize("level", ["L4", "L3b"])
def test_sampled_pair_reduced_or_full_lp_by_level(level):
    """The demo model paired with itself on its own medium: at L4 the sampled pool rows on the reduced LP give the
    full-LP path's growths and labels; at L3b kcats stay in capacity rows the reduction keeps, so it falls back to
    the full LP."""
    from kingems_ray.community.models import member_from_compiled
    from kingems_ray.community.sampled import sampled_pairs

    b = build("textbook", package_data("kcat_default", TABLE), level=level, pool=0.25)
    cm = b.compiled
    a, c = member_from_compiled(cm, name="a"), member_from_compiled(cm, name="b")
    smp = [KcatSampler.from_pairs(cm.pairs, seed=s) for s in (0, 1)]
    diet = dict(b.model.medium)
    red = sampled_pairs(a, c, diet, 3, samplers=smp)
    full = sampled_pairs(a, c, diet, 3, samplers=smp, fast=False)
    assert set(red["lp"]) == {"reduced" if level == "L4" else "full"} and set(full["lp"]) == {"full"}
    assert (red["status"] == "optimal").all()
    for k in PAIR_GROWTH:
        assert np.allclose(red[k], full[k], rtol=1e-6, atol=1e-8), k
    assert list(red["interaction"]) == list(full["interaction"])
    assert red["growth_a_alone"].nunique() == 3  # the samples move growth


@pytest.mark.slow
def test_sampled_community_equals_recompiled_members(agora_ec):
    """Golden: a sample written into the community LP in place (the reduced LP's pool rows, or the full LP's kcat
    entries) equals members compiled from scratch with those kcats."""
    from kingems_ray.community.community import Community
    from kingems_ray.community.sampled import sampled_community

    mems, samplers, ref = agora_ec
    com = sampled_community(mems, 1, diet="western", samplers=samplers, start=1)
    full = sampled_community(mems, 1, diet="western", samplers=samplers, start=1, reduce_enzymes=False)
    assert set(com["lp"]) == {"reduced"} and set(full["lp"]) == {"full"}
    tr = Community(ref[1], diet="western").cooperative_tradeoff(0.5)
    for df in (com, full):
        g = df[df["sample"] == 1].set_index("taxon")["growth"]
        assert np.allclose(g.to_numpy(), tr.growth.reindex(g.index).to_numpy(), rtol=1e-5, atol=1e-7)
    assert len(summarise_taxa(com)) == 2


class _CalibratedHash:
    """HashPredictor dressed as a checkpoint with a std calibration (its log10_kcat_std is then 'calibrated')."""

    def __init__(self, log10_std: float) -> None:
        from kingems_ray.kcat.build_table import HashPredictor

        self._p = HashPredictor(log10_std)
        self.ensemble = type("E", (), {"calibration": {"sequence_free": {"a": 1.0, "b": 0.0}}})()

    def predict(self, sequences, smiles):
        return self._p.predict(sequences, smiles)

    def predict_rows(self, rows, batch_size=4096):
        return self._p.predict_rows(rows, batch_size)


def test_calibrated_log10_spread_travels_from_predictor_to_sampler(data_dir):
    """The predictor's (calibrated) log10 spread reaches compiled.pairs and is the spread the sampler uses.

    Needs the reference data: only with its metabolite structures is every textbook pair predictable."""
    from kingems_ray.gem.io import load_model
    from kingems_ray.kcat.build_table import build_kcat_table

    model = load_model("textbook")
    tab = build_kcat_table(model, predictor=_CalibratedHash(0.7))
    pred = tab["source"].str.startswith("prediction")
    assert pred.all()  # textbook: every pair is predicted (sequence-free)
    # textbook has no sequences: sequence-free rows report twice the spread (HashPredictor), i.e. 1.4 log10
    assert np.allclose(tab.loc[pred, "log10_kcat_std"], 1.4)
    assert set(tab.loc[pred, "spread_kind"]) == {"calibrated"}
    cm = build(model, tab, level="L4", pool=0.25).compiled
    pairs = cm.pairs
    assert "log10_kcat_std" in pairs and "spread_kind" in pairs
    # two pairs filled by a fallback rule (no log10 spread): they keep the exact delta-method inverse of kcat_std
    pairs = pairs.copy()
    pairs.loc[[0, 1], ["source", "log10_kcat_std", "spread_kind"]] = ["global_median", np.nan, ""]
    pairs.loc[[0, 1], "kcat_std"] = pairs.loc[[0, 1], "kcat"] * math.log(10) * 1.0
    p = pairs["source"].str.startswith("prediction").to_numpy()
    s = KcatSampler.from_pairs(pairs, seed=0)
    assert (s.spread_source[p] == "log10_kcat_std").all() and (s.spread_kind[p] == "calibrated").all()
    assert np.allclose(s.log10_sd[p], 1.4)
    assert (s.spread_source[~p] == "kcat_std").all() and set(s.spread_kind[~p]) == {""}
    assert np.allclose(s.log10_sd[~p], 1.0)
    d = s.describe()
    assert d["log10_kcat_std_calibrated"] == int(p.sum()) and d["spread_kcat_std"] == int((~p).sum())
    assert f"calibrated {int(p.sum())}" in s.label()
    # the draws really have that spread: log10(k_s / k_0) / z == 1.4 for every prediction pair
    ratio = np.log10(s.sample(0) / s.kcat)[p] / s.z(0)[s.group[p]]
    assert np.allclose(ratio, 1.4)
    # without the log10 column the spread would come from kcat_std read as a log-normal sd: much narrower
    old = KcatSampler.from_pairs(pairs.drop(columns=["log10_kcat_std", "spread_kind"]), seed=0)
    assert np.all(old.log10_sd[p] < 0.7)


def test_sampled_knockout_shortcuts_are_exact(demo):
    """The relaxation and warm-start shortcuts change which rows need an LP, never the growth (vs the slow path)."""
    from cobra.flux_analysis import single_gene_deletion

    from kingems_ray.analysis.sampled import relaxed_zero_growth

    cm = demo.compiled
    # golden: the pool-free ecGEM's zero-growth knockouts are the plain model's (cobrapy) lethal genes
    zero = relaxed_zero_growth(Problem(cm))["model"]
    sgd = single_gene_deletion(demo.model)
    plain_zero = {next(iter(ids)) for ids, g in zip(sgd["ids"], sgd["growth"]) if not (g > 1e-9)}
    assert zero == plain_zero and len(zero) >= 5
    s = KcatSampler.from_pairs(cm.pairs, seed=2)
    fast = sampled_knockouts(cm, s, 4)
    slow = sampled_knockouts(cm, s, 4, shortcuts=False)
    assert list(fast["gene_id"]) == list(slow["gene_id"]) and list(fast["sample"]) == list(slow["sample"])
    assert np.allclose(fast["growth"], slow["growth"], rtol=1e-7, atol=1e-9)
    ok = ~fast["method"].str.startswith("wild_type_")
    assert (fast.loc[ok, "method"] == "zero_in_relaxation").sum() == len(zero) * fast.loc[ok, "sample"].nunique()
    assert fast["solved"].sum() < slow["solved"].sum()
    # the optional warm start from the point basis gives the same growth too
    from kingems_ray.analysis.sampled import knockout_sample

    warm = knockout_sample(Problem(cm), s.sample(1), warm_start=True)
    assert np.allclose(warm["growth"], slow.loc[slow["sample"] == 1, "growth"], rtol=1e-7, atol=1e-9)
    # a parallel run takes the same shortcuts in its workers and gives the same table
    par = sampled_knockouts(cm, s, 4, processes=2)
    assert np.allclose(par["growth"], fast["growth"], rtol=1e-7, atol=1e-9)


def test_fva_and_knockout_cli_samples_write_summary_samples_and_spread(tmp_path):
    """``fva``/``knockout --samples N``: the summary (with the spread used), the per-sample table, spread JSON."""
    from kingems_ray.cli import main

    table = str(package_data("kcat_default", TABLE))
    assert main(["fva", "textbook", "--kcats", table, "--samples", "2", "--out", str(tmp_path / "f.parquet")]) == 0
    assert main(["knockout", "textbook", "--kcats", table, "--samples", "2", "--genes", "b0351", "b1241",
                 "--out", str(tmp_path / "k.parquet")]) == 0
    for stem in ("f", "k"):
        summary = pd.read_parquet(tmp_path / f"{stem}.parquet")
        assert summary["spread"].str.contains("calibrated").all()
        assert pd.read_parquet(tmp_path / f"{stem}_samples.parquet")["sample"].nunique() == 2
        assert (tmp_path / f"{stem}_spread.json").is_file()


# -- conditioning on wild-type growth (rejection sampling) and the relative lethal rule -------------------------------
def test_sampler_attempts_keep_attempt_zero_and_are_independent_redraws():
    t = _table()
    s = KcatSampler.from_pairs(t, seed=3)
    old = s.samples(4)
    for i in range(4):
        assert np.array_equal(s.sample(i, 0), old[i])  # attempt 0 is the unconditioned draw, unchanged
    # reproducible from (seed, i, attempt) alone, whichever sampler object draws it
    assert np.array_equal(KcatSampler.from_pairs(t, seed=3).sample(2, 5), s.sample(2, 5))
    draws = {(i, a): s.z(i, a).tobytes() for i in range(4) for a in range(4)}
    assert len(set(draws.values())) == len(draws)  # (1, 2) and (2, 1) are different streams too
    # redraws of one sample are uncorrelated standard normals
    big = KcatSampler.from_pairs(pd.concat([t] * 300, ignore_index=True).assign(
        reaction_id=lambda d: [f"R{k}" for k in range(len(d))], gene_id=lambda d: [f"g{k}" for k in range(len(d))],
        source="prediction", kcat=lambda d: 1.0 + np.arange(len(d))), seed=1)
    z0, z1 = big.z(7, 0), big.z(7, 1)
    assert abs(np.corrcoef(z0, z1)[0, 1]) < 0.1 and abs(z1.std() - 1) < 0.1
    with pytest.raises(KingemsError, match="attempt"):
        s.sample(0, -1)


def test_conditioned_knockouts_accept_only_growing_wild_types(demo):
    """Every accepted vector's wild type grows >= min_fraction x the point model's (checked on a recompiled model),
    every rejected attempt before it did not, and its screen is the plain screen of that vector."""
    from kingems_ray.analysis.sampled import acceptance_summary, knockout_sample, point_wild_type_growth

    cm = demo.compiled
    s = KcatSampler.from_pairs(cm.pairs, seed=0)
    genes = list(cm.gene_ids[:30])
    cond = WildTypeConditioning(0.8, max_attempts=8)
    pwt = point_wild_type_growth(cm)["model"]
    per = sampled_knockouts(cm, s, 4, genes=genes, conditioning=cond)
    assert (per["conditioning"] == cond.label()).all()
    first = per.drop_duplicates("sample").set_index("sample")
    accepted = first[first["method"] != "not_accepted"]
    assert len(accepted) >= 2  # (textbook, calibrated spread: ~10 % of draws pass 0.8x)
    p = Problem(cm)
    for i, row in accepted.iterrows():
        a = int(row["attempt"])
        ref = Problem(build(demo.model, cm.pairs.assign(kcat=s.sample(i, a)), level="L4", pool=0.25).compiled)
        assert ref.growth() >= 0.8 * pwt - 1e-9
        assert row["wild_type_growth"] == pytest.approx(ref.growth(), rel=1e-7)
        for b in range(a):  # the rejected attempts
            with kcats_applied(p, s.sample(i, b)):
                r = p.optimize(need_x=False)
            assert not (r.ok and r.objective >= 0.8 * pwt)
        plain = knockout_sample(Problem(cm), s.sample(i, a), genes=genes)
        assert np.allclose(per.loc[per["sample"] == i, "growth"], plain["growth"], rtol=1e-7, atol=1e-9)
    acc = acceptance_summary(per).iloc[0]
    assert acc["n_accepted"] == len(accepted)
    assert acc["attempts"] == (accepted["attempt"] + 1).sum() + 8 * (len(first) - len(accepted))
    # a sample with no accepted draw is reported, and left out of the summary
    strict = sampled_knockouts(cm, s, 3, genes=genes, conditioning=WildTypeConditioning(0.8, max_attempts=1))
    rej = strict[strict["method"] == "not_accepted"]
    assert len(rej) and rej["growth"].isna().all()
    point = knockout_screen(Problem(cm), None, genes=genes)
    if (strict["method"] != "not_accepted").any():
        summ = summarise_knockouts(strict, point)
        assert (summ["n_samples"] == strict.loc[strict["method"] != "not_accepted", "sample"].nunique()).all()
    # parallel workers draw the same vectors
    par = sampled_knockouts(cm, s, 4, genes=genes, conditioning=cond, processes=2)
    pd.testing.assert_frame_equal(par.drop(columns="seconds"), per.drop(columns="seconds"))


def test_conditioned_fva_samples_are_the_accepted_draws(demo, tmp_path, capsys):
    """Conditioned FVA: each sample's FVA is the plain FVA of its first accepted draw (wild type >= the bound,
    on a recompiled model); no accepted draw gives ``not_accepted`` rows that the summary counts as failed."""
    from kingems_ray.analysis.sampled import fva_sample, point_wild_type_growth, sampled_fva
    from kingems_ray.analysis.uncertainty import summarise_fva
    from kingems_ray.cli import main

    cm = demo.compiled
    s = KcatSampler.from_pairs(cm.pairs, seed=0)
    rx = list(cm.rxn_ids[:25])
    cond = WildTypeConditioning(0.8, max_attempts=8)
    pwt = point_wild_type_growth(cm)["model"]
    per = sampled_fva(cm, s, 3, reactions=rx, conditioning=cond)
    assert (per["conditioning"] == cond.label()).all() and (per["point_wild_type_growth"] == pwt).all()
    first = per.drop_duplicates("sample").set_index("sample")
    ok = first[first["status"] != "not_accepted"]
    assert len(ok) >= 1
    for i, row in ok.iterrows():
        k = s.sample(i, int(row["attempt"]))
        ref = Problem(build(demo.model, cm.pairs.assign(kcat=k), level="L4", pool=0.25).compiled)
        assert ref.growth() >= 0.8 * pwt - 1e-9 and row["growth"] == pytest.approx(ref.growth(), rel=1e-7)
        plain = fva_sample(Problem(cm), k, reactions=rx)
        got = per[per["sample"] == i]
        assert np.allclose(got["minimum"], plain["minimum"], atol=1e-7)
        assert np.allclose(got["maximum"], plain["maximum"], atol=1e-7)
    none = sampled_fva(cm, s, 2, reactions=rx, conditioning=WildTypeConditioning(50.0, max_attempts=2))
    assert (none["status"] == "not_accepted").all() and (none["attempt"] == 2).all()
    with pytest.raises(KingemsError, match="no sample has an FVA optimum"):
        summarise_fva(none)
    both = summarise_fva(pd.concat([per, none.assign(sample=none["sample"] + 10)]))
    assert (both["n_failed"] == 2 + len(first) - len(ok)).all() and (both["n_samples"] == len(ok)).all()
    out = tmp_path / "f.parquet"
    assert main(["fva", "textbook", "--kcats", str(package_data("kcat_default", TABLE)), "--samples", "2",
                 "--condition-on-growth", "0.5", "--max-attempts", "8", "--out", str(out)]) == 0
    assert "samples accepted" in capsys.readouterr().out
    assert main(["fva", "textbook", "--max-attempts", "8", "--out", str(out)]) == 2
    assert "--max-attempts without --samples" in capsys.readouterr().err


def _hand_built_screens(growth: list[float]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A point screen of genes A and B (wild type 0.5) and four samples of them: sample 0's wild type grows 0.4,
    sample 1's 0.1, sample 2's not at all, sample 3 is a conditioned sample with no accepted draw; ``growth`` gives
    the knockouts' growth of samples 0-2 (A, B, A, B, A, B)."""
    point = pd.DataFrame({"gene_id": ["A", "B"], "condition": "c", "growth": [0.2, 0.0], "wild_type_growth": 0.5})
    per = pd.DataFrame({
        "sample": [0, 0, 1, 1, 2, 2, 3, 3],
        "gene_id": ["A", "B"] * 4,
        "condition": "c",
        "wild_type_growth": [0.4, 0.4, 0.1, 0.1, 0.0, 0.0, np.nan, np.nan],
        "growth": [*growth, np.nan, np.nan],
        "method": ["lp"] * 6 + ["not_accepted"] * 2,
    })
    return point, per


def test_relative_lethal_rule_on_a_hand_built_table():
    thr = 1e-3
    # relative cuts: sample 0 0.001 x 0.4 / 0.5 = 0.0008, sample 1 0.0002, sample 2 none (no wild type)
    point, per = _hand_built_screens([0.0005, 0.3, 0.0005, 0.0, 0.0, 0.0])
    ab = summarise_knockouts(per, point, threshold=thr).set_index("gene_id")
    rel = summarise_knockouts(per, point, threshold=thr, lethal_rule="relative").set_index("gene_id")
    # absolute: samples 0..2 count; A lethal in all three (0.0005 <= 0.001), B lethal in samples 1 and 2
    assert ab.loc["A", "p_lethal"] == pytest.approx(1.0) and ab.loc["B", "p_lethal"] == pytest.approx(2 / 3)
    assert (ab["n_samples"] == 3).all()
    # relative: sample 2 has no relative growth; A lethal only in sample 0 (0.0005 <= 0.0008, > 0.0002)
    assert rel.loc["A", "p_lethal"] == pytest.approx(0.5) and rel.loc["B", "p_lethal"] == pytest.approx(0.5)
    assert (rel["n_samples"] == 2).all() and (rel["lethal_rule"] == "relative").all()
    with pytest.raises(KingemsError, match="relative"):
        summarise_knockouts(per, None, lethal_rule="relative")
    with pytest.raises(KingemsError, match="relative"):
        summarise_knockouts(per.drop(columns="wild_type_growth"), point, lethal_rule="relative")
    with pytest.raises(KingemsError, match="lethal_rule"):
        summarise_knockouts(per, point, lethal_rule="median")
    with pytest.raises(KingemsError, match="does not grow"):
        summarise_knockouts(per, point.assign(wild_type_growth=0.0), lethal_rule="relative")


def test_fitness_rule_is_the_assay_probability_averaged_over_samples():
    """The ``fitness`` rule: p(lethal) = mean over samples of Phi((threshold - G (r - 1)) / sd), r the growth
    relative to the sample's own wild type (checked against scipy's normal cdf written out here)."""
    from scipy.stats import norm

    from kingems_ray.analysis.uncertainty import FitnessAssay

    def expected(r, g=6.0, sd=0.5, thr=-2.0):
        return norm.cdf((thr - g * (min(max(r, 0.0), 1.0) - 1.0)) / sd)

    # samples 2 (wild type does not grow) and 3 (not accepted) are left out
    point, per = _hand_built_screens([0.3, 0.0, 0.05, np.nan, 0.0, 0.0])
    s = summarise_knockouts(per, point, lethal_rule="fitness").set_index("gene_id")
    assert s.loc["A", "p_lethal"] == pytest.approx((expected(0.75) + expected(0.5)) / 2, rel=1e-12)
    assert s.loc["B", "p_lethal"] == pytest.approx(expected(0.0), rel=1e-12)  # NaN growth counts as 0
    assert (s["n_samples"] == 2).all()
    assert s.loc["A", "point_p_lethal"] == pytest.approx(expected(0.4), rel=1e-12)
    assert s["lethal_rule"].iloc[0] == FitnessAssay().label()
    a = FitnessAssay(generations=4, sd=1.0, threshold=-1.0)
    s2 = summarise_knockouts(per, point, lethal_rule="fitness", assay=a).set_index("gene_id")
    assert s2.loc["A", "p_lethal"] == pytest.approx((expected(0.75, 4, 1, -1) + expected(0.5, 4, 1, -1)) / 2)
    # a knockout can only be as fast as its wild type: r is capped at 1
    assert FitnessAssay().p_lethal([1.0, 1.3])[1] == FitnessAssay().p_lethal([1.0])[0]
    with pytest.raises(KingemsError, match="assay applies to lethal_rule='fitness' only"):
        summarise_knockouts(per, point, lethal_rule="relative", assay=a)
    with pytest.raises(KingemsError, match="relative"):
        summarise_knockouts(per.drop(columns="wild_type_growth"), point, lethal_rule="fitness")
    for bad in ({"generations": 0}, {"sd": -1.0}, {"sd": float("nan")}, {"threshold": float("inf")},
                {"generations": True}):
        with pytest.raises(KingemsError, match="FitnessAssay"):
            FitnessAssay(**bad)


def test_probability_scores_without_tie_break_keep_the_tails_apart():
    """Ranked by probability alone, p = 1e-9 and 1e-12 stay two ranks after the metrics' 6-decimal rounding."""
    summ = pd.DataFrame({"gene_id": list("abcde"), "condition": "c",
                         "p_lethal": [1e-12, 1e-9, 0.5, 1 - 1e-9, 1.0], "n_samples": 64})
    sc = np.round(probability_scores(summ, tie_break=None)["growth"].to_numpy(), 6)
    assert (np.diff(sc) < 0).all() and np.isfinite(sc).all()


def test_conditioning_bad_inputs_give_clear_errors(demo):

    for bad in (0, -0.5, float("nan"), float("inf"), "0.5", True):
        with pytest.raises(KingemsError, match="min_fraction"):
            WildTypeConditioning(bad)
    for bad in (0, -1, 2.5):
        with pytest.raises(KingemsError, match="max_attempts"):
            WildTypeConditioning(0.5, max_attempts=bad)
    cm = demo.compiled
    s = KcatSampler.from_pairs(cm.pairs, seed=0)
    # no carbon source: the point wild type does not grow, so there is nothing to condition on
    with pytest.raises(KingemsError, match="does not grow"):
        sampled_knockouts(cm, s, 1, {"nothing": {"EX_glc__D_e": 0.0}}, genes=list(cm.gene_ids[:3]),
                          conditioning=WildTypeConditioning(0.5))


def test_knockout_cli_conditioned_samples_and_relative_rule(tmp_path, capsys):
    """``knockout --samples N --condition-on-growth F --lethal-rule relative``: the summary carries the rule and
    the conditioning, the per-sample table the attempts, the spread JSON the acceptance; misuse is a clear error."""
    import json

    from kingems_ray.cli import main

    table = str(package_data("kcat_default", TABLE))
    out = tmp_path / "k.parquet"
    assert main(["knockout", "textbook", "--kcats", table, "--samples", "2", "--genes", "b0351", "b1241", "b2276",
                 "--condition-on-growth", "0.5", "--max-attempts", "16", "--lethal-rule", "relative",
                 "--out", str(out)]) == 0
    label = WildTypeConditioning(0.5, 16).label()
    summary = pd.read_parquet(out)
    assert (summary["lethal_rule"] == "relative").all() and (summary["conditioning"] == label).all()
    per = pd.read_parquet(tmp_path / "k_samples.parquet")
    ok = per[per["method"] != "not_accepted"]
    assert len(ok) and (ok["wild_type_growth"] >= 0.5 * ok["point_wild_type_growth"] - 1e-9).all()
    spread = json.loads((tmp_path / "k_spread.json").read_text())
    assert spread["conditioning"] == label and spread["acceptance"][0]["attempts"] >= 2
    assert "acceptance rate" in capsys.readouterr().out
    from kingems_ray.analysis.uncertainty import FitnessAssay

    fit = tmp_path / "f.parquet"
    assert main(["knockout", "textbook", "--kcats", table, "--samples", "2", "--genes", "b0351", "b1241",
                 "--lethal-rule", "fitness", "--assay-sd", "0.3", "--out", str(fit)]) == 0
    fs = pd.read_parquet(fit)
    assert (fs["lethal_rule"] == FitnessAssay(sd=0.3).label()).all()
    assert fs["p_lethal"].between(0, 1).all() and fs["point_p_lethal"].between(0, 1).all()
    assert json.loads((tmp_path / "f_spread.json").read_text())["lethal_rule"] == FitnessAssay(sd=0.3).label()
    capsys.readouterr()
    for bad, match in ((["--condition-on-growth", "0.5"], "--condition-on-growth without --samples"),
                       (["--lethal-rule", "relative"], "--lethal-rule relative without --samples"),
                       (["--lethal-rule", "fitness"], "--lethal-rule fitness without --samples"),
                       (["--samples", "1", "--assay-sd", "0.3"], "--assay-sd without --lethal-rule fitness"),
                       (["--samples", "1", "--lethal-rule", "fitness", "--assay-generations", "0"],
                        "FitnessAssay.generations must be"),
                       (["--samples", "1", "--condition-on-growth", "0"], "min_fraction must be > 0"),
                       (["--samples", "1", "--max-attempts", "8"], "--max-attempts without --condition-on-growth")):
        assert main(["knockout", "textbook", "--kcats", table, *bad, "--out", str(tmp_path / "x.parquet")]) == 2
        assert match in capsys.readouterr().err
    assert not (tmp_path / "x.parquet").exists()


# -- the pCN chain on the conditioned posterior (where rejection accepts nothing) -----------------------------------
@pytest.fixture(scope="module")
def chain(demo):
    s = KcatSampler.from_pairs(demo.compiled.pairs, seed=0)
    return pcn_chain(demo.compiled, s, 120, WildTypeConditioning(0.5), thin=4, burn_in=150, step=0.3)


def test_chain_targets_the_rejection_posterior(demo, chain):
    """Golden: the chain's wild-type growth has the distribution of rejection sampling's (the same posterior,
    sampled independently), and every kept vector, applied to a model compiled from scratch, reaches the bound."""
    cm = demo.compiled
    s = KcatSampler.from_pairs(cm.pairs, seed=0)
    p = Problem(cm)
    point = p.growth()
    bound = 0.5 * point
    rej = []
    for i in range(120):
        k, _ = accepted_draw(p, s, i, None, bound, 200)
        with kcats_applied(p, k):
            rej.append(wild_type_growth(p)[0])
    kept = np.asarray(chain.chain["kept_wild_type_growth"])
    assert chain.n_samples == 120 and kept.size == 120
    assert (kept >= bound - 1e-9).all()
    assert ks_2samp(kept, rej).pvalue > 0.01
    assert abs(np.median(kept) - np.median(rej)) < 0.1 * point
    # the chain left the point: per-group z^2 near the prior's 1, and its draws are not all alike
    assert 0.7 < chain.chain["kept_z2"] < 1.3
    assert chain.chain["ess_wild_type_growth"] > 20
    for i in (0, 60, 119):
        ref = Problem(build(demo.model, cm.pairs.assign(kcat=chain.sample(i)), level="L4", pool=0.25).compiled)
        assert ref.growth() == pytest.approx(kept[i], rel=1e-6, abs=1e-9)


def test_chain_is_seeded_and_leaves_the_problem(demo, chain):
    cm = demo.compiled
    s = KcatSampler.from_pairs(cm.pairs, seed=0)
    p = Problem(cm)
    g0, k0 = p.growth(), p.kcats
    again = pcn_chain(p, s, 5, WildTypeConditioning(0.5), thin=4, burn_in=150, step=0.3)
    assert np.array_equal(again.zs, chain.zs[:5])
    assert np.array_equal(p.kcats, k0) and p.growth() == pytest.approx(g0, rel=1e-9)
    other = pcn_chain(p, s, 5, WildTypeConditioning(0.5), thin=4, burn_in=150, step=0.3, seed=1)
    assert not np.array_equal(other.zs, again.zs)


def test_chain_samples_feed_the_sampled_analyses(demo, chain):
    cm = demo.compiled
    genes = list(cm.gene_ids[:10])
    ko = sampled_knockouts(cm, chain, 3, genes=genes)
    assert ko["conditioning"].str.contains("pcn chain on model").all()
    # the screen's wild type is the chain's kept state
    wt = ko.drop_duplicates("sample").set_index("sample")["wild_type_growth"]
    assert np.allclose(wt.to_numpy(), chain.chain["kept_wild_type_growth"][:3], rtol=1e-6)
    fva = sampled_fva(cm, chain, 2)
    assert set(fva["sample"]) == {0, 1} and fva["conditioning"].str.contains("pcn").all()


def test_chain_errors(demo, chain):
    cm = demo.compiled
    s = KcatSampler.from_pairs(cm.pairs, seed=0)
    with pytest.raises(KingemsError, match="already conditioned"):
        sampled_knockouts(cm, chain, 2, conditioning=WildTypeConditioning(0.5))
    with pytest.raises(KingemsError, match="conditioned on 'model'"):
        sampled_knockouts(cm, chain, 2, conditions={"other": None})
    with pytest.raises(KingemsError, match="no redraws"):
        chain.sample(0, 1)
    with pytest.raises(KingemsError, match="kept 120 vectors"):
        chain.sample(120)
    with pytest.raises(KingemsError, match="thin"):
        pcn_chain(cm, s, 2, WildTypeConditioning(0.5), thin=0)
    with pytest.raises(KingemsError, match="step"):
        pcn_chain(cm, s, 2, WildTypeConditioning(0.5), step=0.0)
    with pytest.raises(KingemsError, match="no start"):
        pcn_chain(cm, s, 2, WildTypeConditioning(1.5))
    with pytest.raises(KingemsError, match="chain draws"):
        ChainSampler.of(s, np.zeros((2, 3)), {})


def test_cli_chain_conditioning(tmp_path, capsys):
    """``knockout`` / ``fva --samples N --condition-on-growth F --conditioning-method chain``: the chain's vectors
    are screened (conditioning column names the chain, every wild type reaches the bound); misuse is a clear error."""
    import json

    from kingems_ray.cli import main

    table = str(package_data("kcat_default", TABLE))
    chain = ["--condition-on-growth", "0.5", "--conditioning-method", "chain", "--chain-burn-in", "40",
             "--chain-thin", "2"]
    out = tmp_path / "k.parquet"
    assert main(["knockout", "textbook", "--kcats", table, "--samples", "3", "--genes", "b0351", "b1241",
                 *chain, "--out", str(out)]) == 0
    per = pd.read_parquet(tmp_path / "k_samples.parquet")
    assert per["conditioning"].str.contains("pcn chain on model").all()
    point_wt = Problem(build("textbook", package_data("kcat_default", TABLE), level="L4", pool=0.25).compiled).growth()
    assert (per["wild_type_growth"] >= 0.5 * point_wt - 1e-9).all()
    spread = json.loads((tmp_path / "k_spread.json").read_text())
    assert spread["chain"]["proposals"] == 40 + 3 * 2 and spread["chain"]["condition"] == "model"
    assert "effective sample size" in capsys.readouterr().err
    fva = tmp_path / "f.parquet"
    assert main(["fva", "textbook", "--kcats", table, "--samples", "2", *chain, "--out", str(fva)]) == 0
    assert pd.read_parquet(tmp_path / "f_samples.parquet")["conditioning"].str.contains("pcn").all()
    capsys.readouterr()
    for bad, match in ((["--conditioning-method", "chain"], "chain without --condition-on-growth"),
                       ([*chain, "--max-attempts", "4"], "--max-attempts bounds rejection sampling"),
                       ([*chain, "--carbon-sources", "EX_glc__D_e,EX_ac_e"], "one condition at a time")):
        assert main(["knockout", "textbook", "--kcats", table, "--samples", "1", *bad,
                     "--out", str(tmp_path / "x.parquet")]) == 2
        assert match in capsys.readouterr().err
