"""Grade every bad-input probe of ``tests/bad_input_probes.py``: clear / status / silent / unclear / traceback.

    PYTHONPATH=$PWD python scripts/grade_probes.py [--only SUBSTRING] [--show]
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bad_input_probes import PROBES, make_fixtures, run_probe, unmount_all  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="")
    ap.add_argument("--skip", default=None, help="skip probes whose id contains this")
    ap.add_argument("--show", action="store_true", help="print stderr of every probe")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        fx = make_fixtures(Path(d))
        counts: collections.Counter = collections.Counter()
        try:
            for p in PROBES:
                if a.only not in p.id or (a.skip and a.skip in p.id):
                    continue
                t = time.perf_counter()
                o = run_probe(p, fx)
                counts[o.grade] += 1
                last = (o.exc or o.stderr).strip().splitlines()[-1:] or [""]
                print(f"{o.grade:9s} rc={o.rc!s:4s} {time.perf_counter() - t:5.1f}s {p.id:38s} "
                      f"{'PARTIAL ' if o.partial else ''}{last[0][:150]}", flush=True)
                if a.show:
                    print("    " + (o.exc or o.stderr).replace("\n", "\n    "))
        finally:
            unmount_all(fx)
    print(f"{sum(counts.values())} probes: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
