"""Side by side with the published kinGEMs e_coli_core FVA ablation (same kcat table, pool 0.25 g/gDW, FVA at 90 %).

Usage: .venv/bin/python scripts/compare_kingems_reference.py

Columns
-------
ref_*        the reference's own fva_ablation_summary.csv (growth, median FVi over 95 combined reactions)
gecko_*      our default formulation (max kcat over substrates, isoenzymes as alternatives, per-subunit kcats);
             ``net`` = median |max - min| of net fluxes, ``refFVi`` = the reference's combined FVi computed on an
             irreversible split of the same model (fwd range + rev range)
kingems_*    our ``formulation="kingems"`` (the reference's rows, see kingems_ray/ec/compile.py), every substrate row
             kept (``aggregate="all"``), on the irreversible model, FVi as the reference computes it
Timings: one enzyme-constrained optimisation (warm re-solve after a kcat edit, and a cold build+solve), and the
whole L4 FVA at 90 % on one core, against the reference's 0.09 s and 49 s.
"""

from __future__ import annotations

import time

import cobra
import numpy as np
import pandas as pd

from kingems_ray.analysis.fva import flux_variability, variability_summary
from kingems_ray.ec.compile import compile_model
from kingems_ray.ec.irreversible import reference_variability, to_irreversible
from kingems_ray.ec.kcats import from_kingems_reference, match_to_model, validate_table
from kingems_ray.ec.problem import Problem
from kingems_ray.paths import data_root

LEVEL_NAMES = {
    "L1": "Level 1: Baseline GEM",
    "L2": "Level 2: Single Enzyme",
    "L3a": "Level 3a: + Isoenzymes",
    "L3b": "Level 3b: + Complexes",
    "L3c": "Level 3c: + Promiscuous",
    "L4": "Level 4: All Constraints",
    "tuned": "Level 5: Post-Tuned",
}


def published_table(raw: pd.DataFrame, column: str) -> pd.DataFrame:
    """The reference table as the reference used it, negative tuned kcats included (no validation)."""
    t = from_kingems_reference(raw.assign(**{column: raw[column].where(raw[column] != 0)}), column=column)
    if column == "kcat_updated":  # put back the rows our adapter drops (non-positive tuned kcats)
        keep = raw[raw[column].notna() & raw["Single_gene"].notna() & (raw[column] <= 0)]
        extra = from_kingems_reference(keep.assign(**{column: keep[column].abs()}), column=column)
        extra["kcat"] = keep[column].to_numpy()
        t = pd.concat([t, extra], ignore_index=True)
    rev = t["reaction_id"].str.endswith("_reverse")
    t.loc[rev, "direction"] = "reverse"
    t.loc[rev, "reaction_id"] = t.loc[rev, "reaction_id"].str[: -len("_reverse")]
    return t


def main() -> None:
    d = data_root(required=True) / "kingems" / "e_coli_core_fva_ablation"
    raw = pd.read_csv(d / "tuned_data.csv")
    ref = pd.read_csv(d / "fva_ablation_summary.csv").set_index("Level")
    model = cobra.io.load_model("textbook")
    pool = 0.25
    rows = []
    timings = {}
    for key in ["L1", "L2", "L3a", "L3b", "L3c", "L4", "tuned"]:
        level = "L4" if key == "tuned" else key
        column = "kcat_updated" if key == "tuned" else "kcat_mean"
        gtab, rep = match_to_model(validate_table(from_kingems_reference(raw, column=column)), model, aggregate="max")
        cm = compile_model(model, gtab, level=level, pool=pool)
        t0 = time.perf_counter()
        f = flux_variability(cm, fraction=0.9)
        t_fva = time.perf_counter() - t0
        irr, itab = to_irreversible(model, gtab)
        fi = flux_variability(compile_model(irr, itab, level=level, pool=pool), fraction=0.9)
        ktab, _ = match_to_model(published_table(raw, column), model, aggregate="all")
        irr_k, itab_k = to_irreversible(model, ktab)
        fk = flux_variability(compile_model(irr_k, itab_k, level=level, pool=pool, formulation="kingems"), fraction=0.9)
        r = ref.loc[LEVEL_NAMES[key]]
        rows.append(
            {
                "level": key,
                "ref_growth": r["Biomass (1/hr)"],
                "ref_medFVi": r["Median FVi"],
                "gecko_growth": f.attrs["growth"],
                "gecko_net": variability_summary(f)["median_variability"],
                "gecko_refFVi": reference_variability(fi).median(),
                "kingems_growth": fk.attrs["growth"],
                "kingems_refFVi": reference_variability(fk).median(),
            }
        )
        if key == "L4":
            timings["fva_L4_1core_s"] = t_fva
            timings["fva_L4_lps"] = f.attrs["n_solves"]
            # one enzyme-constrained optimisation as annealing does it: edit one kcat, re-solve warm
            p = Problem(cm)
            p.growth()
            k0 = p.kcats
            n = 200
            rng = np.random.default_rng(0)
            t0 = time.perf_counter()
            for _ in range(n):
                j = int(rng.integers(len(k0)))
                p.set_kcat(j, k0[j] * float(rng.uniform(0.5, 2.0)))
                p.growth()
                p.set_kcat(j, k0[j])
            timings["warm_optimisation_s"] = (time.perf_counter() - t0) / n
            t0 = time.perf_counter()
            for _ in range(5):
                Problem(compile_model(model, gtab, level="L4", pool=pool)).growth()
            timings["cold_compile_and_solve_s"] = (time.perf_counter() - t0) / 5
            timings["kcat_report"] = rep.summary()
    df = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.float_format", "{:.6g}".format):
        print(df.to_string(index=False))
    print()
    print(f"kcat report (L4, kcat_mean): {timings['kcat_report']}")
    print(
        f"one ecFBA after a kcat edit (warm): {timings['warm_optimisation_s'] * 1e3:.2f} ms "
        f"(reference 90 ms: x{0.09 / timings['warm_optimisation_s']:.0f}); "
        f"cold compile + solve: {timings['cold_compile_and_solve_s'] * 1e3:.1f} ms"
    )
    print(
        f"L4 FVA at 90 %, 1 core: {timings['fva_L4_1core_s']:.3f} s, {timings['fva_L4_lps']} LPs "
        f"(reference 49 s: x{49 / timings['fva_L4_1core_s']:.0f})"
    )


if __name__ == "__main__":
    main()
