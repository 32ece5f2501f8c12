"""``kingems-ray tune``: simulated annealing of kcats towards a target growth (or several conditions)."""

from __future__ import annotations

import argparse
import sys
import time

from ..ec.options import add_model_arguments
from ..errors import KingemsError

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
    from ..analysis.tuning import AnnealingSettings, carbon_source_conditions, read_growth_rates, tune_kcats
    from ..ec.problem import Problem

    t0 = time.perf_counter()
    overrides = {k: v for k, v in (("temperature", args.temperature), ("cooling_rate", args.cooling_rate),
                                               ("reselect_every", args.reselect_every))
                 if v is not None}
    target = args.target_growth
    if args.config:
        from ..config_schema import check_json_block, read_json_config

        cfg = read_json_config(args.config)
        check_json_block(cfg, "simulated_annealing", args.config, flat_ok=True)  # typos and types are errors
        settings = AnnealingSettings.from_config(cfg, **overrides)
        if target is None and not args.conditions:
            target = cfg.get("simulated_annealing", {}).get("biomass_goal")
    else:
        settings = AnnealingSettings(**overrides)
    if target is None and not args.conditions:
        raise KingemsError("give --target-growth (or --conditions, or a --config with a biomass_goal)")
    from ..ec.spec import EcSpec

    b = EcSpec.from_args(args).build(args.model)
    if b.kcat_report is not None:
        print(b.kcat_report.summary(), file=sys.stderr)
    problem = Problem(b.compiled)
    conditions = None
    if args.conditions:
        import pandas as pd

        try:
            rates = read_growth_rates(args.conditions)
        except (OSError, ValueError, KeyError, pd.errors.EmptyDataError) as exc:  # undecodable, empty, no columns
            raise KingemsError(f"{args.conditions}: cannot read growth rates ({type(exc).__name__}: "
                               f"{' '.join(str(exc).split())[:200]})") from exc
        if not rates:
            raise KingemsError(f"{args.conditions}: no growth rate in the file")
        conditions = carbon_source_conditions(problem, rates,
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
    print(stop_explanation(res.table, tr, None if conditions else target, res.settings, reached=res.reached,
                           best_chain=res.best_chain))
    return 0


def stop_explanation(table, trajectory, target: float | None, settings, reached: bool, best_chain: int = 0,
                     flags: bool = True) -> str:
    """Why the annealing stopped, in words, with what to try when it fell short.

    Parameters
    ----------
    table : DataFrame
        The tuned kcat table (``kcat``, ``kcat_original``, ``tuned`` columns, as ``TuneResult.table``).
    trajectory : DataFrame
        ``TuneResult.trajectory`` (``iteration``, ``chain``, ``temperature``, ``accepted``, ``best_growth``).
    target : float or None
        Target growth [1/h]; ``None`` for a multi-condition fit.
    settings : AnnealingSettings
        The settings the chains ran with (step limit, temperatures, bound).
    reached : bool
        Whether the best point met the target.
    best_chain : int
        Chain whose run is explained.
    flags : bool
        Name ``kingems-ray tune`` options in the advice (the demo passes ``False`` and names the command).
    """
    tr = trajectory[trajectory["chain"] == best_chain] if "chain" in trajectory else trajectory
    steps = int(tr["iteration"].max()) if len(tr) else 0
    n_acc = int(tr["accepted"].iloc[1:].sum()) if len(tr) > 1 else 0  # a move that changes nothing is accepted too
    n_better = int((tr["best_growth"].diff().iloc[1:] > 1e-12).sum()) if len(tr) > 1 else 0
    best = float(tr["best_growth"].iloc[-1]) if len(tr) else float("nan")
    tuned = table[table["tuned"]] if "tuned" in table else table.iloc[0:0]
    n_tuned = len(tuned)
    at_upper = int((tuned["kcat"] >= (1 - 1e-6) * settings.bound_factor * tuned["kcat_original"]).sum()) \
        if n_tuned else 0
    at_lower = int((tuned["kcat"] <= (1 + 1e-6) * tuned["kcat_original"] / settings.bound_factor).sum()) \
        if n_tuned else 0
    goal = f"target {target:g} 1/h" if target is not None else "the conditions' targets"
    if reached:
        why = f"target reached: best growth {best:.4g} 1/h meets {goal} after {steps} steps"
    elif steps >= settings.max_iterations:
        why = (f"steps exhausted: all {steps} steps used ({n_acc} accepted, {n_better} raised the best) with best "
               f"growth {best:.4g} 1/h, short of {goal}")
    elif len(tr) and float(tr["temperature"].iloc[-1]) * settings.cooling_rate <= settings.min_temperature:
        why = (f"cooled down: the temperature fell below {settings.min_temperature:g} after {steps} steps ({n_acc} "
               f"accepted, {n_better} raised the best), best growth {best:.4g} 1/h, short of {goal}")
    else:
        why = (f"stalled: the score changed by less than {settings.change_threshold:.1%} per step for "
               f"{settings.max_unchanged} steps in a row; stopped after {steps} of {settings.max_iterations} steps "
               f"({n_acc} accepted, {n_better} raised the best) at best growth {best:.4g} 1/h, short of {goal}")
    lines = [f"tuning stopped: {why}."]
    if n_tuned:
        stuck = "; moves only push them against it, so growth hardly changes" \
            if not reached and at_upper >= max(1, n_tuned // 2) else ""
        lines.append(f"  {at_upper} of the {n_tuned} tuned kcats sit at their upper bound ({settings.bound_factor:g}x "
                     f"their starting value)" + (f", {at_lower} at their lower bound" if at_lower else "") + stuck
                     + ".")
    if not reached:
        hints = []
        if n_tuned and at_upper >= max(1, n_tuned // 2):
            # The chosen pairs have nothing left to give: growth is limited by pairs that were never selected.
            if not settings.reselect_every:
                hints.append("re-rank the tuned pairs as the model changes (--reselect-every 10)" if flags else
                             "re-rank the tuned pairs as the model changes (kingems-ray tune --reselect-every 10)")
            hints.append("tune more pairs (--n-top 40)" if flags else "tune more pairs (kingems-ray tune --n-top 40)")
            hints.append("or allow a wider bound (bound_factor in a --config's simulated_annealing block)")
        elif steps >= settings.max_iterations:
            hints.append("give the chain more steps (--iterations)")
        else:
            hints.append("run more chains (--chains) or start hotter (--temperature)" if flags else
                         "run more chains (kingems-ray tune --chains 4)")
        lines.append("  to get closer: " + "; ".join(hints) + ".")
    return "\n".join(lines)


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
