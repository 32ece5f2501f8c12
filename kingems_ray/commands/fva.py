"""``kingems-ray fva``: flux variability of a GEM or ecGEM, written as Parquet."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..ec.options import add_model_arguments
from ..errors import KingemsError

HELP = "flux variability analysis (plain or enzyme-constrained) -> Parquet"

__all__ = ["HELP", "add_arguments", "add_model_arguments", "run"]  # add_model_arguments: kept importable from here


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``fva``."""
    add_model_arguments(p)
    p.add_argument("--fraction", type=float, default=0.9, help="fraction of optimal growth kept (default 0.9)")
    p.add_argument("--processes", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--reference-fvi", action="store_true",
                   help="also report kinGEMs' 'FVi' (irreversible model, forward + reverse ranges summed)")
    p.add_argument("--out", required=True, help="output Parquet file")
    from .sampling import add_conditioning_arguments, add_sampling_arguments

    add_sampling_arguments(p)
    add_conditioning_arguments(p)


def _net_view(cm, suffix: str = "_reverse"):
    """The same LP seen in the input model's reactions: ``R`` and ``R_reverse`` read as one net flux."""
    import dataclasses

    import numpy as np

    idx = cm.rxn_index
    keep, fwd, rev, lb, ub, clauses = [], [], [], [], [], []
    for j, rid in enumerate(cm.rxn_ids):
        if rid.endswith(suffix) and rid[: -len(suffix)] in idx:
            continue
        r = idx.get(rid + suffix)
        keep.append(rid)
        clauses.append(cm.rxn_clauses[j])
        if r is not None and cm.rev_col[j] < 0 and cm.rev_col[r] < 0:
            fwd.append(cm.fwd_col[j])
            rev.append(cm.fwd_col[r])
            lb.append(cm.rxn_lb[j] - cm.rxn_ub[r])
            ub.append(cm.rxn_ub[j] - cm.rxn_lb[r])
        else:
            fwd.append(cm.fwd_col[j])
            rev.append(cm.rev_col[j])
            lb.append(cm.rxn_lb[j])
            ub.append(cm.rxn_ub[j])
    return dataclasses.replace(
        cm, rxn_ids=keep, fwd_col=np.asarray(fwd), rev_col=np.asarray(rev), rxn_lb=np.asarray(lb),
        rxn_ub=np.asarray(ub), rxn_clauses=clauses,
    )


def _code_id() -> str:
    """Hash of the sources that decide what a compiled model holds: a code change is a cache miss, never stale."""
    import hashlib

    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for f in sorted([*root.joinpath("ec").glob("*.py"), *root.joinpath("gem").glob("*.py")]):
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()[:16]


def compiled_model(args: argparse.Namespace):
    """The compiled model of ``args``: from the compiled-model cache (no SBML parse, no cobra import), else built.

    The cache is ``$KINGEMS_CACHE`` (default ``~/.cache/kingems-ray``), the one sweeps use; ``KINGEMS_CACHE=off``
    turns it off. Entries are keyed by the model's and kcat table's content, the compile options and the compiling
    code, so an edit to any of them compiles afresh.

    Returns
    -------
    (CompiledModel, str)
        The model and where it came from (``"cache"`` or ``"compiled"``).
    """
    import os

    from ..ec.spec import EcSpec

    spec = EcSpec.from_args(args, irreversible=args.reference_fvi)

    def fresh():
        b = spec.build(args.model, light=True)  # cobra only for kcats / non-fbc files
        if b.kcat_report is not None:
            print(b.kcat_report.summary(), file=sys.stderr)
        return b.compiled

    if os.environ.get("KINGEMS_CACHE", "").lower() in ("off", "0", "none"):
        return fresh(), "compiled"
    from ..store.cache import CompiledCache, cache_key, model_content_id

    # The spec's own parameters (every field, the kcat file's content) plus the compiling code's hash.
    params = {"cli": "fva", "code": _code_id(), **spec.params()}
    cache = CompiledCache()
    key = cache_key(model_content_id(args.model), params)
    cm = cache.get(key)
    if cm is not None:
        return cm, "cache"
    cm = fresh()
    try:
        cache.put(key, cm)
    except OSError as exc:  # a read-only home must not stop an FVA
        import logging

        logging.getLogger(__name__).debug("compiled-model cache not written: %s", exc)
    return cm, "compiled"


