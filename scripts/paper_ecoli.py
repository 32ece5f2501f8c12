"""The paper's E. coli evaluations on iML1515: knockout accuracy (glucose M9 essential genes; RB-TnSeq fitness on 10
carbon sources) and flux-variability precision, for the plain GEM, the ecGEM (L4, pool 0.25 as in
``kingems/configs/BiGG_iML1515.json``) and the tuned ecGEM.

    .venv/bin/python scripts/paper_ecoli.py [--kcats ecmpy|predicted] [--target-growth G] [--n-top N]
        [--reselect-every N] [--seed S] [--processes 2] [--no-tune] [--no-fva] [--cobra PARQUET] --out DIR

kcats: ``ecmpy`` (ECMpy's iML1515 table) or ``predicted`` (the shipped CPI-Pred checkpoint on the E. coli protein
sequences, database / median fallbacks where no sequence; ``kingems-ray kcats``). Tuning: the reference's annealing
block, target ``biomass_goal`` (0.877) unless ``--target-growth``. Each ecGEM is compared with the plain model by a
paired gene bootstrap of ROC-AUC (``compare_knockout_scores``), for growth and relative growth as the score.

Golden check (printed PASS/FAIL): the plain iML1515 on the 13,380 gene x carbon points scores accuracy 0.9386,
balanced accuracy 0.768, MCC 0.581, ROC-AUC 0.787 (cobrapy + GLPK, growth > 0.001 vs fitness > -2). ``--cobra`` takes
the cobrapy growth table written by ``scripts/bench_knockout.py --save-cobra`` and scores it the same way.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from kingems_ray.analysis.fva import flux_variability
from kingems_ray.analysis.knockout import knockout_screen
from kingems_ray.analysis.metrics import knockout_metrics, variability_precision
from kingems_ray.analysis.validation_data import (
    ecoli_glucose_essential,
    ecoli_keio_fitness,
    essentiality_truth,
    join_knockouts,
    keio_carbon_exchanges,
)
from kingems_ray.ec.build import build
from kingems_ray.ec.problem import Problem
from kingems_ray.ec.spec import EcSpec
from kingems_ray.gem.media import carbon_source_medium
from kingems_ray.paths import data_file

GOLDEN = {"n": 13380, "accuracy": 0.9386, "balanced_accuracy": 0.768, "mcc": 0.581, "roc_auc": 0.787}
KEYS = ("n", "accuracy", "balanced_accuracy", "mcc", "roc_auc", "pr_auc", "pr_auc_no_growth", "tp", "fp", "tn", "fn")


#: The ecGEM of the paper run: L4, 0.25 g/gDW pool (the reference settings), gecko rows.
EC_SPEC = EcSpec(level="L4", pool=0.25)

def short(m: dict) -> dict:
    """The headline metrics of a metrics dict."""
    return {k: m[k] for k in KEYS if k in m}


def fmt(m: dict) -> str:
    return (f"n {m['n']}: acc {m['accuracy']:.4f}, bal.acc {m['balanced_accuracy']:.4f}, MCC {m['mcc']:.4f}, "
            f"ROC-AUC {m.get('roc_auc', float('nan')):.4f}, PR-AUC(grow) {m.get('pr_auc', float('nan')):.4f}, "
            f"PR-AUC(no growth) {m.get('pr_auc_no_growth', float('nan')):.4f} "
            f"[tp {m['tp']} fp {m['fp']} tn {m['tn']} fn {m['fn']}]")


def tune_ecgem(ec, args) -> tuple[object | None, dict]:
    """Tune the ecGEM's kcats with the reference's annealing settings; the tuned table compiled again (same pairs)."""
    from kingems_ray.analysis.tuning import AnnealingSettings, tuned_build

    cfg = json.loads(data_file("kingems", "configs", "BiGG_iML1515.json").read_text())["simulated_annealing"]
    target = args.target_growth or cfg["biomass_goal"]
    s = AnnealingSettings.from_config(cfg, max_iterations=args.tune_iterations, reselect_every=args.reselect_every,
                                      **({"n_top": args.n_top} if args.n_top else {}))
    t = time.perf_counter()
    tuned, res = tuned_build(ec, target, EC_SPEC, settings=s, chains=max(1, args.processes),
                             processes=args.processes, seed=args.seed)
    res.write(Path(args.out) / "kcats_tuned.parquet")
    info = {"target": target, "n_top": s.n_top, "reselect_every": s.reselect_every, "seed": args.seed,
            "best_growth": res.best_growth, "reached": res.reached,
            "n_tuned": int(res.table["tuned"].sum()), "seconds": time.perf_counter() - t,
            "iterations": int(res.trajectory["iteration"].max()),
            "growth_after_rebuild": Problem(tuned.compiled).growth()}
    return tuned, info


def kcat_source(model, which: str, out: Path):
    """The kcat table: ECMpy's file, or CPI-Pred predictions of the shipped checkpoint (written to ``out``)."""
    if which == "ecmpy":
        return data_file("kcat", "ecmpy_iML1515_reaction_kcat_MW.csv.gz")
    from kingems_ray.kcat.build_table import build_kcat_table, summarize

    t = time.perf_counter()
    tab = build_kcat_table(model, sequences=data_file("sequences", "ecoli_gp.faa.gz"), predictor="default",
                           organism="Escherichia coli")
    tab.to_parquet(out / "kcats_predicted.parquet", index=False)
    print(f"predicted kcats in {time.perf_counter() - t:.1f} s: {summarize(tab)['pairs_by_source']}", flush=True)
    return tab


