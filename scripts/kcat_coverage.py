"""Coverage of the kcat table over several models, and agreement with the reference pipeline's CPI-Pred kcats.

For e_coli_core, iML1515, iJN1463, iJB785 and three AGORA models, prints how many reaction–gene pairs (per
direction) got a prediction, a database value (substrate / EC) or a median fallback, and the row statuses.
Then compares log10 of our predicted kcats with the kinGEMs CPI-Pred table of e_coli_core
(``kingems/e_coli_core_fva_ablation/tuned_data.csv``), matched on (reaction, direction, substrate, gene) and on
(reaction, direction, gene) with the max over substrates on both sides.

Usage::

    python scripts/kcat_coverage.py [--checkpoint CKPT] [--device cpu] [--ray N] [--markdown out.md]
    python scripts/kcat_coverage.py --fake      # plumbing check without a trained predictor
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from kingems_ray.kcat.build_table import HashPredictor, build_kcat_table, load_default_predictor, summarize
from kingems_ray.kcat.fallback import KcatDatabase
from kingems_ray.kcat.pairs import PairOptions, reaction_ec_map
from kingems_ray.paths import data_root

AGORA = ("Bacteroides_caecimuris_I48", "Akkermansia_muciniphila_ATCC_BAA_835", "Abiotrophia_defectiva_ATCC_49176")


def model_specs(root: Path) -> list[tuple[str, str, str | None, str | None]]:
    """(name, model, sequences, organism) for the models of the report."""
    seq = root / "sequences"
    specs = [
        ("e_coli_core", "textbook", str(seq / "ecoli_gp.faa.gz"), "Escherichia coli"),
        ("iML1515", str(root / "bigg" / "iML1515.xml.gz"), str(seq / "ecoli_gp.faa.gz"), "Escherichia coli"),
        ("iJN1463", str(root / "bigg" / "iJN1463.xml.gz"), str(seq / "iJN1463_prodf.csv.gz"),
         "Pseudomonas putida"),
        ("iJB785", str(root / "bigg" / "iJB785.xml.gz"), str(seq / "iJB785_prodf.csv.gz"),
         "Synechococcus elongatus"),
    ]
    for name in AGORA:
        # No sequence files exist for AGORA genomes: every pair falls back (database by EC, medians).
        genus_species = " ".join(name.split("_")[:2])
        specs.append((name, str(root / "agora" / "models" / f"{name}.xml.gz"), None, genus_species))
    return specs


def reference_correlation(table: pd.DataFrame, reference_csv: Path) -> dict[str, dict[str, float]]:
    """Pearson / Spearman of log10 kcat, ours (predicted rows) vs the reference CPI-Pred ``kcat_mean``."""
    ref = _reference_frame(reference_csv)
    ours = table[table["source"] == "prediction"].assign(ours=lambda d: np.log10(d["kcat"]))
    out = {}
    for label, keys in (("reaction_substrate_gene", ["reaction_id", "direction", "substrate", "gene_id"]),
                        ("reaction_gene_max", ["reaction_id", "direction", "gene_id"])):
        a = ours.groupby(keys)["ours"].max()
        b = ref.groupby(keys)["ref"].max()
        j = pd.concat([a, b], axis=1, join="inner").dropna()
        if len(j) < 3:
            out[label] = {"n": len(j), "pearson": math.nan, "spearman": math.nan}
            continue
        out[label] = {
            "n": int(len(j)),
            "pearson": float(j["ours"].corr(j["ref"])),
            "spearman": float(j["ours"].corr(j["ref"], method="spearman")),
            "rmse_log10": float(np.sqrt(((j["ours"] - j["ref"]) ** 2).mean())),
            "mean_ours": float(j["ours"].mean()),
            "mean_ref": float(j["ref"].mean()),
        }
    return out


def _reference_frame(reference_csv: Path) -> pd.DataFrame:
    ref = pd.read_csv(reference_csv)
    rev = ref["Reactions"].str.endswith("_reverse")
    return pd.DataFrame({
        "reaction_id": ref["Reactions"].str.removesuffix("_reverse"),
        "direction": np.where(rev, "reverse", "forward"),
        "substrate": ref["Reaction_partners"],
        "gene_id": ref["Single_gene"],
        "ref": np.log10(ref["kcat_mean"].astype(float)),
    })


def database_agreement(table: pd.DataFrame, reference_csv: Path, ec_map: dict[str, list[str]],
                       db: KcatDatabase, organism: str = "Escherichia coli") -> dict[str, float]:
    """Both predictors against measured values: BRENDA / SABIO-RK medians for the row's EC and substrate.

    e_coli_core has no EC annotations, so ``ec_map`` (from iML1515) supplies them. The database values may
    overlap both predictors' training data, so this is a sanity check, not a held-out test.
    """
    rows = []
    for r in table[table["source"] == "prediction"].itertuples():
        v = db.lookup(ec_map.get(r.reaction_id, []), r.substrate.rsplit("_", 1)[0], organism)
        if v.source == "database_substrate":
            rows.append((r.reaction_id, r.direction, r.substrate, r.gene_id, np.log10(r.kcat), np.log10(v.kcat)))
    d = pd.DataFrame(rows, columns=["reaction_id", "direction", "substrate", "gene_id", "ours", "db"])
    j = d.merge(_reference_frame(reference_csv), on=["reaction_id", "direction", "substrate", "gene_id"]).dropna()
    return {"n": int(len(j)), "ours_vs_db": float(j["ours"].corr(j["db"])),
            "ref_vs_db": float(j["ref"].corr(j["db"])), "ours_vs_ref": float(j["ours"].corr(j["ref"]))}


def main(argv: list[str] | None = None) -> int:
    """Run the coverage report; returns the exit status."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--device", default=None)
    ap.add_argument("--fake", action="store_true", help="hash predictor instead of the trained one")
    ap.add_argument("--only", nargs="*", help="model names to run (default: all)")
    ap.add_argument("--ray", type=int, default=0, help="stream through N predictor actors instead of in-process")
    ap.add_argument("--markdown", default=None, help="also write the tables as Markdown here")
    ap.add_argument("--out-dir", default=None, help="write each model's table as <name>.parquet here")
    ap.add_argument("--ec-borrow", action="store_true",
                    help="fill missing reaction ECs from iML1515 / iJN1463 / iJB785 by reaction id (BiGG ids "
                    "are shared; on these models it changes nothing: the same reactions lack ECs everywhere)")
    ap.add_argument("--breakdown", nargs="+", metavar="SET",
                    help="source breakdown instead of the coverage report: sets agora, iML1515_noseq, iML1515, "
                    "iJN1463, iJB785")
    ap.add_argument("--agora", type=int, default=300, help="number of AGORA models in the 'agora' set (sorted)")
    ap.add_argument("--model-cache", default=None, help="pickle loaded models here (reused by later runs)")
    ap.add_argument("--json", default=None, help="write the breakdown as JSON here")
    ap.add_argument("--effects", nargs="+", metavar="VARIANT",
                    help="iML1515 ecGEM effects instead of the report: variants seq, noseq, noseq_before")
    ap.add_argument("--processes", type=int, default=2, help="processes for knockout screens and FVA")
    ap.add_argument("--keio-conditions", nargs="*", help="RB-TnSeq carbon sources to screen (default: all 10)")
    ap.add_argument("--no-fva", action="store_true", help="effects: knockouts only")
    ap.add_argument("--sweep-dir", default=None,
                    help="compare NAME.before.parquet with NAME.parquet here (from --breakdown --out-dir)")
    ap.add_argument("--sweep", type=int, default=20, help="number of models in the sweep")
    ap.add_argument("--before-equivalent", action="store_true",
                    help="for models without sequences also count the pre-issue-10 table (no prediction, "
                    "annotation ECs only, no MW), from the same loaded model")
    args = ap.parse_args(argv)
    if args.sweep_dir:
        return run_sweep(args)
    root = data_root(required=True)
    if args.breakdown:
        return run_breakdown(args, root)
    if args.effects:
        return run_effects(args, root)
    specs = [s for s in model_specs(root) if not args.only or s[0] in args.only]
    db = KcatDatabase.default()
    t0 = time.perf_counter()
    options = PairOptions()
    if args.ec_borrow:
        from kingems_ray.gem.io import load_model

        # e_coli_core (cobra's textbook) has no EC annotations; BiGG ids are shared, so borrow them.
        donors = [root / "bigg" / f"{m}.xml.gz" for m in ("iML1515", "iJN1463", "iJB785")]
        options = PairOptions(ec_map=reaction_ec_map(load_model(p) for p in donors))
        print(f"EC map: {len(options.ec_map)} reactions ({time.perf_counter() - t0:.1f} s)", flush=True)
    tables: dict[str, pd.DataFrame] = {}
    timings: dict[str, float] = {}
    if args.ray:
        import ray

        from kingems_ray.kcat.actor import StreamStats, start_actors, stream_kcat_tables

        ray.init(include_dashboard=False, log_to_driver=False)
        factory = HashPredictor if args.fake else None
        actors = start_actors(args.ray, factory=factory, checkpoint=args.checkpoint, device=args.device)
        stats = StreamStats()
        orgs = {s[0]: s[3] for s in specs}
        for name, table in stream_kcat_tables([(s[0], s[1], s[2]) for s in specs], actors, organism=orgs,
                                              database=db, options=options, stats=stats):
            tables[name] = table
            timings[name] = time.perf_counter() - t0
            print(f"  {name}: done at {timings[name]:.1f} s", flush=True)
        print(f"ray: {stats}")
        ray.shutdown()
    else:
        predictor = HashPredictor() if args.fake else load_default_predictor(args.checkpoint, args.device)
        for name, model, seqs, org in specs:
            t = time.perf_counter()
            tables[name] = build_kcat_table(model, seqs, predictor, organism=org, database=db, options=options)
            timings[name] = time.perf_counter() - t
            print(f"  {name}: {timings[name]:.1f} s", flush=True)
    order = ["prediction", "database_substrate", "database_ec", "ec_class_median", "global_median"]
    lines = ["| model | rows | reaction-gene pairs | " + " | ".join(order) + " | time [s] |",
             "|---|" + "---|" * (len(order) + 3)]
    status_lines = ["| model | row statuses |", "|---|---|"]
    for name, *_ in specs:
        if name not in tables:
            lines.append(f"| {name} | failed | | " + " | " * len(order))
            continue
        if args.out_dir:
            Path(args.out_dir).mkdir(parents=True, exist_ok=True)
            tables[name].to_parquet(Path(args.out_dir) / f"{name}.parquet", index=False)
        s = summarize(tables[name])
        cells = []
        for k in order:
            v = s["pairs_by_source"][k]
            cells.append(f"{v} ({100 * v / max(s['pairs'], 1):.0f} %)")
        lines.append(f"| {name} | {s['rows']} | {s['pairs']} | " + " | ".join(cells) + f" | {timings[name]:.1f} |")
        status_lines.append(f"| {name} | " + ", ".join(f"{k} {v}" for k, v in s["rows_by_status"].items()) + " |")
    report = ["\n".join(lines), "\n".join(status_lines)]
    if "e_coli_core" in tables:
        ref_csv = root / "kingems" / "e_coli_core_fva_ablation" / "tuned_data.csv"
        corr = reference_correlation(tables["e_coli_core"], ref_csv)
        clines = ["| match | n | Pearson r (log10) | Spearman | RMSE log10 | mean ours | mean ref |",
                  "|---|---|---|---|---|---|---|"]
        for k, v in corr.items():
            clines.append(f"| {k} | {v['n']} | {v['pearson']:.3f} | {v['spearman']:.3f} | "
                          f"{v.get('rmse_log10', math.nan):.2f} | {v.get('mean_ours', math.nan):.2f} | "
                          f"{v.get('mean_ref', math.nan):.2f} |")
        from kingems_ray.gem.io import load_model

        ec_map = reaction_ec_map([load_model(root / "bigg" / "iML1515.xml.gz")])
        agree = database_agreement(tables["e_coli_core"], ref_csv, ec_map, db)
        clines += ["", f"Against BRENDA / SABIO-RK E. coli medians (EC from iML1515 + substrate matched, "
                   f"n = {agree['n']}): Pearson r of log10 kcat ours {agree['ours_vs_db']:.3f}, reference "
                   f"CPI-Pred {agree['ref_vs_db']:.3f} (ours vs reference on these rows {agree['ours_vs_ref']:.3f})."]
        report.append("\n".join(clines))
    text = "\n\n".join(report)
    print(text)
    print(f"total {time.perf_counter() - t0:.1f} s")
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    return 0



