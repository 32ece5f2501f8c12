"""``kingems-ray sweep CONFIG --out DIR``: run a sweep from a YAML config on Ray, resumable by default."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

HELP = "run a sweep (models x analyses) from a YAML config on Ray; rerun to resume"

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``kingems-ray sweep``."""
    parser.add_argument("config", help="sweep config (YAML, see configs/)")
    parser.add_argument("--out", required=True, help="output folder (Parquet dataset + manifest); reused to resume")
    parser.add_argument("--models", default=None,
                        help="without a '/': only the config's models whose file name matches this glob / substring "
                        "('Bacteroides*'); with a '/': a path glob whose files replace the config's models "
                        "('my_models/*.xml')")
    parser.add_argument("--address", default=None,
                        help="Ray cluster address (default: $RAY_ADDRESS, else a local Ray started here)")
    parser.add_argument("--workers", type=int, default=None, help="solver actors (default: one per cluster CPU)")
    parser.add_argument("--cache-dir", default=None, help="compiled-model cache (default: $KINGEMS_CACHE or ~/.cache)")
    parser.add_argument("--retries", type=int, default=None, help="extra attempts of a failing unit (default 2)")
    parser.add_argument("--unit-timeout", type=float, default=None,
                        help="seconds before a unit is recorded as failed and its worker replaced (default 900)")
    parser.add_argument("--retry-failed", action="store_true", help="also re-run units recorded as failed")
    parser.add_argument("--serial", action="store_true", help="run in this process without Ray (debugging)")
    parser.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray (default: all)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Plan the units, skip the finished ones, run the rest, print a summary."""
    from ..distributed.cohort_units import is_cohort_config
    from ..distributed.config import load_config, plan_units
    from ..store.lock import WriterLock
    from ..store.results import ResultStore

    if is_cohort_config(args.config):  # a cohort: one unit per sample (chunk), see distributed.cohort_units
        return _run_cohort(args)
    cfg = load_config(args.config, args.models)
    units = plan_units(cfg)
    out = Path(args.out)
    store = ResultStore(out)
    # One writer per folder: a second sweep into OUT stops here, naming the holder (exit 2).
    with WriterLock(out, "sweep") as lock:
        if lock.took_over:
            print(f"took over a stale lock of pid {lock.took_over.get('pid')} (not running)", file=sys.stderr)
        moved = store.quarantine_damaged()
        if moved:
            print(f"{len(moved)} damaged unit file(s) moved to {out / '_quarantine'}; their units run again",
                  file=sys.stderr)
        return _run_locked(args, cfg, units, out, store)


def _run_locked(args: argparse.Namespace, cfg, units, out: Path, store) -> int:
    import yaml

    from ..distributed.scheduler import run_units
    from ..store.cache import atomic_write_bytes

    atomic_write_bytes(out / "_config.yaml", yaml.safe_dump(
        {"source": str(cfg.path), "name": cfg.name, "models": cfg.models, "analyses": cfg.analyses,
         "medium": cfg.medium, "ec": cfg.ec, "run": cfg.run, "predictor": cfg.predictor}, sort_keys=False).encode())
    store.write_units(units)
    run_cfg = cfg.run
    retries = args.retries if args.retries is not None else int(run_cfg.get("retries", 2))
    cache_dir = args.cache_dir or run_cfg.get("cache_dir")
    print(f"sweep {cfg.name}: {len(cfg.models)} models x {len(cfg.analyses)} analyses = {len(units)} units -> {out}",
          file=sys.stderr)
    common = dict(retries=retries, retry_failed=args.retry_failed, progress=not args.no_progress,
                  cache_dir=cache_dir, max_in_flight_per_worker=int(run_cfg.get("max_in_flight_per_worker", 2)),
                  desc=cfg.name)
    unit_timeout = args.unit_timeout if args.unit_timeout is not None else run_cfg.get("unit_timeout", 900)
    if args.serial:
        stats = run_units(units, store, backend="serial", **common)
    else:
        from ..distributed.actors import default_num_solvers, new_solver_actor
        from ..distributed.cluster import connect

        info = connect(args.address, num_cpus=args.num_cpus)
        predictor_actors = None
        reserved = 0.0
        if cfg.needs_predictor() and int(cfg.predictor.get("actors", 1)) > 0:
            from ..kcat.actor import start_actors

            n_pred = int(cfg.predictor.get("actors", 1))
            predictor_actors = start_actors(n_pred, num_cpus_per_actor=float(cfg.predictor.get("num_cpus", 1.0)))
            reserved = n_pred * float(cfg.predictor.get("num_cpus", 1.0))
        n = args.workers or run_cfg.get("workers") or default_num_solvers(reserved)
        print(f"ray: {'local' if info['local'] else 'cluster'}, {info['resources'].get('CPU', 0):g} CPUs, "
              f"{n} solver workers" + (f", {len(predictor_actors)} predictor actors" if predictor_actors else ""),
              file=sys.stderr)
        stats = run_units(units, store, backend="ray", n_workers=int(n), **common,
                          unit_timeout=float(unit_timeout) if unit_timeout else None,
                          actor_factory=lambda: new_solver_actor(cache_dir, predictor_actors))
    man = store.read_manifest()
    summary = {"out": str(out), **stats.as_dict(), "dataset_ok": man.get("n_ok"), "dataset_failed": man.get("n_failed"),
               "pending": len(man.get("pending", []))}
    summary_path = out / SUMMARY_FILE
    atomic_write_bytes(summary_path, (json.dumps(summary, indent=1, default=str) + "\n").encode())
    print(summary_table(summary, summary_path))
    return 0


#: The run summary (JSON) each ``sweep`` writes into its output folder.
SUMMARY_FILE = "_summary.json"


def summary_table(summary: dict, summary_path: Path) -> str:
    """The end-of-sweep summary a person reads: units by outcome, time, and where the results are."""
    failed_total = summary.get("dataset_failed") or 0
    rows = [
        ("units planned", f"{summary.get('n_planned', 0)}"),
        ("ok (this run)", f"{summary.get('n_ok', 0)}"),
        ("failed (this run)", f"{summary.get('n_failed', 0)}"),
        ("skipped (done before)", f"{summary.get('n_skipped', 0)}"),
        ("pending", f"{summary.get('pending', 0)}"),
        ("time", f"{float(summary.get('elapsed_s', 0.0)):.1f} s"),
    ]
    if summary.get("n_retries") or summary.get("n_requeued") or summary.get("n_worker_restarts"):
        rows.append(("retries / requeued / workers replaced",
                     f"{summary.get('n_retries', 0)} / {summary.get('n_requeued', 0)} / "
                     f"{summary.get('n_worker_restarts', 0)}"))
    rows += [("results", f"{summary['out']} (Parquet dataset)"), ("summary", str(summary_path))]
    w = max(len(k) for k, _ in rows)
    lines = [f"{k:<{w}}  {v}" for k, v in rows]
    if failed_total:
        lines.append(f"{failed_total} unit(s) in the dataset failed: rerun with --retry-failed, or read their "
                     "error_type / error_message columns")
    return "\n".join(lines)


def _run_cohort(args: argparse.Namespace) -> int:
    from ..distributed.cohort_units import load_cohort_config, run_cohort

    spec = load_cohort_config(args.config)
    run_cfg = spec.get("run") or {}
    retries = args.retries if args.retries is not None else int(run_cfg.get("retries", 1))
    summary = run_cohort(spec, args.out, serial=args.serial, workers=args.workers or run_cfg.get("workers"),
                         address=args.address, num_cpus=args.num_cpus, progress=not args.no_progress,
                         retries=retries, cache_dir=args.cache_dir or run_cfg.get("cache_dir"),
                         unit_timeout=args.unit_timeout or run_cfg.get("unit_timeout", 1800),
                         retry_failed=args.retry_failed)
    print(json.dumps(summary))
    return 0
