"""Parity with cobrapy (GLPK): full FVA of iJO1366 at 90 % and 100 %, and FBA growth on the 21 BiGG models.

Usage: .venv/bin/python scripts/check_parity.py [--skip-fva] [--skip-fba]

At fraction 1.0 a degenerate reaction can differ; for every reaction that differs by more than 1e-6 this script
re-checks which answer is right: it fixes the reaction at the other solver's value and asks HiGHS whether that point
is feasible with growth at the optimum (and reports the GLPK point's largest constraint violation).
"""

from __future__ import annotations

import argparse
import signal
import time

import cobra
import numpy as np
import pandas as pd
from cobra.flux_analysis import flux_variability_analysis

from kingems_ray.analysis.fva import flux_variability
from kingems_ray.ec.compile import compile_model
from kingems_ray.ec.problem import Problem
from kingems_ray.errors import ModelLoadError
from kingems_ray.gem.io import load_model
from kingems_ray.paths import data_root


def glpk_point_violation(model: cobra.Model, rxn: str, sense: str, fraction: float) -> dict:
    """Re-solve cobrapy's FVA sub-problem for ``rxn`` with GLPK and measure its point's violations."""
    with model:
        opt = model.slim_optimize()
        obj = next(r for r in model.reactions if r.objective_coefficient != 0)
        obj.lower_bound = fraction * opt
        model.objective = model.reactions.get_by_id(rxn)
        model.objective_direction = sense
        sol = model.optimize()
        v = sol.fluxes
        S = cobra.util.create_stoichiometric_matrix(model)
        balance = np.abs(S @ v.values).max()
        lb = np.array([r.lower_bound for r in model.reactions])
        ub = np.array([r.upper_bound for r in model.reactions])
        bound = max(np.max(lb - v.values), np.max(v.values - ub), 0.0)
        return {
            "glpk_value": float(sol.objective_value),
            "max_mass_balance_violation": float(balance),
            "max_bound_violation": float(bound),
            "growth_in_point": float(v[obj.id]),
        }


def fva_parity(fractions=(0.9, 1.0)) -> None:
    m = cobra.io.load_model("iJO1366")
    m.solver = "glpk"
    cm = compile_model(m)
    for frac in fractions:
        t0 = time.perf_counter()
        ref = flux_variability_analysis(m, fraction_of_optimum=frac, processes=1)
        t1 = time.perf_counter()
        ours = flux_variability(cm, fraction=frac).set_index("reaction_id").loc[ref.index]
        t2 = time.perf_counter()
        dmin = (ours["minimum"] - ref["minimum"]).abs()
        dmax = (ours["maximum"] - ref["maximum"]).abs()
        bad = ref.index[(dmin > 1e-6) | (dmax > 1e-6)]
        print(
            f"iJO1366 FVA fraction {frac}: {len(ref)} reactions, max |dmin| {dmin.max():.2e}, max |dmax| "
            f"{dmax.max():.2e}, {len(bad)} differ > 1e-6; cobrapy+GLPK {t1 - t0:.1f} s, ours {t2 - t1:.1f} s"
        )
        for rxn in bad:
            sense = "max" if dmax[rxn] > 1e-6 else "min"
            col = "maximum" if sense == "max" else "minimum"
            print(f"  {rxn}: ours {ours.at[rxn, col]:.9g}, GLPK {ref.at[rxn, col]:.9g} ({sense})")
            # Is the GLPK value reachable at all? Fix the reaction there and let HiGHS maximise growth.
            p = Problem(cm)
            opt = p.growth()
            with p.reactions_bounded({rxn: (ref.at[rxn, col], ref.at[rxn, col])}):
                g = p.growth()
            print(
                f"    HiGHS with {rxn} fixed at the GLPK value: max growth {g:.9g} vs required {frac * opt:.9g} "
                f"({'feasible' if g >= frac * opt - 1e-9 else 'INFEASIBLE: GLPK value not attainable'})"
            )
            with p.reactions_bounded({rxn: (ours.at[rxn, col], ours.at[rxn, col])}):
                g2 = p.growth()
            print(f"    HiGHS with {rxn} fixed at our value: max growth {g2:.9g}")
            print(f"    GLPK point re-solved: {glpk_point_violation(m, rxn, sense, frac)}")


class _Timeout(Exception):
    pass


def _alarm(signum, frame):  # noqa: ARG001
    raise _Timeout


def fba_parity(models: list[str] | None = None, compile_timeout: int = 120) -> None:
    root = data_root(required=True) / "bigg"
    rows = []
    signal.signal(signal.SIGALRM, _alarm)
    for f in sorted(root.glob("*.gz")):
        if models and f.name.split(".")[0] not in models:
            continue
        t0 = time.perf_counter()
        m = load_model(f)
        t1 = time.perf_counter()
        m.solver = "glpk"
        ref = m.slim_optimize(error_value=np.nan)
        t2 = time.perf_counter()
        try:
            signal.alarm(compile_timeout)
            cm = compile_model(m)
        except ModelLoadError as exc:  # e.g. iSynCJ816's SBML defines no objective: nothing to compare
            print(f"{f.name}: {exc} (cobrapy's slim_optimize gives {ref})", flush=True)
            continue
        except _Timeout:
            # iEK1008: FAD_* GPRs expand to 18,480 DNF clauses; parse_gpr's absorption step is quadratic in them
            print(f"{f.name}: compile took > {compile_timeout} s (GPR DNF blow-up); cobra+GLPK {ref}", flush=True)
            continue
        finally:
            signal.alarm(0)
        p = Problem(cm)
        t3 = time.perf_counter()
        ours = p.growth()
        t4 = time.perf_counter()
        rows.append(
            {
                "model": f.name.split(".")[0],
                "reactions": len(m.reactions),
                "cobra_glpk": ref,
                "ours_highs": ours,
                "abs_diff": abs(ours - ref),
                "load_s": t1 - t0,
                "glpk_s": t2 - t1,
                "compile_s": t3 - t2,
                "highs_s": t4 - t3,
            }
        )
        print(f"  {rows[-1]['model']}: cobra+GLPK {ref:.9g}, ours {ours:.9g}, |diff| {abs(ours - ref):.1e}", flush=True)
    df = pd.DataFrame(rows)
    with pd.option_context("display.width", 160, "display.float_format", "{:.6g}".format):
        print(df.to_string(index=False))
    print(
        f"max |difference| {df['abs_diff'].max():.2e} over {len(df)} models; "
        f"all within 1e-6: {bool((df['abs_diff'] <= 1e-6).all())}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--skip-fva", action="store_true")
    ap.add_argument("--skip-fba", action="store_true")
    ap.add_argument("--models", nargs="*", help="only these BiGG models (default: all 21)")
    args = ap.parse_args()
    if not args.skip_fba:
        fba_parity(args.models)
    if not args.skip_fva:
        fva_parity()


if __name__ == "__main__":
    main()
