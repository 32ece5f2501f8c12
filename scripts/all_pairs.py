"""All pairs of AGORA models on a diet (AGORA pairwise protocol), resumable, both cores.

    .venv/bin/python scripts/all_pairs.py --models ../shared/data/agora/models --diet western \
        --out results/all_pairs.parquet --processes 2 [--limit N]

Pairs already in ``<out>.parts/`` are skipped on a rerun. Prints wall time, pairs per second and the table of
interaction types, and writes ``<out>.summary.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

from kingems_ray.community.diets import read_diet
from kingems_ray.community.models import expand_model_paths, load_members
from kingems_ray.community.screen import screen_pairs
from kingems_ray.paths import data_root


def main(argv: list[str] | None = None) -> int:
    """Run the screen."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    root = data_root()
    ap.add_argument("--models", nargs="+", default=[str(root / "agora" / "models")] if root else None)
    ap.add_argument("--diet", default="western")
    ap.add_argument("--out", default="results/all_pairs.parquet")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--limit", type=int, default=None, help="only the first N models")
    ap.add_argument("--max-pairs", type=int, default=None, help="only the first N pairs (timing samples)")
    ap.add_argument("--chunk", type=int, default=200)
    ap.add_argument("--cache-dir", default=None)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    paths = expand_model_paths(args.models)[: args.limit]
    members, errors = load_members(paths, cache_dir=args.cache_dir, processes=args.processes)
    t_load = time.perf_counter() - t0
    print(f"{len(members)} models loaded in {t_load:.1f} s ({len(errors)} failed)", flush=True)
    for e in errors:
        print("  load error:", e)
    pairs = list(itertools.combinations(range(len(members)), 2))[: args.max_pairs]
    table, stats = screen_pairs(members, read_diet(args.diet), args.out, processes=args.processes, pairs=pairs,
                                chunk=args.chunk)
    counts = table["interaction"].value_counts()
    singles = Path(str(args.out) + ".singles.parquet")
    import pandas as pd

    sg = pd.read_parquet(singles)
    no_growth = int((sg["growth"] <= 1e-6).sum())
    stats.update(load_s=t_load, n_models=len(members), load_errors=errors, interactions=counts.to_dict(),
                 models_without_growth=no_growth, diet=args.diet)
    print(f"pairs: {stats['n_pairs']} ({stats['n_done_before']} done before, {stats['n_run']} run now)")
    print(f"wall {stats['wall_s']:.1f} s, {stats['pairs_per_s']:.2f} pairs/s, "
          f"{1000 * stats['s_per_pair']:.1f} ms/pair (singles {stats['singles_s']:.1f} s)")
    print(f"models that cannot grow alone on {args.diet}: {no_growth}/{len(sg)}")
    print(counts.to_string())
    Path(str(args.out) + ".summary.json").write_text(json.dumps(stats, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
