"""kcats for every model (issue 10, item 3): ECs from annotations / notes / cross-references, reaction SMILES,
sequence-free predictions, MW by EC class, the source breakdown, and bad input (no Ray)."""

from __future__ import annotations

import json

import cobra
import numpy as np
import pandas as pd
import pytest

from kingems_ray.ec.kcats import validate_table
from kingems_ray.kcat.build_table import (
    KCAT_SOURCES,
    HashPredictor,
    build_kcat_table,
    finish_table,
    main,
    predict_keys,
    prepare_rows,
    summarize,
)
from kingems_ray.kcat.ec_annotations import (
    EcCrossReference,
    build_xref_table,
    normalise_ec,
    notes_ecs,
    reaction_ecs_with_source,
    write_xref_table,
)
from kingems_ray.kcat.fallback import KcatDatabase
from kingems_ray.kcat.mw_stats import DEFAULT_MW, EcMwStats, stats_rows
from kingems_ray.kcat.pairs import PairOptions, model_pairs
from kingems_ray.kcat.structures import StructureResolver, StructureTables
from kingems_ray.paths import package_data

PROT = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVVHSLAKWKRQTLGQHDFSAGEGLYTHMKALRPD"
SMILES = {"A": "OCC(O)CO", "B": "OCC(=O)CO", "C": "CC(=O)C(=O)O", "atp": "C1=NC2=C(N1)N=CN=C2N"}


def _model() -> cobra.Model:
    """R1: A + atp -> B (g1), R2: B <-> C (g2); D has no structure anywhere."""
    m = cobra.Model("toy")
    mets = {i: cobra.Metabolite(f"{i}_c", compartment="c") for i in ("A", "B", "C", "D", "atp")}
    r1 = cobra.Reaction("R1", lower_bound=0, upper_bound=1000)
    r1.add_metabolites({mets["A"]: -1, mets["atp"]: -1, mets["B"]: 1})
    r1.gene_reaction_rule = "g1"
    r2 = cobra.Reaction("R2", lower_bound=-1000, upper_bound=1000)
    r2.add_metabolites({mets["B"]: -1, mets["C"]: 1, mets["D"]: 1})
    r2.gene_reaction_rule = "g2"
    m.add_reactions([r1, r2])
    return m


def _resolver() -> StructureResolver:
    return StructureResolver(StructureTables(), extra=SMILES)


def _db() -> KcatDatabase:
    return KcatDatabase({"2.7.1.11": {"": {"Escherichia coli": [100.0, 200.0]}}})


# ---------------------------------------------------------------------------------------------------------
# ECs


def test_ec_from_annotation_notes_map_and_xref():
    r = cobra.Reaction("PFK")
    assert reaction_ecs_with_source(r) == ([], "none")
    xref = EcCrossReference({"PFK": ["2.7.1.11"]}, {"MNXR1": ["1.1.1.1"]})
    assert reaction_ecs_with_source(r, xref=xref) == (["2.7.1.11"], "xref_bigg")
    assert reaction_ecs_with_source(r, {"PFK": ["9.9.9.9"]}, xref) == (["9.9.9.9"], "ec_map")
    # Legacy notes, as cobrapy exposes them for SBML (str) and JSON (list) models.
    r.notes = {"EC Number": "EC 2.7.1.11 or 2.7.1.90", "Confidence Level": "2"}
    assert reaction_ecs_with_source(r, xref=xref) == (["2.7.1.11", "2.7.1.90"], "notes")
    r.notes = {"PROTEIN_CLASS": ["1.2.3.4"], "SUBSYSTEM": "1.2.3.5"}
    assert notes_ecs(r) == ["1.2.3.4"]
    r.annotation["ec-code"] = ["3.1.1.1"]
    assert reaction_ecs_with_source(r, xref=xref) == (["3.1.1.1"], "annotation")
    # VMH-style id unknown, but its MetaNetX annotation is.
    v = cobra.Reaction("VMH_only")
    v.annotation["metanetx.reaction"] = ["MNXR1"]
    assert reaction_ecs_with_source(v, xref=xref) == (["1.1.1.1"], "xref_metanetx")
    assert normalise_ec("EC:2.7.1.-") == "2.7.1.-" and normalise_ec("Confidence Level") is None


