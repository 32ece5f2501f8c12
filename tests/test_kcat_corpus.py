"""The kcat corpus (schema, deduplication, provenance), its splits (no leakage of what they hold out),
the reaction-aware predictor's rows API (with and without a sequence, bad rows), calibration and checkpoints."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from kingems_ray.kcat.corpus import SCHEMA, clean_ec, deduplicate, split_overlap
from kingems_ray.kcat.datasets import corpus_sequence_clusters, ec3_groups, scaffold_groups
from kingems_ray.kcat.features import ec_levels, featurise_rows, get_featuriser, organism_tokens, parse_reaction
from kingems_ray.kcat.model import load_any_checkpoint, save_rxn_checkpoint
from kingems_ray.kcat.predict import ROW_COLUMNS, KcatPredictor
from kingems_ray.kcat.train import (
    RxnTrainConfig,
    coverage,
    fit_calibration,
    make_split,
    regression_metrics,
    train_rxn_ensemble,
)
from kingems_ray.paths import data_root

NEEDS_DATA = pytest.mark.skipif(data_root() is None, reason="reference data (../shared/data or $KINGEMS_DATA) "
                                "absent: the corpus sources are needed")
AA = np.array(list("ACDEFGHIKLMNPQRSTVWY"))
SUBS = ["CCO", "CC(=O)C(=O)O", "OCC1OC(O)C(O)C(O)C1O", "c1ccccc1O", "NCC(=O)O", "CC(=O)O", "c1ccc2ccccc2c1",
        "OC(=O)CCC(=O)O"]
PRODS = ["CC=O", "CC(O)C(=O)O", "OCC1OC(OP(=O)(O)O)C(O)C(O)C1O", "Oc1ccccc1O", "NCC(=O)OC", "CC(=O)OP(=O)(O)O",
         "Oc1ccc2ccccc2c1", "OC(=O)C=CC(=O)O"]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _raw(**kw):
    base = {"sequence": "", "uniprot": "", "smiles": "CCO", "substrates_smiles": "", "reaction_smiles": "",
            "reaction_origin": "", "ec": "1.1.1.1", "organism": "", "temperature": np.nan, "ph": np.nan,
            "kcat": 1.0, "mutant": False, "source": "kcatnet", "external": False}
    base.update(kw)
    base["log10_kcat"] = np.log10(base["kcat"])
    return base


def test_deduplicate_keeps_spread_and_provenance():
    rows = pd.DataFrame([
        _raw(sequence="MKV", kcat=10.0, source="kcatnet"),
        _raw(sequence="MKV", kcat=1000.0, source="dltkcat", temperature=30.0, uniprot="P1"),
        _raw(sequence="MKW", kcat=5.0),                                   # another enzyme: its own row
        _raw(kcat=2.0, organism="E. coli", source="ecmpy_brenda"),        # no sequence: keyed by EC/substrate/org
        _raw(kcat=8.0, organism="E. coli", source="ecmpy_sabio"),
        _raw(kcat=3.0, organism="B. subtilis", source="ecmpy_brenda"),
    ])
    out = deduplicate(rows)
    assert list(out.columns) == list(SCHEMA)
    assert len(out) == 4
    mkv = out[out.sequence == "MKV"].iloc[0]
    assert mkv.n_measurements == 2 and mkv.log10_kcat == pytest.approx(2.0) and mkv.log10_kcat_std == pytest.approx(1.0)
    assert mkv.sources == "kcatnet;dltkcat" and mkv.source == "kcatnet" and mkv.uniprot == "P1"
    assert mkv.temperature == 30.0
    ecoli = out[(out.sequence == "") & (out.organism == "E. coli")].iloc[0]
    assert ecoli.n_measurements == 2 and ecoli.sources == "ecmpy_sabio;ecmpy_brenda"
    assert ecoli.log10_kcat == pytest.approx(np.log10(4.0))
    np.testing.assert_allclose(out.kcat, 10 ** out.log10_kcat)
    assert out.n_measurements.sum() == len(rows)


def test_clean_ec_and_levels():
    assert clean_ec("EC 1.1.1.1; 2.7.1.1") == "1.1.1.1"
    assert clean_ec("1.1.1.-") == "1.1.1.-" and clean_ec("spontaneous") == "" and clean_ec(None) == ""
    assert ec_levels("1.1.1.-") == (["1", "1.1", "1.1.1", ""], "ok")
    assert ec_levels("2.7;1.1.1.1") == (["1", "1.1", "1.1.1", "1.1.1.1"], "ok")  # most specific wins
    assert ec_levels("x.y")[1] == "invalid_ec" and ec_levels(float("nan"))[1] == "empty_ec"
    assert organism_tokens("Escherichia coli K-12", None) == ["g:escherichia", "s:escherichia coli"]
    assert "g:bacillus" in organism_tokens(None, "Bacteria;Firmicutes;Bacillus")


def test_parse_reaction_statuses():
    s, p, st = parse_reaction("CCO.NC(=O)C1=CN(C=CC1)C>>CC=O")
    assert st == "ok" and len(s) == 2 and len(p) == 1
    assert parse_reaction("CCO>>")[2] == "invalid_reaction"
    assert parse_reaction("CCO>>C1CC(")[2] == "invalid_reaction"
    assert parse_reaction("CCO")[2] == "invalid_reaction" and parse_reaction("")[2] == "empty_reaction"


def _synthetic_corpus(n=400, seed=0):
    """Rows whose label depends on EC class, substrate and (for half the rows) the enzyme's lysine content."""
    rng = np.random.default_rng(seed)
    seqs = ["M" + "".join(rng.choice(AA, rng.integers(60, 100))) for _ in range(40)]
    rows = []
    for i in range(n):
        j = int(rng.integers(0, len(SUBS)))
        ec = f"{1 + j % 3}.{1 + j % 2}.1.{1 + j}"
        q = seqs[int(rng.integers(0, len(seqs)))] if i % 2 == 0 else ""
        y = 0.5 * (j % 3) + len(SUBS[j]) / 10 + (q.count("K") / max(len(q), 1) * 20 if q else 0.4)
        rows.append({"sequence": q, "smiles": SUBS[j], "reaction_smiles": f"{SUBS[j]}>>{PRODS[j]}" if i % 3 else "",
                     "ec": ec, "organism": "Escherichia coli" if i % 4 else "", "substrates_smiles": "",
                     "log10_kcat": y + rng.normal(0, 0.1), "uniprot": ""})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def small_rxn(one_torch_thread):
    df = _synthetic_corpus()
    prot_f = get_featuriser("composition", parts=["aac", "physchem"])
    sub_f = get_featuriser("morgan", radius=2, n_bits=128)
    cfg = RxnTrainConfig(proj_dim=16, hidden_dim=32, ec_dim=8, max_epochs=20, patience=6, n_members=3,
                         batch_size=32, rxn_bits=128, org_bins=16, lr=3e-3)
    rf = featurise_rows(df, prot_f, sub_f, cfg.rxn_bits, cfg.org_bins)
    calib = np.arange(len(df)) % 5 == 0
    ens, rec = train_rxn_ensemble(rf, df["log10_kcat"].to_numpy(), np.arange(len(df)).astype(str), calib, cfg,
                                  prot_f.config(), sub_f.config(), log=False)
    return df, ens, rec


