"""Trustworthy results: an infeasible wild type is an error with its cause, reuse is keyed on content, configs are
strict, and a sweep's resume survives damage (truncated files, SIGKILL, a second writer, a full disk)."""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cobra
import pandas as pd
import pytest
import yaml

from kingems_ray.cli import main
from kingems_ray.config_schema import ConfigError, check_sweep_config, expand_variable
from kingems_ray.distributed.config import load_config, plan_units
from kingems_ray.paths import package_data
from kingems_ray.store.lock import LOCK_NAME, LockHeld, WriterLock, host_name, writer_tag
from kingems_ray.store.results import ResultStore, read_results
from kingems_ray.validate import WildTypeError, check_kcat_table

KCATS = package_data("kcat_default", "textbook_kcats_predicted.parquet")


def _cli(capsys, argv):
    rc = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, [ln for ln in cap.err.splitlines() if ln.strip()]


# -- the wild type -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def atpm_model(tmp_path_factory):
    """iYO844-style: ATP maintenance fixed at 60 mmol/gDW/h, more than the 0.25 g/gDW enzyme pool allows at L4
    (the plain model and the ecGEM with ATPM free both grow)."""
    m = cobra.io.load_model("textbook")
    m.reactions.ATPM.lower_bound = m.reactions.ATPM.upper_bound = 60.0
    p = tmp_path_factory.mktemp("atpm") / "atpm60.xml"
    cobra.io.write_sbml_model(m, str(p))
    return p


def test_infeasible_wild_type_is_an_error_with_cause_and_hint(atpm_model, tmp_path, capsys):
    out = tmp_path / "ko.parquet"
    rc, _, err = _cli(capsys, ["knockout", atpm_model, "--kcats", KCATS, "--out", out])
    assert rc == 2 and not out.exists()
    line = err[-1]
    assert "wild type is infeasible" in line and "ATPM >= 60" in line and "pool of 0.25" in line
    assert "--pool" in line and "tune" in line  # the hint
    # the same model and kcats solve without the pool-limited maintenance (the cause is the diagnosed one)
    from kingems_ray.ec.build import build
    from kingems_ray.ec.problem import Problem

    m = cobra.io.read_sbml_model(str(atpm_model))
    m.reactions.ATPM.lower_bound = 0
    assert Problem(build(m, KCATS).compiled).growth() > 0.1


def test_infeasible_wild_type_is_a_failed_row_in_a_sweep(atpm_model, tmp_path, capsys):
    cfg = {"models": {"list": [str(atpm_model)]}, "ec": {"kcats": str(KCATS), "level": "L4"},
           "analyses": [{"name": "knockout", "ec": True, "params": {"genes": ["b0351", "b1241"]}}]}
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(cfg))
    rc, _, _ = _cli(capsys, ["sweep", p, "--serial", "--no-progress", "--out", tmp_path / "sw"])
    assert rc == 0
    df = read_results(tmp_path / "sw")
    assert list(df["status"]) == ["failed"]
    assert df["error_type"].iloc[0] == "WildTypeError" and "ATPM" in df["error_message"].iloc[0]


def test_wild_type_failing_in_some_conditions_only_keeps_rows(caplog):
    from kingems_ray.analysis.knockout import knockout_screen
    from kingems_ray.ec.build import build

    cm = build("textbook").compiled
    nocarbon = {"EX_o2_e": 20.0, "EX_nh4_e": 10.0, "EX_pi_e": 10.0}
    with caplog.at_level(logging.WARNING):
        df = knockout_screen(cm, {"model": None, "nocarbon": nocarbon}, genes=["b0351"])
    assert df.set_index("condition")["method"]["nocarbon"] == "wild_type_infeasible"
    assert df.set_index("condition")["method"]["model"] != "wild_type_infeasible"
    assert "nocarbon" in caplog.text
    with pytest.raises(WildTypeError, match="carbon source"):
        knockout_screen(cm, {"nocarbon": nocarbon}, genes=["b0351"])


# -- reuse keyed on content ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    d = tmp_path_factory.mktemp("pair")
    m = cobra.io.load_model("textbook")
    cobra.io.write_sbml_model(m, str(d / "a.xml"))
    m.reactions.PGI.knock_out()
    cobra.io.write_sbml_model(m, str(d / "b.xml"))
    diets = {}
    base = {"EX_glc__D_e": 10.0, "EX_o2_e": 20.0, "EX_nh4_e": 10.0, "EX_pi_e": 10.0, "EX_h2o_e": 100.0,
            "EX_h_e": 100.0, "EX_co2_e": 100.0}
    for name, glc in (("rich", 10.0), ("poor", 1.0)):
        pd.DataFrame({"reaction": list(base), "uptake": [glc if k == "EX_glc__D_e" else v for k, v in base.items()]}
                     ).to_csv(d / f"{name}.csv", index=False)
        diets[name] = d / f"{name}.csv"
    return d / "a.xml", d / "b.xml", diets


