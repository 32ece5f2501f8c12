"""ecGEM pairs and communities next to plain ones, in one run, and the 300-model ec all-pairs projection.

    PYTHONPATH=$PWD .venv/bin/python scripts/bench_ec_pairs.py [--n-models 10] [--kcat-dir /tmp/ec_kcats]
        [--slow-pairs 6] [--samples 3] [--taxa 6] [--out results/bench_ec_pairs]

Every figure is CPU time of this process (``time.process_time``; HiGHS runs on one thread), measured in this run:

* per model: the kcat table (the default predictor in its sequence-free mode, AGORA files carry no sequences; tables
  are cached in ``--kcat-dir``, and the prediction is re-timed on ``--time-kcats`` models), compiling the plain and
  the L4 member from SBML (no member cache), growth alone (fast and full LP);
* per pair (AGORA protocol, growth alone computed once per model): plain, ecGEM on the reduced LP (``fast=True``,
  the default) and ecGEM on the full LP (``fast=False``, the path before the reduction) on the first
  ``--slow-pairs`` pairs, with the largest growth difference and whether every label agrees;
* per community sample (MICOM cooperative trade-off at 0.5, ``--taxa`` taxa, Dirichlet abundances): plain, ecGEM
  reduced, ecGEM full; each member's community block (built once per process and model) is timed apart, per model;
* projection for all pairs of 300 models: per-model cost (kcats + L4 compile + growth alone) x 300 plus per-pair
  cost x 44,850, on 2 cores (CPU / 2: pairs are independent).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from kingems_ray.community.community import run_community
from kingems_ray.community.diets import read_diet
from kingems_ray.community.ec import agora_kcats
from kingems_ray.community.models import expand_model_paths, load_member, model_name, strip_complex_gprs
from kingems_ray.community.pairwise import run_pair, single_growth
from kingems_ray.paths import data_root

GROWTH = ["growth_a_alone", "growth_b_alone", "growth_a_paired", "growth_b_paired"]


def _cpu(f):
    c0 = time.process_time()
    out = f()
    return out, time.process_time() - c0


def _kcat_table(path: Path, predictor, kcat_dir: Path, force: bool = False) -> tuple[pd.DataFrame, float | None]:
    """The model's predicted kcat table (cached as Parquet) and the CPU seconds it took when computed now."""
    from kingems_ray.gem.io import load_model

    out = kcat_dir / f"{model_name(path)}.parquet"
    if out.exists() and not force:
        return pd.read_parquet(out), None
    c0 = time.process_time()
    model = load_model(path)
    strip_complex_gprs(model)  # as load_member does before calling a kcat callable
    table = agora_kcats(model, predictor)
    sec = time.process_time() - c0
    table.to_parquet(out)
    return table, sec


def _split_range(a, b, diet, total: float) -> tuple[float, float]:
    """Min and max growth of ``a`` over the optima of the full pair LP (sum of growths >= total - 1e-9)."""
    from kingems_ray.community.pairwise import pair_problem
    from kingems_ray.solver.highs import PersistentLP

    joint = pair_problem(a, b, diet)
    ca, cb = joint.growth_cols(0)[0][0], joint.growth_cols(1)[0][0]
    out = []
    for maximize in (False, True):
        lp = PersistentLP(joint.lp, threads=1, presolve=True)
        lp.add_row(total - 1e-9, np.inf, [ca, cb], [1.0, 1.0])
        lp.set_objective([ca], [1.0], maximize=maximize)
        r = lp.solve(need_x=False)
        out.append(r.objective if r.ok else float("nan"))
    return out[0], out[1]


