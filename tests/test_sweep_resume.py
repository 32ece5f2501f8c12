"""SIGKILL the sweep driver in the middle, rerun: every unit present exactly once, none lost, none duplicated."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.dataset as ds
import pytest
import yaml

from kingems_ray.distributed.config import load_config, plan_units

pytestmark = [pytest.mark.slow, pytest.mark.ray]

N_SLOW = 24


def _config(tmp: Path) -> Path:
    cfg = {
        "name": "resume_test",
        "models": {"list": ["textbook"]},
        "analyses": [{"name": "fba"}, {"name": "fva_summary", "params": {"fraction": 0.9}}]
        + [{"name": "selftest", "label": f"slow{i}", "params": {"sleep": 0.4, "i": i}} for i in range(N_SLOW)],
        "run": {"retries": 1, "cache_dir": str(tmp / "cache")},
    }
    p = tmp / "sweep.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def _kill_leftovers(marker: str) -> None:
    """Kill processes whose command line names our private Ray temp dir (they are ours), by pid."""
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            cmdline = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline:
            try:
                os.kill(int(d.name), signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_sigkill_driver_then_resume(tmp_path):
    cfg = _config(tmp_path)
    out = tmp_path / "out"
    planned = {u.unit_id for u in plan_units(load_config(cfg))}
    assert len(planned) == N_SLOW + 2
    ray_tmp = tempfile.mkdtemp(prefix="krr", dir="/tmp")  # short: Ray's socket paths have a length limit
    env = dict(os.environ, RAY_TMPDIR=ray_tmp, RAY_USAGE_STATS_ENABLED="0")
    cmd = [sys.executable, "-m", "kingems_ray.cli", "sweep", str(cfg), "--out", str(out), "--num-cpus", "2",
           "--no-progress"]
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if len(list(out.glob("analysis=*/*.parquet"))) >= 6:
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and the local Ray it started
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        _kill_leftovers(ray_tmp)
    done_before = {p.stem for p in out.glob("analysis=*/*.parquet")}
    assert 6 <= len(done_before) < len(planned), "the kill should land in the middle of the sweep"

    try:
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, start_new_session=True)
    finally:
        _kill_leftovers(ray_tmp)
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert res.returncode == 0, res.stderr[-3000:]
    summary = json.loads((out / "_summary.json").read_text())
    assert "ok (this run)" in res.stdout and str(out) in res.stdout  # the table a person reads
    assert summary["n_skipped"] == len(done_before)
    assert summary["n_ok"] == len(planned) - len(done_before)

    t = ds.dataset(out, format="parquet", partitioning="hive").to_table(columns=["unit_id", "status"]).to_pandas()
    assert t["unit_id"].is_unique, "a unit was written twice"
    assert set(t["unit_id"]) == planned, "a unit is missing"
    assert (t["status"] == "ok").all()
    assert not list(out.rglob(".*.tmp"))
    man = json.loads((out / "_manifest.json").read_text())
    assert (man["n_done"], man["n_ok"], man["pending"]) == (len(planned), len(planned), [])