def test_pairwise_rerun_with_another_diet_and_coupling_recomputes(two_models, tmp_path, capsys):
    a, b, diets = two_models
    out = tmp_path / "p.parquet"
    cache = ["--cache-dir", ""]
    rc, o1, _ = _cli(capsys, ["pairwise", a, b, "--diet", diets["rich"], "--out", out, *cache])
    assert rc == 0 and "(0 reused)" in o1
    first = pd.read_parquet(out)
    rc, o2, _ = _cli(capsys, ["pairwise", a, b, "--diet", diets["rich"], "--out", out, *cache])
    assert rc == 0 and "(1 reused)" in o2  # same settings: reused
    rc, o3, _ = _cli(capsys, ["pairwise", a, b, "--diet", diets["poor"], "--coupling", "0", "--out", out, *cache])
    assert rc == 0 and "(0 reused)" in o3, o3  # another diet and coupling: recomputed, never the old rows
    third = pd.read_parquet(out)
    assert len(third) == 1
    assert third["growth_a_alone"].iloc[0] < first["growth_a_alone"].iloc[0] - 1e-3
    assert third["pair_key"].iloc[0] != first["pair_key"].iloc[0]
    # the singles cache is keyed the same way: growth alone on the poor diet is not the rich diet's
    singles = pd.read_parquet(str(out) + ".singles.parquet")
    assert singles["single_key"].nunique() == 4


def test_sweep_units_that_differ_only_in_label_are_two_rows(tmp_path, capsys):
    cfg = {"models": {"list": ["textbook"]}, "analyses": [{"name": "fba", "label": "one"},
                                                          {"name": "fba", "label": "two"}]}
    units = plan_units(load_config(cfg))
    assert len({u.unit_id for u in units}) == 2
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(cfg))
    rc, _, _ = _cli(capsys, ["sweep", p, "--serial", "--no-progress", "--out", tmp_path / "sw"])
    assert rc == 0
    assert sorted(read_results(tmp_path / "sw")["label"]) == ["one", "two"]


# -- strict configs --------------------------------------------------------------------------------------------------
def test_shipped_configs_pass_the_schema_and_typos_get_suggestions():
    from kingems_ray.distributed.cohort_units import is_cohort_config

    for f in sorted(Path(__file__).resolve().parents[1].glob("configs/*.yaml")):
        if is_cohort_config(f):  # a cohort screen has its own schema (distributed.cohort_units)
            continue
        check_sweep_config(yaml.safe_load(f.read_text()), str(f))
    base = {"models": ["textbook"], "analyses": ["fba"]}
    cases = [({**base, "ec": {"levle": "L2"}}, "unknown key 'levle' in config.ec; did you mean 'level'?"),
             ({**base, "analyses": [{"name": "fva_summary", "parmas": {}}]}, "did you mean 'params'?"),
             ({**base, "run": {"retries": "two"}}, "config.run.retries: expected an integer"),
             ({**base, "run": {"retries": -1}}, "out of range"),
             ({**base, "ec": {"level": "L5"}}, "not one of"),
             ({**base, "analyses": [{"name": "tune", "params": {"target_groth": 0.5}}]}, "'target_growth'")]
    for raw, needle in cases:
        with pytest.raises(ConfigError) as e:
            check_sweep_config(raw)
        assert needle in str(e.value), str(e.value)


