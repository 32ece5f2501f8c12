"""A sampled sweep on Ray, its driver SIGKILLed mid-way and rerun: every sample stored exactly once.

    PYTHONPATH=. .venv/bin/python scripts/sweep_kill_resume.py [--config configs/uncertainty_textbook.yaml]
        [--kill-after 6] --out DIR

Runs ``kingems-ray sweep CONFIG --out DIR/sweep`` in its own session, SIGKILLs the driver and the local Ray it
started once ``--kill-after`` units are stored, reruns the same command, and checks that the stored unit ids are
exactly the planned ones, with one row per (analysis, sample) and each sample's detail table present once.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kingems_ray.distributed.config import load_config, plan_units
from kingems_ray.store.results import ResultStore


def _kill_marked(marker: str) -> None:
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmd:
            try:
                os.kill(int(d.name), signal.SIGKILL)
            except ProcessLookupError:
                pass


def _last_json(text: str) -> dict | None:
    """The last line of ``text`` that is a JSON object (the sweep's summary), if any."""
    for line in reversed(text.strip().splitlines()):
        try:
            v = json.loads(line)
        except ValueError:
            continue
        if isinstance(v, dict):
            return v
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="configs/uncertainty_textbook.yaml")
    ap.add_argument("--kill-after", type=int, default=6)
    ap.add_argument("--serial", action="store_true",
                    help="run the sweep without Ray (its --serial backend): the same store and unit ids")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    out = Path(args.out) / "sweep"
    planned = {u.unit_id: u for u in plan_units(load_config(args.config))}
    ray_tmp = tempfile.mkdtemp(prefix="kru", dir="/tmp")
    env = dict(os.environ, RAY_TMPDIR=ray_tmp, RAY_USAGE_STATS_ENABLED="0")
    cmd = [sys.executable, "-m", "kingems_ray.cli", "sweep", args.config, "--out", str(out), "--num-cpus", "2",
           "--no-progress", "--cache-dir", str(Path(args.out) / "cache")] + (["--serial"] if args.serial else [])
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        while proc.poll() is None and len(list(out.glob("analysis=*/*.parquet"))) < args.kill_after:
            time.sleep(0.2)
        if proc.poll() is not None:
            print(proc.stdout.read().decode()[-3000:])
            raise SystemExit("the sweep ended before the kill: raise the sample count or lower --kill-after")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        _kill_marked(ray_tmp)
    t_kill = time.perf_counter() - t0
    before = {p.stem for p in out.glob("analysis=*/*.parquet")}
    print(f"killed the driver after {t_kill:.1f} s with {len(before)} of {len(planned)} units stored", flush=True)
    time.sleep(2)
    ray_tmp2 = tempfile.mkdtemp(prefix="kru", dir="/tmp")
    env["RAY_TMPDIR"] = ray_tmp2
    try:
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    finally:
        _kill_marked(ray_tmp2)
    summary = _last_json(r.stdout) or {"returncode": r.returncode, "stdout_tail": r.stdout[-2000:],
                                       "stderr_tail": r.stderr[-2000:]}
    store = ResultStore(out)
    rows = store.read()
    ok = rows[rows["status"] == "ok"]
    dup = ok.duplicated(["analysis", "sample"]).sum()
    per = ok.groupby("analysis")["sample"].apply(lambda s: sorted(s.astype(int)))
    tables = {a: store.read_tables(a) for a in ok["analysis"].unique()}
    table_units = {a: t.groupby("sample")["unit_id"].nunique() for a, t in tables.items()}
    res = {
        "planned": len(planned), "stored_before_kill": len(before), "rerun": summary,
        "unit_ids_equal_planned": set(ok["unit_id"]) == set(planned), "duplicate_samples": int(dup),
        "samples_per_analysis": {a: len(v) for a, v in per.items()},
        "each_sample_once": all(v == list(range(len(v))) for v in per.values),
        "tables_one_unit_per_sample": all((v == 1).all() for v in table_units.values()),
        "seconds_to_kill": t_kill, "backend": "serial" if args.serial else "ray",
    }
    print(json.dumps(res, indent=2))
    (Path(args.out) / "kill_resume.json").write_text(json.dumps(res, indent=2, default=str))
    return 0 if res["unit_ids_equal_planned"] and res["each_sample_once"] and not dup else 1


if __name__ == "__main__":
    raise SystemExit(main())
