"""Pairs, structures, sequences and fallbacks of the kcat table (no Ray)."""

from __future__ import annotations

import gzip
import io
import json

import cobra
import numpy as np
import pandas as pd
import pytest

from kingems_ray.ec.kcats import validate_table
from kingems_ray.kcat.build_table import (
    TABLE_COLUMNS,
    HashPredictor,
    build_kcat_table,
    finish_table,
    main,
    prepare_rows,
    summarize,
)
from kingems_ray.kcat.fallback import DEFAULT_KCAT, KcatDatabase
from kingems_ray.kcat.pairs import (
    PairOptions,
    check_sequence,
    gene_sequences,
    model_pairs,
    parse_fasta,
    reaction_ec_map,
    reaction_ecs,
    read_sequences,
)
from kingems_ray.kcat.structures import (
    StructureResolver,
    StructureTables,
    check_smiles,
    clean_smiles,
    strip_compartment,
)
from kingems_ray.paths import data_root

DATA = data_root()
needs_data = pytest.mark.skipif(
    DATA is None, reason="reference data (../shared/data or $KINGEMS_DATA) not found"
)


class SequenceOnly:
    """A predictor with only ``predict(sequences, smiles)`` (the pre-``predict_rows`` interface)."""

    def __init__(self, inner=None) -> None:
        self.inner = inner or HashPredictor()

    def predict(self, sequences, smiles):
        return self.inner.predict(sequences, smiles)


def _toy_model() -> cobra.Model:
    """Two reactions, no annotations: A + atp -> B + adp (g1 or g2), B <-> C (g3 and g4); an exchange."""
    m = cobra.Model("toy")
    mets = {i: cobra.Metabolite(f"{i}_c", compartment="c") for i in ("A", "B", "C", "atp", "adp", "h", "h2o")}
    r1 = cobra.Reaction("R1", lower_bound=0, upper_bound=1000)
    r1.add_metabolites({mets["A"]: -1, mets["atp"]: -1, mets["h2o"]: -1, mets["B"]: 1, mets["adp"]: 1,
                        mets["h"]: 1})
    r1.gene_reaction_rule = "g1 or g2"
    r2 = cobra.Reaction("R2", lower_bound=-1000, upper_bound=1000)
    r2.add_metabolites({mets["B"]: -1, mets["C"]: 1})
    r2.gene_reaction_rule = "g3 and g4"
    ex = cobra.Reaction("EX_A", lower_bound=-10, upper_bound=1000)
    ex.add_metabolites({mets["A"]: -1})
    m.add_reactions([r1, r2, ex])
    return m


TOY_SMILES = {"A": "OCC(O)CO", "B": "OCC(=O)CO", "C": "CC(=O)C(=O)O", "atp": "C1=NC2=C(N1)N=CN=C2N",
              "adp": "not a smiles((("}
PROT = (
    "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVVHSLAKWKRQTLGQHDFSAGEGLYTHMKALRPD"
    "EDRLSP"
)


# --------------------------------------------------------------------------------------------------------
# pairs


def test_toy_pairs_directions_currency_and_cofactors():
    pairs = model_pairs(_toy_model())
    r1 = pairs[pairs.reaction_id == "R1"]
    assert set(r1.substrate) == {"A_c", "atp_c"}  # water is currency; ATP is kept as a true kinase substrate
    assert set(r1.gene_id) == {"g1", "g2"} and set(r1.direction) == {"forward"}
    r2 = pairs[pairs.reaction_id == "R2"]
    assert set(zip(r2.direction, r2.substrate)) == {("forward", "B_c"), ("reverse", "C_c")}
    assert set(r2.gene_id) == {"g3", "g4"}
    assert "EX_A" not in set(pairs.reaction_id)  # no GPR, no pair
    strict = model_pairs(_toy_model(), PairOptions(exclude_cofactors=True))
    assert set(strict[strict.reaction_id == "R1"].substrate) == {"A_c"}
    no_rev = model_pairs(_toy_model(), PairOptions(reverse=False))
    assert set(no_rev.direction) == {"forward"}