# ---------------------------------------------------------------------------------------------------------
# Source breakdown over model sets (issue 10): kcat source per reaction-gene-direction pair, MW source per gene.
# Written so that it also runs against older package versions (no ``mw_source`` column, no sequence-free
# prediction), to measure a before/after pair with the same script.

KCAT_ORDER = ["prediction", "prediction_sequence_free", "database_substrate", "database_ec", "ec_class_median",
              "global_median"]


def pair_sources(table: pd.DataFrame) -> pd.Series:
    """Best kcat source per (reaction, gene, direction): any prediction first, then the fallbacks in order."""
    rank = table["source"].map({s: i for i, s in enumerate(KCAT_ORDER)}).fillna(len(KCAT_ORDER))
    best = rank.groupby([table["reaction_id"], table["gene_id"], table["direction"]]).min()
    names = dict(enumerate(KCAT_ORDER))
    return best.map(lambda i: names.get(int(i), "other"))


def gene_mw_sources(table: pd.DataFrame) -> pd.Series:
    """MW source per gene; tables without ``mw_source`` count a missing ``mw`` as the compiler's default."""
    if "mw_source" in table.columns:
        src = table["mw_source"].fillna("default").astype(str)
    else:
        src = pd.Series(np.where(np.isfinite(pd.to_numeric(table["mw"], errors="coerce")), "sequence",
                                 "default_40kDa"), index=table.index)
    return src.groupby(table["gene_id"]).first()


