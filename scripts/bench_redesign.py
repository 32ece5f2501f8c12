#!/usr/bin/env python
"""CPU seconds of the hot paths the issue-11 redesign touched, for comparing two checkouts on a loaded machine.

Usage::

    PYTHONPATH=<checkout> .venv/bin/python scripts/bench_redesign.py [--reps 2]

Times (``time.process_time``, so other jobs on the machine matter less than for wall time), on iML1515 with the
ECMpy kcats: FVA of the plain GEM (fraction 0.9, serial), a knockout screen of the L4 ecGEM on glucose (serial, all
genes), 100 annealing steps on the L4 ecGEM (n_top 20), and 200 snapshot-free kcat edits + solves. Prints JSON
with the best of ``--reps`` for each. Run it once per checkout, alternating, and compare the ratios.
"""

from __future__ import annotations

import argparse
import importlib
import json
import time
from pathlib import Path

import numpy as np

from kingems_ray.analysis.fva import flux_variability
from kingems_ray.analysis.knockout import knockout_screen
from kingems_ray.analysis.tuning import tune_kcats
from kingems_ray.ec.build import build

try:
    from kingems_ray.ec.problem import Problem
except ImportError:  # old layout
    Problem = importlib.import_module("kingems_ray.solver" + ".problem").Problem

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def best_cpu(fn, reps: int) -> float:
    out = []
    for _ in range(reps):
        c = time.process_time()
        fn()
        out.append(time.process_time() - c)
    return min(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args()
    plain = build(DATA / "bigg" / "iML1515.xml.gz")
    ec = build(plain.model, DATA / "kcat" / "ecmpy_iML1515_reaction_kcat_MW.csv.gz", level="L4")
    res = {}
    res["fva_plain_s"] = best_cpu(lambda: flux_variability(plain.compiled, fraction=0.9), args.reps)
    res["knockout_ec_glucose_s"] = best_cpu(lambda: knockout_screen(ec.compiled), args.reps)
    g0 = Problem(ec.compiled).growth()
    res["tune_100_steps_s"] = best_cpu(
        lambda: tune_kcats(ec.compiled, g0 * 10, iterations=100, n_top=20, seed=0), args.reps)

    def edits():
        p = Problem(ec.compiled)
        rng = np.random.default_rng(0)
        pairs = np.arange(min(50, len(ec.compiled.pairs)))
        k0 = p.kcats[pairs]
        for _ in range(200):
            p.set_kcats(pairs, k0 * rng.uniform(0.5, 2.0, pairs.size))
            p.growth()

    res["kcat_edits_200_s"] = best_cpu(edits, args.reps)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