def test_only_currency_substrates_are_kept():
    m = cobra.Model("t")
    w_e, w_c = cobra.Metabolite("h2o_e", compartment="e"), cobra.Metabolite("h2o_c", compartment="c")
    r = cobra.Reaction("H2Ot", lower_bound=-1000, upper_bound=1000)
    r.add_metabolites({w_e: -1, w_c: 1})
    r.gene_reaction_rule = "b0875"
    m.add_reactions([r])
    pairs = model_pairs(m)
    assert set(zip(pairs.direction, pairs.substrate)) == {("forward", "h2o_e"), ("reverse", "h2o_c")}


def test_e_coli_core_pfk_pairs():
    from kingems_ray.gem.io import load_model

    pairs = model_pairs(load_model("textbook"))
    pfk = pairs[pairs.reaction_id == "PFK"]
    assert set(pfk.gene_id) == {"b3916", "b1723"}
    assert set(pfk.substrate_base) == {"atp", "f6p"}
    assert set(pfk.direction) == {"forward"}
    # Every reaction with a GPR is covered, and no proton / water substrate rows except water transport.
    with_gpr = {r.id for r in load_model("textbook").reactions if r.gene_reaction_rule}
    assert set(pairs.reaction_id) == with_gpr
    assert not set(pairs[pairs.reaction_id != "H2Ot"].substrate_base) & {"h", "h2o"}


def test_reaction_ecs_normalised_and_borrowed():
    r = cobra.Reaction("X")
    r.annotation["ec-code"] = ["2.7.1.11", "EC:1.1.1.1; 2.3.1.-", "2.7.1.11", "garbage"]
    assert reaction_ecs(r) == ["2.7.1.11", "1.1.1.1", "2.3.1.-"]
    donor = _toy_model()
    donor.reactions.R2.annotation["ec-code"] = "5.3.1.1"
    donor.reactions.R1.annotation["ec-code"] = "2.7.1.11"
    target = _toy_model()
    target.reactions.R1.annotation["ec-code"] = "2.7.1.2"  # its own annotation wins
    pairs = model_pairs(target, PairOptions(ec_map=reaction_ec_map([donor])))
    assert set(pairs[pairs.reaction_id == "R2"].ec) == {"5.3.1.1"}
    assert set(pairs[pairs.reaction_id == "R1"].ec) == {"2.7.1.2"}


# --------------------------------------------------------------------------------------------------------
# structures


def test_strip_compartment_and_smiles_checks():
    assert strip_compartment("glc__D_e") == "glc__D"
    assert strip_compartment("atp[c]") == "atp"
    assert strip_compartment("ac(e)") == "ac"
    assert strip_compartment("M_pyr_c") == "pyr"
    assert check_smiles("CC(=O)O") == "ok"
    assert check_smiles("C1CC") == "invalid_smiles"
    assert check_smiles("") == check_smiles(None) == check_smiles("noinchikey_inpubchem") == "no_structure"
    assert clean_smiles("N/C=C\\\\C(=O)[O-]") == "N/C=C\\C(=O)[O-]"


def test_resolver_order_and_placeholders():
    tables = StructureTables(bigg={"foo": "noinchikey_inpubchem", "bar": "CCO"},
                             metanetx={"MNXM1": "CC(=O)O"})
    res = StructureResolver(tables)
    foo = cobra.Metabolite("foo_c", compartment="c")
    foo.annotation["metanetx.chemical"] = "MNXM1"
    # The BiGG table's placeholder does not parse, so the MetaNetX entry is used.
    assert res.resolve(foo) == ("CC(=O)O", "metanetx")
    assert res.resolve(cobra.Metabolite("bar[c]")) == ("CCO", "bigg")
    inchi_met = cobra.Metabolite("eth[c]")
    inchi_met.annotation["inchi"] = "InChI=1S/C2H6O/c1-2-3/h3H,2H2,1H3"
    assert res.resolve(inchi_met) == ("CCO", "annotation_inchi")
    assert res.resolve(cobra.Metabolite("unknown_c")) == (None, "none")
    bad = StructureResolver(StructureTables(bigg={"x": "C1CC", "y": "noinchikey_inpubchem"}))
    assert bad.resolve(cobra.Metabolite("x_c")) == ("C1CC", "bigg")  # kept, so the row says invalid_smiles
    assert bad.resolve(cobra.Metabolite("y_c")) == (None, "none")