def breakdown_specs(root: Path, sets: list[str], n_agora: int) -> list[tuple[str, str, str | None, str | None, str]]:
    """(name, model, sequences, organism, set) for the breakdown sets."""
    seq = root / "sequences"
    out = []
    for s in sets:
        if s == "iML1515_noseq":
            out.append(("iML1515_noseq", str(root / "bigg" / "iML1515.xml.gz"), None, "Escherichia coli", s))
        elif s == "iML1515":
            out.append(("iML1515", str(root / "bigg" / "iML1515.xml.gz"), str(seq / "ecoli_gp.faa.gz"),
                        "Escherichia coli", s))
        elif s == "iJN1463":
            out.append(("iJN1463", str(root / "bigg" / "iJN1463.xml.gz"), str(seq / "iJN1463_prodf.csv.gz"),
                        "Pseudomonas putida", s))
        elif s == "iJB785":
            out.append(("iJB785", str(root / "bigg" / "iJB785.xml.gz"), str(seq / "iJB785_prodf.csv.gz"),
                        "Synechococcus elongatus", s))
        elif s == "agora":
            files = sorted((root / "agora" / "models").glob("*.xml.gz"))[:n_agora]
            for f in files:
                name = f.name.removesuffix(".xml.gz")
                out.append((name, str(f), None, " ".join(name.split("_")[:2]), s))
        else:
            raise SystemExit(f"unknown set {s!r}")
    return out


