"""``kingems-ray evaluate``: score knockout screens against measured phenotypes, or compare FVA tables.

``evaluate knockouts KO.parquet --truth NAME`` joins a knockout table with a truth set (see
:func:`kingems_ray.analysis.validation_data.load_truth`) and writes accuracy, balanced accuracy, MCC, ROC-AUC, PR-AUC
and the confusion matrix (overall and per condition) as JSON. Knockout conditions must carry the truth's condition names
(e.g. ``Glucose``, ``Acetate`` for ``ecoli-keio-fitness``), or ``--condition-map`` maps them; a screen with one
condition is matched to a truth with one condition whatever their names.

``evaluate compare A.parquet B.parquet --truth NAME`` asks whether model B (e.g. the ecGEM) ranks knockouts better
than model A (e.g. the plain GEM): both tables are joined with the truth as in ``knockouts``, aligned on
``(gene_id, condition)``, and :func:`kingems_ray.analysis.metrics.compare_knockout_scores` gives the pooled and the
per-condition-mean ROC-AUC of A and B, the difference B - A with a 95 % interval from a paired bootstrap over genes,
and the fraction of resamples with B - A <= 0 (``--n-boot``, ``--seed``, ``--score``; JSON with ``--out``).

``evaluate fva PLAIN.parquet EC.parquet`` compares flux variability (median range and fold change).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

HELP = ("score knockouts against essentiality / RB-TnSeq fitness, compare two models' knockout ROC-AUC, or compare "
        "plain vs ecGEM flux variability")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``evaluate`` (three sub-modes)."""
    from ..analysis.metrics import COMPARE_SCORES, GROWTH_THRESHOLD
    from ..analysis.validation_data import TRUTH_SETS

    sub = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    k = sub.add_parser("knockouts", help="knockout table vs measured growth / essentiality")
    k.add_argument("table", help="knockout Parquet (kingems-ray knockout)")
    k.add_argument("--truth", required=True, help=f"truth set: {', '.join(TRUTH_SETS)}, or a CSV "
                   "(gene_id, condition, grows or fitness)")
    k.add_argument("--model", help="model file (needed by essential-gene truth sets and S. elongatus id mapping)")
    k.add_argument("--condition-map", help="JSON file or inline JSON: knockout condition -> truth condition")
    k.add_argument("--threshold", type=float, default=GROWTH_THRESHOLD, help="predicted growth threshold (0.001)")
    k.add_argument("--score", default="growth", choices=["growth", "relative_growth"], help="score for ROC/PR")
    k.add_argument("--out", help="output JSON (default: print only)")
    c = sub.add_parser("compare", help="is model B better than model A at ranking knockouts? (ROC-AUC, gene bootstrap)")
    c.add_argument("a", help="knockout Parquet of model A (e.g. the plain GEM)")
    c.add_argument("b", help="knockout Parquet of model B (e.g. the ecGEM)")
    c.add_argument("--truth", required=True, help=f"truth set: {', '.join(TRUTH_SETS)}, or a CSV "
                   "(gene_id, condition, grows or fitness)")
    c.add_argument("--model", help="model file (needed by essential-gene truth sets and S. elongatus id mapping)")
    c.add_argument("--condition-map", help="JSON file or inline JSON: knockout condition -> truth condition")
    c.add_argument("--score", default="growth", choices=list(COMPARE_SCORES), help="score ranked by ROC-AUC")
    c.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples of genes (1000; 0: none)")
    c.add_argument("--seed", type=int, default=0, help="bootstrap seed (0)")
    c.add_argument("--out", help="output JSON (default: print only)")
    f = sub.add_parser("fva", help="flux variability of a plain GEM vs an ecGEM")
    f.add_argument("plain", help="FVA Parquet of the plain model")
    f.add_argument("ec", help="FVA Parquet of the ecGEM")
    f.add_argument("--out", help="output JSON")


