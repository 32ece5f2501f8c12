"""Featurisers, the embedding cache and the ESM-2 loading path of the kcat predictor."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch

from kingems_ray.errors import DataNotFoundError
from kingems_ray.kcat.cache import EmbeddingCache, cached_featurise, sequence_key
from kingems_ray.kcat.features import (
    OK,
    CompositionFeaturiser,
    FeatureBatch,
    clean_sequence,
    get_featuriser,
    list_featurisers,
)

ETHANOL_SMILES = "CCO"
ETHANOL_INCHI = "InChI=1S/C2H6O/c1-2-3/h3H,2H2,1H3"
LYSOZYME = "KVFGRCELAAAMKRHGLDNYRGYSLGNWVCAAKFESNFNTQATNRNTDGSTDYGILQINSRWWCNDGRTPGSRNLCNIPCSALLSSDITASVNCAKKIVSDGNGMNAWVAWRNRCKGTDVQAWIRGCRL"  # noqa: E501


# -------------------------------------------------------------------------------------------------- substrates


def test_registry_builds_by_name():
    f = get_featuriser("morgan", radius=2, n_bits=1024)
    assert f.dim == 1024 and f.config() == {"name": "morgan",
                                             "params": {"radius": 2, "n_bits": 1024, "descriptors": False}}
    assert {"morgan", "composition", "esm2"} <= set(list_featurisers())
    with pytest.raises(KeyError, match="unknown featuriser"):
        get_featuriser("no-such-encoder")


def test_morgan_counts_of_ethanol():
    # Ethanol, radius 2: 3 atom environments at radius 0 + 3 at radius 1; radius 2 adds nothing new
    # (the CH2-centred radius-1 environment already spans the molecule): 6 distinct features, once each.
    fb = get_featuriser("morgan", radius=2, n_bits=1024).featurise([ETHANOL_SMILES])
    v = fb.values[0]
    assert fb.status.tolist() == [OK]
    assert v.sum() == 6 and (v > 0).sum() == 6 and v.max() == 1
    # Counts, not bits: two identical carbons in ethane share one radius-0 environment counted twice.
    ethane = get_featuriser("morgan", radius=0, n_bits=1024).featurise(["CC"]).values[0]
    assert ethane.max() == 2


def test_inchi_equals_smiles_and_descriptors_appended():
    f = get_featuriser("morgan", radius=2, n_bits=512, descriptors=True)
    fb = f.featurise([ETHANOL_SMILES, ETHANOL_INCHI])
    assert f.dim == fb.values.shape[1] > 512
    np.testing.assert_allclose(fb.values[0], fb.values[1], rtol=1e-5)
    assert abs(fb.values[0, 512] - 46.07) < 0.05  # MolWt of ethanol


def test_invalid_substrates_get_status_not_exception():
    fb = get_featuriser("morgan").featurise(["CCO", "C1CC(", "", "InChI=1S/garbage", None])
    assert fb.status.tolist() == [OK, "invalid_smiles", "empty_smiles", "invalid_inchi", "empty_smiles"]
    assert np.all(fb.values[1:] == 0)
    assert fb.ok.tolist() == [True, False, False, False, False]


# -------------------------------------------------------------------------------------------------- proteins


def test_clean_sequence_statuses():
    assert clean_sequence(" mkv lt* ") == ("MKVLT", OK)
    assert clean_sequence("")[1] == "empty_sequence"
    assert clean_sequence(None)[1] == "empty_sequence"
    assert clean_sequence("ACGTACGTACGTACGTAA")[1] == "invalid_sequence"  # DNA
    assert clean_sequence("MKV1LT")[1] == "invalid_sequence"
    assert clean_sequence("MKXLT")[1] == OK  # ambiguous residue letters are still protein


def test_composition_blocks_sum_to_one():
    f = CompositionFeaturiser()
    fb = f.featurise([LYSOZYME, "", "ACGTACGTACGTACGT"])
    assert fb.status.tolist() == [OK, "empty_sequence", "invalid_sequence"]
    v = fb.values[0]
    aac, dpc, kmer, phys = v[:20], v[20:420], v[420:420 + f.kmer_bins], v[420 + f.kmer_bins:]
    for block in (aac, dpc, kmer):
        assert block.sum() == pytest.approx(1.0, abs=1e-5)
    assert phys[0] == len(LYSOZYME)
    assert aac[0] == pytest.approx(LYSOZYME.count("A") / len(LYSOZYME))
    n_aa = sum(LYSOZYME[i:i + 2] == "AA" for i in range(len(LYSOZYME) - 1))  # overlapping pairs
    assert dpc[0] == pytest.approx(n_aa / (len(LYSOZYME) - 1))
    assert np.all(fb.values[1:] == 0)
    assert phys[2] == pytest.approx(14.3, abs=0.1)  # hen egg-white lysozyme ~14.3 kDa
    assert f.dim == v.shape[0]


def test_composition_parts_selectable():
    f = get_featuriser("composition", parts=["aac", "physchem"])
    assert f.dim == 28 and f.featurise(["MKV"]).values.shape == (1, 28)
    with pytest.raises(ValueError):
        get_featuriser("composition", parts=["nope"])


# -------------------------------------------------------------------------------------------------- cache


class CountingFeaturiser(CompositionFeaturiser):
    """Composition encoder that counts how many sequences it encoded."""

    def __init__(self):
        super().__init__(parts=["aac"])
        self.seen: list[str] = []

    def featurise(self, items):
        self.seen.extend(items)
        return super().featurise(items)


def test_cache_hits_avoid_reencoding(tmp_path):
    f = CountingFeaturiser()
    path = tmp_path / "emb.parquet"
    cache = EmbeddingCache(path, f.cache_key())
    seqs = ["MKV", "MKVLT", "MKV", ""]
    first = cache.encode(f, seqs)
    assert f.seen == ["MKV", "MKVLT", ""]  # de-duplicated before encoding
    assert first.status.tolist() == [OK, OK, OK, "empty_sequence"]
    # A fresh cache object reads the Parquet file: nothing is encoded again.
    f.seen.clear()
    again = EmbeddingCache(path, f.cache_key()).encode(f, list(reversed(seqs)))
    assert f.seen == []
    np.testing.assert_array_equal(again.values, first.values[::-1])
    assert again.status.tolist() == first.status.tolist()[::-1]
    # A new sequence is the only miss.
    cached_featurise(f, ["MKV", "WWW"], tmp_path)
    cached_featurise(f, ["MKV", "WWW"], tmp_path)
    assert f.seen == ["MKV", "WWW"]
    assert sequence_key("MKV", "a") != sequence_key("MKV", "b")


# -------------------------------------------------------------------------------------------------- ESM-2


def _save_tiny_esm2(folder, name="esm2_t2_tiny_test"):
    """A randomly initialised 2-layer ESM-2 saved in fair-esm's checkpoint layout."""
    import esm

    torch.manual_seed(0)
    alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
    model = esm.model.esm2.ESM2(num_layers=2, embed_dim=32, attention_heads=4, alphabet=alphabet)
    model.eval()
    cfg = argparse.Namespace(encoder_layers=2, encoder_embed_dim=32, encoder_attention_heads=4,
                             token_dropout=True)
    # fair-esm's files prefix every weight with "encoder." and keep the config under cfg["model"].
    state = {f"encoder.{k}": v for k, v in model.state_dict().items() if not k.startswith("contact_head.regr")}
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"model": state, "cfg": {"model": cfg}}, folder / f"{name}.pt")
    return model, alphabet, name


