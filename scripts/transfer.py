"""Transfer of the pipeline to other organisms: P. putida iJN1463 and S. elongatus iJB785, plain GEM vs ecGEM.

    .venv/bin/python scripts/transfer.py [--processes 2] [--predict] [--no-cobra] --out DIR

* S. elongatus iJB785 vs RB-TnSeq fitness in BG-11 (the model's own medium). Golden: the plain model scores accuracy
  0.776, balanced accuracy 0.614, ROC-AUC 0.573 on 339 genes (cobrapy + GLPK); cobrapy is rerun here to show where that
  differs from an exact LP.
* P. putida iJN1463 vs the 54 measured mutants of the iJN1463 paper (auxotrophy, glucose minimal medium = the model's),
  agreement with the paper's own in silico glucose-essential genes (Nogales 2020 Table S4; not a measurement),
  measured growth rates on glucose / gluconate (Table 2), and the RB-TnSeq *specific phenotypes* on the carbon sources
  whose BiGG exchange is in the model (only the listed gene x condition points: see the caveat in validation_data).

Tuning (unless ``--no-tune``): ``tune_kcats`` with the reference config's annealing block
(``kingems/configs/Pputida_iJN1463.json`` / ``Selongatus_iJB785.json``), ``--tune-iterations`` steps at most, target
``min(biomass_goal, plain growth)`` (the goal 0.5 1/h exceeds iJB785's plain optimum 0.0539); the tuned table is
compiled again (same pairs) so its screens run in parallel like the others.

kcats: ``kingems_ray.kcat.build_table.build_kcat_table``; with ``--predict`` and a packaged checkpoint the CPI-Pred
predictions, else its database / EC-class / global-median fallbacks (BRENDA + SABIO-RK, ECMpy's json). Pool
``--pool`` g/gDW, default 0.25: the value of the reference's published runs (``BiGG_models_scalability_metrics.csv``,
"Enzyme Upper Bound"), although its configs ``Pputida_iJN1463.json`` / ``Selongatus_iJB785.json`` say 0.15.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from kingems_ray.analysis.knockout import knockout_screen
from kingems_ray.analysis.metrics import knockout_metrics
from kingems_ray.analysis.validation_data import (
    essentiality_truth,
    join_knockouts,
    putida_essential_nogales2020,
    putida_growth_rates,
    putida_knockouts_lb,
    putida_specific_phenotypes,
    selongatus_fitness_bg11,
)
from kingems_ray.ec.build import build
from kingems_ray.ec.problem import Problem
from kingems_ray.ec.spec import EcSpec
from kingems_ray.errors import KingemsError
from kingems_ray.gem.io import load_model
from kingems_ray.gem.media import carbon_source_medium, medium_applied
from kingems_ray.paths import data_file

GOLDEN_SELONGATUS = {"n": 339, "accuracy": 0.776, "balanced_accuracy": 0.614, "roc_auc": 0.573}

# Fitness Browser condition_1 -> BiGG exchange of iJN1463 (only unambiguous ids; the rest are reported as unmapped).
PUTIDA_CARBON = {
    "D-Glucose": "EX_glc__D_e", "Potassium acetate": "EX_ac_e", "L-Leucine": "EX_leu__L_e",
    "L-Isoleucine": "EX_ile__L_e", "L-Lysine": "EX_lys__L_e", "D-Lysine": "EX_lys__D_e", "L-Valine": "EX_val__L_e",
    "L-Arginine": "EX_arg__L_e", "L-Histidine": "EX_his__L_e",
    "L-Glutamic acid monopotassium salt monohydrate": "EX_glu__L_e", "Vanillin": "EX_vanln_e",
    "Vanillic Acid": "EX_vanlt_e", "Ferulic Acid": "EX_fer_e", "p-Coumaric acid": "EX_T4hcinnm_e",
    "benzoic acid": "EX_bz_e", "4-Hydroxybenzoic Acid": "EX_4hbz_e", "Protocatechuic Acid": "EX_34dhbz_e",
    "Hexanoic acid": "EX_hxa_e", "Octanoic acid": "EX_octa_e", "Decanoic acid": "EX_dca_e", "Lauric acid": "EX_ddca_e",
    "Myristic acid": "EX_ttdca_e", "Oleic acid": "EX_ocdcea_e", "Nonanoic acid": "EX_nona_e",
    "Heptanoic acid": "EX_hpta_e", "Sodium succinate dibasic hexahydrate": "EX_succ_e",
    "a-Ketoglutaric acid disodium salt hydrate": "EX_akg_e", "D-Glucuronic Acid": "EX_glcur_e",
    "D-Galacturonic Acid monohydrate": "EX_galur_e", "4-Aminobutyric acid": "EX_4abut_e",
    "Hydroxy-L-Proline": "EX_4hpro_LT_e", "5-Aminovaleric acid": "EX_5aptn_e", "Ethanol": "EX_etoh_e",
    "Sodium propionate": "EX_ppa_e", "Levulinic Acid": "EX_4oxptn_e",
}

KEYS = ("n", "accuracy", "balanced_accuracy", "mcc", "roc_auc", "pr_auc", "pr_auc_no_growth", "tp", "fp", "tn", "fn")


def short(m: dict) -> dict:
    return {k: m[k] for k in KEYS if k in m}


def fmt(m: dict) -> str:
    return (f"n {m['n']}: acc {m['accuracy']:.4f}, bal.acc {m['balanced_accuracy']:.4f}, MCC {m['mcc']:.4f}, "
            f"ROC-AUC {m.get('roc_auc', float('nan')):.4f} [tp {m['tp']} fp {m['fp']} tn {m['tn']} fn {m['fn']}]")


def kcat_table(model, sequences: str, organism: str, predict: bool) -> tuple[pd.DataFrame, str]:
    """The model's kcat table and a note saying where the values come from."""
    from kingems_ray.kcat.build_table import build_kcat_table, summarize

    predictor = None
    note = "fallbacks only (no predictor): database by substrate / EC, EC-class and global medians"
    if predict:
        from kingems_ray.kcat.predict import default_checkpoint_path

        if default_checkpoint_path().exists():
            predictor = "default"
            note = f"CPI-Pred predictions ({default_checkpoint_path().name}) + fallbacks"
        else:
            note += f"; --predict asked but no checkpoint at {default_checkpoint_path()}"
    tab = build_kcat_table(model, sequences=data_file("sequences", sequences), predictor=predictor,
                           organism=organism)
    return tab, note + f"; {summarize(tab)['pairs_by_source']}"