@needs_data
def test_resolver_reference_tables_e_coli_core():
    from kingems_ray.gem.io import load_model

    m = load_model("textbook")
    res = StructureResolver()
    smi, how = res.resolve(m.metabolites.get_by_id("f6p_c"))
    assert how == "bigg" and check_smiles(smi) == "ok" and "P" in smi


# --------------------------------------------------------------------------------------------------------
# sequences


def test_parse_fasta_and_read_table(tmp_path):
    fasta = ">b0001 thrL\nMKRIST\nTIITT\n>sp|P0A796|PFKA_ECOLI pfkA\nMIKKIG*\n>b0001 duplicate\nAAAA\n"
    seqs = parse_fasta(io.StringIO(fasta))
    assert seqs["b0001"] == "MKRISTTIITT"
    assert seqs["P0A796"] == "MIKKIG*" and "sp|P0A796|PFKA_ECOLI" in seqs
    path = tmp_path / "s.faa.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(fasta)
    assert read_sequences(path)["P0A796"] == "MIKKIG"
    table = tmp_path / "prodf.csv"
    pd.DataFrame({"geneid": ["PP_1", "PP_2"], "pro": ["Q1", "Q2"], "aaseq": ["mkv l", None]}).to_csv(table)
    tseqs = read_sequences(table)
    assert tseqs == {"PP_1": "MKVL", "Q1": "MKVL"}
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"x": [1]}).to_csv(bad)
    with pytest.raises(ValueError, match="sequence column"):
        read_sequences(bad)


def test_check_sequence():
    assert check_sequence(PROT) == "ok"
    assert check_sequence("") == check_sequence(None) == check_sequence(float("nan")) == "no_sequence"
    assert check_sequence("MKV1L") == "invalid_sequence"
    assert check_sequence("ATGGCTAGCTAGGATCGATCGATTAGCATCGA") == "invalid_sequence"  # DNA


def test_gene_sequences_by_annotation_alias():
    m = cobra.Model("t")
    r = cobra.Reaction("R")
    r.add_metabolites({cobra.Metabolite("a_c"): -1})
    r.gene_reaction_rule = "SYN_RS1"
    m.add_reactions([r])
    m.genes.get_by_id("SYN_RS1").annotation["refseq_old_locus_tag"] = "Synpcc7942_0001"
    assert gene_sequences(m, {"Synpcc7942_0001": "MKV"}) == {"SYN_RS1": "MKV"}


@needs_data
def test_sequence_files_shapes():
    seq_dir = DATA / "sequences"
    ecoli = read_sequences(seq_dir / "ecoli_gp.faa.gz")
    assert ecoli["b3916"].startswith("MIKKIG")
    pp = read_sequences(seq_dir / "iJN1463_prodf.csv.gz")
    assert "PP_3591" in pp and check_sequence(pp["PP_3591"]) == "ok"


# --------------------------------------------------------------------------------------------------------
# fallbacks and the table


def _tiny_db() -> KcatDatabase:
    return KcatDatabase({
        "2.7.1.11": {"f6p": {"Escherichia coli": [100.0, 200.0], "Homo sapiens": [1.0]}, "": {"X": [5.0]}},
        "2.7.1.2": {"glc__D": {"X": [40.0]}},
        "2.7.2.3": {"3pg": {"X": [1000.0]}},
        "1.1.1.1": {"etoh": {"X": [2.0]}},
    })


def test_database_fallback_order():
    db = _tiny_db()
    v = db.lookup(["2.7.1.11"], "f6p", "Escherichia coli")
    assert (v.source, v.kcat) == ("database_substrate", 150.0)
    assert db.lookup(["2.7.1.11"], "f6p").kcat == 100.0  # all organisms: median of 100, 200, 1
    v = db.lookup(["2.7.1.11"], "atp")
    assert v.source == "database_ec" and v.kcat == pytest.approx(52.5)  # median of 1, 5, 100, 200
    v = db.lookup(["2.7.1.99"], "atp")  # unknown EC, known sub-subclass 2.7.1
    assert v.source == "ec_class_median" and v.ec == "2.7.1"
    assert db.lookup(["2.7.9.9"], None).ec == "2.7"  # subclass
    assert db.lookup(["2.3.1.-"], None).ec == "2"  # class only (partial EC)
    g = db.lookup([], "atp")
    assert g.source == "global_median" and g.kcat > 0 and g.kcat_std > 0
    e = KcatDatabase.empty().lookup(["1.1.1.1"], "etoh")
    assert (e.source, e.kcat) == ("global_median", DEFAULT_KCAT)


