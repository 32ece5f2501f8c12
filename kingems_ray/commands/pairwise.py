"""``kingems-ray pairwise``: AGORA-protocol pairwise interaction screen (resumable)."""

from __future__ import annotations

import argparse
import itertools

HELP = "pairwise interaction screen of models on a diet (AGORA protocol), resumable"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``pairwise``."""
    p.add_argument("models", nargs="+", help="model files, folders or globs (SBML / JSON)")
    p.add_argument("--diet", default="western",
                   help="diet file or built-in name (western, eu_average, micom_western, ...); default western")
    p.add_argument("--out", required=True, help="output Parquet file (one row per pair)")
    p.add_argument("--processes", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--coupling", type=float, default=400.0, help="coupling factor c (default 400; 0 = none)")
    p.add_argument("--cache-dir", default=None, help="folder for compiled-model cache files")
    from .sampling import add_sampling_arguments

    add_sampling_arguments(p)


def run(args: argparse.Namespace) -> int:
    """Run ``pairwise``."""
    from ..community.diets import check_diet_matches, read_diet
    from ..community.models import check_unique_model_names, expand_model_paths, load_members
    from ..community.screen import screen_pairs
    from ..errors import KingemsError

    paths = expand_model_paths(args.models)
    check_unique_model_names(paths)
    diet = read_diet(args.diet)  # before the (slow) model loading: a bad diet fails at once
    if args.samples:
        return _run_samples(paths, args)
    members, errors = load_members(paths, cache_dir=args.cache_dir, processes=args.processes)
    for e in errors:
        print(f"skipped model: {e}")
    if len(members) < 2:
        why = f" ({'; '.join(str(e) for e in errors[:2])})" if errors else ""
        raise KingemsError(f"need at least two loadable models, got {len(members)}{why}")
    check_diet_matches(diet, {k for m in members for k in m.ex_key})
    pairs = list(itertools.combinations(range(len(members)), 2))
    table, stats = screen_pairs(members, diet, args.out, processes=args.processes, pairs=pairs,
                                coupling=args.coupling or None, progress=False)
    print(f"wrote {args.out}: {len(table)} pairs ({stats['n_done_before']} reused), "
          f"{stats['wall_s']:.1f} s, {stats['pairs_per_s']:.2f} pairs/s")
    print(table["interaction"].value_counts().to_string())
    return 0


def _run_samples(paths, args: argparse.Namespace) -> int:
    """``pairwise --samples N``: every pair of ecGEM members (fallback kcats) over N kcat samples."""
    import pandas as pd

    from ..analysis.uncertainty import KcatSampler, check_n_samples, summarise_pairs
    from ..analysis.uncertainty_plots import plot_label_frequencies
    from ..community.ec import load_ec_member
    from ..community.sampled import sampled_pairs
    from ..errors import KingemsError
    from .sampling import side_paths

    n = check_n_samples(args.samples)
    members = [load_ec_member(p, cache_dir=args.cache_dir) for p in paths]
    if len(members) < 2:
        raise KingemsError(f"need at least two models, got {len(members)}")
    kw = {"fallback_log10_sd": args.fallback_log10_sd, "spread_scale": args.spread_scale,
          "fallback_grouping": args.fallback_grouping}
    # Each taxon's own draws: seed sample_seed + its position, the same in every pair it is part of.
    samplers = [KcatSampler.from_pairs(m.compiled.pairs, seed=args.sample_seed + i, **kw)
                for i, m in enumerate(members)]
    parts = [sampled_pairs(members[i], members[j], args.diet, n, samplers=[samplers[i], samplers[j]],
                           coupling=args.coupling or None)
             for i, j in itertools.combinations(range(len(members)), 2)]
    per = pd.concat(parts, ignore_index=True)
    summary = summarise_pairs(per)
    sp = side_paths(args.out)
    per.to_parquet(sp["samples"], index=False)
    summary.to_parquet(args.out, index=False)
    plot_label_frequencies(summary, sp["figure"], title=f"{len(parts)} pairs, {n} kcat samples, diet {args.diet}")
    print(f"wrote {args.out} (label frequency per pair), {sp['samples'].name}, {sp['figure'].name}")
    print(summary[["model_a", "model_b", "label", "frequency"]].to_string(index=False))
    return 0
