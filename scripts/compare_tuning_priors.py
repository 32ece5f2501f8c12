"""Tuning with priors against today's annealing: growth reached, kcats moved (count, distance in spreads), knockout
ROC-AUC, over several seeds.

    PYTHONPATH=. .venv/bin/python scripts/compare_tuning_priors.py [--model textbook] [--kcats TABLE]
        [--target 0.87] [--seeds 0,1,2] [--iterations 150] [--n-top 20] [--truth glc-essential|keio-glucose|none]
        [--out DIR]

Defaults are the demo's (``kingems-ray demo``: textbook, the shipped predicted kcats, L4, pool 0.25, target 0.87,
150 annealing steps, 20 pairs, seed 0). Annealing: :func:`kingems_ray.analysis.tuning.tune_kcats` with its
default (reference) settings; priors: :func:`kingems_ray.analysis.tuning_priors.tune_kcats_with_priors` with
``n_top`` identifiable pairs at most and the same step budget. Each tuned table is compiled again from scratch
for the knockout screen (its growth checked against the chain's). Knockouts are scored against the glucose M9
essential genes (``glc-essential``, the demo's truth) or the RB-TnSeq glucose fitness (``keio-glucose``).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import pandas as pd

from kingems_ray.analysis.knockout import knockout_screen
from kingems_ray.analysis.metrics import knockout_metrics
from kingems_ray.analysis.tuning import tune_kcats
from kingems_ray.analysis.tuning_priors import moved_summary, tune_kcats_with_priors
from kingems_ray.analysis.uncertainty import kcat_spread
from kingems_ray.analysis.validation_data import (
    ecoli_glucose_essential,
    ecoli_keio_fitness,
    essentiality_truth,
    join_knockouts,
)
from kingems_ray.ec.build import build
from kingems_ray.ec.problem import Problem
from kingems_ray.paths import data_file, package_data


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="textbook")
    ap.add_argument("--kcats", default=None)
    ap.add_argument("--target", type=float, default=0.87)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--iterations", type=int, default=150)
    ap.add_argument("--n-top", type=int, default=20)
    ap.add_argument("--reselect-every", type=int, default=0, help="annealing: re-rank pairs (0: reference rule)")
    ap.add_argument("--n-move", type=int, default=None,
                    help="priors: pairs moved per step (0: all tuned pairs; default: as many as the fit term pays for)")
    ap.add_argument("--priors-reselect-every", type=int, default=10,
                    help="priors: re-measure sensitivities every N steps (each costs one LP per flux-carrying pair)")
    ap.add_argument("--truth", default="glc-essential", choices=["glc-essential", "keio-glucose", "none"])
    ap.add_argument("--processes", type=int, default=1, help="knockout screen processes")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    print(f"load average at start: {os.getloadavg()}", flush=True)
    model = data_file("bigg", "iML1515.xml.gz") if args.model == "iML1515" else args.model
    kc = args.kcats or package_data("kcat_default", "textbook_kcats_predicted.parquet")
    b = build(model, kc, level="L4", pool=0.25)
    cm = b.compiled
    sigma, src = kcat_spread(cm.pairs)
    g0 = Problem(cm).growth()
    print(f"prior spread: median {float(pd.Series(sigma).median()):.3f} log10; sources "
          f"{pd.Series(src).value_counts().to_dict()}", flush=True)
    if args.truth == "glc-essential":
        truth = essentiality_truth([g.id for g in b.model.genes], ecoli_glucose_essential(), "glucose")
    elif args.truth == "keio-glucose":
        truth = ecoli_keio_fitness(("Glucose",))
    else:
        truth = None

    def ko_auc(table: pd.DataFrame | None) -> tuple[float, float]:
        if truth is None:
            return float("nan"), float("nan")
        cmk = cm if table is None else build(b.model, table, level="L4", pool=0.25).compiled
        ko = knockout_screen(cmk, {"glucose": None}, processes=args.processes)
        j = join_knockouts(ko, truth)
        return knockout_metrics(j)["overall"]["roc_auc"], Problem(cmk).growth()

    rows = []
    auc0, _ = ko_auc(None)
    rows.append({"method": "untuned", "seed": None, "growth": g0, "reached": g0 >= args.target, "n_moved": 0,
                 "median_distance_sd": 0.0, "ko_roc_auc": auc0, "seconds": 0.0})
    print(f"{cm.model_id}: start growth {g0:.4f}, target {args.target}; untuned knockout ROC-AUC {auc0:.4f}",
          flush=True)
    extra_cols = ["log10_sd", "spread_source", "z", "kcat_original", "tuned"]
    for seed in [int(s) for s in args.seeds.split(",")]:
        for method in ("annealing", "priors"):
            t = time.perf_counter()
            if method == "annealing":
                from kingems_ray.analysis.tuning import AnnealingSettings

                res = tune_kcats(cm, args.target, iterations=args.iterations, n_top=args.n_top, seed=seed,
                                 settings=AnnealingSettings(reselect_every=args.reselect_every))
            else:
                res = tune_kcats_with_priors(cm, args.target, seed=seed, n_top=args.n_top,
                                             max_iterations=args.iterations, n_move=args.n_move,
                                             reselect_every=args.priors_reselect_every)
            dt = time.perf_counter() - t
            mv = moved_summary(res.table, sigma)
            table = res.table.drop(columns=[c for c in extra_cols if c in res.table])
            auc, g_rebuilt = ko_auc(table)
            row = {"method": method, "seed": seed, "growth": res.best_growth, "reached": res.reached,
                   **mv, "ko_roc_auc": auc, "growth_rebuilt": g_rebuilt, "seconds": dt,
                   "steps": int(res.trajectory["iteration"].max())}
            rows.append(row)
            state = "reached" if res.reached else "not reached"
            print(f"  {method:9s} seed {seed}: growth {res.best_growth:.4f} ({state},"
                  f" rebuilt {g_rebuilt:.4f}), {mv['n_moved']} kcats moved, median {mv['median_distance_sd']:.2f} "
                  f"spreads (fold {mv['median_fold_change']:.2f}, {mv['n_beyond_3sd']} beyond 3), knockout ROC-AUC "
                  f"{auc:.4f}, {row['steps']} steps, {dt:.1f} s", flush=True)
    df = pd.DataFrame(rows)
    print(f"load average at end: {os.getloadavg()}")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        df.to_parquet(out / "tuning_comparison.parquet", index=False)
        (out / "tuning_comparison.json").write_text(json.dumps(rows, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
