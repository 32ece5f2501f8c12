"""kcat uncertainty on iML1515 (predicted kcats): knockout lethality probabilities against RB-TnSeq, FVA intervals.

    PYTHONPATH=. .venv/bin/python scripts/uncertainty_ecoli.py --kcats kcats_predicted.parquet --samples 64 \
        [--conditions Glucose,Acetate,...] [--genes @genes.txt] [--fva-samples 16] [--processes 2] --out DIR

The kcat table is the one ``scripts/paper_ecoli.py --kcats predicted`` builds (``build_kcat_table`` with the
shipped CPI-Pred checkpoint on ``sequences/ecoli_gp.faa.gz``, organism E. coli; pass ``--kcats predicted`` to
build it here, written to ``DIR/kcats_predicted.parquet``). The ecGEM is L4, pool 0.25 g/gDW, as there.

Per-sample screens are written in batches (``DIR/ko_samples/batch_*.parquet``) and skipped on a rerun, so a killed
run resumes. Outputs: ``ko_point.parquet``, ``ko_summary.parquet`` (p_lethal, growth quantiles per gene x
condition), ``calibration.json`` (Brier score, reliability curve, ROC-AUC of p(lethal) and the point model's, paired
gene bootstrap of the difference), ``reliability.png``, ``lethality_vs_fitness.png``; with ``--fva-samples``
``fva_summary.parquet``, ``fva_intervals.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

from kingems_ray.analysis.knockout import knockout_screen
from kingems_ray.analysis.metrics import compare_knockout_scores
from kingems_ray.analysis.sampled import sampled_fva, sampled_knockouts
from kingems_ray.analysis.uncertainty import (
    KcatSampler,
    fva_interval_summary,
    lethality_calibration,
    probability_scores,
    summarise_fva,
    summarise_knockouts,
)
from kingems_ray.analysis.uncertainty_plots import plot_fva_intervals, plot_lethality_vs_fitness, plot_reliability
from kingems_ray.analysis.validation_data import ecoli_keio_fitness, join_knockouts, keio_carbon_exchanges
from kingems_ray.ec.build import build
from kingems_ray.gem.media import carbon_source_medium
from kingems_ray.paths import data_file


def kcat_table(arg: str, model, out: Path):
    if arg != "predicted":
        return arg
    from kingems_ray.kcat.build_table import build_kcat_table

    tab = build_kcat_table(model, sequences=data_file("sequences", "ecoli_gp.faa.gz"), predictor="default",
                           organism="Escherichia coli")
    tab.to_parquet(out / "kcats_predicted.parquet", index=False)
    return tab


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kcats", required=True, help="kcat table, or 'predicted' to build it")
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--spread-scale", type=float, default=1.0)
    ap.add_argument("--conditions", default=None, help="Keio carbon sources (default: all 10)")
    ap.add_argument("--genes", default=None,
                    help="@FILE, comma list, or 'truth' (the model genes with RB-TnSeq data); default: all genes")
    ap.add_argument("--batch", type=int, default=8, help="samples per saved batch")
    ap.add_argument("--fva-samples", type=int, default=0)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    from kingems_ray.gem.io import load_model

    model = load_model(data_file("bigg", "iML1515.xml.gz"))
    ec = build(model, kcat_table(args.kcats, model, out), level="L4", pool=0.25)
    cm = ec.compiled
    sampler = KcatSampler.from_pairs(cm.pairs, seed=args.seed, spread_scale=args.spread_scale)
    info: dict = {"sampler": sampler.describe(), "spread": sampler.label(), "samples": args.samples,
                  "build_seconds": time.perf_counter() - t0}
    print(f"built in {info['build_seconds']:.1f} s; {sampler.label()}", flush=True)
    if not info["sampler"]["log10_kcat_std_calibrated"]:
        # An old table (no log10_kcat_std column) falls back to kcat_std read as a log-normal sd, which is
        # narrower than the calibrated spread: say so loudly, the result depends on it.
        print("WARNING: no calibrated log10_kcat_std in this kcat table; rebuild it with --kcats predicted",
              flush=True)
    names = [c.strip() for c in args.conditions.split(",")] if args.conditions else list(keio_carbon_exchanges())
    ex = keio_carbon_exchanges()
    conds = {n: carbon_source_medium(model, None, ex[n]) for n in names}
    genes = None
    if args.genes == "truth":
        measured = set(ecoli_keio_fitness(tuple(names))["gene_id"])
        genes = [g for g in cm.gene_ids if g in measured]
    elif args.genes:
        genes = (Path(args.genes[1:]).read_text().split() if args.genes.startswith("@")
                 else [g for g in args.genes.split(",") if g])
    info.update(conditions=names, n_genes=len(genes) if genes else len(cm.gene_ids))

    pp = out / "ko_point.parquet"
    if not pp.exists():
        t = time.perf_counter()
        point = knockout_screen(cm, conds, genes=genes, processes=args.processes)
        point.to_parquet(pp)
        info["point_screen_seconds"] = time.perf_counter() - t
        print(f"point screen {info['point_screen_seconds']:.1f} s", flush=True)
    point = pd.read_parquet(pp)

    bdir = out / "ko_samples"
    bdir.mkdir(exist_ok=True)
    t = time.perf_counter()
    for start in range(0, args.samples, args.batch):
        n = min(args.batch, args.samples - start)
        f = bdir / f"batch_{start:05d}_{n}.parquet"
        if f.exists():
            continue
        tb = time.perf_counter()
        df = sampled_knockouts(cm, sampler, n, conds, genes=genes, processes=args.processes, start=start)
        df.to_parquet(f)
        print(f"samples {start}..{start + n - 1}: {time.perf_counter() - tb:.1f} s", flush=True)
    info["sample_screens_seconds_this_run"] = time.perf_counter() - t
    per = pd.concat([pd.read_parquet(f) for f in sorted(bdir.glob("batch_*.parquet"))], ignore_index=True)
    per = per[per["sample"] < args.samples]
    info["samples_done"] = int(per["sample"].nunique())
    info["seconds_per_sample_screen"] = float(per.groupby("sample")["seconds"].first().mean())
    summ = summarise_knockouts(per, point)
    summ.to_parquet(out / "ko_summary.parquet")

    truth = ecoli_keio_fitness(tuple(names))
    joined = join_knockouts(summ, truth)
    cal = lethality_calibration(joined)
    rel = cal.pop("reliability")
    rel.to_parquet(out / "reliability.parquet")
    info["calibration"] = cal
    info["reliability"] = rel.to_dict(orient="records")
    pj = join_knockouts(point, truth)
    comps = {}
    for label, tb_ in (("p_lethal_tiebreak_median_growth", "growth_q50"), ("p_lethal_alone", None),
                       ("mean_growth", "mean")):
        if tb_ == "mean":
            b = joined.assign(growth=joined["growth_mean"])
        else:
            b = probability_scores(joined, tie_break=tb_)
        c = compare_knockout_scores(pj, b, score="growth", n_boot=args.n_boot, seed=0,
                                    by="condition" if len(names) > 1 else None)
        comps[label] = {k: c[k] for k in ("n", "n_genes", "pooled_roc_auc") if k in c}
        if "mean_condition_roc_auc" in c:
            comps[label]["mean_condition_roc_auc"] = c["mean_condition_roc_auc"]
        v = c["pooled_roc_auc"]
        print(f"ROC-AUC point {v['a']:.4f} vs {label} {v['b']:.4f}: {v['diff']:+.4f} "
              f"[{v['ci_low']:+.4f}, {v['ci_high']:+.4f}]", flush=True)
    info["compare_with_point"] = comps
    print(f"Brier {cal['brier']:.5f} (point 0/1 call {cal.get('brier_point', float('nan')):.5f}, base rate "
          f"{cal['brier_base_rate']:.5f}); ROC-AUC of p(lethal) for lethality {cal['roc_auc_p_lethal']:.4f}; "
          f"n {cal['n']}", flush=True)
    plot_reliability(rel, out / "reliability.png", cal["brier"],
                     title=f"iML1515 ecGEM, {info['samples_done']} kcat samples, {cal['n']} points")
    plot_lethality_vs_fitness(joined, out / "lethality_vs_fitness.png",
                              title=f"iML1515 ecGEM, {info['samples_done']} samples: p(lethal) vs RB-TnSeq fitness")

    if args.fva_samples:
        t = time.perf_counter()
        from kingems_ray.analysis.fva import flux_variability

        fpoint = flux_variability(cm, fraction=0.9, processes=args.processes)
        info["fva_point_seconds"] = time.perf_counter() - t
        t = time.perf_counter()
        fs = sampled_fva(cm, sampler, args.fva_samples, fraction=0.9, processes=args.processes)
        info["fva_samples_seconds"] = time.perf_counter() - t
        fs.to_parquet(out / "fva_samples.parquet")
        fsum = summarise_fva(fs, fpoint)
        fsum.to_parquet(out / "fva_summary.parquet")
        info["fva"] = fva_interval_summary(fsum)
        print(f"FVA: {info['fva']}", flush=True)
        plot_fva_intervals(fsum, out / "fva_intervals.png", title=f"iML1515 ecGEM, {args.fva_samples} kcat samples")
    info["total_seconds"] = time.perf_counter() - t0
    (out / "calibration.json").write_text(json.dumps(info, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