def test_toy_table_statuses_and_fallbacks():
    m = _toy_model()
    m.reactions.R1.annotation["ec-code"] = "2.7.1.11"
    resolver = StructureResolver(StructureTables(), extra=TOY_SMILES)
    seqs = {"g1": PROT, "g2": "", "g3": "MKV1LL", "g4": PROT}  # g2 empty, g3 not a protein
    table = build_kcat_table(m, seqs, SequenceOnly(), database=_tiny_db(), resolver=resolver,
                             organism="Escherichia coli")
    assert list(table.columns) == TABLE_COLUMNS
    validate_table(table)
    assert (table.kcat > 0).all() and np.isfinite(table.kcat).all()
    by = {(r.reaction_id, r.gene_id, r.direction, r.substrate): r for r in table.itertuples()}
    assert by[("R1", "g1", "forward", "A_c")].source == "prediction"
    assert by[("R1", "g1", "forward", "A_c")].status == "ok"
    g2 = by[("R1", "g2", "forward", "A_c")]
    # No f6p-free substrate match for A: any value of the EC, E. coli's preferred (median of 100, 200).
    assert g2.status == "no_sequence" and g2.source == "database_ec" and g2.kcat == 150.0
    g3 = by[("R2", "g3", "forward", "B_c")]
    assert g3.status == "invalid_sequence" and g3.source == "global_median"
    assert by[("R2", "g4", "reverse", "C_c")].source == "prediction"
    assert (table.loc[table.source == "prediction", "mw"] > 10000).all()
    # A predictor with predict_rows scores the same rows without a usable sequence in its sequence-free mode.
    table = build_kcat_table(m, seqs, HashPredictor(), database=_tiny_db(), resolver=resolver,
                             organism="Escherichia coli")
    by = {(r.reaction_id, r.gene_id, r.direction, r.substrate): r for r in table.itertuples()}
    g2 = by[("R1", "g2", "forward", "A_c")]
    assert (g2.source, g2.status, g2.input_status) == ("prediction_sequence_free", "ok", "no_sequence")
    g3 = by[("R2", "g3", "forward", "B_c")]
    assert (g3.source, g3.input_status) == ("prediction_sequence_free", "invalid_sequence")
    assert by[("R1", "g1", "forward", "A_c")].source == "prediction"
    # MW: from the sequence, else the EC statistics of the reaction (labelled), never a silent default.
    assert set(table.loc[table.gene_id == "g1", "mw_source"]) == {"sequence"}
    assert table.loc[table.gene_id == "g2", "mw_source"].iloc[0] != "sequence"
    assert table["mw"].notna().all()


def test_invalid_smiles_row_is_shadowed_or_falls_back():
    m = _toy_model()
    r3 = cobra.Reaction("R3", lower_bound=0, upper_bound=1000)
    r3.add_metabolites({m.metabolites.A_c: -1, m.metabolites.adp_c: -1, m.metabolites.C_c: 1})
    r3.gene_reaction_rule = "g1"
    m.add_reactions([r3])
    resolver = StructureResolver(StructureTables(), extra=TOY_SMILES)
    seqs = {g: PROT for g in ("g1", "g2", "g3", "g4")}
    full = build_kcat_table(m, seqs, SequenceOnly(), database=_tiny_db(), resolver=resolver)
    # adp's SMILES is invalid, but A was predicted for the same (R3, g1): the fallback row is dropped.
    assert set(full[full.reaction_id == "R3"].substrate) == {"A_c"}
    assert full.attrs["dropped_shadowed_rows"] == 1
    prepared = prepare_rows(m, seqs, resolver=resolver)
    kept = finish_table(prepared, {}, _tiny_db(), keep_shadowed=True)
    adp = kept[kept.substrate == "adp_c"]
    assert set(adp.status) == {"invalid_smiles"} and set(adp.source) == {"global_median"}
    assert set(kept[kept.substrate == "A_c"].status) == {"not_predicted"}


