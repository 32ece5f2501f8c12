"""``kingems-ray knockout``: every single-gene knockout x media, for a GEM or an ecGEM, written as Parquet.

Media file (``--media``): CSV (or TSV) with columns ``condition, reaction_id, lower_bound[, upper_bound]``, one row per
condition and exchange reaction; ``lower_bound`` is a flux bound (an uptake of 10 mmol/gDW/h is ``-10``), an empty
``upper_bound`` keeps the model's. Exchanges a condition does not list are closed for uptake. Ids the model lacks are
reported and ignored. Without ``--media`` the model's own medium is the one condition (named ``model``).
``--carbon-sources EX_ac_e,EX_glyc_e`` instead builds one condition per carbon source from the model's medium, its
glucose exchange replaced (uptake ``--uptake``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..ec.options import add_model_arguments
from ..errors import KingemsError

HELP = "single-gene knockout screen over media / carbon sources (plain or enzyme-constrained) -> Parquet"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``knockout``."""
    add_model_arguments(p)
    p.add_argument("--media", help="CSV: condition, reaction_id, lower_bound[, upper_bound] (default: model medium)")
    p.add_argument("--carbon-sources", help="comma-separated carbon exchanges, each replacing --base-carbon")
    p.add_argument("--base-carbon", default="EX_glc__D_e", help="carbon exchange of the model medium to replace")
    p.add_argument("--uptake", type=float, default=10.0, help="carbon uptake for --carbon-sources (default 10)")
    p.add_argument("--genes", nargs="+", help="genes to knock out (default: all); a single @FILE reads one per line")
    p.add_argument("--processes", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--out", required=True, help="output Parquet file")
    from .sampling import add_conditioning_arguments, add_sampling_arguments

    add_sampling_arguments(p)
    g = add_conditioning_arguments(p)
    g.add_argument("--lethal-rule", default="absolute", choices=["absolute", "relative", "fitness"],
                   help="a sampled knockout is lethal at growth <= 0.001 (absolute, default) or at growth <= 0.001 "
                   "x its sample's wild-type growth / the point wild-type growth (relative); 'fitness': p(lethal) "
                   "is the probability that a pooled fitness assay (RB-TnSeq) calls it lethal, from its growth "
                   "relative to its sample's wild type (see --assay-*)")
    g.add_argument("--assay-generations", type=float, default=None,
                   help="with --lethal-rule fitness: wild-type doublings over the assay (default 6)")
    g.add_argument("--assay-sd", type=float, default=None,
                   help="with --lethal-rule fitness: noise sd of a measured fitness, log2 (default 0.5)")
    g.add_argument("--assay-threshold", type=float, default=None,
                   help="with --lethal-rule fitness: fitness at or below which the truth calls a gene lethal "
                   "(default -2)")
    p.add_argument("--truth", default=None,
                   help="with --samples: score p(lethal) against a truth set (evaluate's names or a CSV) and plot it "
                   "against measured fitness")


def _genes(arg: list[str] | None) -> list[str] | None:
    if not arg:
        return None
    if len(arg) == 1 and arg[0].startswith("@"):
        path = Path(arg[0][1:])
        if not path.exists():
            raise KingemsError(f"{path}: gene list not found")
        return [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
    return list(arg)


def run(args: argparse.Namespace) -> int:
    """Run ``knockout``."""
    from ..analysis.knockout import knockout_screen
    from ..ec.problem import Problem
    from ..gem.media import carbon_source_medium, medium_bounds, read_media

    t0 = time.perf_counter()
    assay_given = [f"--assay-{k}" for k in ("generations", "sd", "threshold")
                   if getattr(args, f"assay_{k}") is not None]
    if assay_given and args.lethal_rule != "fitness":
        raise KingemsError(f"{', '.join(assay_given)} without --lethal-rule fitness: the assay is that rule's")
    assay = None
    if args.lethal_rule == "fitness":
        from ..analysis.uncertainty import FitnessAssay

        assay = FitnessAssay(**{k: getattr(args, f"assay_{k}") for k in ("generations", "sd", "threshold")
                                if getattr(args, f"assay_{k}") is not None})  # checked before building
    from .sampling import conditioning_from_args

    conditioning = conditioning_from_args(args, {f"--lethal-rule {args.lethal_rule}": args.lethal_rule != "absolute"})
    from ..ec.spec import EcSpec

    b = EcSpec.from_args(args).build(args.model)
    if b.kcat_report is not None:
        print(b.kcat_report.summary(), file=sys.stderr)
    if args.media and args.carbon_sources:
        raise KingemsError("give either --media or --carbon-sources, not both")
    if args.media:
        conditions = read_media(args.media)
    elif args.carbon_sources:
        conditions = {
            ex: carbon_source_medium(b.model, None, ex, uptake=args.uptake, base_carbon=args.base_carbon)
            for ex in [e.strip() for e in args.carbon_sources.split(",") if e.strip()]
        }
    else:
        conditions = {"model": None}
    problem = Problem(b.compiled)
    for cond, med in conditions.items():
        if med is None:
            continue
        _, rep = medium_bounds(problem, med)
        if rep.unknown:
            print(f"condition {cond}: {rep.summary()}", file=sys.stderr)
    if getattr(args, "samples", 0):
        return _run_samples(b, problem, conditions, args, conditioning, assay)
    t1 = time.perf_counter()
    df = knockout_screen(problem if args.processes <= 1 else b.compiled, conditions, genes=_genes(args.genes),
                         processes=args.processes)
    t2 = time.perf_counter()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(out, index=False)
    n_lethal = int((df["growth"] <= 1e-3).sum())
    n_genes, n_cond = df["gene_id"].nunique(), df["condition"].nunique()
    print(f"{len(df)} knockouts ({n_genes} gene{'s' * (n_genes != 1)} x {n_cond} condition{'s' * (n_cond != 1)}, "
          f"level {b.compiled.level}): {df.attrs['n_lp']} LPs, {n_lethal} with growth <= 0.001; "
          f"compile {t1 - t0:.2f} s, screen {t2 - t1:.2f} s -> {out}")
    for cond, sub in df.groupby("condition", sort=False):
        print(f"  {cond}: wild-type growth {sub['wild_type_growth'].iloc[0]:.6g} 1/h")
    return 0


def _run_samples(b, problem, conditions, args: argparse.Namespace, conditioning=None, assay=None) -> int:
    """``knockout --samples N``: the point screen, N sampled screens, p(lethal) and growth quantiles per gene.

    ``conditioning`` (:class:`~kingems_ray.analysis.uncertainty.WildTypeConditioning`): screen the posterior given
    that the wild type grows instead of the prior; the acceptance rate per condition goes to the spread JSON.
    ``assay`` (:class:`~kingems_ray.analysis.uncertainty.FitnessAssay`): the ``fitness`` lethal rule's assay.
    """
    import json

    from ..analysis.knockout import knockout_screen
    from ..analysis.sampled import acceptance_summary, sampled_knockouts
    from ..analysis.uncertainty import lethality_calibration, summarise_knockouts
    from ..analysis.uncertainty_plots import plot_lethality_vs_fitness, plot_reliability
    from .sampling import chain_if_asked, sampler_from_args, write_sampled, write_spread

    sampler = sampler_from_args(b.compiled, args)
    sampler, conditioning = chain_if_asked(problem, sampler, conditioning, conditions, args)
    genes = _genes(args.genes)
    target = problem if args.processes <= 1 else b.compiled
    t1 = time.perf_counter()
    point = knockout_screen(target, conditions, genes=genes, processes=args.processes)
    t2 = time.perf_counter()
    per = sampled_knockouts(target, sampler, args.samples, conditions, genes=genes, processes=args.processes,
                            conditioning=conditioning)
    t3 = time.perf_counter()
    summary = summarise_knockouts(per, point, lethal_rule=args.lethal_rule, assay=assay)
    out = Path(args.out)
    paths = write_sampled(out, summary, per, sampler)
    acc = acceptance_summary(per)
    extra = {"point_seconds": t2 - t1, "samples_seconds": t3 - t2, "conditioning": per["conditioning"].iloc[0],
             "lethal_rule": summary["lethal_rule"].iloc[0], "acceptance": acc.to_dict(orient="records")}
    uncertain = int(((summary["p_lethal"] > 0) & (summary["p_lethal"] < 1)).sum())
    print(f"spread: {sampler.label()}; conditioning: {extra['conditioning']}; lethal rule: {extra['lethal_rule']}")
    if conditioning is not None:  # rejection (a chain reported itself)
        for r in acc.itertuples():
            print(f"  {r.condition}: {r.n_accepted}/{r.n_samples} samples accepted, {r.attempts} draws "
                  f"(acceptance rate {r.acceptance_rate:.3f})")
    print(f"point screen {t2 - t1:.2f} s; {args.samples} sampled screens {t3 - t2:.2f} s "
          f"({(t3 - t2) / args.samples:.2f} s per sample); {len(summary)} knockouts, "
          f"{uncertain} with 0 < p(lethal) < 1, {int((summary['p_lethal'] == 1).sum())} lethal in every sample "
          f"-> {out}, {paths['samples'].name}")
    if args.truth:
        from ..analysis.validation_data import join_knockouts, parse_condition_map, read_truth

        truth = read_truth(args.truth, b.model)
        joined = join_knockouts(summary, truth, parse_condition_map(None, truth))
        cal = lethality_calibration(joined)
        rel = cal.pop("reliability")
        extra["calibration"] = {**cal, "reliability": rel.to_dict(orient="records")}
        paths["calibration"].write_text(json.dumps(extra["calibration"], indent=2, default=str))
        if "fitness" in joined:
            plot_lethality_vs_fitness(joined, paths["figure"], title=f"{b.compiled.model_id}: p(lethal) over "
                                      f"{args.samples} kcat samples vs measured fitness")
        plot_reliability(rel, paths["figure"].with_name(paths["figure"].stem + "_reliability.png"), cal["brier"])
        print(f"against {args.truth} ({cal['n']} points, {cal['n_lethal']} lethal): Brier {cal['brier']:.4f} "
              f"(point call {cal.get('brier_point', float('nan')):.4f}), ROC-AUC of p(lethal) "
              f"{cal['roc_auc_p_lethal']:.4f} (point model by growth "
              f"{cal.get('roc_auc_point_growth', float('nan')):.4f})")
    write_spread(paths["spread"], sampler, extra)
    return 0