def test_only_kingems_and_documented_variables_expand_and_secrets_stay_out(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KINGEMS_MODELS", str(tmp_path))
    monkeypatch.setenv("MY_SECRET_TOKEN", "hunter2")
    assert expand_variable("KINGEMS_MODELS") == str(tmp_path)
    with pytest.raises(ConfigError, match="MY_SECRET_TOKEN"):
        expand_variable("MY_SECRET_TOKEN")
    cobra.io.write_sbml_model(cobra.io.load_model("textbook"), str(tmp_path / "m.xml"))
    cfg = tmp_path / "s.yaml"
    cfg.write_text(yaml.safe_dump({"models": {"list": ["${KINGEMS_MODELS}/m.xml"]}, "analyses": ["fba"]}))
    rc, _, _ = _cli(capsys, ["sweep", cfg, "--serial", "--no-progress", "--out", tmp_path / "sw"])
    assert rc == 0
    cfg.write_text(yaml.safe_dump({"name": "${MY_SECRET_TOKEN}", "models": {"list": ["${MY_SECRET_TOKEN}/m.xml"]},
                                   "analyses": ["fba"]}))
    rc, _, err = _cli(capsys, ["sweep", cfg, "--serial", "--no-progress", "--out", tmp_path / "sw2"])
    assert rc == 2 and "MY_SECRET_TOKEN" in err[-1]
    for f in (tmp_path / "sw").rglob("*"):
        if f.is_file():
            assert b"hunter2" not in f.read_bytes()
    saved = yaml.safe_load((tmp_path / "sw" / "_config.yaml").read_text())  # the resolved config, beside results
    assert saved["models"] == [str(tmp_path / "m.xml")]


# -- plausible inputs ------------------------------------------------------------------------------------------------
def test_implausible_kcats_warn_per_row(caplog):
    df = pd.DataFrame({"reaction_id": ["A", "B", "C"], "gene_id": ["g1", "g2", "g3"], "kcat": [1e30, 5.0, 1e-9]})
    with caplog.at_level(logging.WARNING):
        w = check_kcat_table(df, "t.csv")
    assert len(w) == 2 and "row 1 A/g1" in w[0] and "row 3 C/g3" in w[1]
    assert caplog.text.count("outside the plausible range") == 2


# -- a resume that survives damage --------------------------------------------------------------------------------
def _selftest_config(tmp: Path, n: int, sleep: float = 0.0) -> Path:
    cfg = {"name": "trust", "models": {"list": ["textbook"]},
           "analyses": [{"name": "selftest", "label": f"u{i}", "params": {"sleep": sleep, "i": i}} for i in range(n)]}
    p = tmp / "sweep.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def _unit_ids(out: Path) -> list[str]:
    return sorted(p.stem for p in out.glob("analysis=*/*.parquet"))


def test_truncated_unit_is_quarantined_and_rerun_and_read_results_skips_it(tmp_path, capsys, caplog):
    cfg = _selftest_config(tmp_path, 4)
    out = tmp_path / "sw"
    assert _cli(capsys, ["sweep", cfg, "--serial", "--no-progress", "--out", out])[0] == 0
    files = sorted(out.glob("analysis=*/*.parquet"))
    assert len(files) == 4
    files[0].write_bytes(files[0].read_bytes()[:-30])  # a torn file
    with caplog.at_level(logging.WARNING):
        df = read_results(out)  # skipped and reported, not an ArrowInvalid
    assert len(df) == 3 and "damaged" in caplog.text
    rc, _, err = _cli(capsys, ["sweep", cfg, "--serial", "--no-progress", "--out", out])
    assert rc == 0 and any("moved to" in ln for ln in err)
    assert len(_unit_ids(out)) == 4 and len(read_results(out)) == 4
    assert len(list((out / "_quarantine").rglob("*.parquet"))) == 1


def test_sigkill_mid_sweep_second_writer_refused_rerun_completes(tmp_path, capsys):
    n = 16
    cfg = _selftest_config(tmp_path, n, sleep=0.3)
    out = tmp_path / "sw"
    cmd = [sys.executable, "-m", "kingems_ray.cli", "sweep", str(cfg), "--serial", "--no-progress", "--out", str(out)]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None and len(_unit_ids(out)) < 3:
            time.sleep(0.1)
        assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
        # a second sweep into the same folder is refused, naming the holder
        rc, _, err = _cli(capsys, ["sweep", cfg, "--serial", "--no-progress", "--out", out])
        assert rc == 2 and len(err) == 1
        assert f"pid {proc.pid}" in err[0] and f"host {host_name()}" in err[0]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    done = _unit_ids(out)
    assert 3 <= len(done) < n
    assert json.loads((out / LOCK_NAME).read_text())["pid"] == proc.pid  # the dead writer's lock is left behind
    dead_tmp = out / f".x.parquet.w{proc.pid}@{host_name()}.abc.tmp"  # a dead writer's leftover
    dead_tmp.write_bytes(b"partial")
    rc, _, err = _cli(capsys, ["sweep", cfg, "--serial", "--no-progress", "--out", out])
    assert rc == 0 and any("stale lock" in ln for ln in err)
    ids = _unit_ids(out)
    assert len(ids) == n == len(set(ids))
    df = read_results(out)
    assert len(df) == n and df["unit_id"].is_unique and set(df["status"]) == {"ok"}
    assert not dead_tmp.exists() and not (out / LOCK_NAME).exists()


def test_lock_takes_over_dead_pids_only_and_cleans_own_temporaries(tmp_path):
    out = tmp_path / "o"
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        out.mkdir()
        (out / LOCK_NAME).write_text(json.dumps({"host": host_name(), "pid": sleeper.pid, "started": "x"}))
        with pytest.raises(LockHeld, match=f"pid {sleeper.pid}"):
            WriterLock(out).acquire()
        # another host's lock is never taken over (its pid cannot be checked here)
        (out / LOCK_NAME).write_text(json.dumps({"host": "elsewhere", "pid": 1, "started": "x"}))
        with pytest.raises(LockHeld, match="host elsewhere"):
            WriterLock(out).acquire()
        live_tmp = out / f".a.parquet.w{sleeper.pid}@{host_name()}.x1.tmp"
        live_tmp.write_text("a live writer's")
    finally:
        sleeper.kill()
        sleeper.wait()
    (out / LOCK_NAME).write_text(json.dumps({"host": host_name(), "pid": sleeper.pid, "started": "x"}))
    with WriterLock(out) as lock:  # the sleeper is dead now: stale, taken over
        assert lock.took_over["pid"] == sleeper.pid
        own = out / f".b.parquet.{writer_tag()}.x2.tmp"
        own.write_text("mine")
        other_host = out / ".c.parquet.w1@elsewhere.x3.tmp"
        other_host.write_text("theirs")
        assert ResultStore(out).clean_temporaries() == 2  # mine and the dead sleeper's
        assert other_host.exists() and not own.exists() and not live_tmp.exists()
    assert not (out / LOCK_NAME).exists()


def test_full_disk_mid_sweep_is_one_line_and_a_rerun_completes(tmp_path, capsys, monkeypatch):
    cfg = _selftest_config(tmp_path, 6)
    out = tmp_path / "sw"
    real = ResultStore.write_unit
    calls = {"n": 0}

    def full_after_two(self, unit, record, table=None):
        calls["n"] += 1
        if calls["n"] > 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.unit_path(unit.analysis, unit.unit_id)))
        return real(self, unit, record, table)

    monkeypatch.setattr(ResultStore, "write_unit", full_after_two)
    rc, _, err = _cli(capsys, ["sweep", cfg, "--serial", "--no-progress", "--out", out])
    errors = [ln for ln in err if ": error:" in ln]
    assert rc == 2 and len(errors) == 1 and errors[0] == err[-1] and "no space left on device" in err[-1]
    assert not any("Traceback" in ln for ln in err)
    assert len(_unit_ids(out)) == 2 and not (out / LOCK_NAME).exists()
    monkeypatch.setattr(ResultStore, "write_unit", real)
    rc, _, _ = _cli(capsys, ["sweep", cfg, "--serial", "--no-progress", "--out", out])
    assert rc == 0 and len(_unit_ids(out)) == 6 and len(read_results(out)) == 6


