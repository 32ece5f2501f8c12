"""Enzyme-constrained FVA of iML1515 with ECMpy's kcats: growth, kcat report, SBML export, FVA timings.

Usage: .venv/bin/python scripts/bench_ecfva.py [--pool 0.25] [--fraction 0.9] [--skip-export]

Baselines: the same FVA with processes=1 (measured here) and the kinGEMs reference's ~50 min with 8 workers for an
enzyme-constrained FVA of iML1515 (DESIGN.md; not re-run here). Also reports L4 growth at ECMpy's own pool
(ptot 0.56 g/gDW x f 0.406 = 0.227 g/gDW, x sigma 0.5 = 0.114 g/gDW).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from kingems_ray.analysis.fva import flux_variability, variability_summary
from kingems_ray.ec.build import build
from kingems_ray.ec.export import export_sbml
from kingems_ray.ec.problem import Problem
from kingems_ray.gem.io import load_model
from kingems_ray.paths import data_file

REFERENCE_FVA_S = 50 * 60  # kinGEMs, iML1515 ecFVA, 8 workers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pool", type=float, default=0.25)
    ap.add_argument("--fraction", type=float, default=0.9)
    ap.add_argument("--skip-export", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    model = load_model(data_file("bigg", "iML1515.xml.gz"))
    t1 = time.perf_counter()
    kcats = data_file("kcat", "ecmpy_iML1515_reaction_kcat_MW.csv.gz")
    b = build(model, kcats, level="L4", pool=args.pool)
    t2 = time.perf_counter()
    print(f"load iML1515 {t1 - t0:.1f} s; read + match + compile kcats {t2 - t1:.1f} s")
    print(b.kcat_report.summary())
    print(f"compile report: {b.compiled.report}")
    p = Problem(b.compiled)
    plain = Problem(build(model).compiled).growth()
    print(f"growth: plain GEM {plain:.6g} 1/h; L4 ecGEM at pool {args.pool} g/gDW {p.growth():.6g} 1/h")
    for pool, why in ((0.227, "ECMpy ptot*f"), (0.227 * 0.5, "ECMpy ptot*f*sigma(0.5)")):
        p.set_pool(pool)
        print(f"  L4 growth at pool {pool:.4g} g/gDW ({why}): {p.growth():.6g} 1/h")
    p.set_pool(args.pool)
    # one warm ecFBA after a kcat edit, as annealing does it
    k0 = p.kcats
    t0 = time.perf_counter()
    for j in range(0, min(len(k0), 400), 4):
        p.set_kcat(j, k0[j] * 2)
        p.growth()
        p.set_kcat(j, k0[j])
    n = len(range(0, min(len(k0), 400), 4))
    print(f"warm ecFBA after a kcat edit: {(time.perf_counter() - t0) / n * 1e3:.1f} ms")
    if not args.skip_export:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            g = export_sbml(b, Path(tmp) / "eciML1515.xml")
            print(
                f"SBML export + reload + cobra solve: growth {g:.9g} vs HiGHS {p.growth():.9g} "
                f"(|diff| {abs(g - p.growth()):.1e}), {time.perf_counter() - t0:.1f} s"
            )
    res = {}
    for procs in (1, 2):
        t0 = time.perf_counter()
        df = flux_variability(b.compiled, fraction=args.fraction, processes=procs)
        res[procs] = (time.perf_counter() - t0, df)
        s = variability_summary(df)
        print(
            f"L4 FVA at {args.fraction:.0%}, processes={procs}: {res[procs][0]:.1f} s, {df.attrs['n_solves']} LPs, "
            f"{(df['status'] != 'optimal').sum()} non-optimal, median variability {s['median_variability']:.4g}"
        )
    a = res[1][1][["minimum", "maximum"]].to_numpy()
    b2 = res[2][1][["minimum", "maximum"]].to_numpy()
    # Different warm-start paths end on different vertices within HiGHS' 1e-7 feasibility tolerance: on iML1515
    # the largest gap was 1.8e-5 on a bound of 487 (4e-8 relative).
    same = np.allclose(a, b2, rtol=1e-7, atol=1e-6)
    print(
        f"serial vs parallel: max |diff| {np.nanmax(np.abs(a - b2)):.2e}, "
        f"max relative {np.nanmax(np.abs(a - b2) / np.maximum(1.0, np.abs(a))):.1e}"
    )
    t1s, t2s = res[1][0], res[2][0]
    print(
        f"parallel == serial: {same}; speed-up x{t1s / t2s:.2f}; vs kinGEMs reference (~50 min, 8 workers): "
        f"x{REFERENCE_FVA_S / t2s:.0f} faster on 2 cores"
    )


if __name__ == "__main__":
    main()