FVA_COLUMNS = ("reaction_id", "minimum", "maximum")
KO_COLUMNS = ("gene_id", "condition", "growth")


def _ko_table(path: str) -> pd.DataFrame:
    from ..validate import read_table

    return read_table(path, "knockout table", KO_COLUMNS)


def _truth(args: argparse.Namespace) -> pd.DataFrame:
    from ..analysis.validation_data import read_truth

    model = None
    if args.model:
        from ..gem.io import load_model

        model = load_model(args.model)
    return read_truth(args.truth, model)


def _compare(args: argparse.Namespace) -> dict:
    """``evaluate compare``: join both screens with the truth, compare their ROC-AUC, print a summary."""

    from ..analysis.metrics import compare_knockout_scores
    from ..analysis.validation_data import join_knockouts, parse_condition_map

    truth = _truth(args)
    cmap = parse_condition_map(args.condition_map, truth)
    joined = [join_knockouts(_ko_table(path), truth, cmap) for path in (args.a, args.b)]
    res = compare_knockout_scores(*joined, score=args.score, by="condition", n_boot=args.n_boot, seed=args.seed)
    res.update({"a_table": str(args.a), "b_table": str(args.b), "truth": args.truth})
    pct = round(100 * res["level"])
    print(f"A = {args.a}\nB = {args.b}\n{res['n']} common gene x condition points ({res['n_genes']} genes, "
          f"{res['n_conditions']} conditions; {res['n_grow']} grow, {res['n_no_growth']} do not), score "
          f"{res['score']}, {res['n_boot']} bootstrap resamples of genes (seed {res['seed']})")
    rows = [("pooled ROC-AUC", res["pooled_roc_auc"])]
    m = res["mean_condition_roc_auc"]
    skipped = f", {len(m['skipped_conditions'])} one-class skipped" if m["skipped_conditions"] else ""
    rows.append((f"mean per-condition ROC-AUC ({m['n_conditions_used']} conditions{skipped})", m))
    for label, s in rows:
        print(f"{label}: A {s['a']:.4f}, B {s['b']:.4f}, B - A {s['diff']:+.4f} "
              f"[{pct} % interval {s['ci_low']:+.4f}, {s['ci_high']:+.4f}], resamples with B - A <= 0: "
              f"{s['p_b_not_better']:.3f}")
    return res


def run(args: argparse.Namespace) -> int:
    """Run ``evaluate``."""

    from ..analysis.metrics import knockout_metrics, variability_precision
    from ..analysis.validation_data import join_knockouts, parse_condition_map

    if args.what == "fva":
        from ..validate import read_table

        res = variability_precision(read_table(args.plain, "FVA table", FVA_COLUMNS),
                                    read_table(args.ec, "FVA table", FVA_COLUMNS))
        print(f"median variability: plain {res['median_plain']:.4g}, ecGEM {res['median_ec']:.4g} "
              f"({res['fold_median']:.3g}-fold narrower) over {res['n_reactions']} reactions")
    elif args.what == "compare":
        res = _compare(args)
    else:
        ko = _ko_table(args.table)
        truth = _truth(args)
        joined = join_knockouts(ko, truth, parse_condition_map(args.condition_map, truth))
        res = knockout_metrics(joined, growth_threshold=args.threshold, score=args.score, by="condition")
        o = res["overall"]
        res["n_knockouts"] = int(len(ko))
        res["truth"] = args.truth
        print(f"{o['n']} gene x condition points: accuracy {o['accuracy']:.4f}, balanced accuracy "
              f"{o['balanced_accuracy']:.4f}, MCC {o['mcc']:.4f}, ROC-AUC {o.get('roc_auc', float('nan')):.4f}, "
              f"PR-AUC {o.get('pr_auc', float('nan')):.4f} (tp {o['tp']}, fp {o['fp']}, tn {o['tn']}, fn {o['fn']})")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(res, indent=2, default=float))
    return 0