def test_rxn_ensemble_learns_both_modes(small_rxn, tmp_path):
    df, ens, rec = small_rxn
    assert set(ens.calibration) == {"sequence", "sequence_free"}
    pred = KcatPredictor(ens, device="cpu")
    out = pred.predict_rows(df)
    assert list(out.columns) == ROW_COLUMNS and len(out) == len(df)
    assert (out.status == "ok").all()
    assert (out["mode"] == np.where(df.sequence != "", "sequence", "sequence_free")).all()
    assert regression_metrics(df.log10_kcat, out.log10_kcat_mean)["r2"] > 0.5
    free = pred.predict_rows(df.assign(sequence=""))
    assert (free["mode"] == "sequence_free").all()
    assert regression_metrics(df.log10_kcat, free.log10_kcat_mean)["r2"] > 0.3


def test_predict_rows_bad_rows_get_status_not_crash(small_rxn):
    _, ens, _ = small_rxn
    pred = KcatPredictor(ens, device="cpu")
    seq = "MKVLAAGIVGLPNVGKSTLFNALTKAGIEAANYPFC"
    rows = pd.DataFrame({
        "sequence": [seq, "", None, "ACGTACGTACGTACGTAC", seq, "", "", seq],
        "smiles": ["CCO", "", None, "CCO", "not((", "", "CCO", None],
        "reaction_smiles": ["", "CCO>>CC=O", None, "", "garbage>>", "", "x>>y", ""],
        "ec": ["1.1.1.1", "", None, "9.99.99.99", "1.1.1.-", "", "not-an-ec", "4.1.1.1"],
    })
    out = pred.predict_rows(rows)
    assert out.status.tolist() == ["ok", "ok", "no_substrate_or_reaction", "ok", "ok",
                                   "no_substrate_or_reaction", "ok", "ok"]
    assert out["mode"].tolist() == ["sequence", "sequence_free", "", "sequence_free", "sequence",
                                    "", "sequence_free", "sequence"]
    assert out.warnings[3] == "invalid_sequence" and "invalid_reaction" in out.warnings[4]
    assert "invalid_smiles" in out.warnings[4] and "invalid_ec" in out.warnings[6]
    ok = out.status == "ok"
    assert out[ok][["log10_kcat_mean", "log10_kcat_std", "kcat", "kcat_std"]].notna().all().all()
    assert out.loc[~ok, "kcat"].isna().all() and (out.log10_kcat_std[ok] > 0).all()
    # Missing columns mean unknown; an empty frame gives an empty frame with the same columns.
    only_ec = pred.predict_rows(pd.DataFrame({"ec": ["1.1.1.1"]}))
    assert only_ec.status[0] == "ok" and only_ec["mode"][0] == "sequence_free"
    assert list(pred.predict_rows(rows.iloc[:0]).columns) == ROW_COLUMNS
    # The strict pair API keeps its statuses.
    old = pred.predict([seq, "", seq], ["CCO", "CCO", "x(("])
    assert old.status.tolist() == ["ok", "empty_sequence", "invalid_smiles"]


