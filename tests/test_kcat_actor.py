"""The Ray serving path of the kcat predictor gives the same numbers as the in-process path."""

from __future__ import annotations

import sys

import cobra
import pandas as pd
import pytest

ray = pytest.importorskip("ray")

from kingems_ray.kcat.actor import (  # noqa: E402
    RayPredictor,
    StreamStats,
    actor_options,
    default_num_actors,
    start_actors,
    stream_kcat_tables,
)
from kingems_ray.kcat.build_table import HashPredictor, build_kcat_table  # noqa: E402
from kingems_ray.kcat.fallback import KcatDatabase  # noqa: E402
from kingems_ray.kcat.structures import StructureResolver, StructureTables  # noqa: E402
from kingems_ray.paths import data_root  # noqa: E402

pytestmark = pytest.mark.ray

PROT = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVVHSLAKWKRQTLG"
SMILES = {"A": "OCC(O)CO", "B": "OCC(=O)CO", "C": "CC(=O)C(=O)O", "D": "CCO"}


def _model(name: str, extra: bool) -> cobra.Model:
    m = cobra.Model(name)
    mets = {k: cobra.Metabolite(f"{k}_c", compartment="c") for k in SMILES}
    r1 = cobra.Reaction("R1", lower_bound=-1000, upper_bound=1000)
    r1.add_metabolites({mets["A"]: -1, mets["B"]: 1})
    r1.gene_reaction_rule = "g1 or g2"
    rxns = [r1]
    if extra:
        r2 = cobra.Reaction("R2", lower_bound=0, upper_bound=1000)
        r2.add_metabolites({mets["C"]: -1, mets["D"]: 1})
        r2.gene_reaction_rule = "g3"
        rxns.append(r2)
    m.add_reactions(rxns)
    return m


SEQS = {"g1": PROT, "g2": PROT[::-1], "g3": PROT[5:]}


@pytest.fixture(scope="module")
def actors(ray_session):
    """Two fake-predictor actors on the session's Ray (conftest's ``ray_session``: num_cpus=2)."""
    from ray import cloudpickle

    # Workers cannot import this test module: ship the fake predictor by value.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    handles = start_actors(n_actors=2, factory=HashPredictor, num_cpus_per_actor=0.5)
    yield handles
    for h in handles:
        ray.kill(h)
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def test_actor_options_from_resources():
    assert actor_options(resources={"CPU": 16.0}) == {"num_cpus": 1.0}
    assert actor_options(resources={"CPU": 16.0, "GPU": 2.0}) == {"num_cpus": 1.0, "num_gpus": 1.0}
    assert actor_options(0.5, resources={"CPU": 16.0, "GPU": 1.0})["num_gpus"] == 0.5
    assert "num_gpus" not in actor_options(0, resources={"CPU": 4.0, "GPU": 1.0})
    assert default_num_actors({"num_cpus": 1.0, "num_gpus": 0.5}, {"CPU": 16.0, "GPU": 2.0}) == 4
    assert default_num_actors({"num_cpus": 1.0}, {"CPU": 16.0}) == 8
    assert default_num_actors({"num_cpus": 1.0}, {"CPU": 1.0}) == 1


def test_ray_predictor_matches_in_process(actors):
    resolver = StructureResolver(StructureTables(), extra=SMILES)
    db = KcatDatabase.empty()
    model = _model("m", True)
    local = build_kcat_table(model, SEQS, HashPredictor(), database=db, resolver=resolver)
    remote = build_kcat_table(model, SEQS, RayPredictor(actors, batch_size=2), database=db, resolver=resolver)
    pd.testing.assert_frame_equal(local, remote)
    assert (local.source == "prediction").all()
    # Direct predict(): same columns and values, duplicates allowed.
    seqs, smis = [PROT, PROT, PROT[::-1]], ["CCO", "CCO", "OCC(O)CO"]
    a = HashPredictor().predict(seqs, smis)
    b = RayPredictor(actors, batch_size=1).predict(seqs, smis)
    pd.testing.assert_frame_equal(a, b[a.columns], check_exact=False, rtol=1e-12)


