"""``kingems-ray tune``: simulated annealing of kcats towards a target growth (or several conditions)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ..analysis.tuning import AnnealingSettings, carbon_source_conditions, read_growth_rates, tune_kcats
from ..ec.problem import Problem
from ..ec.spec import EcSpec
from ..errors import KingemsError
from .fva import add_model_arguments

HELP = "tune kcats by simulated annealing (in-place LP edits) -> tuned kcat table + trajectory (Parquet)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``tune``."""
    add_model_arguments(p, kcats_required=True)
    p.add_argument("--target-growth", type=float, help="growth [1/h] at which a chain stops (kinGEMs biomass_goal)")
    p.add_argument("--config", help="kinGEMs run config (JSON); its simulated_annealing block gives the settings")
    p.add_argument("--iterations", type=int, help="steps per chain at most (default 1000)")
    p.add_argument("--chains", type=int, default=1, help="independent chains; the best is kept (default 1)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--processes", type=int, default=1, help="worker processes for the chains (default 1)")
    p.add_argument("--n-top", type=int, help="pairs tuned: those holding the most enzyme mass (default 20)")
    p.add_argument("--temperature", type=float, help="start temperature in growth units (default 100)")
    p.add_argument("--cooling-rate", type=float, help="temperature factor per step (default 0.95)")
    p.add_argument("--reselect-every", type=int,
                   help="re-rank the tuned pairs by enzyme mass every N steps (default 0: once, as kinGEMs)")
    p.add_argument("--conditions", help="fit several carbon sources at once: CSV of exchange id, EXP growth [1/h] "
                                        "(e.g. ecoli_growth_exp.csv); replaces --target-growth")
    p.add_argument("--base-carbon", default="EX_glc__D_e", help="carbon source closed in each condition")
    p.add_argument("--uptake", type=float, default=10.0, help="carbon uptake per condition [mmol/gDW/h]")
    p.add_argument("--out", required=True, help="tuned kcat table (.parquet); the trajectory goes next to it")
    p.add_argument("--method", default="annealing", choices=["annealing", "priors"],
                   help="annealing: the kinGEMs reference (default); priors: identifiable kcats only, with a "
                   "log-normal prior from each kcat's spread (kingems_ray.analysis.tuning_priors)")
    p.add_argument("--prior-weight", type=float, default=None, help="priors: weight of the prior (default 1)")
    p.add_argument("--tau", type=float, default=None, help="priors: accepted log-error of the fit (default log 1.05)")


def run(args: argparse.Namespace) -> int:
    """Run ``tune``."""
    t0 = time.perf_counter()
    overrides = {k: v for k, v in (("temperature", args.temperature), ("cooling_rate", args.cooling_rate),
                                               ("reselect_every", args.reselect_every))
                 if v is not None}
    target = args.target_growth
    if args.config:
        cfg = json.loads(Path(args.config).read_text())
        settings = AnnealingSettings.from_config(cfg, **overrides)
        if target is None and not args.conditions:
            target = cfg.get("simulated_annealing", {}).get("biomass_goal")
    else:
        settings = AnnealingSettings(**overrides)
    if target is None and not args.conditions:
        raise KingemsError("give --target-growth (or --conditions, or a --config with a biomass_goal)")
    b = EcSpec.from_args(args).build(args.model)
    if b.kcat_report is not None:
        print(b.kcat_report.summary(), file=sys.stderr)
    problem = Problem(b.compiled)
    conditions = None
    if args.conditions:
        conditions = carbon_source_conditions(problem, read_growth_rates(args.conditions),
                                              base_carbon=args.base_carbon, uptake=args.uptake)
        print(f"fitting {len(conditions)} conditions: {', '.join(c.name for c in conditions)}", file=sys.stderr)
    g0 = problem.growth()
    print(f"start growth {g0:.6g} 1/h (level {b.compiled.level}); target "
          f"{'multi-condition' if conditions else f'{target:.6g}'}", file=sys.stderr)

    def progress(row: dict) -> None:
        if row["iteration"] % 25 == 0:
            print(f"  chain {row['chain']} step {row['iteration']:5d}  T={row['temperature']:.4g}  "
                  f"growth={row['current_growth']:.5g}  best={row['best_growth']:.5g}", file=sys.stderr)

    if args.method == "priors":
        return _run_priors(problem, target, conditions, args, t0)
    res = tune_kcats(problem, target, conditions=conditions, iterations=args.iterations, chains=args.chains,
                     seed=args.seed, processes=args.processes, n_top=args.n_top, settings=settings,
                     progress=progress)
    tr = res.trajectory
    for c, d in tr.groupby("chain"):
        print(f"  chain {c}: {int(d['iteration'].max())} steps, accepted {d['accepted'].iloc[1:].mean():.0%}, "
              f"best growth {d['best_growth'].iloc[-1]:.6g}", file=sys.stderr)
    out, tp = res.write(args.out)
    n_steps = int((tr["iteration"] > 0).sum())
    dt = time.perf_counter() - t0
    reached = "reached" if res.reached else "not reached"
    msg = f"best growth {res.best_growth:.6g} 1/h (chain {res.best_chain}, target {reached})"
    if res.condition_growth:
        msg += "; per condition: " + ", ".join(f"{k} {v:.3g}" for k, v in res.condition_growth.items())
    print(msg)
    print(f"{n_steps} steps over {args.chains} chain(s), {dt:.1f} s in all -> {out}, {tp}")
    if not res.reached and not res.condition_growth:
        tuned = res.table[res.table["tuned"]]
        at_bound = float((tuned["kcat"] >= 0.999 * res.settings.bound_factor * tuned["kcat_original"]).mean())
        if at_bound > 0.5 and not res.settings.reselect_every:
            # Seen on iML1515: the chosen pairs all reach their upper bound and growth stalls below the target.
            print(f"hint: {at_bound:.0%} of the tuned kcats sit at their upper bound ({res.settings.bound_factor:g}x); "
                  "re-ranking the pairs as the model changes (--reselect-every 10) or more pairs (--n-top) may reach "
                  "the target", file=sys.stderr)
    return 0


def _run_priors(problem, target, conditions, args: argparse.Namespace, t0: float) -> int:
    """``tune --method priors``: identifiable kcats, log-normal prior; prints how far the kcats moved."""
    from ..analysis.tuning_priors import tune_kcats_with_priors

    kw = {k: v for k, v in (("n_top", args.n_top), ("max_iterations", args.iterations),
                            ("temperature", args.temperature), ("cooling_rate", args.cooling_rate),
                            ("reselect_every", args.reselect_every), ("prior_weight", args.prior_weight),
                            ("tau", args.tau)) if v is not None}
    res = tune_kcats_with_priors(problem, target, conditions=conditions, chains=args.chains, seed=args.seed,
                                 processes=args.processes, **kw)
    out, tp = res.write(args.out)
    mv = res.targets.attrs["moved"]
    print(f"best growth {res.best_growth:.6g} 1/h (chain {res.best_chain}, target "
          f"{'reached' if res.reached else 'not reached'}); {res.targets.attrs['n_identifiable']} identifiable of "
          f"{res.targets.attrs['n_flux_carrying']} flux-carrying pairs")
    print(f"{mv['n_moved']} kcats moved, median {mv['median_distance_sd']:.3g} spreads "
          f"(max {mv['max_distance_sd']:.3g},"
          f" {mv['n_beyond_3sd']} beyond 3), median fold change {mv['median_fold_change']:.3g}; "
          f"{time.perf_counter() - t0:.1f} s -> {out}, {tp}")
    return 0
