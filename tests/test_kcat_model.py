"""The CPI-Pred ensemble: checkpoints, the predictor API, training, splits and the shipped checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from kingems_ray.kcat.datasets import ECMedian, assign_group_folds, ec_prefixes, sequence_clusters
from kingems_ray.kcat.features import get_featuriser
from kingems_ray.kcat.model import load_checkpoint, save_checkpoint
from kingems_ray.kcat.predict import COLUMNS, KcatPredictor, default_checkpoint_path
from kingems_ray.kcat.train import TrainConfig, featurise_pairs, regression_metrics, train_ensemble
from kingems_ray.paths import data_root

NEEDS_DATA = pytest.mark.skipif(data_root() is None, reason="reference data (../shared/data or $KINGEMS_DATA) "
                                "absent: KcatNet rows are needed")
RNG = np.random.default_rng(0)
AA = np.array(list("ACDEFGHIKLMNPQRSTVWY"))
SMILES = ["CCO", "CC(=O)O", "OCC(O)CO", "C(C1C(C(C(C(O1)O)O)O)O)O", "CC(=O)C(=O)O", "NCC(=O)O"]


def _synthetic(n=240, seed=0):
    """Pairs whose label depends on both the enzyme's composition and the substrate."""
    rng = np.random.default_rng(seed)
    seqs = ["M" + "".join(rng.choice(AA, rng.integers(60, 120))) for _ in range(30)]
    s = [seqs[i] for i in rng.integers(0, len(seqs), n)]
    m = [SMILES[i] for i in rng.integers(0, len(SMILES), n)]
    y = np.array([q.count("K") / len(q) * 20 + len(x) / 10 for q, x in zip(s, m)]) + rng.normal(0, 0.05, n)
    return s, m, y


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    # Small nets: one thread avoids OpenMP synchronisation costs, which dominate on a busy 2-core machine.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def small_ensemble(one_torch_thread):
    prot_f = get_featuriser("composition", parts=["aac", "physchem"])
    sub_f = get_featuriser("morgan", radius=2, n_bits=256)
    seqs, smis, y = _synthetic()
    ft = featurise_pairs(prot_f, sub_f, seqs, smis)
    cfg = TrainConfig(proj_dim=16, hidden_dim=32, max_epochs=40, patience=10, n_folds=3, batch_size=32)
    folds = np.arange(len(y)) % cfg.n_folds
    torch.manual_seed(0)
    ens, oof = train_ensemble(ft.prot, ft.sub, y, folds, cfg, prot_f.config(), sub_f.config(), "cpu", log=False)
    return ens, ft, y, oof


def test_training_learns_synthetic_signal(small_ensemble):
    ens, ft, y, oof = small_ensemble
    assert len(ens.members) == 3
    assert regression_metrics(y, oof)["r2"] > 0.3  # out-of-fold, i.e. on rows each member never saw


def test_ensemble_std_positive(small_ensemble):
    ens, ft, _, _ = small_ensemble
    mu, sd = ens.predict(ft.prot, ft.sub)
    assert mu.shape == sd.shape == (len(ft.prot),)
    assert np.all(sd > 0)


def test_checkpoint_round_trip_weights_only(small_ensemble, tmp_path):
    ens, ft, _, _ = small_ensemble
    path = save_checkpoint(ens, tmp_path / "c32.pt", half=False)
    # Plain dicts and tensors only: the strict loader accepts it.
    raw = torch.load(path, weights_only=True, map_location="cpu")
    assert raw["format"] == "kingems-ray/kcat-ensemble" and len(raw["members"]) == 3
    loaded = load_checkpoint(path)
    np.testing.assert_array_equal(loaded.predict_members(ft.prot, ft.sub), ens.predict_members(ft.prot, ft.sub))
    # float16 storage: identical between loads, within rounding of the float32 model.
    h1 = load_checkpoint(save_checkpoint(ens, tmp_path / "c16.pt", half=True)).predict(ft.prot, ft.sub)[0]
    h2 = load_checkpoint(tmp_path / "c16.pt").predict(ft.prot, ft.sub)[0]
    np.testing.assert_array_equal(h1, h2)
    np.testing.assert_allclose(h1, ens.predict(ft.prot, ft.sub)[0], atol=0.05)
    assert (tmp_path / "c16.pt").stat().st_size < (tmp_path / "c32.pt").stat().st_size


