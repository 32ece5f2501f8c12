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


def run(args: argparse.Namespace) -> int:
    """Run ``pairwise``."""
    from ..community.diets import check_diet_matches, read_diet
    from ..community.models import check_unique_model_names, expand_model_paths, load_members
    from ..community.screen import screen_pairs
    from ..errors import KingemsError

    paths = expand_model_paths(args.models)
    check_unique_model_names(paths)
    diet = read_diet(args.diet)  # before the (slow) model loading: a bad diet fails at once
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