def test_rxn_checkpoint_round_trip_weights_only(small_rxn, tmp_path):
    df, ens, _ = small_rxn
    path = save_rxn_checkpoint(ens, tmp_path / "rxn.pt", half=False)
    raw = torch.load(path, weights_only=True, map_location="cpu")
    assert raw["format"] == "kingems-ray/kcat-rxn-ensemble" and len(raw["members"]) == 3
    a = KcatPredictor(ens, device="cpu").predict_rows(df)
    b = KcatPredictor.from_checkpoint(path, device="cpu").predict_rows(df)
    np.testing.assert_allclose(a.log10_kcat_mean, b.log10_kcat_mean, atol=1e-6)
    np.testing.assert_allclose(a.log10_kcat_std, b.log10_kcat_std, atol=1e-6)
    loaded = load_any_checkpoint(save_rxn_checkpoint(ens, tmp_path / "h.pt", half=True))
    for mode, c in ens.calibration.items():
        assert loaded.calibration[mode]["a"] == pytest.approx(c["a"])
        assert loaded.calibration[mode]["b"] == pytest.approx(c["b"])


def test_calibration_fixes_a_too_narrow_spread():
    rng = np.random.default_rng(0)
    true_sd = rng.uniform(0.3, 1.5, 4000)
    resid = rng.normal(0, true_sd)
    reported = true_sd / 3.0  # three times too narrow, like the old checkpoint
    before = coverage(resid, np.zeros_like(resid), reported)
    c = fit_calibration(resid[:2000], reported[:2000])
    after = coverage(resid[2000:], np.zeros(2000), c["a"] * reported[2000:] + c["b"])
    assert before["within_1std"] < 0.35
    assert abs(after["within_1std"] - 0.683) < 0.04 and abs(after["within_2std"] - 0.954) < 0.03
    assert c["a"] == pytest.approx(3.0, rel=0.15)


def test_splits_hold_out_whole_groups():
    df = _synthetic_corpus(600, seed=3)
    df["sequence"] = [s if i % 5 else "" for i, s in enumerate(df["sequence"])]
    # many small groups: 60 EC-3 classes, 60 substrates (30 ring scaffolds, 30 acyclic alcohols)
    subs = [f"C1{'C' * k}1" for k in range(2, 32)] + [f"{'C' * k}O" for k in range(1, 31)]
    df["ec"] = [f"{1 + i % 6}.{i % 10}.{i % 7}.{i % 3}" for i in range(len(df))]
    df["smiles"] = [subs[(i * 7) % len(subs)] for i in range(len(df))]
    clusters = corpus_sequence_clusters(df)
    ec3 = ec3_groups(df["ec"].tolist())
    scaf = scaffold_groups(df["smiles"].tolist())
    tr, te = make_split("dissimilar", df, clusters, ec3, scaf, frac=0.2)
    assert te.any() and not (tr & te).any()
    o = split_overlap(df[tr], df[te])
    assert o["shared_sequence"] == 0.0
    assert set(clusters[te]).isdisjoint(set(clusters[tr]))
    # rows without a sequence sharing an (EC, substrate) pair with the test rows are dropped from training
    held = set(zip(df.ec[te], df.smiles[te]))
    assert not any((q == "" and (e, s) in held) for q, e, s in zip(df.sequence[tr], df.ec[tr], df.smiles[tr]))
    tr, te = make_split("ec3", df, clusters, ec3, scaf, frac=0.2)
    assert te.any() and set(ec3[te]).isdisjoint(set(ec3[tr]))
    assert split_overlap(df[tr], df[te])["shared_ec_substrate"] == 0.0
    tr, te = make_split("scaffold", df, clusters, ec3, scaf, frac=0.2)
    assert te.any() and set(scaf[te]).isdisjoint(set(scaf[tr]))
    assert split_overlap(df[tr], df[te])["shared_smiles"] == 0.0
    tr, te = make_split("random", df, clusters, ec3, scaf, frac=0.2)
    assert 0.1 < te.mean() < 0.3 and not (tr & te).any()