def test_predictor_api_statuses_and_order(small_ensemble, tmp_path):
    ens, _, _, _ = small_ensemble
    pred = KcatPredictor.from_checkpoint(save_checkpoint(ens, tmp_path / "c.pt"), device="cpu")
    seqs, smis, _ = _synthetic(8, seed=1)
    seqs = seqs[:4] + ["", "ACGTACGTACGTACGTAC", seqs[0], ""]
    smis = smis[:4] + ["CCO", "CCO", "not a smiles((", "C1CC("]
    df = pred.predict(seqs, smis, batch_size=3)
    assert list(df.columns) == COLUMNS and len(df) == 8
    assert df.status.tolist() == ["ok"] * 4 + ["empty_sequence", "invalid_sequence", "invalid_smiles",
                                               "empty_sequence;invalid_smiles"]
    ok = df.status == "ok"
    assert df[ok].notna().all().all() and df.loc[~ok, "kcat"].isna().all()
    np.testing.assert_allclose(df.kcat[ok], 10 ** df.log10_kcat_mean[ok])
    assert (df.kcat_std[ok] > 0).all() and (df.log10_kcat_std[ok] > 0).all()
    # Row order is the input order: predicting one pair alone gives the same numbers.
    one = pred.predict([seqs[2]], [smis[2]])
    assert one.log10_kcat_mean[0] == pytest.approx(df.log10_kcat_mean[2], abs=1e-6)
    assert len(pred.predict([], [])) == 0
    with pytest.raises(ValueError, match="sequences"):
        pred.predict(["MKV"], [])


def test_default_checkpoint_ships_and_predicts():
    path = default_checkpoint_path()
    assert path.is_file(), f"default checkpoint missing: {path}"
    size = sum(p.stat().st_size for p in path.parent.iterdir())
    assert size < 10e6
    pred = KcatPredictor.from_checkpoint(device="cpu")
    seq = "MKVLAAGIVGLPNVGKSTLFNALTKAGIEAANYPFCTIEPNTGVVPMPDPRLDQLAEIVKPQRTLPTTMEFVDIAGLVKGAS"
    df = pred.predict([seq, seq], ["OCC1OC(O)C(O)C(O)C1O", "xx"])
    assert df.status.tolist() == ["ok", "invalid_smiles"]
    assert -3 < df.log10_kcat_mean[0] < 5 and df.log10_kcat_std[0] > 0
    assert pred.info.get("seed") is not None and "external_metrics" in pred.info
    # The shipped checkpoint is the reaction-aware one: calibrated, and it predicts without a sequence.
    assert pred.reaction_aware and set(pred.ensemble.calibration) == {"sequence", "sequence_free"}
    rows = pd.DataFrame({"sequence": [seq, None, None], "smiles": ["OCC1OC(O)C(O)C(O)C1O", None, None],
                         "reaction_smiles": [None, "OCC1OC(O)C(O)C(O)C1O.Nc1ncnc2c1ncn2C1OC(COP(=O)(O)OP(=O)(O)"
                                             "OP(=O)(O)O)C(O)C1O>>OCC1OC(O)C(O)C(O)C1OP(=O)(O)O."
                                             "Nc1ncnc2c1ncn2C1OC(COP(=O)(O)OP(=O)(O)O)C(O)C1O", None],
                         "ec": ["2.7.1.1", "2.7.1.1", None], "organism": ["Escherichia coli", "", None]})
    out = pred.predict_rows(rows)
    assert out["mode"].tolist() == ["sequence", "sequence_free", ""]
    assert out.status.tolist() == ["ok", "ok", "no_substrate_or_reaction"]
    assert np.all(out.log10_kcat_std[:2] > 0.3)  # calibrated: a realistic spread, not the raw members' one


