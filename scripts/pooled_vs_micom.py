"""Pooled genus models of this engine against MICOM's ``build_database`` on the same AGORA files, in one run.

    python scripts/pooled_vs_micom.py --genus Akkermansia Blautia

For each genus, every shared AGORA model of that genus (``ModelDB`` manifest) is pooled twice: by
:func:`kingems_ray.community.taxonomy.build_pooled` and by ``micom.workflows.build_database(manifest, dir,
rank="genus")`` (which joins them with ``micom.util.join_models``). Compared: the reaction ids (MICOM's combined
biomass left out on both sides), the bounds of every common reaction, and the maximal growth of the pooled model
with its own bounds (our persistent HiGHS LP against cobra's ``slim_optimize`` of MICOM's JSON). Prints CPU seconds
of both builds.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from kingems_ray.community.taxonomy import ModelDB, build_pooled
from kingems_ray.ec.problem import Problem
from kingems_ray.paths import data_root

COMBINED = "micom_combined_biomass"


def compare(genus: str, db: ModelDB, out: Path) -> dict:
    """Pool one genus both ways and compare; returns the figures."""
    import cobra
    from micom.workflows import build_database

    man = db.manifest[db.manifest["genus"] == genus].copy()
    if len(man) < 2:
        raise SystemExit(f"genus {genus!r} has {len(man)} model(s) in the shared data: nothing to pool")
    files = [str(f) for f in man["file"]]
    c0 = time.process_time()
    ours = build_pooled(files, genus)
    ours_s = time.process_time() - c0
    c0 = time.process_time()
    mm = man[["file", "id", "genus", "species", "strain"]].fillna("")
    for rank in ("kingdom", "phylum", "class", "order", "family"):  # MICOM requires them; unused at genus rank
        mm[rank] = ""
    build_database(mm, str(out), rank="genus", progress=False)
    micom_s = time.process_time() - c0
    ref = cobra.io.load_json_model(str(out / f"{genus}.json"))
    ref_ids = {r.id for r in ref.reactions if not r.id.startswith(COMBINED)}
    our_ids = set(ours.rxn_ids) - {COMBINED}
    common = sorted(ref_ids & our_ids)
    pos = {r: i for i, r in enumerate(ours.rxn_ids)}
    lb = np.array([ref.reactions.get_by_id(r).lower_bound for r in common])
    ub = np.array([ref.reactions.get_by_id(r).upper_bound for r in common])
    idx = np.array([pos[r] for r in common])
    ours_lb, ours_ub = np.asarray(ours.rxn_lb, float)[idx], np.asarray(ours.rxn_ub, float)[idx]
    bound_diff = int(np.sum((np.abs(ours_lb - lb) > 1e-9) | (np.abs(ours_ub - ub) > 1e-9)))
    g_ours = Problem(ours).optimize(need_x=False).objective
    g_ref = ref.slim_optimize()
    return {"genus": genus, "models": len(files), "reactions_ours": len(our_ids), "reactions_micom": len(ref_ids),
            "only_ours": len(our_ids - ref_ids), "only_micom": len(ref_ids - our_ids),
            "bounds_differ": bound_diff, "growth_ours": float(g_ours), "growth_micom": float(g_ref),
            "ours_cpu_s": ours_s, "micom_cpu_s": micom_s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--genus", nargs="+", default=["Akkermansia"])
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    db = ModelDB.open(data_root(required=True) / "agora" / "models")
    with tempfile.TemporaryDirectory() as tmp:
        for g in args.genus:
            r = compare(g, db, Path(tmp) / g)
            print(f"{r['genus']} ({r['models']} models): reactions ours {r['reactions_ours']}, MICOM "
                  f"{r['reactions_micom']} (only ours {r['only_ours']}, only MICOM {r['only_micom']}); bounds differ "
                  f"on {r['bounds_differ']} common reactions; max growth ours {r['growth_ours']:.9g}, MICOM "
                  f"{r['growth_micom']:.9g}; CPU ours {r['ours_cpu_s']:.1f} s, MICOM build_database "
                  f"{r['micom_cpu_s']:.1f} s", flush=True)


if __name__ == "__main__":
    main()