def test_model_without_annotations_or_predictor_falls_back():
    m = _toy_model()
    table = build_kcat_table(m, None, None, database=KcatDatabase.empty(),
                             resolver=StructureResolver(StructureTables()))
    assert set(table.source) == {"global_median"}
    assert set(table.status) == {"no_sequence"}
    assert (table.kcat == DEFAULT_KCAT).all()
    # A predictor that fails per row gives its status, not a crash.
    seqs = {g: PROT for g in ("g1", "g2", "g3", "g4")}
    table2 = build_kcat_table(m, seqs, None, database=KcatDatabase.empty(),
                              resolver=StructureResolver(StructureTables(), extra=TOY_SMILES))
    assert set(table2.status) == {"no_predictor"}


class _FailingPredictor:
    def predict(self, sequences, smiles):
        n = len(sequences)
        nan = [np.nan] * n
        return pd.DataFrame({"log10_kcat_mean": nan, "log10_kcat_std": nan, "kcat": nan, "kcat_std": nan,
                             "status": ["featurisation_failed"] * n})


def test_failed_predictions_fall_back_with_reason():
    seqs = {g: PROT for g in ("g1", "g2", "g3", "g4")}
    table = build_kcat_table(_toy_model(), seqs, _FailingPredictor(), database=_tiny_db(),
                             resolver=StructureResolver(StructureTables(), extra=TOY_SMILES))
    assert set(table.status) == {"featurisation_failed"}
    assert "prediction" not in set(table.source)


@needs_data
def test_e_coli_core_table_and_cli(tmp_path):
    seqs = DATA / "sequences" / "ecoli_gp.faa.gz"
    out = tmp_path / "k.parquet"
    rc = main(["textbook", "--sequences", str(seqs), "--out", str(out), "--organism", "Escherichia coli"],
              predictor_loader=lambda ckpt, dev: HashPredictor())
    assert rc == 0
    table = pd.read_parquet(out)
    s = summarize(table)
    assert s["pairs_by_source"]["prediction"] >= 200
    pfk = table[table.reaction_id == "PFK"]
    assert set(pfk.gene_id) == {"b3916", "b1723"} and set(pfk.source) == {"prediction"}
    # s0001 (spontaneous) has no sequence: scored sequence-free, the reason kept in input_status.
    s0 = table[table.gene_id == "s0001"]
    assert len(s0) and set(s0.input_status) == {"no_sequence"}
    assert set(s0.source) == {"prediction_sequence_free"}
    # textbook has no EC annotations: the packaged BiGG id table gives them (PFK is 2.7.1.11).
    assert set(pfk.ec_source) == {"xref_bigg"} and "2.7.1.11" in pfk.ec.iloc[0]
    side = json.loads((tmp_path / "k.parquet.sources.json").read_text())
    assert side["pairs"] == s["pairs"] and side["pairs_by_source"] == s["pairs_by_source"]
    assert sum(side["genes_by_mw_source"].values()) == side["genes"]
    assert main(["no_such_model.xml", "--out", str(tmp_path / "x.parquet"), "--no-predict"]) == 2


def _default_checkpoint_available() -> bool:
    try:
        from kingems_ray.kcat.predict import default_checkpoint_path
    except ImportError:
        return False
    return default_checkpoint_path().exists()


@needs_data
@pytest.mark.skipif(not _default_checkpoint_available(), reason="kcat predictor / default checkpoint not shipped")
def test_e_coli_core_with_the_default_predictor():
    from kingems_ray.kcat.build_table import load_default_predictor

    table = build_kcat_table("textbook", DATA / "sequences" / "ecoli_gp.faa.gz", load_default_predictor(None, "cpu"),
                             organism="Escherichia coli")
    validate_table(table)
    pred = table[table.source == "prediction"]
    assert len(pred) >= 300 and (pred.status == "ok").all()
    # Predicted kcats sit in the usual enzyme range (1e-3 .. 1e5 1/s) and carry an ensemble spread.
    assert pred.kcat.between(1e-3, 1e5).all() and (pred.kcat_std >= 0).all()
