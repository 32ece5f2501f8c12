"""kcat uncertainty on iML1515 (predicted kcats): knockout lethality probabilities against RB-TnSeq, FVA intervals.

    PYTHONPATH=. .venv/bin/python scripts/uncertainty_ecoli.py --kcats kcats_predicted.parquet --samples 64 \
        [--conditions Glucose,Acetate,...] [--genes @genes.txt] [--fva-samples 16] [--processes 2] \
        [--condition-on-growth 0.1 [--max-attempts 64]] --out DIR

The kcat table is the one ``scripts/paper_ecoli.py --kcats predicted`` builds (``build_kcat_table`` with the
shipped CPI-Pred checkpoint on ``sequences/ecoli_gp.faa.gz``, organism E. coli; pass ``--kcats predicted`` to
build it here, written to ``DIR/kcats_predicted.parquet``). The ecGEM is L4, pool 0.25 g/gDW, as there.

Per-sample screens are written in batches (``DIR/ko_samples/batch_*.parquet``) and skipped on a rerun, so a killed
run resumes. Outputs: ``ko_point.parquet``, ``ko_summary.parquet`` (p_lethal, growth quantiles per gene x
condition), ``calibration.json`` (Brier score, reliability curve, ROC-AUC of p(lethal) and the point model's, paired
gene bootstrap of the difference), ``reliability.png``, ``lethality_vs_fitness.png``; with ``--fva-samples``
``fva_summary.parquet``, ``fva_intervals.png``.

``--condition-on-growth F`` also screens the posterior given that the wild type grows (each sample's vector redrawn
until its wild type reaches F x the point model's wild-type growth on that condition,
:class:`~kingems_ray.analysis.uncertainty.WildTypeConditioning`; batches in ``DIR/ko_samples_cond_F``) in the same
run, and scores four summaries side by side in ``calibration.json`` -> ``variants``: prior or conditioned samples,
each with the absolute lethal rule (growth <= 0.001) and the relative one (growth <= 0.001 x the sample's wild type
/ the point wild type). ``acceptance`` gives the acceptance rate per condition. Every variant is also scored with
the ``fitness`` rule: p(lethal) is the probability that RB-TnSeq calls the knockout lethal (fitness <= -2) given its
growth relative to its sample's wild type (:class:`~kingems_ray.analysis.uncertainty.FitnessAssay`, defaults).
``--no-prior`` skips the prior screens. ``--samples 0 --fva-samples N`` runs FVA only; with ``--condition-on-growth``
the FVA samples are conditioned the same way (on the model's own medium); FVA batches resume as the screens do.

``--pool DIR [DIR ...] --out OUT`` solves nothing: it scores the saved per-sample screens of several runs together
(one run per condition, so each resumes on its own), with the same rules, plus the ``fitness`` rule over a grid of
assay settings (``assay_grid`` in ``OUT/calibration.json``).
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
from kingems_ray.analysis.metrics import GROWTH_THRESHOLD, compare_knockout_scores
from kingems_ray.analysis.sampled import acceptance_summary, pcn_chain, sampled_fva, sampled_knockouts
from kingems_ray.analysis.uncertainty import (
    ChainSampler,
    FitnessAssay,
    KcatSampler,
    WildTypeConditioning,
    conditioning_label,
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


def _wt_ratios(per: pd.DataFrame, point: pd.DataFrame) -> dict:
    """Quantiles of each sample's wild-type growth over the point model's, per condition (rejected: left out)."""
    pwt = point.groupby("condition")["wild_type_growth"].first()
    d = per.drop_duplicates(["sample", "condition"])
    if "method" in d:
        d = d[d["method"] != "not_accepted"]
    r = (d["wild_type_growth"].fillna(0.0) / d["condition"].map(pwt)).groupby(d["condition"])
    return {c: {q: float(v.quantile(float(q))) for q in ("0.05", "0.5", "0.95")} for c, v in r}


def _score(joined: pd.DataFrame, pj: pd.DataFrame, names: list[str], n_boot: int, key: str) -> dict:
    """Brier, reliability, ROC-AUC, accuracy (p_lethal >= 0.5 called lethal) of one summary, and paired
    bootstraps against the point model's ROC-AUC."""
    cal = lethality_calibration(joined)
    rel = cal.pop("reliability")
    d = joined.dropna(subset=["grows"])
    cal["accuracy_p05"] = float(((d["p_lethal"] < 0.5) == d["grows"].astype(bool)).mean())
    cal["reliability"] = rel.to_dict(orient="records")
    comps = {}
    # The point model ranked by its growth relative to its wild type: the same ranking as its growth within one
    # condition, but comparable across conditions (pooled), as p(lethal) under the relative/fitness rules is.
    pj_rel = pj.assign(growth=pj["relative_growth"])
    for label, tb_, a in (("p_lethal_tiebreak_median_growth", "growth_q50", pj), ("p_lethal_alone", None, pj),
                          ("mean_growth", "mean", pj),
                          ("p_lethal_alone_vs_point_relative_growth", None, pj_rel)):
        if tb_ == "mean":
            b = joined.assign(growth=joined["growth_mean"])
        else:
            b = probability_scores(joined, tie_break=tb_)
        c = compare_knockout_scores(a, b, score="growth", n_boot=n_boot, seed=0,
                                    by="condition" if len(names) > 1 else None)
        comps[label] = {k: c[k] for k in ("n", "n_genes", "pooled_roc_auc") if k in c}
        if "mean_condition_roc_auc" in c:
            comps[label]["mean_condition_roc_auc"] = c["mean_condition_roc_auc"]
        v = c["pooled_roc_auc"]
        m = c.get("mean_condition_roc_auc")
        per_cond = (f"; mean over conditions {m['a']:.4f} vs {m['b']:.4f}: {m['diff']:+.4f} "
                    f"[{m['ci_low']:+.4f}, {m['ci_high']:+.4f}]") if m else ""
        print(f"[{key}] ROC-AUC point {v['a']:.4f} vs {label} {v['b']:.4f}: {v['diff']:+.4f} "
              f"[{v['ci_low']:+.4f}, {v['ci_high']:+.4f}]{per_cond}", flush=True)
    cal["compare_with_point"] = comps
    print(f"[{key}] Brier {cal['brier']:.5f} (point 0/1 call {cal.get('brier_point', float('nan')):.5f}, base "
          f"rate {cal['brier_base_rate']:.5f}); ROC-AUC of p(lethal) {cal['roc_auc_p_lethal']:.4f}; accuracy "
          f"(p>=0.5 lethal) {cal['accuracy_p05']:.4f}; n {cal['n']}", flush=True)
    return cal


