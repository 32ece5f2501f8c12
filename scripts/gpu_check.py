#!/usr/bin/env python
"""GPU paths of the kcat predictor, checked on a machine with a CUDA device.

Two parts, so the heavy dependencies can be shipped in turns:

* ``--part predictor``: the shipped ensemble on CUDA vs CPU (same numbers within float tolerance) and pairs/s on
  each; a tiny randomly initialised ESM-2 (fair-esm) saved in the torch-hub layout, loaded by our loader and run
  on the GPU vs the CPU;
* ``--part actors``: a local Ray with ``num_gpus=1``; predictor actors started by :func:`start_actors` must ask for
  the GPU (``actor_options``), receive it (``ray.get_gpu_ids()``), run the ensemble on CUDA, and return the
  in-process CPU numbers.

Prints one JSON document per part (also written to ``--out``).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import numpy as np

AA = "ACDEFGHIKLMNPQRSTVWY"
SMILES = ["CCO", "OC(=O)CC(O)(CC(O)=O)C(O)=O", "C(C1C(C(C(C(O1)O)O)O)O)O", "CC(=O)C(=O)O",
          "Nc1ncnc2c1ncn2C1OC(COP(=O)(O)OP(=O)(O)OP(=O)(O)O)C(O)C1O", "OC(=O)CCC(=O)O", "CC(N)C(=O)O"]


def _pairs(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    seqs = ["M" + "".join(rng.choice(AA) for _ in range(rng.randint(80, 500))) for _ in range(max(1, n // 4))]
    return [seqs[i % len(seqs)] for i in range(n)], [SMILES[i % len(SMILES)] for i in range(n)]


def _rate(fn, n: int) -> float:
    fn()  # warm-up (CUDA context, kernels)
    t = time.perf_counter()
    fn()
    return n / (time.perf_counter() - t)


def part_predictor(n: int) -> dict:
    import torch

    from kingems_ray.kcat.predict import KcatPredictor

    out: dict = {"torch": torch.__version__, "cuda": torch.cuda.is_available()}
    if torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name(0)
    seqs, smis = _pairs(n)
    cpu = KcatPredictor.from_checkpoint(device="cpu")
    auto = KcatPredictor.from_checkpoint()  # device=None: CUDA when available
    out["auto_device"] = str(auto.device)
    a = cpu.predict(seqs, smis)
    b = auto.predict(seqs, smis)
    ok = (a["status"] == "ok").to_numpy()
    out["n_pairs"] = n
    out["n_ok"] = int(ok.sum())
    out["max_abs_diff_log10_mean"] = float(np.nanmax(np.abs(a["log10_kcat_mean"] - b["log10_kcat_mean"])))
    out["pairs_per_s_cpu"] = round(_rate(lambda: cpu.predict(seqs, smis), n), 1)
    out["pairs_per_s_auto"] = round(_rate(lambda: auto.predict(seqs, smis), n), 1)

    # Tiny random ESM-2 through the real loader (hub layout), GPU vs CPU.
    import esm
    import torch

    from kingems_ray.kcat.esm_encoder import EsmFeaturiser

    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        alphabet = esm.data.Alphabet.from_architecture("ESM-1b")
        model = esm.model.esm2.ESM2(num_layers=2, embed_dim=32, attention_heads=4, alphabet=alphabet)
        cfg = argparse.Namespace(encoder_layers=2, encoder_embed_dim=32, encoder_attention_heads=4, token_dropout=True)
        state = {f"encoder.{k}": v for k, v in model.state_dict().items() if not k.startswith("contact_head.regr")}
        name = "esm2_t2_tiny_random"
        torch.save({"model": state, "cfg": {"model": cfg}}, Path(tmp) / f"{name}.pt")
        try:
            f_cpu = EsmFeaturiser(model_name=name, checkpoint=tmp, device="cpu")
            f_gpu = EsmFeaturiser(model_name=name, checkpoint=tmp)
            useq = list(dict.fromkeys(seqs))[:256]
            e1 = f_cpu.featurise(useq).values
            e2 = f_gpu.featurise(useq).values
            out["esm_tiny_device"] = str(f_gpu.device)
            out["esm_tiny_max_abs_diff"] = float(np.max(np.abs(e1 - e2)))
            out["esm_tiny_seqs_per_s_cpu"] = round(_rate(lambda: f_cpu.featurise(useq), len(useq)), 1)
            out["esm_tiny_seqs_per_s_gpu"] = round(_rate(lambda: f_gpu.featurise(useq), len(useq)), 1)
        except Exception as exc:  # report, do not hide: the ESM path is checked by the CPU tests too
            out["esm_tiny_error"] = f"{type(exc).__name__}: {exc}"
    return out


def part_actors(n: int) -> dict:
    import ray
    import torch

    from kingems_ray.kcat.actor import RayPredictor, actor_options, start_actors
    from kingems_ray.kcat.predict import KcatPredictor

    ray.init(num_cpus=4, num_gpus=1 if torch.cuda.is_available() else 0, include_dashboard=False,
             log_to_driver=False)
    out: dict = {"cluster": {k: v for k, v in ray.cluster_resources().items() if k in ("CPU", "GPU")}}
    out["actor_options"] = actor_options()
    actors = start_actors(n_actors=1)
    out["actor_info"] = ray.get(actors[0].info.remote())
    seqs, smis = _pairs(n)
    rp = RayPredictor(actors, batch_size=2048)
    res = rp.predict(seqs, smis)
    ref = KcatPredictor.from_checkpoint(device="cpu").predict(seqs, smis)
    out["max_abs_diff_vs_cpu"] = float(np.nanmax(np.abs(res["log10_kcat_mean"] - ref["log10_kcat_mean"])))
    out["pairs_per_s_actor"] = round(_rate(lambda: rp.predict(seqs, smis), n), 1)
    ray.shutdown()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=["predictor", "actors"], required=True)
    ap.add_argument("--n", type=int, default=20000, help="pairs to predict")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    res = part_predictor(args.n) if args.part == "predictor" else part_actors(args.n)
    text = json.dumps(res, indent=2, default=str)
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
