#!/usr/bin/env python
"""FVA speed: cobrapy + GLPK against kingems-ray's persistent HiGHS, on the same model in the same run.

Usage::

    .venv/bin/python scripts/bench_fva.py [--model iJO1366] [--fractions 1.0 0.9] [--processes 1]

Prints, for each fraction of optimum: wall time of both, the ratio, the number of LPs we solved, and the largest
absolute difference between the two tables (parity).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import cobra
import numpy as np

from kingems_ray.analysis.fva import flux_variability
from kingems_ray.ec.compile import compile_model
from kingems_ray.ec.problem import Problem
from kingems_ray.gem.io import load_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="iJO1366")
    ap.add_argument("--fractions", type=float, nargs="+", default=[1.0, 0.9])
    ap.add_argument("--processes", type=int, default=1)
    ap.add_argument("--skip-cobra", action="store_true", help="only time kingems-ray")
    args = ap.parse_args()

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; model {args.model}")
    model = load_model(args.model)
    model.solver = "glpk"
    t = time.perf_counter()
    cm = compile_model(model, level="L1")
    problem = Problem(cm)
    t_compile = time.perf_counter() - t
    print(f"compile + solver set-up: {t_compile * 1e3:.1f} ms ({len(cm.rxn_ids)} reactions)")
    print(f"{'fraction':>8} {'cobrapy+GLPK s':>15} {'kingems-ray s':>14} {'ratio':>7} {'LPs':>6} {'max |diff|':>11}"
          "  worst reaction (ours min,max | cobrapy min,max)")
    for frac in args.fractions:
        t = time.perf_counter()
        ours = flux_variability(problem, fraction=frac, processes=args.processes)
        t_ours = time.perf_counter() - t
        if args.skip_cobra:
            print(f"{frac:8.2f} {'-':>15} {t_ours:14.2f} {'-':>7} {ours.attrs['n_solves']:6d} {'-':>11}")
            continue
        t = time.perf_counter()
        ref = cobra.flux_analysis.flux_variability_analysis(model, fraction_of_optimum=frac, processes=args.processes)
        t_ref = time.perf_counter() - t
        ref = ref.loc[ours["reaction_id"]]
        diff = np.maximum(
            np.abs(ours["minimum"].to_numpy() - ref["minimum"].to_numpy()),
            np.abs(ours["maximum"].to_numpy() - ref["maximum"].to_numpy()),
        )
        k = int(np.argmax(diff))
        worst = (
            f"{ours['reaction_id'].iloc[k]} ({ours['minimum'].iloc[k]:.6g},{ours['maximum'].iloc[k]:.6g} | "
            f"{ref['minimum'].iloc[k]:.6g},{ref['maximum'].iloc[k]:.6g})"
        )
        print(
            f"{frac:8.2f} {t_ref:15.2f} {t_ours:14.2f} {t_ref / t_ours:6.1f}x {ours.attrs['n_solves']:6d} "
            f"{diff.max():11.2e}  {worst}"
        )


if __name__ == "__main__":
    main()