def _run_batches(bdir: Path, n_samples: int, batch: int, label: str, run, expect: dict[str, str]) -> None:
    """Samples ``0 .. n_samples - 1`` in batches of ``batch``, each saved as ``bdir/batch_<start>_<n>.parquet``
    by ``run(n, start)``; batches already saved are skipped (a killed run resumes), but only when they were made
    with this run's settings: every column of ``expect`` (``spread``, ``conditioning``) must hold its value there,
    otherwise the run stops with a clear error instead of mixing samples of another prior or posterior."""
    for start in range(0, n_samples, batch):
        n = min(batch, n_samples - start)
        f = bdir / f"batch_{start:05d}_{n}.parquet"
        if f.exists():
            saved = pd.read_parquet(f, columns=list(expect))
            for col, want in expect.items():
                got = sorted(set(saved[col]))
                if got != [want]:
                    raise SystemExit(f"{f} holds samples with {col} {got}, this run has {want!r}: use another --out "
                                     "(or remove that folder) rather than mix them")
        else:
            tb = time.perf_counter()
            run(n, start).to_parquet(f)
            print(f"{label} samples {start}..{start + n - 1}: {time.perf_counter() - tb:.1f} s", flush=True)


def _read_batches(bdir: Path, n_samples: int | None = None) -> pd.DataFrame:
    """The per-sample knockout rows saved in ``bdir`` (samples below ``n_samples``)."""
    files = sorted(bdir.glob("batch_*.parquet"))
    if not files:
        raise SystemExit(f"{bdir}: no batch_*.parquet")
    per = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    return per if n_samples is None else per[per["sample"] < n_samples]


#: The lethal rules each variant is scored with (``summarise_knockouts``); "fitness" uses ``FitnessAssay()``.
RULES = ("absolute", "relative", "fitness")


