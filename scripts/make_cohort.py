"""Draw a synthetic cohort from a folder of AGORA models (derived data: only this script and its output are kept).

Each sample has ``n ~ Uniform{min_taxa..max_taxa}`` taxa drawn without replacement with prevalence weights
``w_j ~ LogNormal(0, 1)`` (some taxa are common across samples, most are rare, as in gut cohorts); abundances are
log-normal, ``log a ~ Normal(0, sigma)`` (sigma 2: a few dominant taxa, a long tail), normalised to 1. A metadata
table gives each sample a group (``western`` / ``fibre``, alternating) for grouped reports.

    python scripts/make_cohort.py --models ../shared/data/agora/models --samples 200 \
        --out configs/cohort_agora_200.csv.gz --metadata configs/cohort_agora_200_metadata.csv
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd


def main(argv: list[str] | None = None) -> int:
    """Write the cohort (long MICOM layout) and its metadata."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", required=True)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--min-taxa", type=int, default=20)
    ap.add_argument("--max-taxa", type=int, default=60)
    ap.add_argument("--sigma", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--out", required=True)
    ap.add_argument("--metadata", default=None)
    a = ap.parse_args(argv)
    from kingems_ray.community.taxonomy import ModelDB

    db = ModelDB.open(a.models).manifest
    rng = np.random.default_rng(a.seed)
    prev = rng.lognormal(0.0, 1.0, len(db))
    prev /= prev.sum()
    rows = []
    for s in range(a.samples):
        sid = f"S{s + 1:03d}"
        n = int(rng.integers(a.min_taxa, a.max_taxa + 1))
        idx = rng.choice(len(db), size=n, replace=False, p=prev)
        ab = rng.lognormal(0.0, a.sigma, n)
        ab /= ab.sum()
        for j, x in zip(idx, ab):
            r = db.iloc[j]
            rows.append({"sample_id": sid, "id": r["id"], "genus": r["genus"], "abundance": float(f"{x:.6g}")})
    df = pd.DataFrame(rows)
    df.to_csv(a.out, index=False)
    if a.metadata:
        meta = pd.DataFrame({"sample_id": df["sample_id"].unique()})
        meta["group"] = np.where(np.arange(len(meta)) % 2 == 0, "western", "fibre")
        meta.to_csv(a.metadata, index=False)
    print(f"{a.samples} samples, {len(df)} rows, taxa per sample {df.groupby('sample_id').size().min()}-"
          f"{df.groupby('sample_id').size().max()} -> {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
