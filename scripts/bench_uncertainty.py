"""Cost of one kcat sample next to the point analysis it repeats and to recompiling the model per sample.

    PYTHONPATH=. .venv/bin/python scripts/bench_uncertainty.py [--model textbook|iML1515] [--kcats TABLE]
        [--samples 4] [--pair-samples 4] [--full-samples 1] [--community-samples 4] [--no-pair | --only-pair]
        [--condition-on-growth F] [--out bench.json]

For FVA (90 % of optimum), a knockout screen (the model's medium, all genes) and growth, in one run:

* ``point``: the analysis on the persistent problem with the table's kcats (median of ``--samples`` repeats;
  for growth a cold solve, since re-solving an unchanged optimal LP costs nothing);
* ``point first``: the same analysis as a one-off run costs it: on a fresh problem (no basis yet), its first solve
  included (median of up to 3);
* ``sample``: the same analysis after writing a sampled kcat vector into the matrix in place and writing it back
  afterwards (:func:`kingems_ray.analysis.sampled.fva_sample` etc.), median over samples;
* ``recompile``: what a rebuild per sample costs: matching the sampled table, compiling the ecGEM, a new HiGHS
  problem, then the analysis (median over samples).

And for an AGORA pair (two L4 ecGEMs with fallback kcats, Western diet), in the same run:

* ``point``: ``run_pair`` with the point kcats (reduced LPs assembled and solved afresh: pair and both taxa alone);
* ``sample``: :func:`kingems_ray.community.sampled.sampled_pairs` on the reduced LPs, per sample (median and mean
  of ``--pair-samples``): each taxon's pool row recomputed from the sampled kcats and the held-out-row protocol re-run
  from the relaxation's basis on three persistent HiGHS instances; the one-off set-up per pair (assembly and the
  three relaxation solves) is printed apart;
* ``full LP``: the previous path, kcat entries written into the full enzyme-constrained LPs (``fast=False``),
  ``--full-samples`` samples (each seconds to minutes), checked equal to the reduced path;
* ``recompile``: both members compiled from SBML with the sampled kcats, then ``run_pair``.

And the same two taxa as a MICOM community (trade-off 0.5): a reduced community built and solved afresh (point)
against ``sampled_community`` on the reduced LP (pool rows rewritten in place) and on the full LP.

Printed ratios: ``sample / point`` (goal <= 1: a sample costs no more than the point analysis),
``recompile / sample`` and ``full / sample``.

Measured (2026-12-07, 2 cores shared with a 2-process background job, load average 2.8 at start, 2.9 at end;
``--samples 3 --pair-samples 16 --full-samples 1 --community-samples 4``): AGORA pair point 285.5 ms, sample 62.8 ms
median / 107.0 ms mean (sample/point 0.22; 181 ms set-up once per pair), full-LP sample 2,187 ms, recompile 5,628 ms;
2-taxon community point 794.7 ms, sample 433.0 ms (0.54), full-LP sample 5,997 ms. See docs/uncertainty.md "Cost of a
pair and a community sample".
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from kingems_ray.analysis.fva import flux_variability
from kingems_ray.analysis.knockout import knockout_screen
from kingems_ray.analysis.sampled import (
    _point_bases,
    accepted_draw,
    fva_sample,
    growth_sample,
    knockout_sample,
    relaxed_zero_growth,
)
from kingems_ray.analysis.uncertainty import KcatSampler
from kingems_ray.ec.build import build
from kingems_ray.ec.problem import Problem
from kingems_ray.paths import data_file, package_data


def _t(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def bench_model(model, kcats, n: int, spread_scale: float = 1.0,
                kinds: tuple[str, ...] = ("growth", "fva", "knockout"), condition_on_growth: float | None = None
                ) -> dict:
    b = build(model, kcats, level="L4", pool=0.25)
    cm = b.compiled
    s = KcatSampler.from_pairs(cm.pairs, seed=0, spread_scale=spread_scale)
    p = Problem(cm)
    p.growth()
    out: dict = {"model": cm.model_id, "n_pairs": len(cm.pairs), "n_samples": n, "sampler": s.label()}
    # The sampled knockout screen's one-off setup per worker (pool-free relaxation screen, point wild-type bases),
    # shared by all its samples; the per-sample figures below exclude it (median over samples).
    out["knockout_setup_s"] = _t(lambda: (relaxed_zero_growth(p, None), _point_bases(p, None)))
    print(f"{cm.model_id} knockout setup once per worker (relaxation screen + point bases): "
          f"{out['knockout_setup_s'] * 1e3:.1f} ms", flush=True)
    point_runs = {
        # one growth solve from scratch (a warm re-solve of an unchanged LP would be a no-op)
        "growth": lambda: (p.solver.cold_start(), p.growth()),
        "fva": lambda: flux_variability(p, fraction=0.9),
        "knockout": lambda: knockout_screen(p, None),
    }
    sample_runs = {
        "growth": lambda k: growth_sample(p, k),
        "fva": lambda k: fva_sample(p, k, 0.9),
        "knockout": lambda k: knockout_sample(p, k),
    }

    def recompiled(kind, k):
        def run():
            q = Problem(build(b.model, cm.pairs.assign(kcat=k), level="L4", pool=0.25).compiled)
            if kind == "growth":
                q.growth()
            elif kind == "fva":
                flux_variability(q, fraction=0.9)
            else:
                knockout_screen(q, None, check_wild_type=False)  # a sample may not feed the wild type
        return run

    # The vectors timed: prior draws, or with --condition-on-growth the accepted draws of the conditioned posterior
    # (what the iML1515 screens use: a prior draw often cannot grow, and an infeasible FVA costs one LP). The
    # rejected draws' growth solves are timed apart.
    if condition_on_growth is None:
        vec = [s.sample(i) for i in range(n)]
    else:
        t0 = time.perf_counter()
        bound = condition_on_growth * p.growth()
        draws = [accepted_draw(p, s, i, None, bound, 200) for i in range(n)]
        if any(k is None for k, _ in draws):
            raise SystemExit(f"no accepted draw in 200 for some sample at {condition_on_growth} x point growth")
        vec = [k for k, _ in draws]
        out["conditioning"] = {"min_fraction": condition_on_growth, "draws": [a + 1 for _, a in draws],
                               "seconds_per_accepted_sample": (time.perf_counter() - t0) / n}
        print(f"conditioned draws: {out['conditioning']}", flush=True)
    # What a one-off point analysis costs: a fresh problem (no basis yet), its first solve included.
    first_runs = {
        "growth": lambda: Problem(cm).growth(),
        "fva": lambda: flux_variability(Problem(cm), fraction=0.9),
        "knockout": lambda: knockout_screen(Problem(cm), None),
    }
    for kind in kinds:
        first = statistics.median(_t(first_runs[kind]) for _ in range(min(n, 3)))
        pt = statistics.median(_t(point_runs[kind]) for _ in range(n))
        sm = statistics.median(_t(lambda i=i, f=sample_runs[kind]: f(vec[i])) for i in range(n))
        rc = statistics.median(_t(recompiled(kind, vec[i])) for i in range(min(n, 3)))
        out[kind] = {"point_s": pt, "point_first_s": first, "sample_s": sm, "recompile_s": rc,
                     "sample_over_point": sm / pt, "sample_over_point_first": sm / first,
                     "recompile_over_sample": rc / sm}
        print(f"{cm.model_id} {kind:9s}: point {pt * 1e3:9.1f} ms (first on a fresh problem {first * 1e3:9.1f} ms) | "
              f"sample (in place) {sm * 1e3:9.1f} ms | recompile per sample {rc * 1e3:9.1f} ms || sample/point "
              f"{sm / pt:5.2f} (/first {sm / first:5.2f}), recompile/sample {rc / sm:6.1f}", flush=True)
    return out


def bench_pair(n: int, n_full: int = 2, n_recompile: int = 2) -> dict:
    from kingems_ray.community.ec import load_ec_member
    from kingems_ray.community.models import load_member
    from kingems_ray.community.pairwise import run_pair
    from kingems_ray.community.sampled import sampled_pairs

    paths = [data_file("agora", "models", f"{m}.xml.gz")
             for m in ("Abiotrophia_defectiva_ATCC_49176", "Acetivibrio_ethanolgignens_ACET_33324")]
    mems = [load_ec_member(p, cache_dir="") for p in paths]
    samplers = [KcatSampler.from_pairs(m.compiled.pairs, seed=i) for i, m in enumerate(mems)]
    run_pair(mems[0], mems[1], "western")  # warm: blocks built once per process (both paths use the cache)
    sampled_pairs(mems[0], mems[1], "western", 1, samplers=samplers, fast=False)
    pt = statistics.median(_t(lambda: run_pair(mems[0], mems[1], "western")) for _ in range(n))
    t = time.perf_counter()
    df = sampled_pairs(mems[0], mems[1], "western", n, samplers=samplers)
    total = time.perf_counter() - t
    sm, mean = float(df["seconds"].median()), float(df["seconds"].mean())
    setup = total - float(df["seconds"].sum())
    # the full LP with kcat entries edited in place (the path before the reduced one); its first sample is a cold
    # solve of the full pair LP, the rest warm
    full = sampled_pairs(mems[0], mems[1], "western", n_full, samplers=samplers, fast=False)
    fs = float(full["seconds"].median())
    same = all(abs(df[k].iloc[:n_full] - full[k]).max() <= 1e-6 * max(1.0, float(full[k].abs().max()))
               for k in ("growth_a_alone", "growth_b_alone", "growth_a_paired", "growth_b_paired"))
    same = same and list(df["interaction"].iloc[:n_full]) == list(full["interaction"])

    def recompile(i):
        ref = [load_member(p, cache_dir="", kcats=m.compiled.pairs.assign(kcat=s.sample(i)), level="L4")
               for p, m, s in zip(paths, mems, samplers)]
        run_pair(ref[0], ref[1], "western")

    rc = statistics.median(_t(lambda i=i: recompile(i)) for i in range(min(n, n_recompile)))
    print(f"AGORA pair (ecGEM, fallback kcats): point run_pair {pt * 1e3:9.1f} ms | sample (reduced LP, in place) "
          f"{sm * 1e3:9.1f} ms (mean {mean * 1e3:.1f}; + {setup * 1e3:.1f} ms once per pair) | sample (full LP, in "
          f"place) {fs * 1e3:9.1f} ms | recompile both members {rc * 1e3:9.1f} ms || sample/point {sm / pt:5.2f}, "
          f"full/sample {fs / sm:6.1f}, recompile/sample {rc / sm:6.1f}; full == reduced on {n_full} samples: {same}; "
          f"labels {df['interaction'].value_counts().to_dict()}", flush=True)
    return {"point_s": pt, "sample_s": sm, "sample_mean_s": mean, "setup_s": setup, "full_sample_s": fs,
            "recompile_s": rc,
            "sample_over_point": sm / pt, "full_over_sample": fs / sm, "recompile_over_sample": rc / sm,
            "full_equals_reduced": bool(same), "n_samples": n, "n_full": n_full,
            "labels": df["interaction"].value_counts().to_dict()}


def bench_community(n: int, n_full: int = 1) -> dict:
    """The same two AGORA ecGEMs as a MICOM community (trade-off 0.5, Western diet)."""
    from kingems_ray.community.community import Community
    from kingems_ray.community.ec import load_ec_member
    from kingems_ray.community.sampled import sampled_community

    paths = [data_file("agora", "models", f"{m}.xml.gz")
             for m in ("Abiotrophia_defectiva_ATCC_49176", "Acetivibrio_ethanolgignens_ACET_33324")]
    mems = [load_ec_member(p, cache_dir="") for p in paths]
    samplers = [KcatSampler.from_pairs(m.compiled.pairs, seed=i) for i, m in enumerate(mems)]
    # point: what run_community's baseline costs, the reduced community built and solved from scratch
    pt = statistics.median(_t(lambda: Community(mems, diet="western", reduce_enzymes=True).cooperative_tradeoff(0.5))
                           for _ in range(n))
    t = time.perf_counter()
    df = sampled_community(mems, n, diet="western", samplers=samplers)
    total = time.perf_counter() - t
    per = df.groupby("sample")["seconds"].first()
    sm, setup = float(per.median()), total - float(per.sum())
    full = sampled_community(mems, n_full, diet="western", samplers=samplers, reduce_enzymes=False)
    fs = float(full.groupby("sample")["seconds"].first().median())
    g = df[df["sample"] < n_full].sort_values(["sample", "taxon"])["growth"].to_numpy()
    gf = full.sort_values(["sample", "taxon"])["growth"].to_numpy()
    dmax = float(abs(g - gf).max())
    print(f"AGORA 2-taxon community (ecGEM, trade-off 0.5): point {pt * 1e3:9.1f} ms | sample (reduced LP, in place) "
          f"{sm * 1e3:9.1f} ms (+ {setup * 1e3:.1f} ms once) | sample (full LP, in place) {fs * 1e3:9.1f} ms || "
          f"sample/point {sm / pt:5.2f}, full/sample {fs / sm:6.1f}; growth reduced vs full max diff {dmax:.2e} "
          f"({n_full} samples)", flush=True)
    return {"point_s": pt, "sample_s": sm, "setup_s": setup, "full_sample_s": fs, "sample_over_point": sm / pt,
            "full_over_sample": fs / sm, "growth_max_diff_full": dmax, "n_samples": n, "n_full": n_full}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="textbook")
    ap.add_argument("--kcats", default=None, help="default: the shipped textbook predictions")
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--pair-samples", type=int, default=4)
    ap.add_argument("--no-pair", action="store_true")
    ap.add_argument("--only-pair", action="store_true", help="time the AGORA pair only")
    ap.add_argument("--full-samples", type=int, default=1, help="pair / community samples on the full LP")
    ap.add_argument("--community-samples", type=int, default=4, help="2-taxon community samples (0: skip)")
    ap.add_argument("--spread-scale", type=float, default=1.0)
    ap.add_argument("--kinds", default="growth,fva,knockout", help="analyses to time (comma list)")
    ap.add_argument("--condition-on-growth", type=float, default=None, metavar="F",
                    help="time accepted draws of the posterior given wild-type growth >= F x point (rejection)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    res = {"load_at_start": os.getloadavg()}
    print(f"load average at start: {res['load_at_start']}", flush=True)
    kc = args.kcats or package_data("kcat_default", "textbook_kcats_predicted.parquet")
    model = data_file("bigg", "iML1515.xml.gz") if args.model == "iML1515" else args.model
    if not args.only_pair:
        res["model"] = bench_model(model, kc, args.samples, args.spread_scale, tuple(args.kinds.split(",")),
                                   args.condition_on_growth)
    if not args.no_pair:
        res["pair"] = bench_pair(args.pair_samples, args.full_samples)
        if args.community_samples:
            res["community"] = bench_community(args.community_samples, args.full_samples)
    res["load_at_end"] = os.getloadavg()
    print(f"load average at end: {res['load_at_end']}")
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
