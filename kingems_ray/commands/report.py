"""``kingems-ray report``: the paper's table for a model (Markdown + HTML, PNG figures, Parquet)."""

from __future__ import annotations

import argparse
import time

from ..analysis.report import DEFAULT_LEVELS, write_report

HELP = "report for a model: FVA per ablation level, tuning trajectory, knockout ROC -> Markdown/HTML/PNG/Parquet"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``report``."""
    p.add_argument("model", help="SBML (.xml/.xml.gz), COBRA JSON, or a cobra builtin name")
    p.add_argument("--kcats", required=True, help="kcat table (CSV/Parquet)")
    p.add_argument("--tuned", help="tuned kcat table from 'kingems-ray tune' (its trajectory is found next to it)")
    p.add_argument("--knockouts", help="knockout results (Parquet/CSV: gene_id, condition, growth, status, grows)")
    p.add_argument("--maintenance", help="maintenance grid from 'kingems-ray maintenance' (Parquet)")
    p.add_argument("--levels", default=",".join(DEFAULT_LEVELS), help="ablation levels, comma-separated")
    p.add_argument("--fraction", type=float, default=0.9, help="FVA fraction of optimal growth (default 0.9)")
    p.add_argument("--pool", type=float, default=0.25, help="total enzyme pool [g/gDW] (default 0.25)")
    p.add_argument("--processes", type=int, default=1, help="worker processes for FVA (default 1)")
    p.add_argument("--target-growth", type=float, help="target growth drawn on the annealing figure")
    p.add_argument("--out", required=True, help="output folder")


def run(args: argparse.Namespace) -> int:
    """Run ``report``."""
    t0 = time.perf_counter()
    rep = write_report(args.model, args.kcats, args.out, tuned=args.tuned, knockouts=args.knockouts,
                       maintenance=args.maintenance, levels=[v for v in args.levels.split(",") if v],
                       fraction=args.fraction, processes=args.processes, pool=args.pool,
                       target_growth=args.target_growth)
    s = rep.summary
    for row in s.itertuples(index=False):
        print(f"{row.level:6s} growth {row.growth:.4g}  median variability {row.median_variability:.4g}")
    if rep.knockout_summary is not None:
        a = rep.knockout_summary.iloc[0]
        print(f"knockouts: accuracy {a['accuracy']:.3f}, balanced {a['balanced_accuracy']:.3f}, "
              f"ROC-AUC {a['roc_auc']:.3f}, MCC {a['mcc']:.3f}")
    print(f"wrote {rep.files['markdown']}, {rep.files['html']} and {len(rep.files) - 2} more files "
          f"in {time.perf_counter() - t0:.1f} s")
    return 0
