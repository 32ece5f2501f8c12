"""Milliseconds per simulated-annealing step on iML1515 (ECMpy kcats), against rebuilding the LP per step.

A step = propose new kcats for the tuned pairs + ``set_kcat`` (matrix coefficients, in place) + warm re-solve +
accept / revert (in place). The baseline, measured in the same run, is what the reference design does per step:
compile the model with the new kcats + create the solver + solve (``compile_model`` + ``Problem`` + ``optimize``).

Usage::

    .venv/bin/python scripts/bench_tuning.py [--steps 300] [--n-top 20] [--rebuilds 5] [--model iML1515]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from kingems_ray.analysis.tuning import AnnealingSettings, _ChainSpec, pair_spreads, run_chain, select_targets
from kingems_ray.ec.build import build
from kingems_ray.ec.compile import compile_model
from kingems_ray.ec.problem import Problem
from kingems_ray.paths import data_file


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--n-top", type=int, nargs="+", default=[20, 500])
    ap.add_argument("--rebuilds", type=int, default=5)
    args = ap.parse_args()

    print(f"load average at start: {os.getloadavg()[0]:.1f} (2-core machine; timings are wall clock)")
    t0 = time.perf_counter()
    b = build(data_file("bigg", "iML1515.xml.gz"), data_file("kcat", "ecmpy_iML1515_reaction_kcat_MW.csv.gz"))
    cm = b.compiled
    print(f"build iML1515 + ECMpy kcats: {time.perf_counter() - t0:.2f} s; LP {cm.lp.n_rows} x {cm.lp.n_cols}, "
          f"{len(cm.pairs)} pairs, {len(cm.coef_entries)} kcat coefficients")

    # -- baseline: rebuild + solve per step ------------------------------------------------------------------------
    rng = np.random.default_rng(0)
    times = []
    table = b.kcats.copy()
    for _ in range(args.rebuilds):
        table["kcat"] = b.kcats["kcat"].to_numpy() * np.exp(rng.normal(0, 0.1, len(table)))
        t = time.perf_counter()
        p = Problem(compile_model(b.model, table, level="L4", pool=0.25))
        g = p.growth()
        times.append(time.perf_counter() - t)
    rebuild_ms = 1000 * float(np.median(times))
    print(f"load average now: {os.getloadavg()[0]:.1f}")
    print(f"baseline rebuild+solve per step: {rebuild_ms:.1f} ms (median of {args.rebuilds}; last growth {g:.4f})")

    # -- in-place annealing steps ----------------------------------------------------------------------------------
    sigma, _, _ = pair_spreads(cm.pairs)
    for n_top in args.n_top:
        for strategy in ("dual", "primal"):
            p = Problem(cm)
            p.solver.set_strategy(strategy)
            tdf = select_targets(p, n_top)
            tg = tdf.index.to_numpy(int)
            s = AnnealingSettings(temperature=0.05, cooling_rate=1.0, min_temperature=0.0, max_iterations=args.steps,
                                  max_unchanged=10**9, n_top=n_top, strategy=strategy, enable_restart=False)
            spec = _ChainSpec(0, np.random.SeedSequence(1), tg, sigma, cm.pairs["kcat"].to_numpy(), s,
                              1e9, None, [])
            t = time.perf_counter()
            out = run_chain(p, spec)
            dt = time.perf_counter() - t
            n = len(out["rows"]) - 1
            ms = 1000 * dt / n
            acc = np.mean([r["accepted"] for r in out["rows"][1:]])
            print(f"annealing step, n_top={n_top:4d}, {strategy:6s} simplex: {ms:7.2f} ms/step over {n} steps "
                  f"(accepted {acc:.0%}, best growth {out['best_score']:.4f}); "
                  f"speed-up vs rebuild {rebuild_ms / ms:.0f}x, vs reference 8.5 s/step {8500 / ms:.0f}x")
            # A rejected step: propose, set, re-solve, write the old kcats back (in place).
            rng = np.random.default_rng(2)
            cur = p.kcats[tg]
            t = time.perf_counter()
            for _ in range(args.steps // 2):
                p.set_kcats(tg, cur * np.exp(rng.normal(0, 0.5, len(tg))))
                p.growth()
                p.set_kcats(tg, cur)
            ms_rej = 1000 * (time.perf_counter() - t) / (args.steps // 2)
            print(f"  rejected step (set + solve + revert), n_top={n_top}, {strategy}: {ms_rej:.2f} ms/step; "
                  f"speed-up vs rebuild {rebuild_ms / ms_rej:.0f}x")


if __name__ == "__main__":
    main()