def test_lock_names_this_host(tmp_path):
    with WriterLock(tmp_path / "o", "sweep"):
        info = json.loads((tmp_path / "o" / LOCK_NAME).read_text())
    assert info["host"] == host_name() and info["pid"] == os.getpid()
    assert socket.gethostname()


def test_fast_sbml_reader_refuses_duplicate_reaction_ids(tmp_path):
    from kingems_ray.errors import ModelLoadError
    from kingems_ray.gem.sbml_fast import read_sbml_light

    p = tmp_path / "m.xml"
    cobra.io.write_sbml_model(cobra.io.load_model("textbook"), str(p))
    text = p.read_text()
    start = text.index("<reaction ")
    end = text.index("</reaction>", start) + len("</reaction>")
    dup = tmp_path / "dup.xml"
    dup.write_text(text[:end] + text[start:end] + text[end:])
    assert len(read_sbml_light(p).reactions) == 95
    with pytest.raises(ModelLoadError, match="duplicate reaction id"):
        read_sbml_light(dup)


def test_sweep_diet_matching_no_exchange_is_a_failed_row(tmp_path, capsys):
    """A diet whose ids all miss the model would give 'optimal, growth 0': in a sweep it is a failed row instead."""
    diet = tmp_path / "d.tsv"
    diet.write_text("reaction\tflux\nEX_nothing_here(e)\t1.0\nEX_nor_this(e)\t2.0\n")
    cfg = {"models": ["textbook"], "medium": {"diet": str(diet)}, "analyses": ["fba"]}
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(cfg))
    rc, _, _ = _cli(capsys, ["sweep", p, "--serial", "--no-progress", "--out", tmp_path / "sw"])
    assert rc == 0
    df = read_results(tmp_path / "sw")
    assert list(df["status"]) == ["failed"]
    assert "matches an exchange" in df["error_message"].iloc[0]
