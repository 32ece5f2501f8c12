"""The pCN chain on the conditioned kcat posterior: same distribution as rejection, valid draws, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ks_2samp

from kingems_ray.analysis.sampled import (
    accepted_draw,
    pcn_chain,
    sampled_fva,
    sampled_knockouts,
    wild_type_growth,
)
from kingems_ray.analysis.uncertainty import ChainSampler, KcatSampler, WildTypeConditioning, kcats_applied
from kingems_ray.ec.build import build
from kingems_ray.ec.problem import Problem
from kingems_ray.errors import KingemsError
from kingems_ray.paths import package_data

TABLE = "textbook_kcats_predicted.parquet"


@pytest.fixture(scope="module")
def demo():
    return build("textbook", package_data("kcat_default", TABLE), level="L4", pool=0.25)


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
