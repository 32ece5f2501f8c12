"""Predictor throughput on CPU: in-process vs through 1 and 2 Ray actors, measured in the same run.

The workload is the unique (sequence, SMILES) keys of a model's kcat pairs (default iML1515 with the E. coli
FASTA; ``--model textbook`` for e_coli_core). Each configuration gets a fresh predictor (no warm embedding
cache from an earlier configuration), is warmed up on one unrelated pair, then timed over all keys.
Actor start-up (Ray workers + checkpoint load) is reported separately from the steady-state rate.

Usage::

    python scripts/bench_predictor.py [--model PATH] [--sequences FASTA] [--checkpoint CKPT] [--limit N]
                                      [--actors 1 2] [--threads T] [--fake]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from kingems_ray.kcat.build_table import HashPredictor, load_default_predictor, predict_keys, prepare_rows
from kingems_ray.paths import data_root

WARM = ("MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVVHSLAKWKRQTLG", "CCO")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print pairs per second per configuration."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = data_root()
    ap.add_argument("--model", default=str(root / "bigg" / "iML1515.xml.gz") if root else "textbook")
    ap.add_argument("--sequences", default=str(root / "sequences" / "ecoli_gp.faa.gz") if root else None)
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--limit", type=int, default=None, help="use at most N unique pairs")
    ap.add_argument("--actors", type=int, nargs="*", default=[1, 2])
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads in-process (default: all cores); actors get cores/n_actors each")
    ap.add_argument("--batch-size", type=int, default=1024,
                    help="pairs per predict call, in-process and per actor call alike")
    ap.add_argument("--fake", action="store_true")
    args = ap.parse_args(argv)

    prepared = prepare_rows(args.model, args.sequences)
    keys = prepared.keys[: args.limit] if args.limit else prepared.keys
    n_cpu = os.cpu_count() or 1
    print(f"model {args.model}: {len(prepared.rows)} rows, {len(keys)} unique (sequence, smiles) pairs; "
          f"{n_cpu} CPU cores; {'fake' if args.fake else 'trained'} predictor", flush=True)

    def make():
        return HashPredictor() if args.fake else load_default_predictor(args.checkpoint, "cpu")

    results: list[tuple[str, float, float, float]] = []
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    pred = None

    def in_process(label: str, threads: int | None = None) -> None:
        nonlocal pred
        if threads:
            torch.set_num_threads(threads)
        t = time.perf_counter()
        pred = make()
        load_s = time.perf_counter() - t
        pred.predict([WARM[0]], [WARM[1]])
        t = time.perf_counter()
        local.update(predict_keys(pred, keys, batch_size=args.batch_size))
        dt = time.perf_counter() - t
        results.append((f"in-process ({torch.get_num_threads()} threads){label}", len(keys) / dt, dt, load_s))
        print(f"  {results[-1][0]}: {results[-1][1]:.0f} pairs/s", flush=True)

    local: dict = {}
    all_threads = torch.get_num_threads()
    in_process("")
    if all_threads > 1:
        # One thread too: on a busy machine torch's intra-op threads can cost more than they give.
        in_process("", 1)
        torch.set_num_threads(all_threads)
    if args.actors:
        import ray

        from kingems_ray.kcat.actor import RayPredictor, start_actors

        ray.init(num_cpus=n_cpu, include_dashboard=False, log_to_driver=False)
        factory = HashPredictor if args.fake else None
        for n in args.actors:
            t = time.perf_counter()
            # Each actor gets an equal share of the cores; Ray sets OMP/torch threads from num_cpus.
            actors = start_actors(n, factory=factory, checkpoint=args.checkpoint, device="cpu",
                                  num_gpus_per_actor=0, num_cpus_per_actor=max(1, n_cpu // n))
            start_s = time.perf_counter() - t
            rp = RayPredictor(actors, batch_size=args.batch_size)
            rp.predict([WARM[0]] * n, [WARM[1]] * n)
            t = time.perf_counter()
            res = rp.predict([k[0] for k in keys], [k[1] for k in keys])
            dt = time.perf_counter() - t
            same = np.allclose(res["kcat"].to_numpy(), [local[k][0] for k in keys], rtol=1e-5, equal_nan=True)
            results.append((f"{n} actor(s) x {max(1, n_cpu // n)} CPUs", len(keys) / dt, dt, start_s))
            print(f"  {results[-1][0]}: {results[-1][1]:.0f} pairs/s (same kcats as in-process: {same})",
                  flush=True)
            for a in actors:
                ray.kill(a)
        ray.shutdown()
        # Again at the end: on a shared machine the load drifts; two in-process runs bracket the actor runs.
        in_process(", again", all_threads)

    print("\n| configuration | pairs/s | predict time [s] | load / start-up [s] |\n|---|---|---|---|")
    for name, rate, dt, load in results:
        print(f"| {name} | {rate:.0f} | {dt:.2f} | {load:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