def test_notes_survive_an_sbml_round_trip(tmp_path):
    m = _model()
    m.reactions.R1.notes = {"EC Number": "2.7.1.11"}
    path = tmp_path / "m.xml"
    cobra.io.write_sbml_model(m, str(path))
    back = cobra.io.read_sbml_model(str(path))
    pairs = model_pairs(back, PairOptions(ec_xref=False))
    r1 = pairs[pairs.reaction_id == "R1"]
    assert set(r1.ec) == {"2.7.1.11"} and set(r1.ec_source) == {"notes"}
    assert set(pairs[pairs.reaction_id == "R2"].ec_source) == {"none"}


def test_xref_table_build_and_read(tmp_path):
    a, b, c = _model(), _model(), _model()
    for m, ec in ((a, "2.7.1.11"), (b, "2.7.1.11"), (c, "2.7.1.90")):
        m.reactions.R1.annotation["ec-code"] = ec
        m.reactions.R1.annotation["metanetx.reaction"] = "MNXR9"
    rows = build_xref_table([a, b, c])
    assert ("bigg", "R1", "2.7.1.11", 3) in rows and ("metanetx", "MNXR9", "2.7.1.11", 3) in rows
    write_xref_table(rows, tmp_path / "x.tsv.gz")
    x = EcCrossReference.from_file(tmp_path / "x.tsv.gz")
    assert x.lookup(_model().reactions.R1) == (["2.7.1.11"], "xref_bigg")


def test_packaged_xref_fills_textbook_ecs():
    if not package_data("kcat_stats", "reaction_ec_xref.tsv.gz").exists():
        pytest.skip("packaged reaction_ec_xref table not built")
    model = cobra.io.load_model("textbook")
    pairs = model_pairs(model)
    pfk = pairs[pairs.reaction_id == "PFK"]
    assert set(pfk.ec_source) == {"xref_bigg"} and "2.7.1.11" in pfk.ec.iloc[0].split(";")
    assert set(model_pairs(model, PairOptions(ec_xref=False)).ec_source) == {"none"}


# ---------------------------------------------------------------------------------------------------------
# reaction SMILES


def test_reaction_smiles_per_direction():
    rows = prepare_rows(_model(), None, PairOptions(ec_xref=False), _resolver()).rows
    r1 = rows[rows.reaction_id == "R1"]
    subs, prods = r1.reaction_smiles.iloc[0].split(">>")
    assert set(subs.split(".")) == {SMILES["A"], SMILES["atp"]} and prods == SMILES["B"]
    assert set(r1.reaction_structure) == {"complete"}
    fwd = rows[(rows.reaction_id == "R2") & (rows.direction == "forward")].iloc[0]
    rev = rows[(rows.reaction_id == "R2") & (rows.direction == "reverse")].iloc[0]
    # D has no structure: left out, the reaction is "partial"; reverse swaps the sides.
    assert fwd.reaction_smiles == f"{SMILES['B']}>>{SMILES['C']}" and fwd.reaction_structure == "partial"
    assert rev.reaction_smiles == f"{SMILES['C']}>>{SMILES['B']}"


# ---------------------------------------------------------------------------------------------------------
# sequence-free predictions, fallbacks, MW


