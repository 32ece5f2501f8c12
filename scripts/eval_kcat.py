#!/usr/bin/env python
"""Measurements of the reaction-aware kcat predictor: R² / RMSE / Pearson r with and without sequence, next to
the EC-median and tree (scikit-learn HistGradientBoostingRegressor) baselines, on the random, sequence-dissimilar,
EC-3-held-out and scaffold-held-out splits and the external set, plus ±1 / ±2 std coverage before and after
calibration and the overlap that remains in each split.

Either reads the ``metrics.json`` of a finished ``train-kcat --corpus`` run, or runs one first::

    .venv/bin/python scripts/eval_kcat.py --metrics runs/kcat_corpus/metrics.json
    .venv/bin/python scripts/eval_kcat.py --corpus runs/kcat/corpus.parquet --out runs/kcat_corpus --threads 2

Protein features are the offline composition encoder (no ESM-2 weights on these machines).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kingems_ray.kcat.train import run_training, rxn_markdown

GOALS = [("random", "with_sequence", "net_with_sequence", "r2", 0.68),
         ("dissimilar", "with_sequence", "net_with_sequence", "r2", 0.40),
         ("external", "with_sequence", "net_with_sequence", "pearson_r", 0.60),
         ("external", "with_sequence", "net_without_sequence", "pearson_r", 0.50)]


def goals(metrics: dict) -> str:
    """One line per goal of issue 10: value, threshold, met or not."""
    sets = dict(metrics.get("splits", {}))
    if "external" in metrics:
        sets["external"] = metrics["external"]
    lines = []
    for split, group, model, key, thr in GOALS:
        v = sets.get(split, {}).get(group, {}).get(model, {}).get(key)
        state = "not measured" if v is None else ("met" if v >= thr else "NOT met")
        lines.append(f"goal {split} {model} {key} >= {thr}: {'-' if v is None else f'{v:.3f}'} ({state})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--metrics", default=None, help="metrics.json of a finished corpus run")
    ap.add_argument("--corpus", default=None, help="corpus Parquet: run training + evaluation first")
    ap.add_argument("--out", default="runs/kcat_corpus")
    ap.add_argument("--threads", type=int, default=2)
    args, rest = ap.parse_known_args(argv)
    if args.metrics:
        metrics = json.loads(Path(args.metrics).read_text())
    elif args.corpus:
        metrics = run_training(["--corpus", args.corpus, "--out", args.out, "--threads", str(args.threads), *rest])
    else:
        ap.error("give --metrics or --corpus")
    print(rxn_markdown(metrics))
    print(goals(metrics))
    return 0


if __name__ == "__main__":
    sys.exit(main())
