"""``kingems-ray fva``: flux variability of a GEM or ecGEM, written as Parquet."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..analysis.fva import flux_variability, variability_summary
from ..ec.build import build
from ..errors import KingemsError

HELP = "flux variability analysis (plain or enzyme-constrained) -> Parquet"


def add_model_arguments(p: argparse.ArgumentParser, kcats_required: bool = False) -> None:
    """Arguments shared by the commands that compile a model."""
    p.add_argument("model", help="SBML (.xml/.xml.gz), COBRA JSON, or a cobra builtin name (textbook, iJO1366)")
    p.add_argument("--kcats", required=kcats_required, help="kcat table (CSV/Parquet, see docs); none = plain GEM")
    p.add_argument("--level", default="L4", choices=["L1", "L2", "L3a", "L3b", "L3c", "L4"], help="ablation level")
    p.add_argument("--pool", type=float, default=0.25, help="total enzyme pool [g/gDW] (default 0.25)")
    p.add_argument("--aggregate", default="max", choices=["max", "mean", "min", "first", "geomean"],
                   help="combine several kcats per reaction/gene/direction (default max)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``fva``."""
    add_model_arguments(p)
    p.add_argument("--fraction", type=float, default=0.9, help="fraction of optimal growth kept (default 0.9)")
    p.add_argument("--processes", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--out", required=True, help="output Parquet file")


def run(args: argparse.Namespace) -> int:
    """Run ``fva``."""
    t0 = time.perf_counter()
    b = build(args.model, args.kcats, level=args.level, pool=args.pool, aggregate=args.aggregate)
    if b.kcat_report is not None:
        print(b.kcat_report.summary(), file=sys.stderr)
    t1 = time.perf_counter()
    df = flux_variability(b.compiled, fraction=args.fraction, processes=args.processes)
    t2 = time.perf_counter()
    if df.attrs.get("status") != "optimal":
        raise KingemsError(f"{args.model}: the model is {df.attrs.get('status')} (no FVA possible)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(out, index=False)
    s = variability_summary(df)
    print(f"optimal growth: {df.attrs['growth']:.6g} 1/h (level {b.compiled.level})")
    print(f"median flux variability: {s['median_variability']:.6g} over {s['n_reactions']} reactions; "
          f"{df.attrs['n_solves']} LPs, compile {t1 - t0:.2f} s, FVA {t2 - t1:.2f} s -> {out}")
    return 0
