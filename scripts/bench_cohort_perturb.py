"""Per-perturbation cost of a cohort screen: this checkout against a baseline revision, in the same run.

    python scripts/bench_cohort_perturb.py --sizes 20 40 --per-sample 8 --baseline-rev 23fbd0e

For each requested community size the first sample of ``configs/cohort_agora_200.csv.gz`` with the nearest number of
matched taxa is built (Western diet, trade-off 0.5, production of but/ppa/ac/h2s) and a deterministic subset of the
``configs/cohort_screen.yaml`` perturbations is run on it (``--per-sample``: taxon removals, then supplements, then
the probiotic), one after another on the built sample, as a sweep unit does. Each revision runs in its own child
process (the baseline from ``git archive`` of ``--baseline-rev``); members are loaded before timing. Prints CPU
seconds of the baseline trade-off and of every perturbation, the ratio baseline/now, and the largest difference in
community growth between the two (the optimum is unique, so they must agree).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
METABOLITES = ["but", "ppa", "ac", "h2s"]
SUPPLEMENTS = [{"label": "inulin", "add": {"inulin": 0.05}}, {"label": "pectin", "add": {"pect": 0.05}},
               {"label": "arabinoxylan", "add": {"arabinoxyl": 0.05}},
               {"label": "resistant_starch", "add": {"starch1200": 0.05}},
               {"label": "fibre_mix", "add": {"inulin": 0.02, "pect": 0.02, "arabinoxyl": 0.02,
                                              "starch1200": 0.02}}]
PROBIOTIC = "Bifidobacterium_longum_NCC2705.xml.gz"


def _pick(n_per: int, taxa: list[str], models: Path) -> list[dict]:
    removes = [{"kind": "remove_taxon", "taxon": t} for t in taxa]
    sups = [{"kind": "supplement", **s} for s in SUPPLEMENTS]
    pro = [{"kind": "probiotic", "taxon": str(models / PROBIOTIC), "abundance": 0.1}]
    n_rm = max(1, n_per // 2)
    n_sup = max(0, n_per - n_rm - 1)
    return removes[:n_rm] + sups[:n_sup] + pro


def child(args: argparse.Namespace) -> None:
    """Run in the revision's source tree: one JSON line per sample and perturbation on stdout."""
    import warnings

    warnings.filterwarnings("ignore")
    import pandas as pd

    import kingems_ray
    from kingems_ray.community.cohort import MemberLibrary, build_sample, perturb_sample
    from kingems_ray.community.diets import read_diet
    from kingems_ray.community.taxonomy import ModelDB, match_taxonomy, read_taxonomy
    from kingems_ray.paths import data_root

    print(f"code from {Path(kingems_ray.__file__).parent}", file=sys.stderr, flush=True)
    models = data_root(required=True) / "agora" / "models"
    tax = pd.read_csv(ROOT / "configs" / "cohort_agora_200.csv.gz")
    samples, _ = match_taxonomy(read_taxonomy(tax, rank="strain"), ModelDB.open(models), rank="strain",
                                cutoff=1e-4)
    lib = MemberLibrary()
    diet = read_diet("western")
    for sid in args.sample_ids:
        spec = next(s for s in samples if s.sample_id == sid)
        for t in spec.taxa:
            lib.get(t)
        c0 = time.process_time()
        sc = build_sample(spec, lib, diet, 0.5, METABOLITES)
        print(json.dumps({"sample": sid, "taxa": len(spec.taxa), "what": "baseline",
                          "cpu": time.process_time() - c0, "status": sc.baseline.status,
                          "community_growth": sc.baseline.community_growth}), flush=True)
        for p in _pick(args.per_sample, [t.name for t in spec.taxa], models):
            c0 = time.process_time()
            g, _ = perturb_sample(sc, [p], lib, METABOLITES)
            print(json.dumps({"sample": sid, "taxa": len(spec.taxa), "what": p["kind"],
                              "cpu": time.process_time() - c0, "status": str(g["status"].iloc[0]),
                              "community_growth": float(g["community_growth"].iloc[0])}), flush=True)