def test_tiny_esm2_from_hub_layout(tmp_path):
    hub = tmp_path / "hub"
    model, alphabet, name = _save_tiny_esm2(hub / "checkpoints")
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(hub))
    try:
        f = get_featuriser("esm2", model_name=name, layer=-1, device="cpu")
    finally:
        torch.hub.set_dir(old)
    assert f.dim == 32 and f.layer == 2
    seqs = [LYSOZYME[:40], "MKTAYIAK", "", "ACGTACGTACGTACGT"]
    fb = f.featurise(seqs)
    assert fb.values.shape == (4, 32)
    assert fb.status.tolist() == [OK, OK, "empty_sequence", "invalid_sequence"]
    # Same numbers as running the original (unsaved) model by hand: the loader restored every weight.
    _, _, toks = alphabet.get_batch_converter()([("a", "MKTAYIAK")])
    with torch.no_grad():
        ref = model(toks, repr_layers=[2])["representations"][2][0, 1:9].mean(0).numpy()
    np.testing.assert_allclose(fb.values[1], ref, atol=1e-5)
    per_res, status = f.embed_per_residue(seqs[:2])
    assert per_res[0].shape == (40, 32) and per_res[1].shape == (8, 32)
    # Batching with padding does not change a sequence's embedding.
    np.testing.assert_allclose(f.featurise(["MKTAYIAK"]).values[0], fb.values[1], atol=1e-5)


def test_esm2_explicit_path_and_missing_file(tmp_path):
    _, _, name = _save_tiny_esm2(tmp_path)
    f = get_featuriser("esm2", model_name=name, checkpoint=str(tmp_path / f"{name}.pt"), layer=1)
    assert isinstance(f.featurise(["MKV"]), FeatureBatch)
    missing = tmp_path / "nowhere" / "esm2_t33_650M_UR50D.pt"
    with pytest.raises(DataNotFoundError, match="esm2_t33_650M_UR50D.pt"):
        get_featuriser("esm2", checkpoint=str(missing))
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "empty_hub"))
    try:
        with pytest.raises(DataNotFoundError, match=r"checkpoints/esm2_t6_8M_UR50D\.pt"):
            get_featuriser("esm2", model_name="esm2_t6_8M_UR50D")
    finally:
        torch.hub.set_dir(old)


class _Payload:
    """A pickle whose loading would create a marker file (the proof-of-concept ESM payload)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_crafted_esm_checkpoint_is_refused_and_never_run(tmp_path):
    from kingems_ray.kcat.esm_encoder import load_esm_model

    marker = tmp_path / "pwned"
    path = tmp_path / "esm2_t6_8M_UR50D.pt"
    torch.save({"model": {}, "cfg": {"model": _Payload(marker)}}, path)
    assert not marker.exists()
    with pytest.raises(ValueError, match="refusing to load ESM checkpoint.*weights_only=True.*re-save"):
        load_esm_model("esm2_t6_8M_UR50D", path)
    assert not marker.exists(), "the crafted pickle was executed"
    # The same file through the featuriser (how a kcat checkpoint's config would name it).
    with pytest.raises(ValueError, match="refusing"):
        get_featuriser("esm2", model_name="esm2_t6_8M_UR50D", checkpoint=str(path))
    assert not marker.exists()
