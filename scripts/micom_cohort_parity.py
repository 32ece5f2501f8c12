"""Cohort samples in this engine vs MICOM 0.39 (same models, abundances, medium, trade-off 0.5), in one run.

    python scripts/micom_cohort_parity.py --mode parity --out results/micom_cohort_parity   # 5 samples, 5-10 taxa
    python scripts/micom_cohort_parity.py --mode bench --samples 5 --out results/cohort_bench  # 5 cohort samples

``parity``: the first 5 samples of ``configs/cohort_agora_200.csv.gz`` cut to their 5, 6, ..., 9 most abundant taxa.
``bench``: the ``--samples`` smallest samples of the cohort, whole (20+ taxa), for the time ratio.

Per sample, this engine: members from the compiled cache, community assembled, cooperative trade-off, exchange
fluxes (:mod:`kingems_ray.community.cohort`). MICOM: ``Community(taxonomy with files, solver="hybrid")`` (the build),
medium set, then what its ``grow`` runs per sample for ``--strategy``:

* ``pfba`` (``grow(strategy="pFBA")``): ``cooperative_tradeoff(fraction=0.5, fluxes=True, pfba=True)``; ours: the
  trade-off, then :func:`~kingems_ray.community.cohort.pfba_fluxes`;
* ``minimal_imports`` (``grow``'s default, ``"minimal imports"``): ``cooperative_tradeoff(fraction=0.5)``, then
  ``micom.media.minimal_medium(community_growth, min_growth=the rates, solution=True)`` with ``grow``'s tolerances
  (the solver's feasibility tolerance); ours: the trade-off, then
  :func:`~kingems_ray.community.medium.minimal_imports`. Compared: the total import (unique at given rates; the
  two sides' rates differ by the QP's accuracy).

Both get the same medium: the diet's components resolved to the community's exchange ids
(:func:`kingems_ray.community.diets.micom_medium`).

Compared: community growth; per-taxon growth (relative tolerance ``--rtol`` + absolute 1e-5, only where MICOM's
answer satisfies its own bound ``mu_c >= 0.5 max``; OSQP, the only QP solver MICOM has here, sometimes stops
early); medium exchange fluxes (the community's net import/export per metabolite) where the pFBA optimum is unique:
for each medium exchange a flux variability run over our pFBA optimum face (sum of |v| within 1e-7 relative of the
minimum, growth rates fixed) decides uniqueness (range <= 1e-6), and only unique ones are compared.
Times: wall and CPU (``time.process_time``) of each engine per sample, with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from kingems_ray.community.cohort import MemberLibrary, build_sample, pfba_fluxes, pfba_problem
from kingems_ray.community.diets import micom_medium, read_diet
from kingems_ray.community.medium import minimal_imports
from kingems_ray.community.taxonomy import ModelDB, match_taxonomy, read_taxonomy
from kingems_ray.paths import data_root
from kingems_ray.solver.highs import LinearProblem, PersistentLP


def unique_medium_exchanges(com, growth, tol=1e-6) -> dict[str, tuple[float, float]]:
    """Min and max of every medium exchange over the pFBA optimum face (growth rates fixed)."""
    import scipy.sparse as sp

    split, neg = pfba_problem(com, growth)
    s0 = PersistentLP(split, threads=1, presolve=True)
    r = s0.solve(need_x=False)
    if not r.ok:
        return {}
    n = com.joint.lp.n_cols
    # the pFBA objective row (merged pathway columns weigh the reactions they stand for), not a row of ones
    A = sp.vstack([split.A, sp.csr_matrix(np.asarray(split.cost, float).reshape(1, -1))], format="csc")
    lp = LinearProblem(A=A, col_lb=split.col_lb, col_ub=split.col_ub,
                       row_lb=np.concatenate([split.row_lb, [-np.inf]]),
                       row_ub=np.concatenate([split.row_ub, [r.objective * (1 + 1e-7) + 1e-9]]),
                       cost=np.zeros(A.shape[1]), col_names=[], row_names=[], maximize=False)
    s = PersistentLP(lp, threads=1, presolve=False)
    negpos = {int(c): n + i for i, c in enumerate(neg)}
    out = {}
    for k, key in enumerate(com.joint.env_keys):
        c = com.joint.env_col0 + k
        cols, coefs = [c], [1.0]
        if c in negpos:
            cols.append(negpos[c])
            coefs.append(-1.0)
        vals = []
        for mx in (False, True):
            s.set_objective(cols, coefs, maximize=mx)
            rr = s.solve(need_x=False)
            vals.append(rr.objective if rr.ok else np.nan)
        out[key] = (vals[0], vals[1])
    return out


def pick_samples(mode: str, n: int, cohort: str) -> pd.DataFrame:
    tax = pd.read_csv(cohort)
    if mode == "parity":
        ids = list(dict.fromkeys(tax["sample_id"]))[:n]
        parts = [tax[tax["sample_id"] == s].nlargest(5 + i, "abundance") for i, s in enumerate(ids)]
        return pd.concat(parts, ignore_index=True)
    size = tax.groupby("sample_id").size().sort_values(kind="stable")
    return tax[tax["sample_id"].isin(size.index[:n])].reset_index(drop=True)


def main(argv=None) -> int:
    """Run both engines on the chosen samples and write the comparison."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=["parity", "bench"], default="parity")
    ap.add_argument("--samples", type=int, default=5)
    ap.add_argument("--only", nargs="+", default=None, help="of the picked samples, run only these ids")
    default_cohort = Path(__file__).resolve().parents[1] / "configs" / "cohort_agora_200.csv.gz"
    ap.add_argument("--cohort", default=str(default_cohort))
    ap.add_argument("--diet", default="western")
    ap.add_argument("--tradeoff", type=float, default=0.5)
    ap.add_argument("--rtol", type=float, default=2e-3)
    ap.add_argument("--strategy", choices=["pfba", "minimal_imports"], default="pfba",
                    help="exchange step of both engines (MICOM grow's strategy pFBA or its default minimal imports)")
    ap.add_argument("--no-micom", action="store_true")
    ap.add_argument("--no-fva", action="store_true")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    mdir = data_root(required=True) / "agora" / "models"
    tax = pick_samples(a.mode, a.samples, a.cohort)
    if a.only:
        tax = tax[tax["sample_id"].isin(a.only)].reset_index(drop=True)
    tax.to_csv(out / "taxonomy.csv", index=False)
    samples, _ = match_taxonomy(read_taxonomy(tax, rank="strain"), ModelDB.open(mdir), rank="strain", cutoff=0.0)
    diet = read_diet(a.diet)
    lib = MemberLibrary()
    g_rows, x_rows, s_rows = [], [], []
    for spec in samples:
        files = [t.files[0] for t in spec.taxa]
        names = [t.name for t in spec.taxa]
        for t in spec.taxa:  # members from the cache before timing (the cohort run loads each model once)
            lib.get(t)
        w0, c0 = time.perf_counter(), time.process_time()
        sc = build_sample(spec, lib, diet, a.tradeoff, [])
        if not sc.baseline.ok:
            x = None
        elif a.strategy == "pfba":
            x = pfba_fluxes(sc.community, sc.baseline.growth)
        else:
            mm, x = minimal_imports(sc.community, sc.baseline.growth, sc.baseline.community_growth)
        ours_wall, ours_cpu = time.perf_counter() - w0, time.process_time() - c0
        com = sc.community
        srow = {"sample_id": spec.sample_id, "n_taxa": len(names), "strategy": a.strategy,
                "ours_wall_s": ours_wall, "ours_cpu_s": ours_cpu,
                "ours_tradeoff_s": sc.baseline.seconds, "community_growth_ours": sc.baseline.community_growth,
                "max_growth_ours": sc.baseline.max_community_growth, "load_before": os.getloadavg()[0]}
        env = x[com.joint.env_col0: com.joint.env_col0 + len(com.joint.env_keys)] if x is not None else None
        if a.strategy == "minimal_imports":
            srow["total_import_ours"] = float(mm["uptake"].sum()) if x is not None else np.nan
        print(f"{spec.sample_id}: {len(names)} taxa, ours {ours_wall:.1f} s wall / {ours_cpu:.1f} s CPU, "
              f"community growth {sc.baseline.community_growth:.6g}", flush=True)
        ref = None
        if not a.no_micom:
            import micom

            w0, c0 = time.perf_counter(), time.process_time()
            mt = pd.DataFrame({"id": names, "file": files, "abundance": spec.abundances})
            mc = micom.Community(mt, solver="hybrid", progress=False)
            build_wall, build_cpu = time.perf_counter() - w0, time.process_time() - c0
            w1, c1 = time.perf_counter(), time.process_time()
            med = micom_medium(diet, com.joint.env_keys)
            mc.medium = {r: f for r, f in med.items() if r in mc.reactions}
            micom_max = float(mc.slim_optimize())
            try:
                if a.strategy == "pfba":
                    sol = mc.cooperative_tradeoff(fraction=a.tradeoff, fluxes=True, pfba=True)
                else:  # as micom.workflows.grow's "minimal imports"
                    from micom.media import minimal_medium as micom_minimal_medium

                    sol = mc.cooperative_tradeoff(fraction=a.tradeoff, fluxes=False, pfba=False)
                    tol = mc.solver.configuration.tolerances.feasibility
                    med = micom_minimal_medium(mc, community_growth=sol.growth_rate,
                                               min_growth=sol.members.growth_rate.drop("medium"), solution=True,
                                               atol=tol, rtol=tol)
                    srow["micom_total_import"] = float(med["medium"].sum()) if med is not None else np.nan
                err = ""
            except Exception as exc:  # noqa: BLE001 - recorded
                sol, err = None, f"{type(exc).__name__}: {exc}"
            grow_wall, grow_cpu = time.perf_counter() - w1, time.process_time() - c1
            srow.update(micom_build_wall_s=build_wall, micom_build_cpu_s=build_cpu, micom_grow_wall_s=grow_wall,
                        micom_grow_cpu_s=grow_cpu, micom_max=micom_max, micom_error=err)
            if sol is not None:
                ref = sol
                srow["community_growth_micom"] = float(sol.growth_rate)
                srow["micom_violates_bound"] = bool(float(sol.growth_rate) < a.tradeoff * micom_max * (1 - 1e-4))
            print(f"   micom build {build_wall:.1f} s / {build_cpu:.1f} s CPU, grow {grow_wall:.1f} s / "
                  f"{grow_cpu:.1f} s CPU, growth {srow.get('community_growth_micom')}, "
                  f"violates bound: {srow.get('micom_violates_bound')}", flush=True)
        for t in names:
            row = {"sample_id": spec.sample_id, "taxon": t, "ours": float(sc.baseline.growth[t])}
            if ref is not None:
                row["micom"] = float(ref.members["growth_rate"].get(t, np.nan))
            g_rows.append(row)
        if env is not None and a.strategy == "pfba":
            fva = {} if a.no_fva else unique_medium_exchanges(com, sc.baseline.growth)
            for k, key in enumerate(com.joint.env_keys):
                mid = f"EX_{key}_m"
                v = float(env[k])
                lo, hi = fva.get(key, (np.nan, np.nan))
                row = {"sample_id": spec.sample_id, "metabolite": key, "ours": v, "fva_min": lo, "fva_max": hi}
                if ref is not None and ref.fluxes is not None and mid in ref.fluxes.columns:
                    row["micom"] = float(ref.fluxes.loc["medium", mid])
                x_rows.append(row)
        s_rows.append(srow)
        pd.DataFrame(s_rows).to_csv(out / "samples.csv", index=False)  # per sample: a long run can be cut short
        pd.DataFrame(g_rows).to_csv(out / "growth.csv", index=False)
        pd.DataFrame(x_rows).to_csv(out / "medium_exchanges.csv", index=False)
    g = pd.DataFrame(g_rows)
    xs = pd.DataFrame(x_rows)
    sm = pd.DataFrame(s_rows)
    summary: dict = {"mode": a.mode, "n_samples": len(sm), "taxa": sm["n_taxa"].tolist(), "rtol": a.rtol,
                     "load_avg_end": os.getloadavg()}
    if "micom" in g:
        ok_s = sm.loc[~sm.get("micom_violates_bound", pd.Series(False, index=sm.index)).astype(bool), "sample_id"]
        g["abs_diff"] = (g["ours"] - g["micom"]).abs()
        g["within_tol"] = g["abs_diff"] <= a.rtol * g["micom"].abs() + 1e-5
        g["micom_feasible"] = g["sample_id"].isin(ok_s)
        feas = g[g["micom_feasible"]]
        summary.update(
            community_growth=sm[["sample_id", "community_growth_ours", "community_growth_micom", "max_growth_ours",
                                 "micom_max", "micom_violates_bound"]].to_dict("records"),
            taxa_within_tol=f"{int(feas['within_tol'].sum())}/{len(feas)} (samples where MICOM meets its bound)",
            taxa_within_tol_all=f"{int(g['within_tol'].sum())}/{len(g)}",
            max_abs_diff_feasible=float(feas["abs_diff"].max()) if len(feas) else None,
            ours_cpu_s_per_sample=float(sm["ours_cpu_s"].mean()),
            ours_wall_s_per_sample=float(sm["ours_wall_s"].mean()),
            micom_cpu_s_per_sample=float((sm["micom_build_cpu_s"] + sm["micom_grow_cpu_s"]).mean()),
            micom_wall_s_per_sample=float((sm["micom_build_wall_s"] + sm["micom_grow_wall_s"]).mean()),
            micom_grow_cpu_s_per_sample=float(sm["micom_grow_cpu_s"].mean()),
        )
        summary["ratio_cpu_build_grow"] = summary["micom_cpu_s_per_sample"] / summary["ours_cpu_s_per_sample"]
        summary["ratio_wall_build_grow"] = summary["micom_wall_s_per_sample"] / summary["ours_wall_s_per_sample"]
        summary["ratio_cpu_grow_only"] = summary["micom_grow_cpu_s_per_sample"] / summary["ours_cpu_s_per_sample"]
        if "micom_total_import" in sm:
            ti = sm[["sample_id", "total_import_ours", "micom_total_import"]]
            summary["total_import"] = ti.to_dict("records")
            summary["total_import_max_rel_diff"] = float(
                ((ti["total_import_ours"] - ti["micom_total_import"]).abs() / ti["micom_total_import"].abs()).max())
    if len(xs) and "micom" in xs:
        xs["unique"] = (xs["fva_max"] - xs["fva_min"]).abs() <= 1e-6 * np.maximum(1, xs["ours"].abs())
        xs["active"] = (xs["ours"].abs() > 1e-6) | (xs["micom"].abs() > 1e-6)
        u = xs[xs["unique"] & xs["active"] & xs["sample_id"].isin(ok_s)]
        u = u.assign(abs_diff=(u["ours"] - u["micom"]).abs())
        u = u.assign(agree=u["abs_diff"] <= 1e-2 * u["micom"].abs() + 1e-4)
        summary["medium_exchanges"] = {
            "active": int(xs["active"].sum()), "unique_active": int((xs["unique"] & xs["active"]).sum()),
            "compared (unique, active, MICOM feasible)": len(u), "agree (1e-2 rel + 1e-4)": int(u["agree"].sum()),
            "max_abs_diff": float(u["abs_diff"].max()) if len(u) else None}
    g.to_csv(out / "growth.csv", index=False)
    xs.to_csv(out / "medium_exchanges.csv", index=False)
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    print(json.dumps(summary, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