@NEEDS_DATA
def test_corpus_slice_schema_dedup_provenance():
    from kingems_ray.kcat.corpus import build_corpus

    corpus, report = build_corpus(sources=["prokcat_sabio", "wholecell", "catpred_val"], log=False)
    assert list(corpus.columns) == list(SCHEMA)
    assert report["raw_rows"]["catpred_val"] == 2084 and report["dedup_rows"]["catpred_val"] > 1900
    assert corpus.external.sum() == (corpus.source == "catpred_val").sum()
    assert (corpus.kcat > 0).all() and np.allclose(corpus.kcat, 10 ** corpus.log10_kcat)
    assert corpus.source.isin(["prokcat_sabio", "wholecell", "catpred_val"]).all()
    assert (corpus.sources.str.split(";").map(len) >= 1).all() and (corpus.n_measurements >= 1).all()
    # one row per key: (sequence, substrate) with a sequence; (EC, substrate, organism) without
    for _ext, part in corpus.groupby("external"):
        seq = part[part.sequence != ""]
        assert not seq.duplicated(["sequence", "smiles"]).any()
        free = part[part.sequence == ""]
        assert not free.duplicated(["ec", "smiles", "organism"]).any()
    assert (corpus.log10_kcat_std[corpus.n_measurements == 1] == 0).all()
    assert (corpus[corpus.source == "wholecell"].organism == "Escherichia coli").all()


def test_retrieval_features_never_see_their_own_label():
    from kingems_ray.kcat.retrieval import KEYS, WIDTH, RetrievalIndex, row_keys

    lv = [["1", "1.1", "1.1.1", "1.1.1.1"], ["1", "1.1", "1.1.1", "1.1.1.1"], ["2", "2.7", "2.7.1", ""]]
    keys = row_keys(["MKV", "MKV", ""], ["CCO", "CCO", "CC(=O)O"], lv, ["Escherichia coli K-12", "", None],
                    ["", "CCO>>CC=O", None])
    assert keys.shape == (3, len(KEYS)) and (keys[2, KEYS.index("seq")] == 0) and keys[2, KEYS.index("ec4")] == 0
    idx = RetrievalIndex.fit(keys[:2], np.array([1.0, 3.0]))
    f = idx.lookup(keys)
    j = WIDTH * KEYS.index("ec_sub")
    assert f[0, j] == 1 and f[0, j + 1] == pytest.approx(0.0) and f[0, j + 2] == pytest.approx(np.log(3))
    assert not f[2].any()  # nothing shared with the indexed rows
    assert not RetrievalIndex.drop_sequence(f)[:, : WIDTH].any()
    # Out of fold: a row alone in its key gets "not found", never its own label.
    solo = row_keys(["MAAA", "MCCC"], ["C", "N"], [["", "", "", ""]] * 2, ["", ""], ["", ""])
    assert not RetrievalIndex.out_of_fold(solo, np.array([5.0, -5.0]), n_folds=2, seed=1).any()
    back = RetrievalIndex.from_state(idx.to_state())
    np.testing.assert_array_equal(back.lookup(keys), f)


def test_retrieval_block_is_used_and_shipped(small_rxn, tmp_path):
    df, ens, _ = small_rxn
    assert "ret" in ens.hparams["dims"] and ens.retrieval is not None
    loaded = load_any_checkpoint(save_rxn_checkpoint(ens, tmp_path / "r.pt", half=False))
    assert loaded.retrieval is not None
    a = KcatPredictor(loaded, device="cpu").predict_rows(df)
    b = KcatPredictor(ens, device="cpu").predict_rows(df)
    np.testing.assert_allclose(a.log10_kcat_mean, b.log10_kcat_mean, atol=1e-6)