def _cached_model(path: str, cache_dir: str | None):
    """Load a model, through a pickle cache (SBML parsing dominates the AGORA sweep)."""
    import pickle

    from kingems_ray.gem.io import load_model

    if not cache_dir:
        return load_model(path)
    p = Path(cache_dir) / (Path(path).name + ".pkl")
    if p.exists():
        with open(p, "rb") as fh:
            return pickle.load(fh)
    model = load_model(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        pickle.dump(model, fh)
    tmp.replace(p)  # atomic: a killed run leaves no truncated pickle
    return model


def before_equivalent(model, organism: str | None, db: KcatDatabase) -> pd.DataFrame | None:
    """The table the code before issue 10 gives a model *without sequences*: no prediction, ECs from the
    annotation only, no MW for any gene (``mw_source`` relabelled ``default_40kDa``). ``None`` on old code."""
    try:
        options = PairOptions(ec_xref=False, ec_notes=False)
    except TypeError:
        return None
    table = build_kcat_table(model, None, None, organism=organism, database=db, options=options)
    table["mw_source"] = np.where(table["mw_source"] == "sequence", "sequence", "default_40kDa")
    return table


def run_breakdown(args, root: Path) -> int:
    """Sum the kcat / MW source breakdown per set and write it as JSON (``--json``)."""
    import json

    specs = breakdown_specs(root, args.breakdown, args.agora)
    predictor = HashPredictor() if args.fake else load_default_predictor(args.checkpoint, args.device)
    db = KcatDatabase.default()
    sets: dict[str, dict] = {}
    per_model: dict[str, dict] = {}
    t_all = time.perf_counter()
    failed = []
    for name, model_path, seqs, org, set_name in specs:
        t = time.perf_counter()
        try:
            model = _cached_model(model_path, args.model_cache)
            t_load = time.perf_counter() - t
            table = build_kcat_table(model, seqs, predictor, organism=org, database=db)
        except Exception as exc:  # a bad model is counted, the sweep goes on
            failed.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        if args.out_dir:
            Path(args.out_dir).mkdir(parents=True, exist_ok=True)
            table.to_parquet(Path(args.out_dir) / f"{name}.parquet", index=False)
        build_s = time.perf_counter() - t - t_load
        variants = [(set_name, table)]
        if args.before_equivalent and seqs is None:
            before = before_equivalent(model, org, db)
            if before is not None:
                variants.append((set_name + "_before_equivalent", before))
                if args.out_dir:
                    before.to_parquet(Path(args.out_dir) / f"{name}.before.parquet", index=False)
        for vname, vtable in variants:
            s = sets.setdefault(vname, {"models": 0, "rows": 0, "pairs": 0, "genes": 0, "kcat_sources": {},
                                        "mw_sources": {}, "row_status": {}, "load_s": 0.0, "build_s": 0.0})
            ps, ms = pair_sources(vtable), gene_mw_sources(vtable)
            s["models"] += 1
            s["rows"] += len(vtable)
            s["pairs"] += len(ps)
            s["genes"] += len(ms)
            for key, counts in (("kcat_sources", ps.value_counts()), ("mw_sources", ms.value_counts()),
                                ("row_status", vtable["status"].value_counts())):
                for k, v in counts.items():
                    s[key][k] = s[key].get(k, 0) + int(v)
            per_model.setdefault(vname, {})[name] = {k: int(v) for k, v in ps.value_counts().items()}
        sets[set_name]["load_s"] += t_load
        sets[set_name]["build_s"] += build_s
        print(f"  {name}: {len(ps)} pairs, load {t_load:.1f} s, build {build_s:.1f} s, total "
              f"{time.perf_counter() - t:.1f} s ({per_model[set_name][name]})", flush=True)
        if args.json and len(per_model[set_name]) % 10 == 0:  # partial results survive a stopped sweep
            Path(args.json).write_text(json.dumps({"sets": sets, "partial": True}, indent=1) + "\n")
    result = {"sets": sets, "failed": failed, "total_s": time.perf_counter() - t_all,
              "fake_predictor": bool(args.fake), "per_model": per_model}
    print(json.dumps(result, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return 0



# ---------------------------------------------------------------------------------------------------------
# Effects on iML1515 (issue 10): ecGEMs (L4, pool 0.25, as scripts/paper_ecoli.py) built from kcat tables with
# and without the protein sequences; knockout ROC-AUC (RB-TnSeq, 10 carbon sources; glucose M9 essential genes)
# and median flux variability at 90 % of the optimum.


def run_effects(args, root: Path) -> int:
    """Knockout ROC-AUC and median FVA of iML1515 ecGEMs per kcat-table variant; JSON to ``--json``."""
    import json

    from kingems_ray.analysis.fva import flux_variability
    from kingems_ray.analysis.knockout import knockout_screen
    from kingems_ray.analysis.metrics import flux_variability_ranges, knockout_metrics
    from kingems_ray.analysis.validation_data import (
        ecoli_glucose_essential,
        ecoli_keio_fitness,
        essentiality_truth,
        join_knockouts,
        keio_carbon_exchanges,
    )
    from kingems_ray.ec.build import build
    from kingems_ray.ec.problem import Problem
    from kingems_ray.gem.media import carbon_source_medium

    path = str(root / "bigg" / "iML1515.xml.gz")
    seqs = str(root / "sequences" / "ecoli_gp.faa.gz")
    predictor = HashPredictor() if args.fake else load_default_predictor(args.checkpoint, args.device)
    db = KcatDatabase.default()
    keio = ecoli_keio_fitness()
    res: dict = {"variants": {}}
    for variant in args.effects:
        t0 = time.perf_counter()
        model = _cached_model(path, args.model_cache)
        if variant == "seq":
            table = build_kcat_table(model, seqs, predictor, organism="Escherichia coli", database=db)
        elif variant == "noseq":
            table = build_kcat_table(model, None, predictor, organism="Escherichia coli", database=db)
        elif variant == "noseq_before":
            table = before_equivalent(model, "Escherichia coli", db)
        else:
            raise SystemExit(f"unknown effects variant {variant!r}")
        if args.out_dir:
            Path(args.out_dir).mkdir(parents=True, exist_ok=True)
            table.to_parquet(Path(args.out_dir) / f"iML1515_{variant}.parquet", index=False)
        t_table = time.perf_counter() - t0
        ec = build(model, table, level="L4", pool=0.25)
        p = Problem(ec.compiled)
        info: dict = {"kcat_sources": pair_sources(table).value_counts().to_dict(),
                      "mw_sources": gene_mw_sources(table).value_counts().to_dict(),
                      "wild_type_growth": p.growth(), "table_s": t_table}
        procs = args.processes
        target = p if procs == 1 else p.cm
        t = time.perf_counter()
        genes = [g.id for g in model.genes]
        glc_truth = essentiality_truth(genes, ecoli_glucose_essential(), "glucose")
        ko_glc = knockout_screen(target, {"glucose": None}, processes=procs)
        conds = {name: carbon_source_medium(model, None, ex) for name, ex in keio_carbon_exchanges().items()
                 if not args.keio_conditions or name in args.keio_conditions}
        ko_keio = knockout_screen(target, conds, processes=procs)
        info["knockout_s"] = time.perf_counter() - t
        m_glc = knockout_metrics(join_knockouts(ko_glc, glc_truth))["overall"]
        m_keio = knockout_metrics(join_knockouts(ko_keio, keio))["overall"]
        info["glucose_essential"] = {k: m_glc.get(k) for k in ("n", "roc_auc", "accuracy", "mcc", "tp", "fn")}
        info["keio_10_carbon"] = {k: m_keio.get(k) for k in ("n", "roc_auc", "accuracy", "mcc", "tp", "fn")}
        if args.out_dir:
            ko_glc.to_parquet(Path(args.out_dir) / f"ko_{variant}_glucose.parquet")
            ko_keio.to_parquet(Path(args.out_dir) / f"ko_{variant}_keio10.parquet")
        if args.no_fva:
            res["variants"][variant] = info
            print(f"[{variant}] {json.dumps(info, default=float)}", flush=True)
            continue
        t = time.perf_counter()
        fva = flux_variability(target, fraction=0.9, processes=procs)
        rng = flux_variability_ranges(fva)
        info["fva_s"] = time.perf_counter() - t
        info["fva_median_variability"] = float(rng.median())
        info["fva_mean_variability"] = float(rng.mean())
        if args.out_dir:
            fva.to_parquet(Path(args.out_dir) / f"fva_{variant}.parquet", index=False)
        info["total_s"] = time.perf_counter() - t0
        res["variants"][variant] = info
        print(f"[{variant}] {json.dumps(info, default=float)}", flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(res, indent=1, default=float) + "\n")
    print(json.dumps(res, indent=1, default=float))
    return 0


# ---------------------------------------------------------------------------------------------------------
# AGORA sweep (issue 10): per reaction-gene-direction pair, how the kcat label changes between the fallback-only
# table (before) and the table with (sequence-free) predictions (after), from the tables that
# ``--breakdown agora --before-equivalent --out-dir DIR`` wrote.


def pair_kcats(table: pd.DataFrame) -> pd.DataFrame:
    """Per (reaction, gene, direction): the max kcat over substrates (as the ecGEM compiler aggregates) and the
    best source."""
    keys = ["reaction_id", "gene_id", "direction"]
    kc = table.groupby(keys)["kcat"].max()
    return pd.DataFrame({"kcat": kc, "source": pair_sources(table).reindex(kc.index)})


def run_sweep(args) -> int:
    """Label and value changes between ``NAME.before.parquet`` and ``NAME.parquet`` for the first N models."""
    import json

    d = Path(args.sweep_dir)
    names = sorted(p.name.removesuffix(".before.parquet") for p in d.glob("*.before.parquet")
                   if (d / (p.name.removesuffix(".before.parquet") + ".parquet")).exists())
    names = names[: args.sweep] if args.sweep > 0 else names
    sums: dict[str, dict[str, dict[str, int]]] = {"before": {}, "after": {}}
    per, tot = {}, {"models": 0, "pairs": 0, "source_changed": 0, "to_prediction": 0, "kcat_changed_2fold": 0,
                    "kcat_changed_10fold": 0}
    for name in names:
        ta, tb = pd.read_parquet(d / f"{name}.before.parquet"), pd.read_parquet(d / f"{name}.parquet")
        for label, t in (("before", ta), ("after", tb)):
            for key, counts in (("kcat_sources", pair_sources(t).value_counts()),
                                ("mw_sources", gene_mw_sources(t).value_counts())):
                acc = sums[label].setdefault(key, {})
                for k, v in counts.items():
                    acc[k] = acc.get(k, 0) + int(v)
        a, b = pair_kcats(ta), pair_kcats(tb)
        j = a.join(b, lsuffix="_before", rsuffix="_after", how="inner")
        lr = np.abs(np.log10(j["kcat_after"] / j["kcat_before"]))
        row = {"pairs": int(len(j)),
               "source_changed": int((j["source_before"] != j["source_after"]).sum()),
               "to_prediction": int(j["source_after"].str.startswith("prediction").sum()),
               "kcat_changed_2fold": int((lr > np.log10(2)).sum()),
               "kcat_changed_10fold": int((lr > 1).sum()),
               "distinct_kcats_before": int(j["kcat_before"].round(6).nunique()),
               "distinct_kcats_after": int(j["kcat_after"].round(6).nunique()),
               "transitions": {f"{x}->{y}": int(v) for (x, y), v in
                               j.groupby(["source_before", "source_after"]).size().items() if x != y}}
        per[name] = row
        tot["models"] += 1
        for k in ("pairs", "source_changed", "to_prediction", "kcat_changed_2fold", "kcat_changed_10fold"):
            tot[k] += row[k]
    res = {"total": tot, "breakdown": sums, "per_model": per}
    print(json.dumps(res, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