def test_sequence_free_predictions_and_breakdown():
    m = _model()
    m.reactions.R1.annotation["ec-code"] = "2.7.1.11"
    stats = EcMwStats({"2.7.1.11": (50000.0, 3), "2": (45000.0, 10)}, 42000.0)
    table = build_kcat_table(m, None, HashPredictor(), database=_db(), resolver=_resolver(),
                             options=PairOptions(ec_xref=False), mw_stats=stats)
    validate_table(table)
    assert set(table.source) == {"prediction_sequence_free"} and set(table.status) == {"ok"}
    assert set(table.input_status) == {"no_sequence"}
    assert set(table.loc[table.gene_id == "g1", "mw"]) == {50000.0}
    assert set(table.loc[table.gene_id == "g1", "mw_source"]) == {"ec4_median"}
    assert set(table.loc[table.gene_id == "g2", "mw_source"]) == {"global_median"}
    s = summarize(table)
    assert list(s["pairs_by_source"]) == KCAT_SOURCES
    assert s["pairs_by_source"]["prediction_sequence_free"] == s["pairs"] == 3
    assert s["genes_by_mw_source"] == {"ec4_median": 1, "global_median": 1}
    assert table.attrs["source_breakdown"]["pairs"] == 3
    # The same model with a sequence for g1: sequence mode there, sequence-free for g2.
    table = build_kcat_table(m, {"g1": PROT}, HashPredictor(), database=_db(), resolver=_resolver(),
                             options=PairOptions(ec_xref=False), mw_stats=stats)
    assert set(table.loc[table.gene_id == "g1", "source"]) == {"prediction"}
    assert set(table.loc[table.gene_id == "g1", "mw_source"]) == {"sequence"}
    assert set(table.loc[table.gene_id == "g2", "source"]) == {"prediction_sequence_free"}


def test_sequence_only_predictor_leaves_rows_without_sequence_to_fallbacks():
    class SequenceOnly:
        def predict(self, sequences, smiles):
            return HashPredictor().predict(sequences, smiles)

    m = _model()
    m.reactions.R1.annotation["ec-code"] = "2.7.1.11"
    table = build_kcat_table(m, None, SequenceOnly(), database=_db(), resolver=_resolver(),
                             options=PairOptions(ec_xref=False))
    r1 = table[table.reaction_id == "R1"]
    assert set(r1.source) == {"database_ec"} and set(r1.status) == {"no_sequence"}
    assert set(table.loc[table.reaction_id == "R2", "source"]) == {"global_median"}


def test_mw_stats_hierarchy_and_build():
    stats = EcMwStats({"1.1.1.1": (30000.0, 2), "1.1.1": (35000.0, 5), "1.1": (36000.0, 6), "1": (37000.0, 9)},
                      40500.0)
    assert stats.lookup(["1.1.1.1"]) == (30000.0, "ec4_median")
    assert stats.lookup(["1.1.1.7"]) == (35000.0, "ec3_median")
    assert stats.lookup(["1.1.9.-"]) == (36000.0, "ec2_median")
    assert stats.lookup(["1.5.1.1"]) == (37000.0, "ec1_median")
    assert stats.lookup(["9.9.9.9", ""]) == (40500.0, "global_median")
    assert stats.lookup([]) == (40500.0, "global_median")
    assert EcMwStats({}).lookup(["1.1.1.1"]) == (DEFAULT_MW, "default")
    # Built from (EC, sequence) pairs: one MW per distinct pair, medians per prefix, independent arithmetic.
    rows = stats_rows([("1.1.1.1", "G" * 10), ("1.1.1.2", "A" * 10), ("2.1.1.1", "G" * 10)])
    got = {(level, p): (mw, n) for level, p, mw, n in rows}
    gly, ala, water = 57.0513, 71.0779, 18.015
    assert got[("ec4", "1.1.1.1")][0] == pytest.approx(10 * gly + water, abs=0.05)
    assert got[("ec3", "1.1.1")] == (pytest.approx(((10 * gly) + (10 * ala)) / 2 + water, abs=0.05), 2)
    assert got[("global", "")][1] == 2  # two distinct sequences


def test_packaged_mw_stats_are_sane():
    stats = EcMwStats.packaged()
    if not stats.medians:
        pytest.skip("packaged ec_mw_stats table not built")
    assert 30000 < stats.global_median < 60000
    mw, how = stats.lookup(["2.7.1.11"])  # phosphofructokinase subunits are ~35 kDa
    assert how == "ec4_median" and 25000 < mw < 60000


# ---------------------------------------------------------------------------------------------------------
# bad input: per-row status and a source, never a crash


