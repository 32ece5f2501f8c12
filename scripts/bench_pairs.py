"""Pairs side by side: this engine (plain and enzyme-constrained) vs MICOM, on one sample, in one run.

    .venv/bin/python scripts/bench_pairs.py [--n-models 8] [--micom-pairs 1] [--ec] [--out results/bench_pairs]

* ours: AGORA pairwise protocol on cached compiled models (growth alone once per model), wall and CPU s/pair;
* MICOM 0.39: build a two-taxon community from the SBML files and run its cooperative trade-off (hybrid solver),
  s/pair, same machine, same run (the baseline the ratio is taken against);
* ``--ec``: the same pairs with every taxon compiled at L4 (kcats from ``kingems_ray.kcat.build_table`` fallbacks,
  own 0.25 g/gDW pool) and how many interaction labels change.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from kingems_ray.community.diets import read_diet
from kingems_ray.community.models import expand_model_paths, load_member
from kingems_ray.community.pairwise import run_pair, single_growth
from kingems_ray.paths import data_root


def _pairs_run(members, diet, pairs):
    t0, c0 = time.perf_counter(), time.process_time()
    singles = [single_growth(m, diet) for m in members]
    rows = [run_pair(members[i], members[j], diet, singles[i], singles[j]) for i, j in pairs]
    return pd.DataFrame(rows), time.perf_counter() - t0, time.process_time() - c0


def main(argv=None) -> int:
    """Run the benchmark."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-models", type=int, default=8)
    ap.add_argument("--micom-pairs", type=int, default=1)
    ap.add_argument("--ec", action="store_true")
    ap.add_argument("--diet", default="western")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="results/bench_pairs")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    paths = expand_model_paths([str(data_root(required=True) / "agora" / "models")])
    rng = np.random.default_rng(args.seed)
    sample = sorted(rng.choice(len(paths), size=args.n_models, replace=False))
    files = [paths[i] for i in sample]
    diet = read_diet(args.diet)
    members = [load_member(f) for f in files]
    pairs = list(itertools.combinations(range(len(members)), 2))
    plain, wall, cpu = _pairs_run(members, diet, pairs)
    plain.to_parquet(out / "plain.parquet", index=False)
    print(f"ours (plain): {len(pairs)} pairs + {len(members)} singles: wall {wall:.2f} s "
          f"({1000 * wall / len(pairs):.1f} ms/pair), CPU {1000 * cpu / len(pairs):.1f} ms/pair", flush=True)
    print(plain["interaction"].value_counts().to_string(), flush=True)
    if args.micom_pairs:
        import micom

        med = pd.read_csv(data_root() / "agora" / "diets" / "micom_media_western_diet_gut_agora_extracted.csv")
        t_m = []
        c_m = []
        for i, j in pairs[: args.micom_pairs]:
            t0, c0 = time.perf_counter(), time.process_time()
            tax = pd.DataFrame({"id": [members[i].name, members[j].name], "file": [str(files[i]), str(files[j])],
                                "abundance": [0.5, 0.5]})
            mc = micom.Community(tax, solver="hybrid", progress=False)
            mc.medium = {r: f for r, f in zip(med["reaction"], med["flux"]) if r in mc.reactions}
            mc.cooperative_tradeoff(fraction=0.5)
            t_m.append(time.perf_counter() - t0)
            c_m.append(time.process_time() - c0)
        wm, cm = float(np.mean(t_m)), float(np.mean(c_m))
        print(f"micom: {len(t_m)} two-taxon communities, wall {wm:.1f} s/pair, CPU {cm:.1f} s/pair; "
              f"ratio micom/ours wall {wm / (wall / len(pairs)):.0f}x, CPU {cm / (cpu / len(pairs)):.0f}x", flush=True)
    if args.ec:
        from kingems_ray.community.ec import load_ec_member

        t0 = time.perf_counter()
        ec_members = [load_ec_member(f) for f in files]
        print(f"EC members (L4, fallback kcats) loaded in {time.perf_counter() - t0:.1f} s", flush=True)
        ec, wall_ec, cpu_ec = _pairs_run(ec_members, diet, pairs)
        ec.to_parquet(out / "ec.parquet", index=False)
        print(f"ours (EC L4): wall {1000 * wall_ec / len(pairs):.1f} ms/pair, CPU {1000 * cpu_ec / len(pairs):.1f} "
              "ms/pair", flush=True)
        m = plain.merge(ec, on=["model_a", "model_b"], suffixes=("_plain", "_ec"))
        changed = m[m["interaction_plain"] != m["interaction_ec"]]
        print(f"labels changed: {len(changed)}/{len(m)}")
        print(pd.crosstab(m["interaction_plain"], m["interaction_ec"]).to_string())
        cols = ["model_a", "model_b", "growth_a_alone_plain", "growth_a_alone_ec", "growth_b_alone_plain",
                "growth_b_alone_ec", "interaction_plain", "interaction_ec"]
        print(changed[cols].to_string(index=False))
        m.to_parquet(out / "plain_vs_ec.parquet", index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
