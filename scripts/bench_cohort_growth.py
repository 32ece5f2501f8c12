"""Cohort growth benchmark in one run: this engine's samples per hour on 2 cores against MICOM's ``grow``.

    python scripts/bench_cohort_growth.py --budget-s 1200 --micom 5 --out results/cohort_growth_bench

1. **Ours**: the samples of ``configs/cohort_agora_200.csv.gz`` in file order (a random draw, so any prefix is
   representative of the 20-60-taxon mix), two worker processes, each sample: members from the compiled-model cache
   (:class:`~kingems_ray.community.cohort.MemberLibrary`, one per worker), community assembled, maximal growth,
   cooperative trade-off at 0.5, pFBA exchange fluxes. New samples stop being submitted after ``--budget-s``
   seconds; samples per hour = samples finished / wall time of the phase. When the budget ends before the cohort,
   the 200-sample wall time is extrapolated from that rate (printed with the mean taxa of the finished samples
   against the cohort's).
2. **MICOM** (one process, *beside* phase 1, so the machine runs three solver processes): the ``--micom``
   smallest samples of the cohort (which phase 1 runs first), each as
   MICOM's ``grow`` runs it: ``Community`` built from the SBML files (build), medium set, ``cooperative_tradeoff
   (fraction=0.5, fluxes=True, pfba=True)`` (grow). Each sample runs in a child process with a ``--micom-timeout``;
   a timeout is reported as a lower bound. Growth agreement per taxon: ``|ours - micom| <= rtol |micom| + 1e-5``.

Ratios are per sample on the same samples: MICOM seconds / our seconds (wall and CPU), and samples per hour on 2
cores (ours measured, MICOM's as 2 x 3600 / its per-sample wall, i.e. two independent processes).
Our per-sample time includes loading each member from the compiled-model cache the first time a worker meets it
(``build_s``: members + assembly); MICOM's build reads the SBML files. The machine is shared: CPU seconds
(``time.process_time``) are the load-independent figures, wall seconds are reported beside them.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import threading
import time
import warnings
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
_LIB = None


def _specs(cohort: str):
    from kingems_ray.community.taxonomy import ModelDB, match_taxonomy, read_taxonomy
    from kingems_ray.paths import data_root

    tax = pd.read_csv(cohort)
    samples, _ = match_taxonomy(read_taxonomy(tax, rank="strain"),
                                ModelDB.open(data_root(required=True) / "agora" / "models"), rank="strain",
                                cutoff=0.0)
    return samples


def _ours(spec, tradeoff: float) -> dict:
    """One sample in a worker (members from the cache, assemble, trade-off, pFBA)."""
    global _LIB
    warnings.filterwarnings("ignore")
    from kingems_ray.community.cohort import MemberLibrary, build_sample, pfba_fluxes
    from kingems_ray.community.diets import read_diet

    if _LIB is None:
        _LIB = MemberLibrary()
    w0, c0 = time.perf_counter(), time.process_time()
    sc = build_sample(spec, _LIB, read_diet("western"), tradeoff, [])
    x = pfba_fluxes(sc.community, sc.baseline.growth) if sc.baseline.ok else None
    return {"sample_id": spec.sample_id, "n_taxa": len(spec.taxa), "status": sc.baseline.status,
            "pfba_ok": x is not None, "wall_s": time.perf_counter() - w0, "cpu_s": time.process_time() - c0,
            "tradeoff_s": sc.baseline.seconds, "build_s": sc.build_s, "community_growth": sc.baseline.community_growth,
            "max_growth": sc.baseline.max_community_growth, "growth": sc.baseline.growth.to_dict(),
            "pid": os.getpid()}


def _micom_child(spec, tradeoff: float, q) -> None:
    warnings.filterwarnings("ignore")
    import micom

    from kingems_ray.community.cohort import MemberLibrary
    from kingems_ray.community.community import Community
    from kingems_ray.community.diets import micom_medium, read_diet

    lib = MemberLibrary()
    keys = Community([lib.get(t) for t in spec.taxa], spec.abundances).joint.env_keys  # medium ids, untimed
    med = micom_medium(read_diet("western"), keys)
    w0, c0 = time.perf_counter(), time.process_time()
    mt = pd.DataFrame({"id": [t.name for t in spec.taxa], "file": [t.files[0] for t in spec.taxa],
                       "abundance": spec.abundances})
    mc = micom.Community(mt, solver="hybrid", progress=False)
    out = {"build_wall_s": time.perf_counter() - w0, "build_cpu_s": time.process_time() - c0}
    q.put(dict(out, stage="built"))
    w1, c1 = time.perf_counter(), time.process_time()
    mc.medium = {r: f for r, f in med.items() if r in mc.reactions}
    mx = float(mc.slim_optimize())
    sol = mc.cooperative_tradeoff(fraction=tradeoff, fluxes=True, pfba=True)
    out.update(grow_wall_s=time.perf_counter() - w1, grow_cpu_s=time.process_time() - c1, micom_max=mx,
               community_growth=float(sol.growth_rate),
               growth=sol.members["growth_rate"].drop("medium", errors="ignore").to_dict(), stage="done")
    q.put(out)


def _micom(spec, tradeoff: float, timeout: float) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_micom_child, args=(spec, tradeoff, q))
    t0 = time.perf_counter()
    p.start()
    res: dict = {}
    while time.perf_counter() - t0 < timeout:
        try:
            res.update(q.get(timeout=1.0))
        except Exception:  # noqa: BLE001 - queue.Empty
            pass
        if res.get("stage") == "done" or (not p.is_alive() and q.empty()):
            break
    if p.is_alive():
        p.kill()
        res["timeout_after_s"] = time.perf_counter() - t0
    p.join()
    return res


def _micom_all(pick, a, mrows: list, out: Path) -> None:
    """MICOM on the picked samples one after another (no new one after ``--micom-deadline-s``)."""
    t0 = time.perf_counter()
    for spec in pick:
        if time.perf_counter() - t0 > a.micom_deadline_s:
            mrows.append({"sample_id": spec.sample_id, "n_taxa": len(spec.taxa), "skipped": "deadline"})
            continue
        m = _micom(spec, a.tradeoff, a.micom_timeout)
        row = {"sample_id": spec.sample_id, "n_taxa": len(spec.taxa), "load": os.getloadavg()[0], **m}
        mrows.append(row)
        print(f"  MICOM {spec.sample_id} ({len(spec.taxa)} taxa): "
              f"{json.dumps({k: v for k, v in row.items() if k != 'growth'}, default=str)}", flush=True)


def main(argv=None) -> int:
    """Run phase 1 (ours, 2 workers), phase 2 (MICOM on a few of the same samples), write the comparison."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cohort", default=str(ROOT / "configs" / "cohort_agora_200.csv.gz"))
    ap.add_argument("--budget-s", type=float, default=1200.0)
    ap.add_argument("--samples", type=int, default=None, help="only the first N samples (smoke runs)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--micom", type=int, default=5)
    ap.add_argument("--micom-timeout", type=float, default=900.0, help="per MICOM sample (build + grow)")
    ap.add_argument("--micom-deadline-s", type=float, default=1500.0, help="no MICOM sample starts after this")
    ap.add_argument("--tradeoff", type=float, default=0.5)
    ap.add_argument("--rtol", type=float, default=2e-3)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    specs = [s for s in _specs(a.cohort) if s.taxa and not s.error][: a.samples]
    res: dict = {"cohort_samples": len(specs), "cohort_mean_taxa": float(np.mean([len(s.taxa) for s in specs])),
                 "load_start": os.getloadavg()}
    res["models"] = len({t.files[0] for sp in specs for t in sp.taxa})
    # MICOM's samples: the --micom smallest of the cohort; ours runs them first, then the rest in file order
    pick = sorted(specs, key=lambda sp: (len(sp.taxa), sp.sample_id))[: a.micom]
    pick_ids = {sp.sample_id for sp in pick}
    order = pick + [sp for sp in specs if sp.sample_id not in pick_ids]
    mrows: list[dict] = []
    micom_thread = threading.Thread(target=_micom_all, args=(pick, a, mrows, out), daemon=True)
    t_m = time.perf_counter()
    micom_thread.start()
    # phase 1: ours (2 workers) while MICOM runs beside it
    rows = []
    t0 = time.perf_counter()
    with ProcessPoolExecutor(a.workers, mp_context=mp.get_context("spawn")) as ex:
        todo = list(order)
        running = set()
        while todo or running:
            while todo and len(running) < a.workers and time.perf_counter() - t0 < a.budget_s:
                running.add(ex.submit(_ours, todo.pop(0), a.tradeoff))
            if not running:
                break
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for f in done:
                r = f.result()
                rows.append(r)
                print(f"  {r['sample_id']}: {r['n_taxa']} taxa, {r['status']}, {r['wall_s']:.1f} s wall, "
                      f"{r['cpu_s']:.1f} s CPU (trade-off {r['tradeoff_s']:.1f} s), "
                      f"t={time.perf_counter() - t0:.0f} s, load {os.getloadavg()[0]:.1f}", flush=True)
    wall = time.perf_counter() - t0
    ours = pd.DataFrame(rows)
    ours.drop(columns=["growth"]).to_csv(out / "ours.csv", index=False)
    rate = len(ours) / wall * 3600.0
    res.update(ours_samples=len(ours), ours_wall_s=wall, ours_samples_per_hour_2cores=rate,
               ours_mean_taxa=float(ours["n_taxa"].mean()), ours_ok=int((ours["status"] == "optimal").sum()),
               ours_cpu_s_mean=float(ours["cpu_s"].mean()), ours_wall_s_mean=float(ours["wall_s"].mean()),
               ours_samples_per_hour_2cores_from_cpu=float(2 * 3600 / ours["cpu_s"].mean()),
               extrapolated_200_wall_h=len(specs) / rate,
               extrapolated_200_wall_h_from_cpu=len(specs) * float(ours["cpu_s"].mean()) / 2 / 3600,
               load_after_ours=os.getloadavg())
    print(json.dumps({k: v for k, v in res.items()}, default=str), flush=True)
    micom_thread.join(timeout=max(0.0, a.micom_deadline_s + a.micom_timeout - (time.perf_counter() - t_m)))
    grows = []
    for row in mrows:
        o = ours[ours["sample_id"] == row["sample_id"]]
        if not len(o):
            continue
        o = o.iloc[0]
        row.update(ours_wall_s=o["wall_s"], ours_cpu_s=o["cpu_s"], ours_growth=o["community_growth"])
        og = next(r["growth"] for r in rows if r["sample_id"] == row["sample_id"])
        if "growth" in row:
            bound_ok = row["community_growth"] >= a.tradeoff * row["micom_max"] * (1 - 1e-4)
            row["micom_meets_bound"] = bool(bound_ok)
            for t, v in row["growth"].items():
                grows.append({"sample_id": row["sample_id"], "taxon": t, "ours": og.get(t, np.nan), "micom": v,
                              "micom_meets_bound": bool(bound_ok)})
    mrows = [{k: v for k, v in r.items() if k not in ("growth", "stage")} for r in mrows]
    pd.DataFrame(mrows).to_csv(out / "micom.csv", index=False)
    mic = pd.DataFrame(mrows)
    g = pd.DataFrame(grows)
    if len(g):
        g["abs_diff"] = (g["ours"] - g["micom"]).abs()
        g["within_tol"] = g["abs_diff"] <= a.rtol * g["micom"].abs() + 1e-5
        g.to_csv(out / "growth.csv", index=False)
        feas = g[g["micom_meets_bound"]]
        res.update(taxa_within_tol=f"{int(feas['within_tol'].sum())}/{len(feas)} (samples where MICOM meets its "
                                   f"bound; rtol {a.rtol} + 1e-5)",
                   taxa_within_tol_all=f"{int(g['within_tol'].sum())}/{len(g)}",
                   max_rel_diff_feasible=float((feas["abs_diff"] / feas["micom"].abs().clip(lower=1e-9))
                                               [feas["micom"].abs() > 1e-5].max()) if len(feas) else None)
    done = mic[mic.get("grow_wall_s", pd.Series(np.nan, index=mic.index)).notna()] if len(mic) else mic
    if len(done):
        bw = done["build_wall_s"] + done["grow_wall_s"]
        bc = done["build_cpu_s"] + done["grow_cpu_s"]
        res.update(
            micom_samples=len(mic), micom_done=len(done),
            community_growth=mic[[c for c in ("sample_id", "n_taxa", "ours_growth", "community_growth",
                                               "micom_max", "micom_meets_bound", "timeout_after_s")
                                  if c in mic]].to_dict("records"),
            ratio_wall_build_grow=float(bw.sum() / done["ours_wall_s"].sum()),
            ratio_cpu_build_grow=float(bc.sum() / done["ours_cpu_s"].sum()),
            ratio_wall_grow_only=float(done["grow_wall_s"].sum() / done["ours_wall_s"].sum()),
            ratio_cpu_grow_only=float(done["grow_cpu_s"].sum() / done["ours_cpu_s"].sum()),
            micom_samples_per_hour_2cores_build_grow=float(2 * 3600 / bw.mean()),
            micom_samples_per_hour_2cores_grow_only=float(2 * 3600 / done["grow_wall_s"].mean()),
            micom_samples_per_hour_2cores_build_grow_from_cpu=float(2 * 3600 / bc.mean()),
            micom_build_grow_cpu_s_mean=float(bc.mean()), ours_cpu_s_mean_same_samples=float(done["ours_cpu_s"].mean()),
        )
    res["load_end"] = os.getloadavg()
    (out / "summary.json").write_text(json.dumps(res, indent=1, default=str))
    print(json.dumps(res, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
