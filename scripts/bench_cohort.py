"""Perturbation screen over a cohort as one Ray sweep, with the driver SIGKILLed mid-run and resumed.

    python scripts/bench_cohort.py --samples 200 --out /tmp/cohort_screen            # the full screen
    python scripts/bench_cohort.py --samples 4 --max-taxa 6 --per-unit 3 --kill-after 5 --out /tmp/screen_small

Writes a cohort sweep YAML (the ``configs/cohort_screen.yaml`` perturbations: each taxon removed, 5 diet
supplements, 1 probiotic at 10 %) for the first ``--samples`` samples of ``configs/cohort_agora_200.csv.gz``
(optionally cut to their ``--max-taxa`` most abundant taxa), runs ``kingems-ray sweep`` on a local Ray with
``--num-cpus`` CPUs, SIGKILLs the driver's process group once ``--kill-after`` units are written, reruns the same
command, and checks that every planned unit has exactly one record. Prints units, wall time of both runs, per-unit
time, the workers' peak RSS, and the per-perturbation cost by community size for extrapolation.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import yaml

ROOT = Path(__file__).resolve().parents[1]


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


def main(argv=None) -> int:
    """Run the screen, kill, resume, verify."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--max-taxa", type=int, default=None)
    ap.add_argument("--per-unit", type=int, default=12)
    ap.add_argument("--kill-after", type=int, default=10, help="units written before the driver is killed (0: no kill)")
    ap.add_argument("--num-cpus", type=int, default=2)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    out = Path(a.out)
    work = out.parent / (out.name + "_cfg")
    work.mkdir(parents=True, exist_ok=True)
    tax = pd.read_csv(ROOT / "configs" / "cohort_agora_200.csv.gz")
    ids = list(dict.fromkeys(tax["sample_id"]))[: a.samples]
    tax = tax[tax["sample_id"].isin(ids)]
    if a.max_taxa:
        # each sample's most abundant taxa (a stable sort keeps the file's order among ties)
        tax = tax.sort_values("abundance", ascending=False, kind="stable").groupby("sample_id").head(a.max_taxa)
        tax = tax.sort_index()
    tax.to_csv(work / "taxonomy.csv", index=False)
    cfg = yaml.safe_load((ROOT / "configs" / "cohort_screen.yaml").read_text())
    cfg["cohort"]["taxonomy"] = str(work / "taxonomy.csv")
    cfg["cohort"]["metadata"] = str(ROOT / "configs" / "cohort_agora_200_metadata.csv")
    cfg["cohort"]["perturbations_per_unit"] = a.per_unit
    (work / "screen.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    from kingems_ray.distributed.cohort_units import load_cohort_config, plan_cohort

    units, samples, _ = plan_cohort(load_cohort_config(work / "screen.yaml"))
    planned = {u.unit_id for u in units}
    n_pert = sum(len(u.params["perturbations"]) for u in units)
    print(f"{len(samples)} samples, {sum(len(s.taxa) for s in samples)} taxa, {n_pert} perturbations, "
          f"{len(units)} units", flush=True)
    ray_tmp = tempfile.mkdtemp(prefix="krc", dir="/tmp")
    env = dict(os.environ, RAY_TMPDIR=ray_tmp, RAY_USAGE_STATS_ENABLED="0")
    cmd = [sys.executable, "-m", "kingems_ray.cli", "sweep", str(work / "screen.yaml"), "--out", str(out),
           "--num-cpus", str(a.num_cpus), "--workers", str(a.num_cpus), "--no-progress"]
    res: dict = {"samples": len(samples), "taxa": sum(len(s.taxa) for s in samples), "perturbations": n_pert,
                 "units": len(units), "load_start": os.getloadavg()}
    t0 = time.perf_counter()
    killed_at = None
    if a.kill_after:
        proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        try:
            while proc.poll() is None:
                if len(list(out.glob("analysis=*/*.parquet"))) >= a.kill_after:
                    os.killpg(proc.pid, signal.SIGKILL)  # the driver and the local Ray it started
                    killed_at = time.perf_counter() - t0
                    break
                time.sleep(0.5)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            _kill_marked(ray_tmp)
    done_before = {p.stem for p in out.glob("analysis=*/*.parquet")}
    res.update(killed_after_s=killed_at, units_done_before_kill=len(done_before))
    print(f"killed after {killed_at} s with {len(done_before)} units written", flush=True)
    t1 = time.perf_counter()
    try:
        run = subprocess.run(cmd, env=env, capture_output=True, text=True, start_new_session=True)
    finally:
        _kill_marked(ray_tmp)
        shutil.rmtree(ray_tmp, ignore_errors=True)
    res["resume_wall_s"] = time.perf_counter() - t1
    res["total_wall_s"] = time.perf_counter() - t0
    if run.returncode != 0:
        print(run.stdout[-3000:], run.stderr[-3000:])
        return 1
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    t = ds.dataset(out, format="parquet", partitioning="hive").to_table().to_pandas()
    res.update(resume_summary=summary, unique=bool(t["unit_id"].is_unique), all_planned=set(t["unit_id"]) == planned,
               n_records=len(t), skipped_on_resume=summary.get("n_skipped"), n_failed=int((t["status"] != "ok").sum()),
               unit_elapsed_s_median=float(t["elapsed_s"].median()), unit_elapsed_s_max=float(t["elapsed_s"].max()),
               worker_peak_rss_mb_max=float(t["worker_peak_rss_mb"].max()) if "worker_peak_rss_mb" in t else None,
               load_end=os.getloadavg())
    per = t[["label", "elapsed_s", "n_taxa", "n_perturbations"]].copy() if "n_perturbations" in t else None
    if per is not None:
        per["s_per_perturbation"] = per["elapsed_s"] / per["n_perturbations"].clip(lower=1)
        res["s_per_perturbation_median"] = float(per["s_per_perturbation"].median())
    (out.parent / (out.name + "_bench.json")).write_text(json.dumps(res, indent=1, default=str))
    print(json.dumps(res, indent=1, default=str))
    return 0 if res["unique"] and res["all_planned"] else 2


if __name__ == "__main__":
    sys.exit(main())
