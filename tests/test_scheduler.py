"""Scheduler on the session's local Ray: same records as the serial path, failures recorded, retries, dead workers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kingems_ray.distributed.config import load_config, plan_units
from kingems_ray.distributed.scheduler import run_units
from kingems_ray.store.results import ResultStore, Unit, read_results, unit_id

pytestmark = pytest.mark.ray


def _textbook_config(tmp_path):
    bad = tmp_path / "broken.xml"
    bad.write_text("<sbml><model>not really</sbml>")
    return {
        "models": {"list": ["textbook", str(bad)]},
        "ec": {"kcats": "fallback", "level": "L4"},
        "analyses": [
            "fba",
            {"name": "fva_summary", "params": {"fraction": 0.9}},
            {"name": "fba", "label": "fba_ec", "ec": True},
            {"name": "ecgem", "ec": True},
            {"name": "knockout", "params": {"genes": ["b0008", "b0114", "b1136", "b2276"]}},
        ],
    }


def test_ray_equals_serial_and_bad_model_fails_alone(ray_session, tmp_path):
    cfg = load_config(_textbook_config(tmp_path))
    units = plan_units(cfg)
    assert len(units) == 10 and len({u.unit_id for u in units}) == 10
    cache = tmp_path / "cache"
    s_serial = run_units(units, tmp_path / "serial", backend="serial", cache_dir=cache, progress=False)
    s_ray = run_units(units, tmp_path / "ray", backend="ray", n_workers=2, cache_dir=cache, progress=False)
    assert (s_serial.n_ok, s_serial.n_failed) == (5, 5)
    assert (s_ray.n_ok, s_ray.n_failed) == (5, 5)
    a = read_results(tmp_path / "serial").set_index("unit_id").sort_index()
    b = read_results(tmp_path / "ray").set_index("unit_id").sort_index()
    assert list(a.index) == list(b.index) == sorted(u.unit_id for u in units)
    for col in ("status", "error_type", "label", "analysis"):
        assert list(a[col].fillna("")) == list(b[col].fillna("")), col
    for col in ("growth", "median_variability", "n_essential", "ec_n_enzymes"):
        np.testing.assert_allclose(a[col].to_numpy(float), b[col].to_numpy(float), rtol=1e-7, equal_nan=True)
    failed = a[a["status"] == "failed"]
    assert set(failed["error_type"]) == {"ModelLoadError"} and (failed["attempts"] == 1).all()
    assert all("broken.xml" in m for m in failed["model"])
    ok = a[a["status"] == "ok"]
    plain = ok[ok["label"] == "fba"]["growth"].iloc[0]
    import cobra

    assert plain == pytest.approx(cobra.io.load_model("textbook").slim_optimize(), rel=1e-6)
    assert ok[ok["label"] == "fba_ec"]["growth"].iloc[0] <= plain + 1e-9
    ko = ResultStore(tmp_path / "ray").read_tables("knockout")
    assert sorted(ko["gene_id"]) == ["b0008", "b0114", "b1136", "b2276"]
    # Rerun: everything is skipped.
    again = run_units(units, tmp_path / "ray", backend="ray", n_workers=2, cache_dir=cache, progress=False)
    assert (again.n_skipped, again.n_run) == (10, 0)


def _selftest_units(n: int, params: dict) -> list[Unit]:
    out = []
    for i in range(n):
        key = f"selftest:{i}"
        p = dict(params, tag=f"u{i}")
        out.append(Unit(unit_id(key, "selftest", p), "textbook", key, "selftest", p))
    return out


def test_retries_then_success_and_bounded_failure(ray_session, tmp_path):
    marks = tmp_path / "marks"
    flaky = _selftest_units(3, {"fail_times": 1, "marker_dir": str(marks)})
    hopeless = _selftest_units(1, {"fail_times": 99, "marker_dir": str(marks / "h")})
    typed = _selftest_units(1, {"error": "bad input on purpose"})
    store = ResultStore(tmp_path / "out")
    st = run_units(flaky + hopeless + typed, store, backend="ray", n_workers=2, retries=2, progress=False)
    df = read_results(store.root).set_index("unit_id")
    for u in flaky:
        assert df.loc[u.unit_id, "status"] == "ok" and df.loc[u.unit_id, "attempts"] == 2
    h = df.loc[hopeless[0].unit_id]
    assert (h["status"], h["error_type"], h["attempts"]) == ("failed", "RuntimeError", 3)
    assert "planned failure 3" in h["error_message"]
    t = df.loc[typed[0].unit_id]  # typed input errors are not retried
    assert (t["status"], t["error_type"], t["attempts"]) == ("failed", "KingemsError", 1)
    assert st.n_retries == 3 + 2


def test_crashed_worker_is_replaced_and_its_units_rerun(ray_session, tmp_path):
    marks = tmp_path / "marks"
    crash = _selftest_units(1, {"exit_times": 1, "marker_dir": str(marks)})
    others = _selftest_units(4, {"sleep": 0.05})[1:]
    store = ResultStore(tmp_path / "out")
    st = run_units(crash + others, store, backend="ray", n_workers=2, progress=False)
    df = read_results(store.root).set_index("unit_id")
    assert len(df) == 4 and (df["status"] == "ok").all()
    assert df.loc[crash[0].unit_id, "attempts"] == 2
    assert st.n_worker_restarts >= 1
    man = json.loads((store.root / "_manifest.json").read_text())
    assert man["n_done"] == 4 and man["pending"] == []


def test_stuck_unit_times_out_without_stopping_the_sweep(ray_session, tmp_path):
    stuck = _selftest_units(1, {"sleep": 60})
    quick = _selftest_units(4, {"sleep": 0.01})[1:]
    store = ResultStore(tmp_path / "out")
    st = run_units(stuck + quick, store, backend="ray", n_workers=2, unit_timeout=3, progress=False)
    df = read_results(store.root).set_index("unit_id")
    assert df.loc[stuck[0].unit_id, "error_type"] == "UnitTimeout"
    assert (df.drop(index=stuck[0].unit_id)["status"] == "ok").all() and len(df) == 4
    assert st.elapsed_s < 40


def test_config_paths_ids_and_pairs(tmp_path, monkeypatch):
    import shutil

    import cobra

    from kingems_ray.errors import KingemsError

    model = cobra.io.load_model("textbook")
    for d in ("a", "b"):
        (tmp_path / d / "models").mkdir(parents=True)
        cobra.io.save_json_model(model, str(tmp_path / d / "models" / "ecoli_core.json"))
    shutil.copy(tmp_path / "a" / "models" / "ecoli_core.json", tmp_path / "a" / "models" / "other.json")
    cfg = {"models": {"folder": "models"}, "analyses": ["fba", {"name": "pairwise", "pairs": "all"}]}
    for d in ("a", "b"):
        (tmp_path / d / "sweep.yaml").write_text(json.dumps(cfg))  # JSON is YAML
    monkeypatch.chdir(tmp_path)
    ua = plan_units(load_config(tmp_path / "a" / "sweep.yaml"))
    ub = plan_units(load_config(tmp_path / "b" / "sweep.yaml"))
    # paths relative to the config file; 2 models -> 2 fba units + 1 pair
    assert sorted(u.analysis for u in ua) == ["fba", "fba", "pairwise"]
    assert all(u.model.startswith("a/models/") for u in ua)  # sent relative to the working directory
    # same content -> same ids, wherever the file lives (the two copies in a/ are one model content)
    fba_a = {u.unit_id for u in ua if u.analysis == "fba"}
    assert len(fba_a) == 1 and fba_a == {u.unit_id for u in ub}
    only = load_config(tmp_path / "a" / "sweep.yaml", models_pattern="other*")
    assert [m.rsplit("/", 1)[-1] for m in only.models] == ["other.json"]
    (tmp_path / "bad.yaml").write_text(json.dumps({"models": ["textbook"], "analyses": ["no_such_analysis"]}))
    with pytest.raises(KingemsError, match="unknown analysis"):
        load_config(tmp_path / "bad.yaml")