def _load_avg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv=None) -> int:
    """Run the benchmark."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-models", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--diet", default="western")
    ap.add_argument("--kcat-dir", default="/tmp/ec_kcats")
    ap.add_argument("--time-kcats", type=int, default=2, help="models whose kcat prediction is re-timed")
    ap.add_argument("--slow-pairs", type=int, default=6, help="pairs also run on the full ecGEM LP")
    ap.add_argument("--samples", type=int, default=3)
    ap.add_argument("--taxa", type=int, default=6)
    ap.add_argument("--out", default="results/bench_ec_pairs")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    kdir = Path(args.kcat_dir)
    kdir.mkdir(parents=True, exist_ok=True)
    print(f"load average at start: {_load_avg()}", flush=True)
    paths = expand_model_paths([str(data_root(required=True) / "agora" / "models")])
    rng = np.random.default_rng(args.seed)
    files = [paths[i] for i in sorted(rng.choice(len(paths), size=args.n_models, replace=False))]
    diet = read_diet(args.diet)
    res: dict = {"n_models": len(files), "load_start": _load_avg()}

    # -- per model ---------------------------------------------------------------------------------------------
    from kingems_ray.kcat.build_table import load_default_predictor

    pred, t_pred_load = _cpu(lambda: load_default_predictor(device="cpu"))
    kcat_s = []
    tables = []
    for k, f in enumerate(files):
        tab, sec = _kcat_table(f, pred, kdir, force=k < args.time_kcats)
        tables.append(tab)
        if sec is not None:
            kcat_s.append(sec)
    plain, t_plain_load = _cpu(lambda: [load_member(f, cache_dir="") for f in files])
    ec, t_ec_load = _cpu(lambda: [load_member(f, cache_dir="", kcats=t, level="L4") for f, t in zip(files, tables)])
    s_plain, t_s_plain = _cpu(lambda: [single_growth(m, diet) for m in plain])
    s_ec, t_s_ec = _cpu(lambda: [single_growth(m, diet, fast=True) for m in ec])
    n = len(files)
    per_model = {
        "kcat_table_s": float(np.mean(kcat_s)) if kcat_s else float("nan"),
        "predictor_load_s": t_pred_load,
        "compile_plain_s": t_plain_load / n, "compile_ec_s": t_ec_load / n,
        "single_plain_ms": 1000 * t_s_plain / n, "single_ec_ms": 1000 * t_s_ec / n,
    }
    res["per_model"] = per_model
    print(f"per model (CPU): kcat table {per_model['kcat_table_s']:.1f} s (predictor, sequence-free, mean of "
          f"{len(kcat_s)}; predictor load {t_pred_load:.1f} s once), compile plain "
          f"{per_model['compile_plain_s']:.2f} s, "
          f"L4 {per_model['compile_ec_s']:.2f} s; growth alone plain {per_model['single_plain_ms']:.0f} ms, "
          f"ec {per_model['single_ec_ms']:.0f} ms", flush=True)
    print("ec members: " + ", ".join(f"{m.name[:24]} {m.compiled.report.get('n_enzymes', 0)} enzymes"
                                     for m in ec[:4]) + " ...", flush=True)

    # -- pairs -------------------------------------------------------------------------------------------------
    pairs = list(itertools.combinations(range(n), 2))
    rows_p, t_p = _cpu(lambda: [run_pair(plain[i], plain[j], diet, s_plain[i], s_plain[j]) for i, j in pairs])
    rows_e, t_e = _cpu(lambda: [run_pair(ec[i], ec[j], diet, s_ec[i], s_ec[j]) for i, j in pairs])
    sub = pairs[: args.slow_pairs]
    s_slow, t_s_slow = _cpu(lambda: [single_growth(m, diet, fast=False) for m in ec])
    rows_s, t_slow = _cpu(lambda: [run_pair(ec[i], ec[j], diet, s_slow[i], s_slow[j], fast=False) for i, j in sub])
    dp, de, ds = pd.DataFrame(rows_p), pd.DataFrame(rows_e), pd.DataFrame(rows_s)
    dp.to_parquet(out / "plain_pairs.parquet", index=False)
    de.to_parquet(out / "ec_pairs.parquet", index=False)
    ds.to_parquet(out / "ec_pairs_full_lp.parquet", index=False)
    head = de.iloc[: len(ds)]
    gdiff = float(np.nanmax(np.abs(head[GROWTH].to_numpy(float) - ds[GROWTH].to_numpy(float)))) if len(ds) else 0.0
    same = bool((head["interaction"].to_numpy() == ds["interaction"].to_numpy()).all())
    sdiff = float(np.nanmax(np.abs([a.growth - b.growth for a, b in zip(s_ec, s_slow)])))
    # the protocol maximises the SUM of both growths: where the optimum is degenerate the split between the two is
    # not unique, and two LPs (reduced or full) may return different optimal splits
    tot_f = head["growth_a_paired"].to_numpy(float) + head["growth_b_paired"].to_numpy(float)
    tot_s = ds["growth_a_paired"].to_numpy(float) + ds["growth_b_paired"].to_numpy(float)
    sum_diff = float(np.nanmax(np.abs(tot_f - tot_s))) if len(ds) else 0.0
    split = np.nan_to_num(np.abs(head["growth_a_paired"].to_numpy(float) - ds["growth_a_paired"].to_numpy(float)))
    differ = [k for k in range(len(ds)) if split[k] > 1e-6]
    ranges = [_split_range(ec[sub[k][0]], ec[sub[k][1]], diet, tot_s[k]) for k in differ[:3]]
    for k, (lo, hi) in zip(differ, ranges):
        print(f"  degenerate pair {ds['model_a'].iloc[k]} + {ds['model_b'].iloc[k]}: sum {tot_s[k]:.9f} both paths; "
              f"growth_a reduced {head['growth_a_paired'].iloc[k]:.6f}, full {ds['growth_a_paired'].iloc[k]:.6f}; "
              f"range of growth_a over the full LP's optima [{lo:.6f}, {hi:.6f}]", flush=True)
    ms_p, ms_e, ms_s = 1000 * t_p / len(pairs), 1000 * t_e / len(pairs), 1000 * t_slow / max(len(sub), 1)
    res["pairs"] = {"n": len(pairs), "plain_ms": ms_p, "ec_ms": ms_e, "ec_full_lp_ms": ms_s,
                    "ec_full_lp_single_ms": 1000 * t_s_slow / n, "n_full_lp": len(sub),
                    "max_growth_diff": gdiff, "max_single_diff": sdiff, "labels_equal": same,
                    "max_sum_diff": sum_diff, "n_split_differs": len(differ),
                    "split_ranges": [list(r) for r in ranges],
                    "ec_labels": de["interaction"].value_counts().to_dict()}
    print(f"pairs (CPU, growth alone once per model): plain {ms_p:.0f} ms/pair, ecGEM {ms_e:.0f} ms/pair "
          f"(ratio {ms_e / ms_p:.2f}), ecGEM full LP {ms_s:.0f} ms/pair on {len(sub)} pairs "
          f"(speed-up {ms_s / ms_e:.0f}x); reduced vs full: growth alone max diff {sdiff:.1e}, paired growth sum (the "
          f"objective) max diff {sum_diff:.1e}, split differs in {len(differ)}/{len(ds)} pairs (max {gdiff:.1e}), "
          f"labels equal {same}", flush=True)

    # -- communities -------------------------------------------------------------------------------------------
    crng = np.random.default_rng(args.seed + 1)
    samples = [(sorted(crng.choice(n, size=min(args.taxa, n), replace=False)),
                crng.dirichlet(np.ones(min(args.taxa, n)))) for _ in range(args.samples)]

    def _com(ms, reduce):
        return [run_community([ms[i] for i in idx], ab, diet, 0.5, reduce_enzymes=reduce) for idx, ab in samples]

    # members' community blocks are built once per process and model (BlockStore), like the pair blocks inside
    # "growth alone": timed here as a per-model cost, so the per-sample figures below are what each further sample
    # of a cohort costs
    from kingems_ray.community.community import community_block

    def _blocks(ms):
        return [community_block(m, reduce_enzymes=True) for m in ms]

    _, t_bp = _cpu(lambda: _blocks(plain))
    _, t_be = _cpu(lambda: _blocks(ec))
    per_model.update(community_block_plain_ms=1000 * t_bp / n, community_block_ec_ms=1000 * t_be / n)
    print(f"per model, community block once (CPU): plain {per_model['community_block_plain_ms']:.0f} ms, "
          f"ecGEM {per_model['community_block_ec_ms']:.0f} ms", flush=True)
    c_p, t_cp = _cpu(lambda: _com(plain, True))
    c_e, t_ce = _cpu(lambda: _com(ec, True))
    c_s, t_cs = _cpu(lambda: _com(ec, False))
    cdiff = max(float(np.max(np.abs(a["growth"]["growth"].to_numpy() - b["growth"]["growth"].to_numpy())))
                for a, b in zip(c_e, c_s))
    k = len(samples)
    res["communities"] = {"samples": k, "taxa": min(args.taxa, n), "plain_ms": 1000 * t_cp / k,
                          "ec_ms": 1000 * t_ce / k, "ec_full_lp_ms": 1000 * t_cs / k, "max_growth_diff": cdiff,
                          "status": [r["status"] for r in c_e]}
    cm = res["communities"]
    print(f"communities ({k} samples x {cm['taxa']} taxa, trade-off 0.5, CPU): plain {cm['plain_ms']:.0f} ms/sample, "
          f"ecGEM {cm['ec_ms']:.0f} ms/sample (ratio {cm['ec_ms'] / cm['plain_ms']:.2f}), ecGEM full LP "
          f"{cm['ec_full_lp_ms']:.0f} ms/sample (ratio {cm['ec_full_lp_ms'] / cm['plain_ms']:.2f}); reduced vs full "
          f"max growth diff {cdiff:.1e}", flush=True)

    # -- projection: all pairs of 300 models on 2 cores --------------------------------------------------------
    m300, p300 = 300, 300 * 299 // 2
    model_s = per_model["kcat_table_s"] + per_model["compile_ec_s"] + per_model["single_ec_ms"] / 1000
    proj = {}
    for name, pair_ms in (("ec", ms_e), ("ec_full_lp", ms_s), ("plain", ms_p)):
        per_m = model_s if name != "plain" else per_model["compile_plain_s"] + per_model["single_plain_ms"] / 1000
        cpu = m300 * per_m + p300 * pair_ms / 1000
        proj[name] = {"cpu_h": cpu / 3600, "wall_h_2_cores": cpu / 2 / 3600, "models_cpu_h": m300 * per_m / 3600,
                      "pairs_cpu_h": p300 * pair_ms / 1000 / 3600}
    res["projection_300"] = proj
    for name, p in proj.items():
        print(f"projection, 300 models / 44,850 pairs, {name}: {p['models_cpu_h']:.2f} CPU-h per-model + "
              f"{p['pairs_cpu_h']:.2f} CPU-h pairs = {p['wall_h_2_cores']:.2f} h on 2 cores", flush=True)
    res["load_end"] = _load_avg()
    print(f"load average at end: {res['load_end']}", flush=True)
    (out / "summary.json").write_text(json.dumps(res, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