@NEEDS_DATA
def test_training_on_real_subset_beats_mean():
    from kingems_ray.kcat.datasets import load_kcatnet

    df = load_kcatnet().sample(n=1200, random_state=0).reset_index(drop=True)
    prot_f = get_featuriser("composition")
    sub_f = get_featuriser("morgan", radius=2, n_bits=1024)
    ft = featurise_pairs(prot_f, sub_f, df.sequence.tolist(), df.smiles.tolist())
    y = df.log10_kcat.to_numpy()
    test = np.arange(len(df)) >= 1000
    cfg = TrainConfig(proj_dim=64, hidden_dim=128, max_epochs=25, patience=6, n_folds=2)
    ens, _ = train_ensemble(ft.prot[~test], ft.sub[~test], y[~test], np.arange((~test).sum()) % 2, cfg,
                            prot_f.config(), sub_f.config(), "cpu", log=False)
    mu, _ = ens.predict(ft.prot[test], ft.sub[test])
    net = regression_metrics(y[test], mu)
    base = regression_metrics(y[test], np.full(test.sum(), y[~test].mean()))
    assert net["rmse"] < base["rmse"] and net["r2"] > 0.05


@NEEDS_DATA
def test_train_cli_smoke(tmp_path):
    from kingems_ray.kcat.train import main

    out = tmp_path / "run"
    rc = main(["--out", str(out), "--max-rows", "300", "--no-tree", "--no-external", "--max-epochs", "2",
               "--proj-dim", "8", "--hidden-dim", "16", "--n-folds", "2"])
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    assert set(m["splits"]) == {"random", "dissimilar"}
    assert {"mean", "ec_median", "net"} <= set(m["splits"]["dissimilar"]["sets"]["test"])
    assert (out / "kcat_ensemble.pt").is_file() and "| split" in (out / "metrics.md").read_text()


# -------------------------------------------------------------------------------------------------- splits


def test_sequence_clusters_group_similar_sequences():
    rng = np.random.default_rng(1)
    a = "".join(rng.choice(AA, 200))
    b = "".join(rng.choice(AA, 200))
    a_mut = a[:100] + "W" + a[101:]  # point mutant: shares most 5-mers
    labels = sequence_clusters([a, b, a_mut, a, "MKV"], groups=["", "", "", "", ""])
    assert labels[0] == labels[2] == labels[3] and labels[0] != labels[1] and labels[4] not in labels[:4]
    # A shared UniProt id links otherwise unrelated sequences.
    linked = sequence_clusters([a, b], groups=["P1", "P1"])
    assert linked[0] == linked[1]


def test_group_folds_keep_groups_whole():
    groups = np.repeat(np.arange(20), RNG.integers(1, 10, 20))
    folds = assign_group_folds(groups, 5, seed=0)
    for g in np.unique(groups):
        assert len(set(folds[groups == g])) == 1
    assert set(folds) == set(range(5))


def test_ec_median_falls_back_to_broader_levels():
    assert ec_prefixes("1.1.1.-") == ["1.1.1", "1.1", "1"]
    m = ECMedian().fit(["1.1.1.1", "1.1.1.1", "1.1.1.2", "2.7.1.1"], np.array([1.0, 3.0, 10.0, -1.0]))
    out = m.predict(["1.1.1.1", "1.1.1.9", "1.2.3.4", "", "9.9.9.9"])
    np.testing.assert_allclose(out, [2.0, 3.0, 3.0, 2.0, 2.0])


def test_regression_metrics_known_values():
    y = np.array([0.0, 1.0, 2.0, 3.0])
    m = regression_metrics(y, y + 0.5)
    assert m["rmse"] == pytest.approx(0.5) and m["pearson_r"] == pytest.approx(1.0)
    assert m["r2"] == pytest.approx(1 - 1.0 / 5.0)
    assert np.isnan(regression_metrics(y, np.ones(4))["pearson_r"])
    assert regression_metrics(y, np.array([0, 1, np.nan, 3.0]))["n_dropped"] == 1


def test_predictor_dataframe_types(small_ensemble, tmp_path):
    ens, _, _, _ = small_ensemble
    pred = KcatPredictor(ens, device="cpu")
    df = pred.predict(["MKVLT"], ["CCO"])
    assert isinstance(df, pd.DataFrame) and df.status.dtype == object


def test_missing_or_foreign_checkpoint_errors(tmp_path):
    from kingems_ray.errors import DataNotFoundError

    with pytest.raises(DataNotFoundError, match="nope.pt"):
        KcatPredictor.from_checkpoint(tmp_path / "nope.pt")
    torch.save({"format": "something-else"}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a kingems-ray kcat checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
