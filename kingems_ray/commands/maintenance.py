"""``kingems-ray maintenance``: NGAM x GAM sweep of growth (in-place bound and coefficient edits)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..ec.options import add_model_arguments
from ..errors import KingemsError

HELP = "maintenance-energy sweep: growth over an NGAM (ATPM bound) x GAM (biomass ATP) grid -> Parquet"


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``maintenance``."""
    add_model_arguments(p)
    p.add_argument("--ngam", type=_floats, help="NGAM values, comma-separated (ATPM lower bound, mmol/gDW/h)")
    p.add_argument("--gam", type=_floats, help="GAM values, comma-separated (mmol ATP/gDW)")
    p.add_argument("--config", help="kinGEMs run config (JSON) whose maintenance_sweep block gives the ranges")
    p.add_argument("--ngam-reaction", help="ATP maintenance reaction (default ATPM or the config's ngam_rxn_id)")
    p.add_argument("--biomass", help="biomass reaction (default: the objective)")
    p.add_argument("--basis", default="atp", choices=["atp", "adp"],
                   help="GAM read from the biomass ATP (default, iML1515 75.55) or ADP coefficient")
    p.add_argument("--target-growth", type=float, help="report the grid point closest to this growth [1/h]")
    p.add_argument("--out", required=True, help="output Parquet file (ngam, gam, growth, status)")


def run(args: argparse.Namespace) -> int:
    """Run ``maintenance``."""
    from ..analysis.maintenance import closest_point, maintenance_sweep, read_sweep_config

    ngam, gam, rxn = args.ngam, args.gam, args.ngam_reaction
    if args.config:
        from ..config_schema import check_json_block, read_json_config

        cfg = read_json_config(args.config)
        check_json_block(cfg, "maintenance_sweep", args.config)  # typos, types and ranges are errors
        c_ngam, c_gam, c_rxn = read_sweep_config(cfg)
        ngam, gam, rxn = ngam or c_ngam, gam or c_gam, rxn or c_rxn
    if not ngam or not gam:
        raise KingemsError("give --ngam and --gam (comma-separated) or a --config with a maintenance_sweep block")
    t0 = time.perf_counter()
    from ..ec.spec import EcSpec

    b = EcSpec.from_args(args).build(args.model)
    if b.kcat_report is not None:
        print(b.kcat_report.summary(), file=sys.stderr)
    t1 = time.perf_counter()
    grid = maintenance_sweep(b.compiled, ngam, gam, ngam_reaction=rxn or "ATPM", biomass=args.biomass,
                             basis=args.basis)
    t2 = time.perf_counter()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    grid.assign(level=b.compiled.level).to_parquet(out, index=False)
    table = grid.pivot(index="ngam", columns="gam", values="growth")
    print(f"growth [1/h], level {b.compiled.level}; rows NGAM, columns GAM (model: NGAM {grid.attrs['base_ngam']:g}, "
          f"GAM {grid.attrs['base_gam']:g})")
    print(table.to_string(float_format=lambda v: f"{v:.4f}"))
    if args.target_growth is not None:
        best = closest_point(grid, args.target_growth)
        print(f"closest to {args.target_growth:g}: NGAM {best['ngam']:g}, GAM {best['gam']:g} -> {best['growth']:.4f}")
    print(f"{len(grid)} points in {t2 - t1:.2f} s (build {t1 - t0:.2f} s) -> {out}")
    return 0
