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
    if args.condition_on_growth is None:
        return None
    from ..analysis.uncertainty import WildTypeConditioning

    kw = {} if args.max_attempts is None else {"max_attempts": args.max_attempts}
    return WildTypeConditioning(args.condition_on_growth, **kw)


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