def _samples_for(sizes: list[int]) -> list[str]:
    import pandas as pd

    tax = pd.read_csv(ROOT / "configs" / "cohort_agora_200.csv.gz")
    tax = tax[tax["abundance"] >= 1e-4]
    n = tax.groupby("sample_id").size()
    out = []
    for k in sizes:
        out.append(str((n - k).abs().sort_values(kind="stable").index[0]))
    return out


def _run(src: Path, sids: list[str], per: int) -> list[dict]:
    sys.path.insert(0, str(ROOT))
    from kingems_ray.paths import data_root

    # the baseline's tree sits in a temporary folder: tell it where the data is
    env = dict(os.environ, PYTHONPATH=str(src), KINGEMS_DATA=str(data_root(required=True)))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--per-sample", str(per), "--sample-ids", *sids]
    out = []
    with subprocess.Popen(cmd, env=env, cwd=src, stdout=subprocess.PIPE, text=True) as p:
        for line in p.stdout:
            if line.startswith("{"):
                r = json.loads(line)
                out.append(r)
                print(f"  [{src.name}] {r['sample']} ({r['taxa']} taxa) {r['what']}: {r['cpu']:.2f} s CPU, "
                      f"{r['status']}, community growth {r['community_growth']:.6f}", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[20], help="community sizes (matched taxa)")
    ap.add_argument("--sample-ids", nargs="+", help="samples to run (instead of --sizes)")
    ap.add_argument("--per-sample", type=int, default=8, help="perturbations per sample")
    ap.add_argument("--baseline-rev", default=None, help="git revision to compare against (default: none)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    sids = args.sample_ids or _samples_for(args.sizes)
    print(f"samples {sids}; load {os.getloadavg()[0]:.1f}", flush=True)
    runs: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.baseline_rev:
            base = Path(tmp) / f"rev-{args.baseline_rev}"
            base.mkdir()
            arch = Path(tmp) / "src.tar"
            subprocess.run(["git", "-C", str(ROOT), "archive", "-o", str(arch), args.baseline_rev], check=True)
            with tarfile.open(arch) as t:
                t.extractall(base, filter="data")
            print(f"baseline {args.baseline_rev}:", flush=True)
            runs["baseline"] = _run(base, sids, args.per_sample)
        print("this checkout:", flush=True)
        runs["now"] = _run(ROOT, sids, args.per_sample)
    print(f"load after {os.getloadavg()[0]:.1f}")
    now = runs["now"]
    for sid in sids:
        rows = [r for r in now if r["sample"] == sid]
        pert = [r["cpu"] for r in rows if r["what"] != "baseline"]
        line = (f"{sid} ({rows[0]['taxa']} taxa): baseline trade-off {rows[0]['cpu']:.1f} s CPU, "
                f"per perturbation mean {sum(pert) / max(len(pert), 1):.2f} s (n {len(pert)})")
        if "baseline" in runs:
            old = [r for r in runs["baseline"] if r["sample"] == sid]
            opert = [r["cpu"] for r in old if r["what"] != "baseline"]
            if len(old) != len(rows):
                print(f"{sid}: the baseline run gave {len(old)} records, this checkout {len(rows)}")
                continue
            dg = max(abs(a["community_growth"] - b["community_growth"]) / max(abs(b["community_growth"]), 1e-12)
                     for a, b in zip(rows, old))
            line += (f"; {args.baseline_rev}: {old[0]['cpu']:.1f} s and {sum(opert) / max(len(opert), 1):.2f} s "
                     f"-> {sum(opert) / max(sum(pert), 1e-9):.1f}x less CPU per perturbation; "
                     f"max rel. difference in community growth {dg:.1e}")
        print(line)


if __name__ == "__main__":
    main()
