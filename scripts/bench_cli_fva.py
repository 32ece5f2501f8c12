#!/usr/bin/env python
"""FVA as a user runs it, start-up included: ``kingems-ray fva MODEL`` against cobrapy + GLPK, in one run.

Each side is a fresh Python process that imports what it needs, loads the model and runs FVA at 90 % of optimal
growth on every reaction, writing nothing but the result:

* ``cobrapy``: ``cobra.flux_analysis.flux_variability_analysis(model, fraction_of_optimum=0.9)`` with GLPK
  (``swiglpk``, in the dev extras), one process;
* ``cli cold``: ``kingems-ray fva MODEL --out ...`` with an empty compiled-model cache (parses the SBML, compiles);
* ``cli warm``: the same command again (the compiled model comes from the cache: no SBML parse, no cobra import).

Usage::

    .venv/bin/python scripts/bench_cli_fva.py [--model iJO1366] [--repeats 1]

Prints the wall time of each (best of ``--repeats``), the ratios cobrapy / cli, the machine load, and the largest
difference between the two FVA tables (parity).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COBRA_FVA = """
import sys, time
t0 = time.perf_counter()
import cobra
from cobra.flux_analysis import flux_variability_analysis
m = cobra.io.load_model(sys.argv[1]) if not sys.argv[1].endswith(('.xml', '.gz', '.json')) else (
    cobra.io.load_json_model(sys.argv[1]) if sys.argv[1].endswith('.json') else cobra.io.read_sbml_model(sys.argv[1]))
m.solver = 'glpk'
df = flux_variability_analysis(m, fraction_of_optimum=0.9, processes=1)
df.to_parquet(sys.argv[2])
print(f"cobrapy: {len(df)} reactions in {time.perf_counter() - t0:.2f} s (in-process)")
"""


def _timed(cmd: list[str], env: dict) -> tuple[float, str]:
    t = time.perf_counter()
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t
    if res.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{res.stdout}\n{res.stderr}")
    return dt, (res.stdout + res.stderr).strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="iJO1366")
    ap.add_argument("--repeats", type=int, default=1, help="runs of each side; the best is reported")
    args = ap.parse_args()

    import pandas as pd

    tmp = Path(tempfile.mkdtemp(prefix="bench_cli_fva_"))
    env = dict(os.environ, KINGEMS_CACHE=str(tmp / "cache"), PYTHONUNBUFFERED="1")
    cli = [sys.executable, "-m", "kingems_ray.cli", "fva", args.model, "--fraction", "0.9"]
    print(f"model {args.model}; {os.cpu_count()} cores; load before: {os.getloadavg()[0]:.2f}")
    times: dict[str, float] = {}
    for _ in range(args.repeats):
        for name, cmd in (
            ("cobrapy", [sys.executable, "-c", COBRA_FVA, args.model, str(tmp / "cobra.parquet")]),
            ("cli cold", None),
            ("cli warm", cli + ["--out", str(tmp / "cli.parquet")]),
        ):
            if name == "cli cold":
                import shutil

                shutil.rmtree(tmp / "cache", ignore_errors=True)
                cmd = cli + ["--out", str(tmp / "cli.parquet")]
            dt, text = _timed(cmd, env)
            times[name] = min(times.get(name, float("inf")), dt)
            print(f"  {name:9s} {dt:7.2f} s   | {text.splitlines()[-1] if text else ''}")
    a = pd.read_parquet(tmp / "cobra.parquet")
    b = pd.read_parquet(tmp / "cli.parquet").set_index("reaction_id")
    common = a.index.intersection(b.index)
    diff = max((a.loc[common, "minimum"] - b.loc[common, "minimum"]).abs().max(),
               (a.loc[common, "maximum"] - b.loc[common, "maximum"]).abs().max())
    print(f"cobrapy + GLPK  {times['cobrapy']:.2f} s")
    print(f"kingems-ray fva {times['cli cold']:.2f} s cold (parse + compile), {times['cli warm']:.2f} s warm "
          f"(compiled-model cache)")
    print(f"ratio cobrapy / kingems-ray: {times['cobrapy'] / times['cli cold']:.1f}x cold, "
          f"{times['cobrapy'] / times['cli warm']:.1f}x warm; max |difference| {diff:.2e} over {len(common)} "
          f"reactions; load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
