"""Growth rates of this engine vs MICOM 0.39 on AGORA communities (cooperative trade-off, same medium).

    .venv/bin/python scripts/micom_agreement.py [--out results/micom_agreement.parquet]

Both engines get the same medium (MICOM's western diet table, ids resolved to the taxa's exchanges). MICOM
runs with optlang's "hybrid" solver (HiGHS for LPs, OSQP for the QP): the only QP-capable solver
installed here (no CPLEX / Gurobi). Prints per-taxon growth rates, max relative and absolute differences.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import pandas as pd

from kingems_ray.community.community import Community
from kingems_ray.community.diets import micom_medium, read_diet
from kingems_ray.community.models import load_member
from kingems_ray.paths import data_root

COMMUNITIES = {
    "c3": (["Abiotrophia_defectiva_ATCC_49176", "Acetivibrio_ethanolgignens_ACET_33324",
            "Acidaminobacter_hydrogenoformans_DSM_2784"], [0.5, 0.3, 0.2]),
    "c4": (["Akkermansia_muciniphila_ATCC_BAA_835", "Alistipes_putredinis_DSM_17216",
            "Acidaminococcus_intestini_RyC_MR95", "Adlercreutzia_muris_DSM_29508"], [0.4, 0.3, 0.2, 0.1]),
    "c5": (["Acetanaerobacterium_elongatum_CGMCC_1_5012", "Aerococcus_christensenii_CCUG28831",
            "Alistipes_sp_HGB5", "Allobaculum_stercoricanis_DSM_13633", "Acutalibacter_muris_KB18"],
           [0.3, 0.25, 0.2, 0.15, 0.1]),
}


def main(argv=None) -> int:
    """Run the comparison."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="results/micom_agreement.parquet")
    ap.add_argument("--tradeoff", type=float, default=0.5)
    ap.add_argument("--only", nargs="*", default=None)
    args = ap.parse_args(argv)
    import micom

    warnings.filterwarnings("ignore")
    mdir = data_root(required=True) / "agora" / "models"
    diet = read_diet("micom_western")
    rows = []
    for name, (taxa, ab) in COMMUNITIES.items():
        if args.only and name not in args.only:
            continue
        files = [mdir / f"{t}.xml.gz" for t in taxa]
        t0 = time.perf_counter()
        members = [load_member(f) for f in files]
        com = Community(members, ab, diet)
        res = com.cooperative_tradeoff(args.tradeoff)
        t_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        tax = pd.DataFrame({"id": taxa, "file": [str(f) for f in files], "abundance": ab})
        mc = micom.Community(tax, solver="hybrid", progress=False)
        # same medium on both sides: MICOM's own table uses AGORA1 ids (EX_glc_m) that AGORA2 taxa do not have
        medium = micom_medium(diet, com.joint.env_keys)
        mc.medium = {r: f for r, f in medium.items() if r in mc.reactions}
        micom_max = float(mc.slim_optimize())
        sol = mc.cooperative_tradeoff(fraction=args.tradeoff)
        t_micom = time.perf_counter() - t0
        ref = sol.members["growth_rate"].drop("medium", errors="ignore")
        for t in taxa:
            rows.append({"community": name, "taxon": t, "ours": float(res.growth[t]), "micom": float(ref[t]),
                         "ours_s": t_ours, "micom_s": t_micom, "community_growth_ours": res.community_growth,
                         "community_growth_micom": float(sol.growth_rate), "max_growth_ours": res.max_community_growth,
                         "max_growth_micom": micom_max,
                         "micom_violates_bound": float(sol.growth_rate) < args.tradeoff * micom_max * (1 - 1e-4)})
        print(f"{name}: ours {t_ours:.2f} s, micom {t_micom:.1f} s; max community growth (LP) "
              f"{res.max_community_growth:.10g} vs {micom_max:.10g}; trade-off community growth "
              f"{res.community_growth:.6g} vs {sol.growth_rate:.6g} (bound {args.tradeoff * micom_max:.6g})",
              flush=True)
    df = pd.DataFrame(rows)
    df["abs_diff"] = (df["ours"] - df["micom"]).abs()
    df["rel_diff"] = df["abs_diff"] / df["micom"].abs().clip(lower=1e-12)
    df.to_parquet(args.out, index=False)
    print(df[["community", "taxon", "ours", "micom", "abs_diff"]].to_string(index=False))
    print(f"max abs diff {df['abs_diff'].max():.3g}; max rel diff (growth > 1e-3) "
          f"{df.loc[df['micom'] > 1e-3, 'rel_diff'].max():.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
