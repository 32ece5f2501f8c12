"""``kingems-ray community``: MICOM-style cooperative trade-off of an abundance-weighted community."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "community growth with MICOM's cooperative trade-off, exchanges, cross-feeding and perturbations"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``community``."""
    p.add_argument("models", nargs="+", help="model files, folders or globs (SBML / JSON)")
    p.add_argument("--abundances", default=None,
                   help="CSV/TSV with columns model (file stem) and abundance; default equal abundances")
    p.add_argument("--diet", default="western", help="diet file or built-in name (default western)")
    p.add_argument("--tradeoff", type=float, default=0.5, help="fraction of maximal community growth kept")
    p.add_argument("--remove-each", action="store_true", help="also remove each taxon in turn")
    p.add_argument("--alt-diet", action="append", default=[], help="also simulate this diet (repeatable)")
    p.add_argument("--knockout", action="append", default=[], metavar="TAXON:GENE[+GENE]",
                   help="also knock out genes in one taxon (repeatable)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--cache-dir", default=None)
    from .sampling import add_sampling_arguments

    add_sampling_arguments(p)


def _abundances(path: str | None, names: list[str]):
    import pandas as pd

    from ..errors import KingemsError

    if path is None:
        return None
    sep = "," if path.lower().endswith(".csv") else "\t"
    try:
        df = pd.read_csv(path, sep=sep)
    except (OSError, ValueError, pd.errors.EmptyDataError) as exc:  # UnicodeDecodeError is a ValueError
        raise KingemsError(f"{path}: cannot read abundances ({type(exc).__name__}: {exc})") from exc
    cols = {c.lower(): c for c in df.columns}
    mcol = cols.get("model") or cols.get("id") or cols.get("taxon")
    acol = cols.get("abundance")
    if mcol is None or acol is None:
        raise KingemsError(f"{path}: needs columns model (or id/taxon) and abundance")
    from ..validate import check_abundances

    ab = dict(zip(df[mcol].astype(str), df[acol]))
    check_abundances(ab, names, path)  # unknown models and non-positive values are errors, not renormalised away
    ab = {k: float(v) for k, v in ab.items()}
    missing = [n for n in names if n not in ab]
    if missing:
        raise KingemsError(f"{path}: no abundance for {', '.join(missing[:5])}")
    return [ab[n] for n in names]


def run(args: argparse.Namespace) -> int:
    """Run ``community``."""
    from ..community.community import run_community
    from ..community.diets import check_diet_matches, read_diet
    from ..community.models import check_unique_model_names, expand_model_paths, load_members
    from ..errors import KingemsError

    paths = expand_model_paths(args.models)
    check_unique_model_names(paths)
    diet = read_diet(args.diet)
    for d in args.alt_diet:
        read_diet(d)
    if args.samples:
        return _run_samples(paths, args)
    members, errors = load_members(paths, cache_dir=args.cache_dir)
    for e in errors:
        print(f"skipped model: {e}")
    if not members:
        raise KingemsError("no loadable model" + (f" ({'; '.join(str(e) for e in errors[:2])})" if errors else ""))
    names = [m.name for m in members]
    check_diet_matches(diet, {k for m in members for k in m.ex_key})
    ab = _abundances(args.abundances, names)
    perts = [{"kind": "remove_taxon", "taxon": n} for n in names] if args.remove_each else []
    perts += [{"kind": "diet", "diet": d} for d in args.alt_diet]
    for k in args.knockout:
        taxon, _, genes = k.partition(":")
        perts.append({"kind": "gene_knockout", "taxon": taxon, "genes": genes.split("+")})
    res = run_community(members, ab, diet, args.tradeoff, perts)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for key in ("growth", "exchanges", "cross_feeding", "perturbations", "perturbation_cross_feeding"):
        df = res[key]
        df.to_parquet(out / f"{key}.parquet", index=False)
    summary = {k: res[k] for k in ("status", "community_growth", "max_community_growth", "unmatched_diet", "seconds")}
    summary.update(models=names, diet=str(args.diet), tradeoff=args.tradeoff, load_errors=errors)
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    print(f"status {res['status']}, community growth {res['community_growth']:.4g} 1/h "
          f"(max {res['max_community_growth']:.4g}); wrote {out}")
    print(res["growth"].to_string(index=False))
    return 0


def _run_samples(paths, args: argparse.Namespace) -> int:
    """``community --samples N``: ecGEM taxa (fallback kcats), cooperative trade-off over N kcat samples."""
    from ..analysis.uncertainty import KcatSampler, check_n_samples, summarise_taxa
    from ..analysis.uncertainty_plots import plot_taxon_growth
    from ..community.ec import load_ec_member
    from ..community.sampled import sampled_community

    n = check_n_samples(args.samples)
    members = [load_ec_member(p, cache_dir=args.cache_dir) for p in paths]
    kw = {"fallback_log10_sd": args.fallback_log10_sd, "spread_scale": args.spread_scale,
          "fallback_grouping": args.fallback_grouping}
    samplers = [KcatSampler.from_pairs(m.compiled.pairs, seed=args.sample_seed + i, **kw)
                for i, m in enumerate(members)]
    per = sampled_community(members, n, _abundances(args.abundances, [m.name for m in members]), args.diet,
                            args.tradeoff, samplers=samplers)
    summary = summarise_taxa(per)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    per.to_parquet(out / "growth_samples.parquet", index=False)
    summary.to_parquet(out / "growth_summary.parquet", index=False)
    plot_taxon_growth(summary, out / "growth_samples.png", title=f"{len(members)} taxa, {n} kcat samples")
    print(f"wrote {out}/growth_summary.parquet, growth_samples.parquet, growth_samples.png")
    print(summary.to_string(index=False))
    return 0