def test_unknown_ec_and_no_annotations_give_status_and_source():
    m = cobra.Model("bare")
    x, y = cobra.Metabolite("x_c"), cobra.Metabolite("y_c")
    r = cobra.Reaction("RX", lower_bound=0, upper_bound=1000)
    r.add_metabolites({x: -1, y: 1})
    r.gene_reaction_rule = "gx"
    m.add_reactions([r])
    # Nothing known at all: no sequence, no structure, no EC -> no key, global median, labelled MW.
    table = build_kcat_table(m, None, HashPredictor(), database=_db(), resolver=StructureResolver(StructureTables()),
                             options=PairOptions(ec_xref=False), mw_stats=EcMwStats({}, 41000.0))
    assert list(table.source) == ["global_median"] and list(table.status) == ["no_sequence"]
    assert list(table.mw_source) == ["global_median"] and list(table.mw) == [41000.0]
    # An EC that does not exist: the predictor says so, the row falls back with both reasons.
    r.annotation["ec-code"] = "9.9.9.9"
    table = build_kcat_table(m, None, HashPredictor(), database=_db(), resolver=StructureResolver(StructureTables()),
                             options=PairOptions(ec_xref=False), mw_stats=EcMwStats({}, 41000.0))
    assert list(table.status) == ["no_sequence;unknown_ec"] and list(table.source) == ["global_median"]
    assert list(table.ec) == ["9.9.9.9"]


def test_unparseable_reaction_gives_status_and_source():
    prepared = prepare_rows(_model(), None, PairOptions(ec_xref=False), _resolver())
    # Break every reaction SMILES the way a bad upstream table would.
    prepared.keys = [(k[0], "", "C1CC>>", *k[3:]) for k in prepared.keys]
    preds = predict_keys(HashPredictor(), prepared.keys)
    assert {p[2] for p in preds.values()} == {"invalid_reaction_smiles"}
    table = finish_table(prepared, preds, _db())
    assert set(table.status) == {"no_sequence;invalid_reaction_smiles"}
    assert set(table.source) <= {"global_median", "database_ec", "ec_class_median"}
    assert np.isfinite(table.kcat).all()


def test_predict_rows_contract_of_the_stand_in():
    rows = pd.DataFrame({
        "sequence": [PROT, "", None, "", ""],
        "smiles": ["CCO", "CCO", None, "", "not((("],
        "reaction_smiles": ["", "", "CCO>>CC=O", "C(>>", ""],
        "ec": ["", "1.1.1.1", "", "", ""],
    })
    res = HashPredictor().predict_rows(rows)
    assert len(res) == 5
    assert list(res["mode"]) == ["sequence", "sequence_free", "sequence_free", "", ""]
    assert list(res["status"]) == ["ok", "ok", "ok", "invalid_reaction_smiles", "invalid_smiles"]
    ok = res["status"] == "ok"
    assert np.allclose(res.loc[ok, "kcat"], 10 ** res.loc[ok, "log10_kcat_mean"])
    pd.testing.assert_frame_equal(res, HashPredictor().predict_rows(rows))  # deterministic


def test_cli_prints_and_writes_the_breakdown(tmp_path, capsys):
    out = tmp_path / "k.parquet"
    rc = main(["textbook", "--out", str(out), "--organism", "Escherichia coli"],
              predictor_loader=lambda ckpt, dev: HashPredictor())
    assert rc == 0
    printed = capsys.readouterr().out
    assert "kcat source" in printed and "mw source" in printed
    side = json.loads((tmp_path / "k.parquet.sources.json").read_text())
    table = pd.read_parquet(out)
    assert side["pairs"] == summarize(table)["pairs"]
    # No sequences given: every pair is predicted sequence-free, or falls back only where nothing is known.
    assert side["pairs_by_source"]["prediction"] == 0
    from kingems_ray.paths import data_root

    # With the reference data's metabolite structures nearly every pair has a substrate; without them only the
    # pairs with an EC (packaged cross-references) are predictable.
    share = 0.9 if data_root() is not None else 0.5
    assert side["pairs_by_source"]["prediction_sequence_free"] > share * side["pairs"]
    assert "default" not in side["genes_by_mw_source"]  # the packaged EC statistics label every gene