def _score_variant(per: pd.DataFrame, point: pd.DataFrame, truth: pd.DataFrame, pj: pd.DataFrame, names: list[str],
                   n_boot: int, vname: str, out: Path, info: dict, extra: dict | None = None) -> None:
    """Score one variant's per-sample screens with every lethal rule: summaries, figures, ``info["variants"]``."""
    acc = acceptance_summary(per)
    print(f"{vname}: {acc.to_dict(orient='records')}", flush=True)
    base = {**(extra or {}), "samples_done": int(per["sample"].nunique()),
            "seconds_per_sample_screen": float(per.groupby("sample")["seconds"].first().mean()),
            "conditioning": "; ".join(pd.unique(per["conditioning"])), "acceptance": acc.to_dict(orient="records"),
            "wild_type_growth_over_point": _wt_ratios(per, point)}
    for rule in RULES:
        key = f"{vname}_{rule}"
        summ = summarise_knockouts(per, point, lethal_rule=rule)
        summ.to_parquet(out / ("ko_summary.parquet" if key == "prior_absolute" else f"ko_summary_{key}.parquet"))
        joined = join_knockouts(summ, truth)
        res = dict(base, lethal_rule=summ["lethal_rule"].iloc[0], **_score(joined, pj, names, n_boot, key))
        info["variants"][key] = res
        rel = pd.DataFrame(res["reliability"])
        if key == "prior_absolute":  # the old outputs, unchanged names
            info["calibration"] = {k: v for k, v in res.items() if k not in ("reliability", "compare_with_point")}
            info["reliability"] = res["reliability"]
            info["compare_with_point"] = res["compare_with_point"]
            info["samples_done"] = base["samples_done"]
            info["seconds_per_sample_screen"] = base["seconds_per_sample_screen"]
            rel.to_parquet(out / "reliability.parquet")
        suffix = "" if key == "prior_absolute" else f"_{key}"
        plot_reliability(rel, out / f"reliability{suffix}.png", res["brier"],
                         title=f"iML1515 ecGEM, {base['samples_done']} kcat samples ({key}), {res['n']} points")
        plot_lethality_vs_fitness(joined, out / f"lethality_vs_fitness{suffix}.png",
                                  title=f"iML1515 ecGEM, {base['samples_done']} samples ({key}): "
                                        "p(lethal) vs RB-TnSeq fitness")


def _assay_grid(per: pd.DataFrame, point: pd.DataFrame, truth: pd.DataFrame, pj: pd.DataFrame, names: list[str],
                n_boot: int) -> list[dict]:
    """The fitness rule's result over a grid of assay settings (how much the conclusion rests on the defaults)."""
    rows = []
    for gen in (4.0, 6.0, 8.0):
        for sd in (0.25, 0.5, 1.0):
            summ = summarise_knockouts(per, point, lethal_rule="fitness", assay=FitnessAssay(gen, sd))
            joined = join_knockouts(summ, truth)
            cal = lethality_calibration(joined)
            c = compare_knockout_scores(pj.assign(growth=pj["relative_growth"]),
                                        probability_scores(joined, tie_break=None), score="growth",
                                        n_boot=n_boot, seed=0, by="condition" if len(names) > 1 else None)
            v = c["pooled_roc_auc"]
            rows.append({"generations": gen, "sd": sd, "brier": cal["brier"], "brier_point": cal["brier_point"],
                         "roc_auc_p_lethal": v["b"], "roc_auc_point_relative_growth": v["a"], "diff": v["diff"],
                         "ci_low": v["ci_low"], "ci_high": v["ci_high"]})
            print(f"[assay G={gen:g} sd={sd:g}] Brier {cal['brier']:.5f} (point {cal['brier_point']:.5f}); ROC-AUC "
                  f"p(lethal) {v['b']:.4f} vs point (relative growth) {v['a']:.4f}: {v['diff']:+.4f} "
                  f"[{v['ci_low']:+.4f}, {v['ci_high']:+.4f}]", flush=True)
    return rows


