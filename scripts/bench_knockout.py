"""Benchmark: full single-gene knockout screen of iML1515 x 10 carbon sources, plain and enzyme-constrained,
against cobrapy's ``single_gene_deletion`` (GLPK) measured in the same run.

    .venv/bin/python scripts/bench_knockout.py [--cobra-conditions 10] [--processes 2] [--out bench.json]

cobrapy runs on the first ``--cobra-conditions`` carbon sources (all 10 by default); with fewer, its full-screen time
is extrapolated linearly (printed as such). cobrapy's growth is also compared with ours (plain model) gene by gene.
Wall times depend on machine load: CPU times of the serial runs are printed as well. The kinGEMs reference needs
4-5 h for a 33,150-point screen (validation_iML1515.json: CPLEX, 6 workers).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

from kingems_ray.analysis.knockout import knockout_screen
from kingems_ray.analysis.validation_data import keio_carbon_exchanges
from kingems_ray.ec.build import build
from kingems_ray.gem.media import carbon_source_medium
from kingems_ray.paths import data_file

EC = "ecGEM L4 (ECMpy kcats, pool 0.25)"


def _cpu() -> float:
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def timed(fn, *a, **kw):
    """(result, wall seconds, CPU seconds incl. finished children)."""
    w, c = time.perf_counter(), _cpu()
    out = fn(*a, **kw)
    return out, time.perf_counter() - w, _cpu() - c


def exchange_bounds(model, conditions: dict) -> dict:
    """Exchange bounds of ``model`` per medium (cobrapy's ``model.medium`` setter): {condition: {id: (lb, ub)}}.

    The enzyme-constrained export has extra one-metabolite reactions (protein pool, slacks) that cobrapy would treat as
    exchanges, so media are applied to it as these bounds of the source model's exchanges instead.
    """
    out = {}
    for cond, med in conditions.items():
        with model:
            model.medium = med
            out[cond] = {r.id: r.bounds for r in model.exchanges}
    return out


def cobra_screen(model, conditions: dict) -> tuple[dict, float, float]:
    """cobrapy single_gene_deletion (GLPK, 1 process) per condition; growth NaN (infeasible) -> 0.

    ``conditions`` maps a condition to exchange bounds ``{reaction id: (lb, ub)}`` (see :func:`exchange_bounds`).
    """
    from cobra.flux_analysis import single_gene_deletion

    model.solver = "glpk"
    out = {}
    w, c = time.perf_counter(), _cpu()
    for cond, bounds in conditions.items():
        with model:
            for rid, b in bounds.items():
                model.reactions.get_by_id(rid).bounds = b
            ref = single_gene_deletion(model, processes=1)
        ref["gene"] = [next(iter(i)) for i in ref["ids"]]
        out[cond] = ref.set_index("gene")["growth"].fillna(0.0)
    return out, time.perf_counter() - w, _cpu() - c


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cobra-conditions", type=int, default=10, help="carbon sources cobrapy runs on (0 = none)")
    ap.add_argument("--cobra-ec-conditions", type=int, default=10, help="carbon sources cobrapy runs on with the "
                    "ecGEM exported as a cobra model (kingems_ray.ec.export.to_cobra; 0 = none)")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--no-ec", action="store_true", help="skip the enzyme-constrained screens")
    ap.add_argument("--no-ours", action="store_true", help="only time cobrapy (e.g. on a subset, to pair with an "
                    "earlier run's figures; CPU times compare across runs, wall times do not on a shared machine)")
    ap.add_argument("--serial-only", action="store_true", help="time our screens with 1 process only")
    ap.add_argument("--out", help="JSON with every figure")
    ap.add_argument("--save-cobra", help="Parquet of cobrapy's growth per (gene, condition) (paper_ecoli.py reads it)")
    args = ap.parse_args(argv)

    res: dict = {"machine": f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start"}
    model_path = data_file("bigg", "iML1515.xml.gz")
    kcats = data_file("kcat", "ecmpy_iML1515_reaction_kcat_MW.csv.gz")
    plain, t_load, _ = timed(build, model_path)
    model = plain.model
    conds = {name: carbon_source_medium(model, None, ex) for name, ex in keio_carbon_exchanges().items()}
    n_genes = len(model.genes)
    res.update(n_genes=n_genes, n_conditions=len(conds), n_points=n_genes * len(conds), load_s=t_load)
    print(f"iML1515: {n_genes} genes x {len(conds)} carbon sources = {n_genes * len(conds)} knockouts "
          f"(load {t_load:.1f} s; {res['machine']})", flush=True)

    runs = {} if args.no_ours else {"plain": plain.compiled}
    if not args.no_ec and not args.no_ours:
        ec, t_build, _ = timed(build, model, kcats, level="L4", pool=0.25)
        runs[EC] = ec.compiled
        res["ec_build_s"] = t_build
    ours: dict = {}
    serial_df: dict = {}
    for name, cm in runs.items():
        for procs in [1] if args.serial_only else sorted({1, args.processes}):
            df, wall, cpu = timed(knockout_screen, cm, conds, processes=procs)
            key = f"{name}, {procs} process{'es' if procs > 1 else ''}"
            ours[key] = {"wall_s": wall, "cpu_s": cpu, "n_lp": df.attrs["n_lp"],
                         "methods": df["method"].value_counts().to_dict()}
            print(f"ours  {key}: {wall:.1f} s wall, {cpu:.1f} s CPU, {df.attrs['n_lp']} LPs for {len(df)} knockouts "
                  f"({ours[key]['methods']})", flush=True)
            if procs == 1:
                serial_df[name] = df
    res["ours"] = ours

    bounds = exchange_bounds(model, conds)
    if args.no_ours:
        serial_df["plain"] = knockout_screen(plain.compiled, dict(list(conds.items())[: args.cobra_conditions]))
    baselines = [("plain", "cobra", model, args.cobra_conditions)]
    if EC in serial_df and args.cobra_ec_conditions > 0:
        from kingems_ray.ec.export import to_cobra

        baselines.append((EC, "cobra_ec", to_cobra(ec), args.cobra_ec_conditions))
    res["speedup_vs_cobra"] = {}
    for name, tag, cmodel, n_cond in baselines:
        if n_cond <= 0:
            continue
        sub = dict(list(bounds.items())[:n_cond])
        ref, wall, cpu = cobra_screen(cmodel, sub)
        scale = len(conds) / len(sub)
        diffs, rel, n_mismatch, flips = [], [], 0, []
        mine = serial_df[name]
        for cond, r in ref.items():
            got = mine[mine["condition"] == cond].set_index("gene_id")["growth"][r.index].to_numpy()
            theirs = r.to_numpy()
            d = np.abs(got - theirs)
            diffs.append(float(d.max()))
            rel.append(float((d / np.maximum(np.abs(theirs), 1e-3)).max()))
            n_mismatch += int((d > 1e-6).sum())
            flip = (got > 1e-3) != (theirs > 1e-3)
            flips += [(cond, g) for g in r.index[flip]]
        res[tag] = {"model": name, "conditions": list(sub), "wall_s": wall, "cpu_s": cpu,
                    "wall_s_full_screen": wall * scale, "cpu_s_full_screen": cpu * scale,
                    "extrapolated": scale != 1.0, "max_abs_growth_diff": max(diffs),
                    "max_rel_growth_diff": max(rel), "n_points_differing_1e-6": n_mismatch,
                    "growth_class_differences": [f"{c}:{g}" for c, g in flips]}
        extra = f"; full screen extrapolated x{scale:.1f}: {wall * scale:.1f} s" if scale != 1 else ""
        print(f"cobrapy single_gene_deletion (GLPK, 1 process), {name}, {len(sub)} condition(s): {wall:.1f} s wall, "
              f"{cpu:.1f} s CPU{extra}")
        print(f"  growth vs ours ({name}): max |diff| {max(diffs):.2e}, max relative diff {max(rel):.2e}, "
              f"{n_mismatch} point(s) differ by > 1e-6; {len(flips)} point(s) classed differently (growth > 1e-3): "
              f"{sorted({g for _, g in flips})[:20]}")
        full_w, full_c = wall * scale, cpu * scale
        for key, o in ours.items():
            if not key.startswith(name + ","):
                continue
            print(f"  speed-up of ours [{key}] over cobrapy: wall {full_w / o['wall_s']:.1f}x"
                  + (f", CPU {full_c / o['cpu_s']:.1f}x" if key.endswith("1 process") else ""))
            res["speedup_vs_cobra"][key] = {"wall": full_w / o["wall_s"], "cpu": full_c / o["cpu_s"]}
        if args.save_cobra and tag == "cobra":
            import pandas as pd

            long = pd.concat([r.rename("growth").rename_axis("gene_id").reset_index().assign(condition=c)
                              for c, r in ref.items()])
            long.to_parquet(args.save_cobra, index=False)
    ref_s = 4.5 * 3600
    # Reference: 33,150 points in 4-5 h; scale to this screen's size.
    per_point = ref_s / 33150
    for key, o in ours.items():
        print(f"  vs the kinGEMs reference (~{per_point * 1000:.0f} ms/point, 4.5 h / 33,150): "
              f"[{key}] {per_point * res['n_points'] / o['wall_s']:.0f}x faster per point")
    res["reference_ms_per_point"] = per_point * 1000
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(res, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