def tune_ecgem(ec, plain_growth: float, config: str, args) -> tuple[object, dict]:
    """Tune the ecGEM's kcats (reference annealing settings) and compile the tuned table; returns (Built, info)."""
    from kingems_ray.analysis.tuning import AnnealingSettings, tuned_build

    cfg = json.loads(data_file("kingems", "configs", config).read_text())
    s = AnnealingSettings.from_config(cfg, max_iterations=args.tune_iterations, reselect_every=args.reselect_every)
    target = min(float(cfg["simulated_annealing"]["biomass_goal"]), plain_growth)
    t = time.perf_counter()
    tb, res = tuned_build(ec, target, EcSpec(level="L4", pool=args.pool), settings=s,
                          chains=max(1, args.processes), processes=args.processes, seed=0)
    keys = ("temperature", "cooling_rate", "max_iterations", "max_unchanged", "change_threshold", "n_top",
            "reselect_every")
    info = {"target": target, "best_growth": res.best_growth, "reached": res.reached,
            "iterations": int(res.trajectory["iteration"].max()), "n_tuned": int(res.table["tuned"].sum()),
            "growth_rebuilt": Problem(tb.compiled).growth(), "seconds": time.perf_counter() - t,
            "settings": {k: getattr(s, k) for k in keys}}
    print(f"  tuning: {info}", flush=True)
    return tb, info


def model_variants(model, sequences: str, organism: str, config: str, args, res: dict) -> dict:
    """Plain GEM, ecGEM (L4) and, unless ``--no-tune``, the tuned ecGEM of one organism; notes go into ``res``."""
    kc, res["kcats"] = kcat_table(model, sequences, organism, args.predict)
    builds = {"plain": build(model), "ecGEM_L4": EcSpec(level="L4", pool=args.pool).build(model, kcats=kc)}
    res["kcat_match"] = builds["ecGEM_L4"].kcat_report.summary()[:300]
    if not args.no_tune:
        pg = Problem(builds["plain"].compiled).growth()
        builds["ecGEM_tuned"], res["tuning"] = tune_ecgem(builds["ecGEM_L4"], pg, config, args)
    return builds