def _chain(cm, sampler: KcatSampler, conditioning: WildTypeConditioning, name: str, medium, args, out: Path,
           info: dict) -> ChainSampler:
    """The pCN chain's kept vectors for one condition: loaded from ``out/chain_<name>_<F>.npz`` when a run saved
    them with the same prior and settings, else run (minutes on iML1515) and saved."""
    f = out / f"chain_{name}_{conditioning.min_fraction:g}.npz"
    settings = {"prior": sampler.label(), "n": args.samples, "thin": args.chain_thin, "burn_in": args.chain_burn_in,
                "step": args.chain_step, "min_fraction": conditioning.min_fraction}
    if f.exists():
        z = np.load(f, allow_pickle=False)
        meta = json.loads(str(z["meta"]))
        if meta["settings"] == settings:
            chain = ChainSampler.of(sampler, z["zs"], meta["chain"])
            print(f"chain loaded from {f}", flush=True)
            info["chain"] = {k: v for k, v in chain.chain.items() if k != "kept_wild_type_growth"}
            return chain
        print(f"{f} was made with other settings: running the chain again", flush=True)
    t0 = time.perf_counter()

    def progress(done: int, total: int) -> None:
        if done % 100 == 0:
            print(f"chain {name}: {done}/{total} proposals, {time.perf_counter() - t0:.0f} s", flush=True)

    chain = pcn_chain(cm, sampler, args.samples, conditioning, medium=medium, condition=name,
                      thin=args.chain_thin, burn_in=args.chain_burn_in, step=args.chain_step, progress=progress)
    meta = json.dumps({"settings": settings, "chain": chain.chain})
    tmp = f.with_suffix(".tmp.npz")
    np.savez(tmp, zs=chain.zs, meta=np.array(meta))
    tmp.replace(f)
    info["chain"] = {k: v for k, v in chain.chain.items() if k != "kept_wild_type_growth"}
    print(f"chain {name}: {info['chain']}", flush=True)
    return chain


