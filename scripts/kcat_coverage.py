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
    args = ap.parse_args(argv)
    root = data_root(required=True)
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


if __name__ == "__main__":
    sys.exit(main())