def compute(args, out: Path) -> dict:
    """Build, tune, screen and run FVA; every table goes to ``out`` as Parquet. Returns run information."""
    info: dict = {}
    t0 = time.perf_counter()
    plain = build(data_file("bigg", "iML1515.xml.gz"))
    model = plain.model
    ec = EC_SPEC.build(model, kcats=kcat_source(model, args.kcats, out))
    info["kcat_report"] = ec.kcat_report.summary()[:400]
    print(f"built plain + ecGEM in {time.perf_counter() - t0:.1f} s; {info['kcat_report'][:200]}", flush=True)
    info["kcats"] = args.kcats
    problems = {"plain": Problem(plain.compiled), "ecGEM_L4": Problem(ec.compiled)}
    if not args.no_tune:
        tb, tinfo = tune_ecgem(ec, args)
        info["tuning"] = tinfo
        print(f"tuning: {tinfo}", flush=True)
        problems["ecGEM_tuned"] = Problem(tb.compiled)
    info["wild_type_growth_glucose"] = {k: p.growth() for k, p in problems.items()}
    print(f"wild-type growth on glucose M9: {info['wild_type_growth_glucose']}", flush=True)
    conds = {name: carbon_source_medium(model, None, ex) for name, ex in keio_carbon_exchanges().items()}
    info["screen_seconds"] = {}
    for name, p in ({} if args.skip_screens else problems).items():
        t = time.perf_counter()
        procs = args.processes
        target = p if procs == 1 else p.cm
        knockout_screen(target, {"glucose": None}, processes=procs).to_parquet(out / f"ko_{name}_glucose.parquet")
        knockout_screen(target, conds, processes=procs).to_parquet(out / f"ko_{name}_keio10.parquet")
        info["screen_seconds"][name] = time.perf_counter() - t
        print(f"[{name}] screens {info['screen_seconds'][name]:.1f} s", flush=True)
    if not args.no_fva:
        info["fva_seconds"] = {}
        for name, p in problems.items():
            t = time.perf_counter()
            procs = args.processes
            df = flux_variability(p if procs <= 1 else p.cm, fraction=0.9, processes=procs)
            df.to_parquet(out / f"fva_{name}.parquet", index=False)
            info["fva_seconds"][name] = time.perf_counter() - t
            print(f"[{name}] FVA at 90 % of optimum: {info['fva_seconds'][name]:.1f} s, {df.attrs['n_solves']} LPs",
                  flush=True)
    (out / "run_info.json").write_text(json.dumps(info, indent=2, default=str))
    return info


