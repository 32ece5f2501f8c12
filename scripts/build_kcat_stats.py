"""Build the small derived tables shipped in ``kingems_ray/data/kcat_stats/`` from the reference data.

* ``reaction_ec_xref.tsv.gz``: BiGG reaction id / MetaNetX reaction id -> EC numbers, from the ``ec-code`` /
  ``brenda`` annotations of the BiGG models in ``<data>/bigg`` (see :mod:`kingems_ray.kcat.ec_annotations`).
* ``ec_mw_stats.tsv``: median enzyme MW per EC prefix from the labelled kcat sets' (EC, sequence) pairs
  (see :mod:`kingems_ray.kcat.mw_stats`).

Usage::

    python scripts/build_kcat_stats.py [--out kingems_ray/data/kcat_stats]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from kingems_ray.gem.io import load_model
from kingems_ray.kcat.ec_annotations import build_xref_table, write_xref_table
from kingems_ray.kcat.mw_stats import labelled_sequences, stats_rows, write_stats
from kingems_ray.paths import data_root, package_data


def main(argv: list[str] | None = None) -> int:
    """Build both tables; returns the exit status."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(package_data("kcat_stats")))
    ap.add_argument("--skip-xref", action="store_true")
    ap.add_argument("--skip-mw", action="store_true")
    args = ap.parse_args(argv)
    root = data_root(required=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.skip_xref:
        t = time.perf_counter()
        files = sorted((root / "bigg").glob("*.xml.gz")) + sorted((root / "bigg").glob("*.json.gz"))

        def models():
            for f in files:
                print(f"  {f.name}", flush=True)
                yield load_model(f)

        rows = build_xref_table(models())
        write_xref_table(rows, out / "reaction_ec_xref.tsv.gz")
        n_bigg = sum(r[0] == "bigg" for r in rows)
        print(f"reaction_ec_xref: {n_bigg} BiGG ids, {len(rows) - n_bigg} MetaNetX ids from {len(files)} models "
              f"({time.perf_counter() - t:.0f} s)")
    if not args.skip_mw:
        t = time.perf_counter()
        pairs = labelled_sequences(root / "kcat")
        rows = stats_rows(pairs)
        write_stats(rows, out / "ec_mw_stats.tsv")
        print(f"ec_mw_stats: {len(pairs)} (EC, sequence) pairs, {len(rows) - 1} EC prefixes, global median "
              f"{rows[0][2]:.0f} g/mol ({time.perf_counter() - t:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
