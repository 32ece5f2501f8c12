#!/usr/bin/env python
"""Golden figures of the compile/solve path, printed as JSON: run before and after a refactor and compare.

Usage::

    PYTHONPATH=$PWD .venv/bin/python scripts/golden_snapshot.py [--quick] > golden.json

Figures (exact floats, ``repr``): growth of textbook (shipped predicted kcat table) and iML1515 (ECMpy table, when
``../shared/data`` is present) at every ablation level in both formulations; FVA median width and a hash of the
textbook L4 FVA table; a hash of the textbook L4 knockout table; a short annealing run; a small maintenance grid.
Only public entry points are used, so the script runs unchanged on old and new code.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
from pathlib import Path

import pandas as pd

from kingems_ray.analysis.fva import flux_variability, variability_summary
from kingems_ray.analysis.knockout import knockout_screen
from kingems_ray.analysis.maintenance import maintenance_sweep
from kingems_ray.analysis.tuning import tune_kcats
from kingems_ray.ec.build import build
from kingems_ray.ec.compile import LEVELS
from kingems_ray.gem.io import load_model

try:  # the Problem moved from solver/ to ec/ in the issue-11 redesign
    from kingems_ray.ec.problem import Problem
except ImportError:  # pragma: no cover - old layout
    Problem = importlib.import_module("kingems_ray.solver" + ".problem").Problem

ROOT = Path(__file__).resolve().parents[1]
TEXTBOOK_KCATS = ROOT / "kingems_ray" / "data" / "kcat_default" / "textbook_kcats_predicted.parquet"
DATA = ROOT.parent / "shared" / "data"


def _hash(df: pd.DataFrame) -> str:
    """Content hash of a table, floats rounded to 12 significant digits (repr of exact LP optima)."""
    text = df.to_csv(index=False, float_format="%.12g")
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def growth_table(model, kcats, levels) -> dict:
    out = {}
    for form in ("gecko", "kingems"):
        for lv in levels:
            agg = "mean" if form == "kingems" else "max"
            b = build(model, kcats, level=lv, pool=0.25, aggregate=agg, formulation=form)
            out[f"{form}/{lv}"] = repr(Problem(b.compiled).growth())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="textbook only")
    ap.add_argument("--textbook-kcats", default=str(TEXTBOOK_KCATS),
                    help="textbook kcat table (default: the shipped one; give an older table to compare code alone)")
    ap.add_argument("--out", help="write the JSON here (stdout may carry HiGHS' banner)")
    args = ap.parse_args()
    res: dict = {}
    tb = load_model("textbook")
    kc = pd.read_parquet(args.textbook_kcats)
    res["textbook_growth"] = growth_table(tb, kc, list(LEVELS))
    # kinGEMs rows do not grow at L3c/L4 with this table: its figures are taken at L3b.
    for form, lv in (("gecko", "L4"), ("kingems", "L3b")):
        b = build(tb, kc, level=lv, formulation=form, aggregate="mean" if form == "kingems" else "max")
        fva = flux_variability(b.compiled, fraction=0.9)
        res[f"textbook_fva_{form}"] = {
            "median": repr(variability_summary(fva)["median_variability"]),
            "hash": _hash(fva.drop(columns=["status"])),
            "n_solves": int(fva.attrs["n_solves"]),
        }
        ko = knockout_screen(b.compiled)
        res[f"textbook_knockout_{form}"] = {"hash": _hash(ko), "n_lp": int(ko.attrs["n_lp"])}
        grid = maintenance_sweep(b.compiled, [0.0, 3.15, 8.39], [40.0, 59.81, 80.0])
        res[f"textbook_maintenance_{form}"] = _hash(grid)
    b = build(tb, kc, level="L4")
    g0 = Problem(b.compiled).growth()
    t = tune_kcats(b.compiled, g0 * 1.5, iterations=30, chains=2, seed=3, n_top=5)
    res["textbook_tune"] = {"best_growth": repr(t.best_growth), "table": _hash(t.table),
                            "trajectory": _hash(t.trajectory)}
    iml = DATA / "bigg" / "iML1515.xml.gz"
    if not args.quick and iml.exists():
        m = load_model(iml)
        res["iML1515_growth"] = growth_table(m, DATA / "kcat" / "ecmpy_iML1515_reaction_kcat_MW.csv.gz",
                                             ["L1", "L2", "L3c", "L4"])
    text = json.dumps(res, indent=1, sort_keys=True)
    if args.out:
        Path(args.out).write_text(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