def score(out: Path, cobra: str | None) -> dict:
    """Score every knockout / FVA table in ``out`` (see :func:`compute`)."""
    from kingems_ray.gem.io import load_model

    res: dict = {}
    if (out / "run_info.json").exists():
        res["run"] = json.loads((out / "run_info.json").read_text())
    keio = ecoli_keio_fitness()
    genes = [g.id for g in load_model(data_file("bigg", "iML1515.xml.gz")).genes]
    glc_truth = essentiality_truth(genes, ecoli_glucose_essential(), "glucose")
    names = [n for n in ("plain", "ecGEM_L4", "ecGEM_tuned") if (out / f"ko_{n}_keio10.parquet").exists()]
    fva_names = [n for n in ("plain", "ecGEM_L4", "ecGEM_tuned") if (out / f"fva_{n}.parquet").exists()]
    res["knockouts"] = {}
    for name in names:
        ko_glc = pd.read_parquet(out / f"ko_{name}_glucose.parquet")
        ko_keio = pd.read_parquet(out / f"ko_{name}_keio10.parquet")
        m_glc = knockout_metrics(join_knockouts(ko_glc, glc_truth))["overall"]
        jk = join_knockouts(ko_keio, keio)
        mk = knockout_metrics(jk, by="condition")
        mk_rel = knockout_metrics(jk, score="relative_growth")["overall"]
        res["knockouts"][name] = {
            "glucose_essential": short(m_glc),
            "keio_10_carbon": short(mk["overall"]),
            "keio_10_carbon_relative_growth_score": {k: mk_rel[k] for k in ("roc_auc", "pr_auc", "pr_auc_no_growth")},
            "keio_per_condition": {c: short(v) for c, v in mk["per_condition"].items()},
            "wild_type_growth_per_condition": ko_keio.groupby("condition")["wild_type_growth"].first().to_dict(),
            "n_lp": int(ko_keio["solved"].sum() + ko_glc["solved"].sum()),
        }
        print(f"[{name}]")
        print(f"  glucose M9 essential genes : {fmt(m_glc)}")
        print(f"  Keio RB-TnSeq, 10 carbons  : {fmt(mk['overall'])}")
        print(f"    (score = relative growth: ROC-AUC {mk_rel['roc_auc']:.4f})")

    if "plain" in res["knockouts"]:
        from kingems_ray.analysis.metrics import compare_knockout_scores

        res["compare_with_plain"] = {}
        for suffix, truth in (("keio10", keio), ("glucose", glc_truth)):
            base = join_knockouts(pd.read_parquet(out / f"ko_plain_{suffix}.parquet"), truth)
            for name in [n for n in names if n != "plain"]:
                other = join_knockouts(pd.read_parquet(out / f"ko_{name}_{suffix}.parquet"), truth)
                for sc in ("growth", "relative_growth") if suffix == "keio10" else ("growth",):
                    c = compare_knockout_scores(base, other, score=sc, n_boot=1000, seed=0)
                    res["compare_with_plain"].setdefault(suffix, {}).setdefault(name, {})[sc] = c
                    keys = [("pooled_roc_auc", "pooled")]
                    if c.get("mean_condition_roc_auc") and suffix == "keio10":
                        keys.append(("mean_condition_roc_auc", "per-condition mean"))
                    for key, label in keys:
                        v = c[key]
                        print(f"  [{suffix}] {name} vs plain, score {sc}, {label} ROC-AUC: {v['a']:.4f} -> "
                              f"{v['b']:.4f} ({v['diff']:+.4f}, 95 % [{v['ci_low']:+.4f}, {v['ci_high']:+.4f}], "
                              f"resamples with no gain {v['p_b_not_better']:.3f})")
        got = res["knockouts"]["plain"]["keio_10_carbon"]
        checks = {k: abs(got[k] - v) <= (0 if k == "n" else 5e-4) for k, v in GOLDEN.items()}
        res["golden"] = {"expected": GOLDEN, "got": {k: got[k] for k in GOLDEN}, "pass": checks}
        print("golden check (plain iML1515, 13,380 points): " + ", ".join(
            f"{k} {got[k]:.4f} vs {v} {'PASS' if checks[k] else 'FAIL'}" for k, v in GOLDEN.items()))
    if cobra:
        cg = pd.read_parquet(cobra)
        jc = join_knockouts(cg, keio)
        mc = knockout_metrics(jc)["overall"]
        res["cobrapy_glpk_keio_10_carbon"] = short(mc)
        print(f"  cobrapy (GLPK) growth scored the same way: {fmt(mc)}")
        ours = pd.read_parquet(out / "ko_plain_keio10.parquet").set_index(["gene_id", "condition"])["growth"]
        both = jc.set_index(["gene_id", "condition"])["growth"]
        diff = (ours[both.index] - both).abs()
        flips = ((ours[both.index] > 1e-3) != (both > 1e-3))
        res["cobrapy_vs_ours"] = {"points_differing_1e-6": int((diff > 1e-6).sum()), "class_changes": int(flips.sum()),
                                  "examples": [list(i) for i in both.index[flips.to_numpy()][:10]]}
        print(f"  ours vs cobrapy: {res['cobrapy_vs_ours']}")

    fvas = {n: pd.read_parquet(out / f"fva_{n}.parquet") for n in fva_names}
    if "plain" in fvas and len(fvas) > 1:
        res["fva"] = {}
        for name in [n for n in fvas if n != "plain"]:
            vp = variability_precision(fvas["plain"], fvas[name])
            res["fva"][name] = vp
            print(f"  precision {name}: median variability plain {vp['median_plain']:.4g} -> {vp['median_ec']:.4g} "
                  f"({vp['fold_median']:.3g}-fold), per-reaction median fold {vp['median_fold_per_reaction']:.3g}, "
                  f"{100 * vp['fraction_narrower']:.1f} % of reactions narrower")
        ref = pd.read_csv(data_file("kingems", "iML1515_fva_ablation_summary.csv"))
        res["reference_fva"] = ref.set_index("Level")[["Biomass (1/hr)", "Median FVi", "Mean FVi"]].to_dict("index")
        print("reference (kinGEMs, CPI-Pred kcats):")
        for lvl, row in res["reference_fva"].items():
            print(f"  {lvl}: biomass {row['Biomass (1/hr)']:.4f}, median FVi {row['Median FVi']:.4g}")
    summ = pd.read_csv(data_file("kingems", "BiGG_models_summary.csv"))
    row = summ[summ["Model"] == "iML1515"]
    if len(row):
        res["reference_bigg_summary_iML1515"] = row.iloc[0].to_dict()
    (out / "paper_ecoli.json").write_text(json.dumps(res, indent=2, default=lambda o: float(o)
                                                     if isinstance(o, np.floating | np.integer) else str(o)))
    print(f"-> {out / 'paper_ecoli.json'}")
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--kcats", choices=["ecmpy", "predicted"], default="ecmpy",
                    help="ECMpy's iML1515 table or the shipped CPI-Pred checkpoint's predictions")
    ap.add_argument("--target-growth", type=float, help="tuning target [1/h] (default: the config's 0.877)")
    ap.add_argument("--n-top", type=int, help="pairs tuned (default: the config's 200)")
    ap.add_argument("--reselect-every", type=int, default=0,
                    help="re-rank the tuned pairs by enzyme mass every N steps (default 0: once, as kinGEMs)")
    ap.add_argument("--seed", type=int, default=0, help="annealing seed")
    ap.add_argument("--no-tune", action="store_true")
    ap.add_argument("--tune-iterations", type=int, default=1000)
    ap.add_argument("--no-fva", action="store_true")
    ap.add_argument("--skip-screens", action="store_true", help="FVA only (scoring then uses tables already there)")
    ap.add_argument("--cobra", help="cobrapy growth Parquet from bench_knockout.py --save-cobra")
    ap.add_argument("--score-only", action="store_true", help="only score the tables already in --out")
    ap.add_argument("--out", default="eval_ecoli", help="output folder (JSON + knockout / FVA Parquet files)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.score_only:
        compute(args, out)
    score(out, args.cobra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