def cobra_growth(model, genes) -> pd.Series:
    from cobra.flux_analysis import single_gene_deletion

    model.solver = "glpk"
    ref = single_gene_deletion(model, gene_list=list(genes))
    ref["gene"] = [next(iter(i)) for i in ref["ids"]]
    return ref.set_index("gene")["growth"].fillna(0.0)


def selongatus(args, out: Path) -> dict:
    res: dict = {}
    model = load_model(data_file("bigg", "iJB785.xml.gz"))
    truth = selongatus_fitness_bg11(model)
    builds = model_variants(model, "iJB785_prodf.csv.gz", "Synechococcus elongatus", "Selongatus_iJB785.json",
                            args, res)
    for name, b in builds.items():
        t = time.perf_counter()
        ko = knockout_screen(b.compiled, {"BG11": None}, processes=args.processes)
        ko.to_parquet(out / f"ko_iJB785_{name}.parquet", index=False)
        m = knockout_metrics(join_knockouts(ko, truth))["overall"]
        res[name] = {"metrics": short(m), "wild_type_growth": float(ko["wild_type_growth"].iloc[0]),
                     "seconds": time.perf_counter() - t, "n_lp": ko.attrs["n_lp"]}
        print(f"[iJB785 {name}] growth {res[name]['wild_type_growth']:.4g} 1/h; BG-11 fitness: {fmt(m)}", flush=True)
    got = res["plain"]["metrics"]
    res["golden"] = {k: {"expected": v, "got": got[k]} for k, v in GOLDEN_SELONGATUS.items()}
    if not args.no_cobra:
        cg = cobra_growth(model, truth["gene_id"])
        ko = pd.DataFrame({"gene_id": cg.index, "condition": "BG11", "growth": cg.to_numpy()})
        mc = knockout_metrics(join_knockouts(ko, truth))["overall"]
        res["cobrapy_glpk"] = short(mc)
        ours = pd.read_parquet(out / "ko_iJB785_plain.parquet").set_index("gene_id")["growth"]
        flips = [g for g in cg.index if (cg[g] > 1e-3) != (ours[g] > 1e-3)]
        res["cobrapy_class_differences"] = {g: {"cobrapy": float(cg[g]), "ours": float(ours[g])} for g in flips}
        print(f"  cobrapy+GLPK scored the same way: {fmt(mc)}; genes classed differently: "
              f"{res['cobrapy_class_differences']}")
    print("  golden (reference, plain): " + ", ".join(f"{k} {v}" for k, v in GOLDEN_SELONGATUS.items()))
    return res


