"""The kcat table: format checks, adapters (kinGEMs, ECMpy), aliases, skips, aggregation."""

from __future__ import annotations

import cobra
import numpy as np
import pandas as pd
import pytest

from kingems_ray.ec.kcats import (
    from_kingems_reference,
    match_to_model,
    read_kcat_table,
    sequence_mw,
    validate_table,
    write_kcat_table,
)
from kingems_ray.errors import KcatTableError


@pytest.fixture(scope="module")
def core():
    return cobra.io.load_model("textbook")


def test_validate_maps_reverse_suffix_and_default_direction():
    df = pd.DataFrame({"reaction_id": ["PGI", "PGI_reverse"], "gene_id": ["b4025", "b4025"], "kcat": [10, 5]})
    out = validate_table(df)
    assert list(out["direction"]) == ["both", "reverse"]
    assert list(out["reaction_id"]) == ["PGI", "PGI"]


def test_aggregation_max_mean_all(core):
    df = validate_table(
        pd.DataFrame(
            {
                "reaction_id": ["PGI"] * 3,
                "gene_id": ["b4025"] * 3,
                "kcat": [1.0, 2.0, 6.0],
                "substrate": ["a", "b", "c"],
            }
        )
    )
    assert match_to_model(df, core, aggregate="max")[0]["kcat"].tolist() == [6.0]
    assert match_to_model(df, core, aggregate="mean")[0]["kcat"].tolist() == [3.0]
    assert np.isclose(match_to_model(df, core, aggregate="geomean")[0]["kcat"].iloc[0], 12 ** (1 / 3))
    assert len(match_to_model(df, core, aggregate="all")[0]) == 3
    with pytest.raises(KcatTableError, match="aggregate"):
        match_to_model(df, core, aggregate="median-ish")


def test_skips_are_counted_and_alias_reported(core):
    df = validate_table(
        pd.DataFrame(
            {
                "reaction_id": ["PGI", "NOT_A_RXN", "PGI", "PGI", "FORt"],
                "gene_id": ["b4025", "b0001", "b9999", "b1241", "b0904"],
                "kcat": [1.0, 1.0, 1.0, 1.0, 2.0],
            }
        )
    )
    table, rep = match_to_model(df, core)
    assert rep.n_rows == 5 and rep.n_used == 2
    assert rep.skipped["reaction not in model"] == 1
    assert rep.skipped["gene not in model"] == 1
    assert rep.skipped["gene not in the reaction's GPR"] == 1  # b1241 is a real gene, not PGI's
    assert rep.renamed == {"FORt": "FORti"}
    assert set(table["reaction_id"]) == {"PGI", "FORti"}
    assert "FORt->FORti" in rep.summary()


def test_sequence_mw():
    # glycine dipeptide: 2 residues + water
    assert np.isclose(sequence_mw("GG"), 2 * 57.0519 + 18.015)
    with pytest.raises(ValueError):
        sequence_mw("")
    with pytest.raises(ValueError):
        sequence_mw("AC1D")


def test_mw_from_sequence_and_gene_map(core):
    df = validate_table(pd.DataFrame({"reaction_id": ["PGI"], "gene_id": ["b4025"], "kcat": [1.0], "sequence": ["GG"]}))
    t, _ = match_to_model(df, core)
    assert np.isclose(t["mw"].iloc[0], sequence_mw("GG"))
    t, _ = match_to_model(df, core, gene_mw={"b4025": 61000.0})
    assert t["mw"].iloc[0] == 61000.0


def test_kingems_adapter_counts_dropped_rows(core):
    raw = pd.DataFrame(
        {
            "Reactions": ["PGI", "PGI_reverse", "ATPM", "PGK"],
            "Single_gene": ["b4025", "b4025", np.nan, "b2926"],
            "kcat_mean": [43.0, 17.0, np.nan, 21.0],
            "kcat_updated": [43.0, 17.0, np.nan, -0.5],
            "kcat_std": [1.0, 1.0, np.nan, 1.0],
        }
    )
    a = validate_table(from_kingems_reference(raw))
    assert len(a) == 3 and set(a["direction"]) == {"forward", "reverse"}
    b = from_kingems_reference(raw, column="kcat_updated")
    assert b.attrs["skipped"]["non-positive kcat in the kinGEMs table"] == 1
    _, rep = match_to_model(validate_table(b), core)
    assert rep.n_rows == 4 and rep.n_used == 2
    with pytest.raises(KcatTableError, match="no column"):
        from_kingems_reference(raw, column="nope")


def test_ecmpy_adapter_expands_isoenzyme_index(tmp_path, core):
    # ECMpy names the k-th OR clause "R_numk"; PFK = b3916 or b1723
    p = tmp_path / "ecmpy.csv"
    pd.DataFrame(
        {
            "": ["PFK_num1", "PFK_num2", "NOPE", "PGI_reverse_num1", "SUCDi"],
            "kcat": [10.0, 20.0, 1.0, 7.0, 30.0],
            "MW": [35000, 32000, 1, 60000, 120000],
            "kcat_MW": [1, 1, 1, 1, 1],
        }
    ).to_csv(p, index=False)
    raw = read_kcat_table(p)
    t, rep = match_to_model(raw, core)
    got = {(r, g, d): k for r, g, d, k in zip(t["reaction_id"], t["gene_id"], t["direction"], t["kcat"])}
    assert got[("PFK", "b3916", "both")] == 10.0 and got[("PFK", "b1723", "both")] == 20.0
    assert got[("PGI", "b4025", "reverse")] == 7.0
    # SUCDi is a 4-subunit complex: each subunit gets the enzyme's kcat and a quarter of its MW
    assert t.loc[t["reaction_id"] == "SUCDi", "mw"].tolist() == [30000.0] * 4
    assert rep.skipped == {"reaction not in model": 1}
    assert rep.info["reaction-level rows expanded to gene rows"] == 4


def test_reference_table_reads(data_dir, core):
    t, rep = match_to_model(
        read_kcat_table(data_dir / "kingems/e_coli_core_fva_ablation/tuned_data.csv"), core, aggregate="max"
    )
    assert rep.n_rows == 541
    assert rep.skipped["no gene or no kcat in the kinGEMs table"] == 66
    assert rep.renamed == {"FORt": "FORti"}
    assert (t["kcat"] > 0).all() and t["mw"].notna().all()


def test_write_roundtrip(tmp_path):
    df = pd.DataFrame({"reaction_id": ["PGI"], "gene_id": ["b4025"], "kcat": [3.0]})
    for name in ("k.parquet", "k.csv"):
        write_kcat_table(df, tmp_path / name)
        back = read_kcat_table(tmp_path / name)
        assert back["kcat"].tolist() == [3.0]