def run(args: argparse.Namespace) -> int:
    """Run ``fva``."""
    from ..analysis.fva import flux_variability, variability_summary
    from .sampling import conditioning_from_args

    t0 = time.perf_counter()
    conditioning = conditioning_from_args(args)  # checked before building
    cm, source = compiled_model(args)
    if getattr(args, "samples", 0):
        return _run_samples(cm, args, conditioning)
    t1 = time.perf_counter()
    df = flux_variability(cm, fraction=args.fraction, processes=args.processes)
    t2 = time.perf_counter()
    if df.attrs.get("status") != "optimal":
        from ..ec.diagnose import check_wild_type
        from ..ec.problem import Problem

        check_wild_type(Problem(cm), "model", str(df.attrs.get("status")))  # raises, naming the cause
        raise KingemsError(f"{args.model}: the model is {df.attrs.get('status')} (no FVA possible)")
    if args.reference_fvi:
        from ..ec.irreversible import reference_variability

        fvi = reference_variability(df)
        print(f"kinGEMs-style median FVi: {fvi.median():.6g} over {fvi.size} reactions")
        # The table itself stays in the input model's reaction space: net flux of R minus R_reverse.
        t1 = time.perf_counter()
        df = flux_variability(_net_view(cm), fraction=args.fraction, processes=args.processes)
        t2 = time.perf_counter()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(out, index=False)
    s = variability_summary(df)
    print(f"optimal growth: {df.attrs['growth']:.6g} 1/h (level {cm.level})")
    print(f"median flux variability: {s['median_variability']:.6g} over {s['n_reactions']} reactions; "
          f"{df.attrs['n_solves']} LPs, {'compiled model from cache' if source == 'cache' else 'compile'} "
          f"{t1 - t0:.2f} s, FVA {t2 - t1:.2f} s -> {out}")
    return 0


def _run_samples(cm, args: argparse.Namespace, conditioning=None) -> int:
    """``fva --samples N``: the point FVA, N sampled FVAs, per-reaction quantiles, a figure.

    ``conditioning``: sample the posterior given that the wild type grows (:func:`sampled_fva`).
    """
    from ..analysis.fva import flux_variability
    from ..analysis.sampled import sampled_fva
    from ..analysis.uncertainty import fva_interval_summary, summarise_fva
    from ..analysis.uncertainty_plots import plot_fva_intervals
    from .sampling import chain_if_asked, sampler_from_args, write_sampled, write_spread

    if args.reference_fvi:
        raise KingemsError("--samples and --reference-fvi cannot be combined")
    sampler = sampler_from_args(cm, args)
    sampler, conditioning = chain_if_asked(cm, sampler, conditioning, None, args)
    t1 = time.perf_counter()
    point = flux_variability(cm, fraction=args.fraction, processes=args.processes)
    t2 = time.perf_counter()
    per = sampled_fva(cm, sampler, args.samples, fraction=args.fraction, processes=args.processes,
                      conditioning=conditioning)
    t3 = time.perf_counter()
    summary = summarise_fva(per, point)
    out = Path(args.out)
    paths = write_sampled(out, summary, per, sampler)
    head = fva_interval_summary(summary)
    acc = per.drop_duplicates("sample")
    n_acc = int((acc["status"] != "not_accepted").sum())
    write_spread(paths["spread"], sampler, {"fva": head, "point_seconds": t2 - t1, "samples_seconds": t3 - t2,
                                            "conditioning": per["conditioning"].iloc[0], "n_accepted": n_acc})
    plot_fva_intervals(summary, paths["figure"], title=f"{cm.model_id}: FVA at {args.fraction:g} of optimum, "
                       f"{args.samples} kcat samples")
    n_inf = int(per.groupby("sample")["status"].first().ne("optimal").sum())
    print(f"spread: {sampler.label()}; conditioning: {per['conditioning'].iloc[0]}")
    if conditioning is not None:
        draws = int(acc["attempt"].to_numpy().sum() + n_acc)
        print(f"  {n_acc}/{args.samples} samples accepted, {draws} draws")
    print(f"point FVA {t2 - t1:.2f} s; {args.samples} sampled FVAs {t3 - t2:.2f} s "
          f"({(t3 - t2) / args.samples:.2f} s per sample; {n_inf} samples without an optimum)")
    print(f"{head['n_kcat_dependent']} of {head['n_reactions']} reactions depend on the kcats; median width of the "
          f"90 % band {head['median_band_width']:.4g} (kcat-dependent reactions: "
          f"{head['median_band_width_dependent']:.4g}) -> {out}, {paths['samples'].name}, {paths['figure'].name}")
    return 0
