"""Results store: deterministic unit ids, atomic files, a dataset pyarrow reads, failures recorded, manifest."""

from __future__ import annotations

import pandas as pd
import pyarrow.dataset as ds

from kingems_ray.store.results import ResultStore, Unit, read_results, unit_id


def _unit(i: int, analysis: str = "fba") -> Unit:
    params = {"i": i}
    return Unit(unit_id(f"sha256:{i}", analysis, params), f"m{i}.xml", f"sha256:{i}", analysis, params)


def test_unit_id_is_deterministic_and_sensitive():
    a = unit_id("sha256:x", "fba", {"a": 1, "b": [1, 2]})
    assert a == unit_id("sha256:x", "fba", {"b": [1, 2], "a": 1})  # key order does not matter
    assert a != unit_id("sha256:y", "fba", {"a": 1, "b": [1, 2]})
    assert a != unit_id("sha256:x", "fva_summary", {"a": 1, "b": [1, 2]})
    assert a != unit_id("sha256:x", "fba", {"a": 2, "b": [1, 2]})


def test_write_read_dataset_and_failures(tmp_path):
    store = ResultStore(tmp_path)
    units = [_unit(i) for i in range(3)] + [_unit(9, "knockout")]
    store.write_units(units)
    store.write_unit(units[0], {"status": "ok", "growth": 0.87, "n_active": 40, "model_id": "m0"})
    store.write_unit(units[1], {"status": "ok", "growth": 0.5, "n_active": 41, "flag": True})
    store.write_unit(units[2], {"status": "failed", "error_type": "ModelLoadError", "error_message": "bad file"})
    table = pd.DataFrame({"gene_id": ["g1", "g2"], "growth": [0.0, 0.8]})
    store.write_unit(units[3], {"status": "ok", "n_essential": 1}, table)

    # plain pyarrow reads the folder: unit_id and status on every row, partitioned by analysis
    t = ds.dataset(tmp_path, format="parquet", partitioning="hive").to_table(columns=["unit_id", "status", "analysis"])
    df = t.to_pandas()
    assert sorted(df["unit_id"]) == sorted(u.unit_id for u in units)
    assert set(df["analysis"]) == {"fba", "knockout"}
    full = read_results(tmp_path).set_index("unit_id")
    assert full.loc[units[2].unit_id, "status"] == "failed"
    assert full.loc[units[2].unit_id, "error_type"] == "ModelLoadError"
    assert full.loc[units[2].unit_id, "error_message"] == "bad file"
    assert full.loc[units[0].unit_id, "growth"] == 0.87
    assert full.loc[units[3].unit_id, "n_essential"] == 1
    tables = store.read_tables("knockout")
    assert list(tables["unit_id"].unique()) == [units[3].unit_id] and len(tables) == 2
    assert not list(tmp_path.rglob(".*.tmp"))


def test_rewrite_replaces_and_manifest_counts(tmp_path):
    store = ResultStore(tmp_path)
    u = _unit(1)
    store.write_unit(u, {"status": "failed", "error_type": "RuntimeError", "error_message": "x"})
    store.write_unit(u, {"status": "ok", "growth": 1.0, "attempts": 2})
    assert store.done_statuses() == {u.unit_id: "ok"}
    assert len(store.unit_files()) == 1
    man = store.write_manifest(planned=[u.unit_id, _unit(2).unit_id])
    assert (man["n_planned"], man["n_done"], man["n_ok"], man["n_failed"]) == (2, 1, 1, 0)
    assert man["pending"] == [_unit(2).unit_id]
    assert store.read_manifest()["done"] == {u.unit_id: "ok"}


def test_temporaries_are_ignored_and_cleaned(tmp_path):
    store = ResultStore(tmp_path)
    u = _unit(1)
    store.write_unit(u, {"status": "ok"})
    import subprocess

    from kingems_ray.store.lock import host_name

    dead = subprocess.Popen(["true"])
    dead.wait()
    # what a SIGKILL in the middle of a write leaves: a temporary tagged with the dead writer's pid and host
    stale = store.unit_path("fba", "x").with_name(f".half-written.parquet.w{dead.pid}@{host_name()}.ab12.tmp")
    stale.write_bytes(b"PAR1 garbage")
    untagged = stale.with_name(".someone-elses.parquet.tmp")  # not ours to judge: left alone (until a day old)
    untagged.write_bytes(b"PAR1")
    assert store.done_units() == {u.unit_id}
    assert len(ds.dataset(tmp_path, format="parquet", partitioning="hive").to_table()) == 1
    assert store.clean_temporaries() == 1 and not stale.exists() and untagged.exists()