def putida(args, out: Path) -> dict:
    res: dict = {}
    model = load_model(data_file("bigg", "iJN1463.xml.gz"))
    builds = model_variants(model, "iJN1463_prodf.csv.gz", "Pseudomonas putida", "Pputida_iJN1463.json", args, res)
    ess = putida_essential_nogales2020()
    insilico = essentiality_truth(model.genes, ess["glucose"], "glucose")
    mutants = putida_knockouts_lb()
    rates = putida_growth_rates()
    sp = putida_specific_phenotypes()
    ids = {r.id for r in model.reactions}
    mapped = {c: ex for c, ex in PUTIDA_CARBON.items() if ex in ids and c in set(sp["condition"])}
    res["specific_phenotype_conditions"] = {"mapped": len(mapped), "total": int(sp["condition"].nunique()),
                                            "unmapped": sorted(set(sp["condition"]) - set(mapped))}
    conds = {}
    for c, ex in mapped.items():
        try:
            conds[c] = carbon_source_medium(model, None, ex)
        except KingemsError as exc:
            print(f"  skipped {c}: {exc}")
    sp_genes = sorted(set(sp["gene_id"]) & {g.id for g in model.genes})
    for name, b in builds.items():
        r: dict = {}
        t = time.perf_counter()
        ko = knockout_screen(b.compiled, {"glucose": None}, processes=args.processes)
        ko.to_parquet(out / f"ko_iJN1463_{name}_glucose.parquet", index=False)
        r["wild_type_growth"] = float(ko["wild_type_growth"].iloc[0])
        jm = join_knockouts(ko, mutants)
        m = knockout_metrics(jm)["overall"]
        r["mutants_54"] = short(m)
        paper = knockout_metrics(jm.assign(growth=jm["model_grows"].astype(float)))["overall"]
        r["mutants_54_paper_iJN1463_prediction"] = short(paper)
        r["agreement_with_paper_prediction"] = float(((jm["growth"] > 1e-3) == jm["model_grows"]).mean())
        mi = knockout_metrics(join_knockouts(ko, insilico))["overall"]
        r["concordance_with_paper_insilico_glucose_essential"] = short(mi)
        print(f"[iJN1463 {name}] growth {r['wild_type_growth']:.4g} 1/h; 54 measured mutants: {fmt(m)}; the paper's "
              f"iJN1463: acc {paper['accuracy']:.4f}; agreement with it {r['agreement_with_paper_prediction']:.3f}; "
              f"vs the paper's in silico glucose-essential list: {fmt(mi)}", flush=True)
        kos = knockout_screen(b.compiled, conds, genes=sp_genes, processes=args.processes)
        kos.to_parquet(out / f"ko_iJN1463_{name}_specific.parquet", index=False)
        j = join_knockouts(kos, sp)
        ms = knockout_metrics(j)["overall"]
        r["specific_phenotypes"] = short(ms)
        wt = kos.groupby("condition")["wild_type_growth"].first()
        r["carbon_sources_without_growth"] = sorted(wt[wt <= 1e-3].index)
        print(f"  RB-TnSeq specific phenotypes ({len(conds)} carbon sources, listed points only): {fmt(ms)}; "
              f"wild type does not grow on {r['carbon_sources_without_growth']}", flush=True)
        # measured growth rates at the measured uptake
        p = Problem(b.compiled)
        pred = []
        for row in rates.itertuples():
            ex = {"Glucose": "EX_glc__D_e", "Gluconate": "EX_glcn_e"}[row.source]
            with medium_applied(p, carbon_source_medium(model, None, ex, uptake=row.uptake)):
                pred.append(p.growth())
        rr = rates.assign(predicted=pred)
        r["growth_rates"] = rr[["source", "uptake", "growth", "predicted", "iJN1462", "reference"]].to_dict("records")
        err = np.abs(rr["predicted"] - rr["growth"]) / rr["growth"]
        r["growth_rate_mean_relative_error"] = float(err.mean())
        print(f"  growth at measured uptakes: mean |rel. error| {err.mean():.3f} "
              f"(measured {rr['growth'].round(2).tolist()}, predicted {rr['predicted'].round(3).tolist()})")
        r["seconds"] = time.perf_counter() - t
        res[name] = r
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--predict", action="store_true", help="use the packaged CPI-Pred checkpoint when present")
    ap.add_argument("--no-cobra", action="store_true", help="skip the cobrapy reproduction for S. elongatus")
    ap.add_argument("--no-tune", action="store_true", help="skip the annealing of the ecGEM's kcats")
    ap.add_argument("--tune-iterations", type=int, default=200, help="annealing steps per chain at most")
    ap.add_argument("--reselect-every", type=int, default=0,
                    help="re-rank the tuned pairs by enzyme mass every N steps (default 0: once, as kinGEMs)")
    ap.add_argument("--only", choices=["selongatus", "putida"])
    ap.add_argument("--pool", type=float, default=0.25, help="enzyme pool [g/gDW] (reference runs: 0.25)")
    ap.add_argument("--out", default="eval_transfer")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    res = {}
    if args.only in (None, "selongatus"):
        res["S_elongatus_iJB785"] = selongatus(args, out)
    if args.only in (None, "putida"):
        res["P_putida_iJN1463"] = putida(args, out)
    res["missing_data"] = [
        "P. putida: no measured genome-wide essentiality; Nogales 2020 Table S4 essential lists are in silico "
        "predictions; the only measured knockout phenotypes are the 54 auxotroph mutants (and the PRCC mutant "
        "collection, viable on an undefined rich medium with no LB definition for iJN1463)",
        "P. putida RB-TnSeq: only 'specific phenotypes' (strong, condition-specific effects); no full gene x condition "
        "fitness matrix, so genes needed on every carbon source are absent and non-listed points cannot be scored",
        "S. elongatus: one condition (BG-11); essential genes have no fitness value and are absent",
    ]
    (out / "transfer.json").write_text(json.dumps(res, indent=2, default=str))
    print(f"-> {out / 'transfer.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
