"""``kingems-ray cohort TAXONOMY --models DB --diet DIET --out DIR``: every sample of a cohort as a community."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

HELP = "cohort of samples (taxonomy table) -> per-sample communities, perturbations, tidy Parquet and a report"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``cohort``."""
    p.add_argument("taxonomy", help="taxonomy table: MICOM long layout (sample_id, id, abundance, ranks) or wide")
    p.add_argument("--models", required=True, help="model database: folder of models or a MICOM manifest CSV")
    p.add_argument("--diet", default="western", help="diet file or built-in name (default western)")
    p.add_argument("--out", required=True, help="output folder (resumable: rerun to continue)")
    p.add_argument("--rank", default="species", help="rank taxa are matched at (strain, species, genus, ...)")
    p.add_argument("--cutoff", type=float, default=1e-4, help="drop taxa below this relative abundance")
    p.add_argument("--tradeoff", type=float, default=0.5, help="cooperative trade-off fraction (default 0.5)")
    p.add_argument("--metabolites", default="but,ppa,ac,h2s", help="metabolites for production / deltas")
    p.add_argument("--fluxes", choices=["pfba", "minimal_imports", "tradeoff", "none"], default="pfba",
                   help="exchange fluxes of the baseline (pfba: MICOM grow with pFBA; minimal_imports: MICOM grow's "
                        "default, the smallest total import at the trade-off rates, ~4x cheaper)")
    p.add_argument("--media", action="store_true",
                   help="also write per sample the completed medium (smallest additions to the diet that let every "
                        "taxon reach --media-min-growth) and the minimal medium at the trade-off growth rates")
    p.add_argument("--media-min-growth", type=float, default=0.01,
                   help="growth every taxon must reach in the completed medium (default 0.01 1/h)")
    p.add_argument("--remove-each", action="store_true", help="perturbation: remove each taxon in turn")
    p.add_argument("--supplement", action="append", default=[], metavar="MET:RATE[+MET:RATE]",
                   help="perturbation: add to the diet (repeatable; '+' joins a mix)")
    p.add_argument("--alt-diet", action="append", default=[], help="perturbation: swap to this diet (repeatable)")
    p.add_argument("--probiotic", action="append", default=[], metavar="MODEL[:ABUNDANCE]",
                   help="perturbation: add this model (file or name in DB) at an abundance (default 0.1)")
    p.add_argument("--knockout", action="append", default=[], metavar="TAXON:GENE[+GENE]",
                   help="perturbation: knock out genes in one taxon of every sample that has it")
    p.add_argument("--per-unit", type=int, default=None, help="perturbations per work unit (default: all)")
    p.add_argument("--metadata", default=None, help="CSV with sample_id and a group column, for the report")
    p.add_argument("--group", default="group", help="metadata column that groups samples (default group)")
    p.add_argument("--config", default=None, help="a cohort YAML (configs/cohort_screen.yaml) instead of flags")
    p.add_argument("--serial", action="store_true", help="run in this process, without Ray")
    p.add_argument("--workers", type=int, default=None, help="Ray solver workers (default: one per CPU)")
    p.add_argument("--address", default=None, help="Ray cluster address")
    p.add_argument("--num-cpus", type=int, default=None, help="CPUs of a local Ray")
    p.add_argument("--no-report", action="store_true", help="skip the report")
    p.add_argument("--no-progress", action="store_true")


def spec_from_args(args: argparse.Namespace) -> dict:
    """The cohort spec (see :mod:`kingems_ray.distributed.cohort_units`) of the command line."""
    from ..distributed.cohort_units import resolve_spec

    pert: dict = {}
    if args.remove_each:
        pert["remove_each_taxon"] = True
    sups = []
    for s in args.supplement:
        add = {}
        for part in s.split("+"):
            met, _, rate = part.partition(":")
            add[met.strip()] = float(rate or 1.0)
        sups.append({"add": add})
    if sups:
        pert["supplements"] = sups
    if args.alt_diet:
        pert["diets"] = list(args.alt_diet)
    probs = []
    for s in args.probiotic:
        m, _, ab = s.rpartition(":") if s.rpartition(":")[2].replace(".", "", 1).isdigit() else (s, "", "")
        probs.append({"model": m, "abundance": float(ab or 0.1)})
    if probs:
        pert["probiotics"] = probs
    kos = []
    for s in args.knockout:
        t, _, genes = s.partition(":")
        kos.append({"taxon": t, "genes": [g for g in genes.split("+") if g]})
    if kos:
        pert["knockouts"] = kos
    spec = {"name": "cohort", "taxonomy": args.taxonomy, "models": args.models, "rank": args.rank,
            "cutoff": args.cutoff, "diet": args.diet, "tradeoff": args.tradeoff,
            "metabolites": [m for m in args.metabolites.split(",") if m], "fluxes": args.fluxes,
            "perturbations": pert or None, "perturbations_per_unit": args.per_unit, "metadata": args.metadata,
            "group": args.group}
    if args.media:
        spec.update(media=True, media_min_growth=args.media_min_growth)
    return resolve_spec(spec, Path.cwd())


def run(args: argparse.Namespace) -> int:
    """Run ``cohort``."""
    from ..distributed.cohort_units import load_cohort_config, run_cohort

    spec = load_cohort_config(args.config) if args.config else spec_from_args(args)
    out = Path(args.out)
    print(f"cohort {spec['taxonomy']} -> {out}", file=sys.stderr)
    summary = run_cohort(spec, out, serial=args.serial, workers=args.workers, address=args.address,
                         num_cpus=args.num_cpus, progress=not args.no_progress)
    if not args.no_report:
        from ..community.cohort_report import write_report

        summary["report"] = str(write_report(out, metadata=spec.get("metadata"), group=spec.get("group", "group")))
    (out / "_cohort_summary.json").write_text(json.dumps(summary, indent=1, default=str))
    print(json.dumps(summary, default=str))
    return 0


def dump_spec(spec: dict) -> str:
    """YAML text of a spec (for logs)."""
    return yaml.safe_dump(spec, sort_keys=False)
