"""``kingems-ray report``: the paper's table for a model (Markdown + HTML, PNG figures, Parquet).

Sections: flux variability per ablation level (L1 ... L4, and the tuned kcats), the annealing trajectory, knockout
accuracy of several models side by side with their ROC curves in one figure, and the maintenance grid.

Knockouts: ``--knockouts`` may be repeated, each value ``LABEL=PATH`` or a bare ``PATH`` (labelled by the file's stem)::

    kingems-ray report iML1515.xml --kcats kcats.parquet --out rep \\
        --knockouts plain=ko_plain.parquet --knockouts "ecGEM L4=ko_ec.parquet" --knockouts tuned=ko_tuned.parquet \\
        --truth ecoli-keio-fitness

With ``--truth`` every table is joined with the truth and scored exactly as ``kingems-ray evaluate knockouts`` scores
it (same join, same automatic mapping of exchange-id conditions to Keio carbon-source names, same metrics); without
it each table must carry a ``grows`` column.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from ..analysis.metrics import GROWTH_THRESHOLD
from ..analysis.report import DEFAULT_LEVELS, KNOCKOUT_SCORES, ReportInputError, write_report
from ..analysis.validation_data import TRUTH_SETS

HELP = ("report for a model: FVA per ablation level, tuning trajectory, knockout accuracy and ROC of several models "
        "side by side -> Markdown/HTML/PNG/Parquet")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``report``."""
    p.add_argument("model", help="SBML (.xml/.xml.gz), COBRA JSON, or a cobra builtin name")
    p.add_argument("--kcats", help="kcat table (CSV/Parquet); needed for every level but L1")
    p.add_argument("--tuned", help="tuned kcat table from 'kingems-ray tune' (its trajectory is found next to it)")
    p.add_argument("--knockouts", action="append", metavar="[LABEL=]PATH",
                   help="knockout results of one model (Parquet/CSV from 'kingems-ray knockout'); repeat for several "
                        "models shown side by side, e.g. --knockouts plain=ko_gem.parquet --knockouts "
                        "tuned=ko_tuned.parquet (a bare PATH is labelled by its file stem)")
    p.add_argument("--truth", metavar="NAME|CSV",
                   help=f"score the knockouts against a truth set ({', '.join(TRUTH_SETS)}) or a CSV (gene_id, "
                        "condition, grows or fitness), as 'kingems-ray evaluate knockouts' does; without it each "
                        "knockout table needs a 'grows' column")
    p.add_argument("--condition-map", metavar="JSON",
                   help="JSON file or inline JSON: knockout condition -> truth condition (default: exchange-id "
                        "conditions are mapped to the Keio carbon-source names automatically)")
    p.add_argument("--score", default="growth", choices=list(KNOCKOUT_SCORES),
                   help="knockout score ranked by ROC-AUC / PR-AUC (default growth)")
    p.add_argument("--threshold", type=float, default=GROWTH_THRESHOLD,
                   help=f"predicted growth above this [1/h] means the knockout grows (default {GROWTH_THRESHOLD:g})")
    p.add_argument("--maintenance", help="maintenance grid from 'kingems-ray maintenance' (Parquet)")
    p.add_argument("--levels", default=",".join(DEFAULT_LEVELS), help="ablation levels, comma-separated")
    p.add_argument("--fraction", type=float, default=0.9, help="FVA fraction of optimal growth (default 0.9)")
    p.add_argument("--pool", type=float, default=0.25, help="total enzyme pool [g/gDW] (default 0.25)")
    p.add_argument("--processes", type=int, default=1, help="worker processes for FVA (default 1)")
    p.add_argument("--target-growth", type=float, help="target growth drawn on the annealing figure")
    p.add_argument("--title", help="title of the report (default: 'kingems-ray report: MODEL')")
    p.add_argument("--out", required=True, help="output folder")


def parse_knockout_args(values: list[str] | None) -> dict[str, str] | None:
    """``--knockouts`` values -> ``{label: path}`` in the order given.

    Parameters
    ----------
    values : list of str or None
        Each ``LABEL=PATH`` or a bare ``PATH`` (label: the file's stem). A value that is an existing file is a bare
        path even when its name holds ``=``.

    Returns
    -------
    dict or None
        ``None`` when no value was given.

    Raises
    ------
    ReportInputError
        An empty label or path, a label given twice, a file that does not exist.
    """
    if not values:
        return None
    out: dict[str, str] = {}
    for v in values:
        if "=" in v and not Path(v).is_file():
            label, _, path = v.partition("=")
            label, path = label.strip(), path.strip()
            if not label or not path:
                raise ReportInputError(f"--knockouts {v!r}: expected LABEL=PATH (or a bare PATH)")
        else:
            label, path = Path(v).stem, v
        if label in out:
            raise ReportInputError(f"--knockouts: label {label!r} given twice ({out[label]} and {path}); "
                                   "name them LABEL=PATH")
        if not Path(path).is_file():
            raise ReportInputError(f"--knockouts {label}: {path}: file not found")
        out[label] = path
    return out


def _fmt(v: float) -> str:
    return "n/a" if v is None or not math.isfinite(float(v)) else f"{float(v):.3f}"


def run(args: argparse.Namespace) -> int:
    """Run ``report``."""
    t0 = time.perf_counter()
    knockouts = parse_knockout_args(args.knockouts)
    rep = write_report(args.model, args.kcats, args.out, tuned=args.tuned, knockouts=knockouts, truth=args.truth,
                       condition_map=args.condition_map, score=args.score, growth_threshold=args.threshold,
                       maintenance=args.maintenance, levels=[v for v in args.levels.split(",") if v],
                       fraction=args.fraction, processes=args.processes, pool=args.pool,
                       target_growth=args.target_growth, title=args.title)
    s = rep.summary
    for row in s.itertuples(index=False):
        print(f"{row.level:6s} growth {row.growth:.4g}  median variability {row.median_variability:.4g}")
    if rep.knockout_summary is not None:
        for a in rep.knockout_summary.to_dict("records"):
            mean = (f", mean per-condition ROC-AUC {_fmt(a['mean_condition_roc_auc'])} "
                    f"({a['n_conditions_roc_auc']} conditions)" if a["n_conditions"] > 1 else "")
            print(f"knockouts {a['model']}: {a['n']} points, accuracy {_fmt(a['accuracy'])}, balanced "
                  f"{_fmt(a['balanced_accuracy'])}, MCC {_fmt(a['mcc'])}, ROC-AUC {_fmt(a.get('roc_auc'))}, "
                  f"PR-AUC {_fmt(a.get('pr_auc'))}, no-growth PR-AUC {_fmt(a.get('pr_auc_no_growth'))}{mean}")
    print(f"wrote {rep.files['markdown']}, {rep.files['html']} and {len(rep.files) - 2} more files "
          f"in {time.perf_counter() - t0:.1f} s")
    return 0