def pool(dirs: list[Path], variant: str, n_boot: int, out: Path) -> int:
    """Score the per-sample screens of several single-condition runs together (``--pool``)."""
    out.mkdir(parents=True, exist_ok=True)
    points, pers = [], []
    for d in dirs:
        points.append(pd.read_parquet(d / "ko_point.parquet"))
        pers.append(_read_batches(d / variant))
    point = pd.concat(points, ignore_index=True)
    per = pd.concat(pers, ignore_index=True)
    names = list(pd.unique(point["condition"]))
    truth = ecoli_keio_fitness(tuple(names))
    pj = join_knockouts(point, truth)
    info: dict = {"pooled": [str(d) for d in dirs], "variant": variant, "conditions": names,
                  "samples_per_condition": per.groupby("condition")["sample"].nunique().to_dict(), "variants": {}}
    _score_variant(per, point, truth, pj, names, n_boot, variant, out, info)
    info["assay_grid"] = _assay_grid(per, point, truth, pj, names, n_boot)
    (out / "calibration.json").write_text(json.dumps(info, indent=2, default=str))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kcats", help="kcat table, or 'predicted' to build it (needed unless --pool)")
    ap.add_argument("--pool", nargs="+", type=Path, metavar="DIR",
                    help="score the saved per-sample screens of these output dirs together (e.g. one run per "
                    "condition) and write the result to --out; nothing is solved")
    ap.add_argument("--pool-variant", default="ko_samples_cond_0.1",
                    help="with --pool: the per-sample folder read in each dir (default ko_samples_cond_0.1)")
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
    ap.add_argument("--condition-on-growth", type=float, default=None, metavar="FRACTION",
                    help="also screen samples conditioned on wild-type growth >= FRACTION x the point model's")
    ap.add_argument("--max-attempts", type=int, default=64, help="draws per sample and condition (conditioning)")
    ap.add_argument("--conditioning-method", choices=("rejection", "chain"), default="rejection",
                    help="with --condition-on-growth: rejection sampling (default), or a pCN Markov chain on the "
                    "same posterior for a condition where rejection accepts nothing (one condition per run)")
    ap.add_argument("--chain-thin", type=int, default=10, help="chain: proposals per kept vector")
    ap.add_argument("--chain-burn-in", type=int, default=300, help="chain: proposals before the first kept one")
    ap.add_argument("--chain-step", type=float, default=0.2, help="chain: initial pCN step (adapted in burn-in)")
    ap.add_argument("--no-prior", action="store_true",
                    help="with --condition-on-growth: screen only the conditioned samples, not the prior ones")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    if args.no_prior and args.condition_on_growth is None:
        ap.error("--no-prior needs --condition-on-growth")
    if args.conditioning_method == "chain" and (args.condition_on_growth is None or not args.conditions
                                                or "," in args.conditions):
        ap.error("--conditioning-method chain needs --condition-on-growth and one condition (--conditions C)")
    if args.pool:
        return pool(args.pool, args.pool_variant, args.n_boot, Path(args.out))
    if not args.kcats:
        ap.error("--kcats is required (unless --pool)")
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

    if args.samples:  # the knockout screens (--samples 0: FVA only)
        pp = out / "ko_point.parquet"
        if not pp.exists():
            t = time.perf_counter()
            point = knockout_screen(cm, conds, genes=genes, processes=args.processes)
            point.to_parquet(pp)
            info["point_screen_seconds"] = time.perf_counter() - t
            print(f"point screen {info['point_screen_seconds']:.1f} s", flush=True)
        point = pd.read_parquet(pp)

        truth = ecoli_keio_fitness(tuple(names))
        pj = join_knockouts(point, truth)
        pgrow = pj.dropna(subset=["grows"])
        info["point_accuracy"] = float(((pgrow["growth"].fillna(0.0) > GROWTH_THRESHOLD) == pgrow["grows"]).mean())
        variants = [] if args.no_prior else [("prior", None)]
        if args.condition_on_growth is not None:
            variants.append(("conditioned", WildTypeConditioning(args.condition_on_growth, args.max_attempts)))
        info["variants"] = {}
        for vname, conditioning in variants:
            bdir = out / ("ko_samples" if conditioning is None else f"ko_samples_cond_{conditioning.min_fraction:g}")
            bdir.mkdir(exist_ok=True)
            t = time.perf_counter()
            vs = sampler
            if conditioning is not None and args.conditioning_method == "chain":
                vs = _chain(cm, sampler, conditioning, names[0], conds[names[0]], args, out, info)
                conditioning = None  # the chain's vectors are the conditioned ones
            expect = {"spread": vs.label(), "conditioning": (vs.conditioning_label() if isinstance(vs, ChainSampler)
                                                             else conditioning_label(conditioning))}
            _run_batches(bdir, args.samples, args.batch, vname,
                         lambda n, start, c=conditioning, vs=vs: sampled_knockouts(
                             cm, vs, n, conds, genes=genes, processes=args.processes, start=start,
                             conditioning=c), expect)
            per = _read_batches(bdir, args.samples)
            _score_variant(per, point, truth, pj, names, args.n_boot, vname, out, info,
                           {"screens_seconds_this_run": time.perf_counter() - t})
    if args.fva_samples:
        from kingems_ray.analysis.fva import flux_variability

        fc = (WildTypeConditioning(args.condition_on_growth, args.max_attempts)
              if args.condition_on_growth is not None else None)
        fp = out / "fva_point.parquet"
        if not fp.exists():
            t = time.perf_counter()
            flux_variability(cm, fraction=0.9, processes=args.processes).to_parquet(fp)
            info["fva_point_seconds"] = time.perf_counter() - t
        fpoint = pd.read_parquet(fp)
        fdir = out / ("fva_samples" if fc is None else f"fva_samples_cond_{fc.min_fraction:g}")
        fdir.mkdir(exist_ok=True)
        t = time.perf_counter()
        _run_batches(fdir, args.fva_samples, args.batch, "FVA",
                     lambda n, start: sampled_fva(cm, sampler, n, fraction=0.9, processes=args.processes,
                                                  start=start, conditioning=fc),
                     {"spread": sampler.label(), "conditioning": conditioning_label(fc)})
        info["fva_samples_seconds_this_run"] = time.perf_counter() - t
        fs = _read_batches(fdir, args.fva_samples)
        info["fva_seconds_per_sample"] = float(fs.groupby("sample")["seconds"].first().mean())
        info["fva_conditioning"] = fs["conditioning"].iloc[0]
        info["fva_samples_accepted"] = int((fs.drop_duplicates("sample")["status"] != "not_accepted").sum())
        fsum = summarise_fva(fs, fpoint)
        fsum.to_parquet(out / "fva_summary.parquet")
        info["fva"] = fva_interval_summary(fsum)
        print(f"FVA: {info['fva']}", flush=True)
        plot_fva_intervals(fsum, out / "fva_intervals.png",
                           title=f"iML1515 ecGEM, {args.fva_samples} kcat samples ({info['fva_conditioning']})")
    info["total_seconds"] = time.perf_counter() - t0
    (out / "calibration.json").write_text(json.dumps(info, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