class _CalibratedHash(HashPredictor):
    """The fake predictor with an ensemble that carries a std calibration, as the shipped checkpoint's does."""

    class ensemble:  # noqa: N801 - stands in for KcatPredictor.ensemble
        calibration = {"sequence": (1.0, 0.0)}


def test_ray_predictor_reports_the_actors_spread_kind(ray_session):
    """A table built through Ray actors labels its spread as one built in process does (``spread_kind``):
    before, the actors' calibrated spread came back unlabelled."""
    from ray import cloudpickle

    mine = sys.modules[__name__].__name__ not in cloudpickle.list_registry_pickle_by_value()
    if mine:  # the module fixture may have registered it already: leave that registration alone
        cloudpickle.register_pickle_by_value(sys.modules[__name__])
    handles = start_actors(n_actors=1, factory=_CalibratedHash, num_cpus_per_actor=0.5)
    try:
        resolver = StructureResolver(StructureTables(), extra=SMILES)
        db = KcatDatabase.empty()
        model = _model("m", True)
        local = build_kcat_table(model, SEQS, _CalibratedHash(), database=db, resolver=resolver)
        remote = build_kcat_table(model, SEQS, RayPredictor(handles), database=db, resolver=resolver)
        assert set(local["spread_kind"]) == {"calibrated"}
        pd.testing.assert_frame_equal(local, remote)
    finally:
        for h in handles:
            ray.kill(h)
        if mine:
            cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def test_stream_dedupes_across_models(actors):
    resolver = StructureResolver(StructureTables(), extra=SMILES)
    db = KcatDatabase.empty()
    models = [("small", _model("small", False), SEQS), ("big", _model("big", True), SEQS),
              ("broken", "/no/such/model.xml", None)]
    stats = StreamStats()
    tables = dict(stream_kcat_tables(models, actors, database=db, resolver=resolver, batch_size=2,
                                     stats=stats))
    assert set(tables) == {"small", "big"} and "broken" in stats.failed
    for name, m in (("small", _model("small", False)), ("big", _model("big", True))):
        local = build_kcat_table(m, SEQS, HashPredictor(), database=db, resolver=resolver)
        pd.testing.assert_frame_equal(local, tables[name])
    # "small" is a subset of "big": its 4 keys are predicted once.
    assert stats.pair_keys == 4 + 5 and stats.predicted_keys == 5


def test_stream_when_actors_hold_every_cpu(actors):
    # The fixture's actors hold 2 x 0.5 of the 2 CPUs; one more takes the last CPU. Preparation tasks must
    # not wait for a free CPU forever.
    handles = start_actors(n_actors=1, factory=HashPredictor, num_cpus_per_actor=1.0, startup_timeout_s=60)
    try:
        resolver = StructureResolver(StructureTables(), extra=SMILES)
        out = dict(stream_kcat_tables([("m", _model("m", True), SEQS)], handles, database=KcatDatabase.empty(),
                                      resolver=resolver))
        assert set(out["m"].source) == {"prediction"}
    finally:
        for h in handles:
            ray.kill(h)


def test_start_actors_times_out_instead_of_hanging(actors):
    with pytest.raises(TimeoutError, match="not up after"):
        start_actors(n_actors=1, factory=HashPredictor, num_cpus_per_actor=64.0, startup_timeout_s=1)


@pytest.mark.skipif(data_root() is None, reason="reference data (../shared/data or $KINGEMS_DATA) not found")
def test_stream_e_coli_core_by_name(actors):
    seqs = str(data_root() / "sequences" / "ecoli_gp.faa.gz")
    stats = StreamStats()
    tables = dict(stream_kcat_tables([("core", "textbook", seqs)], actors, stats=stats))
    local = build_kcat_table("textbook", seqs, HashPredictor())
    pd.testing.assert_frame_equal(local, tables["core"])
