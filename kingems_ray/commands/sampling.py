"""``--samples N`` for the analysis commands: kcat ensembles (kingems_ray.analysis.uncertainty) from the CLI.

Every sampled command writes the per-sample table next to its output (``<out stem>_samples.parquet``), the
summary as its output, a figure (``<out stem>.png``) and the spread it assumed (``<out stem>_spread.json``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the sampler pulls in pandas: only when --samples is used, never for --help
    from ..analysis.uncertainty import KcatSampler, WildTypeConditioning


def add_conditioning_arguments(p: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """``--condition-on-growth`` and ``--max-attempts`` (sampled ``fva`` and ``knockout``); returns the group."""
    g = p.add_argument_group("kcat samples: conditioning (with --samples)")
    g.add_argument("--condition-on-growth", type=float, default=None, metavar="FRACTION",
                   help="keep only kcat vectors whose wild type grows >= FRACTION x the point model's wild-type "
                   "growth (per condition; rejection sampling; default: every draw, the prior)")
    g.add_argument("--max-attempts", type=int, default=None,
                   help="with --condition-on-growth: draws tried per sample and condition (default 64)")
    g.add_argument("--conditioning-method", choices=("rejection", "chain"), default="rejection",
                   help="with --condition-on-growth: rejection sampling (default), or a pCN Markov chain on the same "
                   "posterior, for a condition where almost no prior draw grows (one condition only)")
    g.add_argument("--chain-thin", type=int, default=10, help="chain: proposals per kept vector (default 10)")
    g.add_argument("--chain-burn-in", type=int, default=300,
                   help="chain: proposals before the first kept one (default 300)")
    g.add_argument("--chain-step", type=float, default=0.2,
                   help="chain: initial pCN step, adapted during burn-in (default 0.2)")
    return g


def conditioning_from_args(args: argparse.Namespace, also: dict[str, bool] | None = None
                           ) -> WildTypeConditioning | None:
    """The :class:`~kingems_ray.analysis.uncertainty.WildTypeConditioning` the arguments ask for, checked before
    any model is built: conditioning flags (and the caller's ``also``: flag -> given) without ``--samples``, or
    ``--max-attempts`` without ``--condition-on-growth``, are clear errors."""
    from ..errors import KingemsError

    if not getattr(args, "samples", 0):
        given = [f for f, v in (("--condition-on-growth", args.condition_on_growth is not None),
                                ("--max-attempts", args.max_attempts is not None), *(also or {}).items()) if v]
        if given:
            raise KingemsError(f"{' and '.join(given)} without --samples N: conditioning and the lethal rule "
                               "apply only to sampled analyses")
    if args.max_attempts is not None and args.condition_on_growth is None:
        raise KingemsError("--max-attempts without --condition-on-growth: it bounds the draws of conditioned "
                           "sampling only")
    if getattr(args, "conditioning_method", "rejection") == "chain":
        if args.condition_on_growth is None:
            raise KingemsError("--conditioning-method chain without --condition-on-growth: the chain samples the "
                               "posterior given wild-type growth")
        if args.max_attempts is not None:
            raise KingemsError("--max-attempts bounds rejection sampling; the chain has --chain-thin / "
                               "--chain-burn-in / --chain-step")
    if args.condition_on_growth is None:
        return None
    from ..analysis.uncertainty import WildTypeConditioning

    kw = {} if args.max_attempts is None else {"max_attempts": args.max_attempts}
    return WildTypeConditioning(args.condition_on_growth, **kw)


def chain_if_asked(target, sampler: KcatSampler, conditioning: WildTypeConditioning | None, conditions: dict | None,
                   args: argparse.Namespace) -> tuple[KcatSampler, WildTypeConditioning | None]:
    """With ``--conditioning-method chain``: the pCN chain's kept vectors (``pcn_chain`` of
    :mod:`kingems_ray.analysis.sampled`, on the one condition given) and no further conditioning; otherwise the
    inputs unchanged.

    Raises
    ------
    KingemsError
        A chain asked for several conditions at once.
    """
    if conditioning is None or getattr(args, "conditioning_method", "rejection") != "chain":
        return sampler, conditioning
    import sys
    import time

    from ..analysis.sampled import pcn_chain
    from ..errors import KingemsError

    conds = conditions or {"model": None}
    if len(conds) != 1:
        raise KingemsError(f"--conditioning-method chain conditions on one condition at a time, got {len(conds)}: "
                           "run one command per condition")
    (name, medium), = conds.items()
    t0 = time.perf_counter()

    def progress(done: int, total: int) -> None:
        print(f"  chain on {name}: {done}/{total} proposals, {time.perf_counter() - t0:.0f} s", file=sys.stderr)

    chain = pcn_chain(target, sampler, args.samples, conditioning, medium=medium, condition=name,
                      thin=args.chain_thin, burn_in=args.chain_burn_in, step=args.chain_step, progress=progress)
    c = chain.chain
    print(f"chain on {name}: {c['proposals']} proposals in {c['seconds']:.1f} s, acceptance {c['acceptance']:.2f} "
          f"(step {c['step']:.3g}), effective sample size of the wild-type growth {c['ess_wild_type_growth']:.1f} "
          f"of {args.samples}", file=sys.stderr)
    return chain, None


def add_sampling_arguments(p: argparse.ArgumentParser) -> None:
    """``--samples`` and the spread options."""
    g = p.add_argument_group("kcat uncertainty (--samples N: repeat the analysis over N sampled kcat vectors)")
    g.add_argument("--samples", type=int, default=0,
                   help="number of kcat vectors drawn from the table's spread (0: the point model only)")
    g.add_argument("--sample-seed", type=int, default=0, help="seed of the kcat samples (default 0)")
    g.add_argument("--spread-scale", type=float, default=1.0, help="multiply every log10 spread (default 1)")
    g.add_argument("--fallback-log10-sd", type=float, default=None,
                   help="log10 spread of pairs without one (default 1.0; required when the table has no spread)")
    g.add_argument("--fallback-grouping", default="source", choices=["source", "value"],
                   help="fallback-filled pairs share one draw per rule (source, default) or per value")


def sampler_from_args(compiled, args: argparse.Namespace) -> KcatSampler:
    """The sampler the arguments describe, for the compiled model's pairs (clear error without kcats)."""
    from ..analysis.uncertainty import KcatSampler, check_n_samples
    from ..errors import KingemsError

    check_n_samples(args.samples)
    if compiled.pairs is None or len(compiled.pairs) == 0:
        raise KingemsError("--samples needs an ecGEM with kcats (--kcats TABLE, level L2..L4)")
    return KcatSampler.from_pairs(compiled.pairs, seed=args.sample_seed, fallback_log10_sd=args.fallback_log10_sd,
                                  spread_scale=args.spread_scale, fallback_grouping=args.fallback_grouping)


def side_paths(out: str | Path) -> dict[str, Path]:
    """Where the per-sample table, the figure and the spread description go, beside ``out``."""
    o = Path(out)
    stem = o.with_suffix("") if o.suffix == ".parquet" else o
    return {"samples": Path(f"{stem}_samples.parquet"), "figure": Path(f"{stem}.png"),
            "spread": Path(f"{stem}_spread.json"), "calibration": Path(f"{stem}_calibration.json")}


def write_sampled(out: str | Path, summary, per, sampler: KcatSampler) -> dict[str, Path]:
    """Write a sampled analysis: ``summary`` (labelled with the spread used) to ``out``, ``per`` beside it.

    Returns
    -------
    dict
        :func:`side_paths` of ``out``.
    """
    summary["spread"] = sampler.label()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = side_paths(out)
    summary.to_parquet(out, index=False)
    per.to_parquet(paths["samples"], index=False)
    return paths


def write_spread(path: Path, sampler: KcatSampler, extra: dict | None = None) -> None:
    """The sampler's description (spread sources, groups, seed) as JSON."""
    path.write_text(json.dumps({**sampler.describe(), "label": sampler.label(), **(extra or {})}, indent=2,
                               default=str))
