"""Train and evaluate the kcat predictor: ``kingems-ray train-kcat`` / ``scripts/train_kcat.py``.

For each split (KcatNet's own random split, and a sequence-dissimilar split, see
:mod:`kingems_ray.kcat.datasets`) the run fits, on the same training rows:

* ``mean``: the training mean of log10 kcat;
* ``ec_median``: median per EC number, falling back to broader EC levels;
* ``tree``: scikit-learn ``HistGradientBoostingRegressor`` on 1,024-bit Morgan counts + amino-acid and dipeptide
  composition;
* ``net``: the 5-member CPI-Pred-style ensemble (one member per CV fold, early-stopped on its held-out fold).

and reports R², RMSE and Pearson r of log10 kcat on the split's test rows, plus the random-split models on two
external sets (DLTKcat test, CatPred validation). Results go to ``<out>/metrics.json`` and ``<out>/metrics.md``;
the random-split ensemble is saved as a checkpoint.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .datasets import (
    ECMedian,
    assign_group_folds,
    dissimilar_split,
    load_catpred_val,
    load_dltkcat_test,
    load_kcatnet,
)
from .features import OK, Featuriser, get_featuriser
from .model import CPINet, Ensemble, Normaliser, save_checkpoint


@dataclass
class TrainConfig:
    """Network and optimiser settings for one ensemble."""

    # Defaults = variant "v3" of the first full run, picked by the random split's out-of-fold CV R² (0.581 vs
    # 0.569 for proj 128/dropout 0.2/lr 1e-3/batch 128 and for a wider proj 256/dropout 0.3 net).
    proj_dim: int = 128
    hidden_dim: int = 256
    dropout: float = 0.1
    input_dropout: float = 0.05
    lr: float = 5e-4
    weight_decay: float = 1e-4
    batch_size: int = 64
    max_epochs: int = 150
    patience: int = 25
    n_folds: int = 5
    seed: int = 0


def regression_metrics(y: np.ndarray, yhat: np.ndarray) -> dict[str, float]:
    """R², RMSE and Pearson r (rows with non-finite predictions are dropped and counted).

    Parameters
    ----------
    y, yhat : numpy.ndarray
        True and predicted log10 kcat.
    """
    y = np.asarray(y, dtype=float)
    yhat = np.asarray(yhat, dtype=float)
    m = np.isfinite(y) & np.isfinite(yhat)
    y, yhat = y[m], yhat[m]
    ss_res = float(np.sum((y - yhat) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r = float(np.corrcoef(y, yhat)[0, 1]) if len(y) > 1 and np.ptp(yhat) > 1e-12 else float("nan")
    return {"r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan"),
            "rmse": float(np.sqrt(ss_res / max(len(y), 1))), "pearson_r": r, "n": int(len(y)),
            "n_dropped": int((~m).sum())}


# ----------------------------------------------------------------------------------------------------------
# network training
# ----------------------------------------------------------------------------------------------------------


def _train_member(p: np.ndarray, s: np.ndarray, y: np.ndarray, tr: np.ndarray, va: np.ndarray,
                  cfg: TrainConfig, device: torch.device, seed: int) -> tuple[CPINet, dict[str, Any]]:
    """Train one member on rows ``tr`` with early stopping on rows ``va`` (inputs already normalised)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    net = CPINet(p.shape[1], s.shape[1], cfg.proj_dim, cfg.hidden_dim, cfg.dropout, cfg.input_dropout).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=max(cfg.patience // 3, 2))
    pt, st, yt = (torch.from_numpy(a).to(device) for a in (p, s, y.astype(np.float32)))
    tr_t = torch.from_numpy(tr).to(device)
    best, best_state, best_epoch, wait = float("inf"), None, 0, 0
    for epoch in range(cfg.max_epochs):
        net.train()
        perm = tr_t[torch.randperm(len(tr_t), generator=gen).to(device)]
        for i in range(0, len(perm), cfg.batch_size):
            b = perm[i : i + cfg.batch_size]
            if len(b) < 2:
                continue
            loss = torch.nn.functional.mse_loss(net(pt[b], st[b]), yt[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            vb = torch.from_numpy(va).to(device)
            val = float(torch.nn.functional.mse_loss(net(pt[vb], st[vb]), yt[vb]))
        sched.step(val)
        if val < best - 1e-4:
            best, best_epoch, wait = val, epoch, 0
            best_state = copy.deepcopy(net.state_dict())
        else:
            wait += 1
            if wait >= cfg.patience:
                break
    net.load_state_dict(best_state)
    net.eval()
    return net, {"best_val_mse_std_units": best, "best_epoch": best_epoch, "epochs_run": epoch + 1}


def train_ensemble(prot: np.ndarray, sub: np.ndarray, y: np.ndarray, folds: np.ndarray, cfg: TrainConfig,
                   protein_featuriser: dict[str, Any], substrate_featuriser: dict[str, Any],
                   device: str | torch.device | None = None, log: bool = True) -> tuple[Ensemble, np.ndarray]:
    """Train one member per CV fold (member k early-stops on fold k) and bundle them.

    Parameters
    ----------
    prot, sub : numpy.ndarray
        Raw protein / substrate features of the training rows.
    y : numpy.ndarray
        log10 kcat.
    folds : numpy.ndarray
        Fold id per row, ``0..cfg.n_folds-1``.
    cfg : TrainConfig
    protein_featuriser, substrate_featuriser : dict
        Featuriser configs stored in the ensemble.
    device : str, optional
        Default CUDA when available.
    log : bool
        Print one line per member.

    Returns
    -------
    (Ensemble, numpy.ndarray)
        The ensemble and out-of-fold predictions (log10 kcat) for every training row.
    """
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    norm = Normaliser.fit(prot, sub, y)
    p, s = norm.transform(prot, sub)
    yz = (y - norm.y_mean) / norm.y_std
    members, oof, fold_info = [], np.full(len(y), np.nan), []
    for k in range(cfg.n_folds):
        tr, va = np.flatnonzero(folds != k), np.flatnonzero(folds == k)
        t0 = time.time()
        net, info = _train_member(p, s, yz, tr, va, cfg, dev, cfg.seed * 100 + k)
        with torch.no_grad():
            pred = net(torch.from_numpy(p[va]).to(dev), torch.from_numpy(s[va]).to(dev)).cpu().numpy()
        oof[va] = pred * norm.y_std + norm.y_mean
        info.update(regression_metrics(y[va], oof[va]), seconds=round(time.time() - t0, 1))
        fold_info.append(info)
        if log:
            print(f"    member {k}: val R2={info['r2']:.3f} epochs={info['epochs_run']} ({info['seconds']} s)",
                  flush=True)
        members.append(net.cpu())
    hparams = {"protein_dim": prot.shape[1], "substrate_dim": sub.shape[1], **asdict(cfg)}
    ens = Ensemble(members, norm, hparams, protein_featuriser, substrate_featuriser,
                   {"folds": fold_info})
    return ens, oof


# ----------------------------------------------------------------------------------------------------------
# baselines
# ----------------------------------------------------------------------------------------------------------


def fit_tree(x: np.ndarray, y: np.ndarray, seed: int = 0) -> Any:
    """The tree baseline: ``HistGradientBoostingRegressor`` with fixed, modest settings."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(max_iter=300, learning_rate=0.1, random_state=seed).fit(x, y)


# ----------------------------------------------------------------------------------------------------------
# driver
# ----------------------------------------------------------------------------------------------------------


@dataclass
class FeatureTable:
    """Features of a set of (sequence, SMILES) rows, computed once per unique string."""

    prot: np.ndarray
    sub: np.ndarray
    ok: np.ndarray


def featurise_pairs(prot_f: Featuriser, sub_f: Featuriser, seqs: Sequence[str], smiles: Sequence[str],
                    cache_dir: str | Path | None = None) -> FeatureTable:
    """Featurise unique sequences and SMILES, then expand to rows."""
    from .cache import cached_featurise

    useq, inv_p = np.unique(np.asarray(seqs, dtype=object), return_inverse=True)
    usmi, inv_s = np.unique(np.asarray(smiles, dtype=object), return_inverse=True)
    pb = cached_featurise(prot_f, list(useq), cache_dir)
    sb = sub_f.featurise(list(usmi))
    ok = (pb.status[inv_p] == OK) & (sb.status[inv_s] == OK)
    return FeatureTable(pb.values[inv_p], sb.values[inv_s], ok)


def _tree_x(ft: FeatureTable, n_bits: int) -> np.ndarray:
    # Tree features: the first 1,024 Morgan columns + amino-acid (20) and dipeptide (400) composition,
    # which are the first 420 columns of the composition encoder.
    return np.hstack([ft.sub[:, :n_bits], ft.prot[:, :420]])


def evaluate_split(name: str, train: pd.DataFrame, test: pd.DataFrame, ft_train: FeatureTable,
                   ft_test: FeatureTable, folds: np.ndarray, cfg: TrainConfig, prot_f: Featuriser,
                   sub_f: Featuriser, device: str | None, with_tree: bool,
                   extra: dict[str, tuple[pd.DataFrame, FeatureTable]] | None = None,
                   ) -> tuple[dict[str, Any], Ensemble]:
    """Fit all baselines and the ensemble on ``train``; score on ``test`` (and on ``extra`` sets)."""
    print(f"== split {name}: {len(train)} train rows, {len(test)} test rows", flush=True)
    y_tr = train["log10_kcat"].to_numpy()
    res: dict[str, Any] = {"n_train": len(train), "n_test": len(test), "timings_s": {}}
    sets = {"test": (test, ft_test), **(extra or {})}
    preds: dict[str, dict[str, np.ndarray]] = {k: {} for k in sets}

    mean = float(y_tr.mean())
    ecm = ECMedian().fit(train["ec"].tolist(), y_tr)
    for k, (df, _) in sets.items():
        preds[k]["mean"] = np.full(len(df), mean)
        preds[k]["ec_median"] = ecm.predict(df["ec"].tolist())

    if with_tree:
        t0 = time.time()
        n_bits = sub_f.params()["n_bits"]
        tree = fit_tree(_tree_x(ft_train, n_bits), y_tr, cfg.seed)
        for k, (_, ft) in sets.items():
            preds[k]["tree"] = tree.predict(_tree_x(ft, n_bits))
        res["timings_s"]["tree"] = round(time.time() - t0, 1)
        print(f"  tree fitted in {res['timings_s']['tree']} s", flush=True)

    t0 = time.time()
    ens, oof = train_ensemble(ft_train.prot, ft_train.sub, y_tr, folds, cfg, prot_f.config(), sub_f.config(),
                              device)
    res["timings_s"]["net"] = round(time.time() - t0, 1)
    res["cv_oof"] = regression_metrics(y_tr, oof)
    for k, (_, ft) in sets.items():
        mu, sd = ens.predict(ft.prot, ft.sub)
        preds[k]["net"] = mu
        preds[k]["net_std_mean"] = sd
        if with_tree:
            # Reported for information only; the shipped predictor is the network alone.
            preds[k]["net+tree"] = 0.5 * (mu + preds[k]["tree"])

    res["sets"] = {}
    for k, (df, ft) in sets.items():
        y = df["log10_kcat"].to_numpy()
        out = {m: regression_metrics(y[ft.ok], p[ft.ok]) for m, p in preds[k].items() if m != "net_std_mean"}
        out["n_rows"] = len(df)
        out["n_featurised"] = int(ft.ok.sum())
        out["mean_ensemble_std"] = float(np.mean(preds[k]["net_std_mean"][ft.ok]))
        res["sets"][k] = out
        line = "  ".join(f"{m}: R2={v['r2']:.3f}" for m, v in out.items() if isinstance(v, dict))
        print(f"  [{k}] {line}", flush=True)
    return res, ens


def json_safe(obj: Any) -> Any:
    """Replace NaN / inf floats by ``None`` so the metrics file is strict JSON."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def _fmt(x: float | None) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.3f}"


def _markdown(metrics: dict[str, Any]) -> str:
    enc = metrics["protein_featuriser"]
    sub = metrics["substrate_featuriser"]
    lines = [f"Protein encoder: `{enc['name']}` {json.dumps(enc['params'])}; substrate: `{sub['name']}` "
             f"{json.dumps(sub['params'])}. Tree features: 1,024-bit Morgan counts + AAC + DPC.", "",
             "| split / set | n test | model | R² | RMSE | Pearson r |", "|---|---|---|---|---|---|"]
    for split, res in metrics["splits"].items():
        for set_name, out in res["sets"].items():
            for model, v in out.items():
                if not isinstance(v, dict):
                    continue
                lines.append(f"| {split} / {set_name} | {v['n']} | {model} | {_fmt(v['r2'])} | {_fmt(v['rmse'])} | "
                             f"{_fmt(v['pearson_r'])} |")
    return "\n".join(lines) + "\n"


HELP = "train and evaluate the kcat predictor (baselines, two splits, external sets); save a checkpoint"


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """Add ``train-kcat``'s options to ``ap`` (lets the main CLI reuse them unchanged)."""
    ap.add_argument("--out", default="runs/kcat", help="output folder for metrics and checkpoints")
    ap.add_argument("--data-root", default=None, help="reference data folder (default: $KINGEMS_DATA or "
                    "../shared/data)")
    ap.add_argument("--splits", default="random,dissimilar", help="comma list of: random, dissimilar")
    ap.add_argument("--protein-encoder", default="composition", help="featuriser name: composition or esm2")
    ap.add_argument("--protein-params", default="{}", help="JSON params for the protein featuriser")
    ap.add_argument("--substrate-params", default='{"radius": 2, "n_bits": 1024, "descriptors": true}',
                    help="JSON params for the Morgan featuriser")
    ap.add_argument("--cache-dir", default=None, help="protein embedding cache folder (Parquet)")
    ap.add_argument("--max-rows", type=int, default=None, help="subsample KcatNet (smoke tests)")
    ap.add_argument("--no-tree", action="store_true", help="skip the gradient-boosting baseline")
    ap.add_argument("--no-external", action="store_true", help="skip DLTKcat / CatPred evaluation")
    ap.add_argument("--checkpoint", default=None, help="where to save the random-split ensemble "
                    "(default <out>/kcat_ensemble.pt)")
    ap.add_argument("--float32", action="store_true", help="store checkpoint weights in float32 (default fp16)")
    ap.add_argument("--device", default=None, help="cpu / cuda (default: cuda when available)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    for f, v in asdict(TrainConfig()).items():
        ap.add_argument(f"--{f.replace('_', '-')}", type=type(v), default=v)


def build_parser() -> argparse.ArgumentParser:
    """Stand-alone parser of ``train-kcat``."""
    ap = argparse.ArgumentParser(prog="kingems-ray train-kcat", description=HELP)
    add_arguments(ap)
    return ap


def run_training(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run training and evaluation; returns the metrics dict (also written to ``<out>/metrics.json``)."""
    argv_list = list(sys.argv[1:] if argv is None else argv)
    return run_from_args(build_parser().parse_args(argv_list), argv_list)


def run(args: argparse.Namespace) -> int:
    """Entry point for the main CLI (``kingems_ray/commands/train_kcat.py`` can re-export this)."""
    run_from_args(args, sys.argv[1:])
    return 0


def run_from_args(args: argparse.Namespace, argv_list: Sequence[str] = ()) -> dict[str, Any]:
    """Training and evaluation from parsed options; ``argv_list`` is only recorded."""
    argv_list = list(argv_list)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = TrainConfig(**{f: getattr(args, f) for f in asdict(TrainConfig())})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    prot_f = get_featuriser(args.protein_encoder, **json.loads(args.protein_params))
    sub_f = get_featuriser("morgan", **json.loads(args.substrate_params))

    df = load_kcatnet(args.data_root)
    if args.max_rows and args.max_rows < len(df):
        df = df.sample(n=args.max_rows, random_state=cfg.seed).reset_index(drop=True)
    t0 = time.time()
    ft_all = featurise_pairs(prot_f, sub_f, df["sequence"].tolist(), df["smiles"].tolist(), args.cache_dir)
    print(f"featurised {len(df)} KcatNet rows in {time.time() - t0:.1f} s "
          f"({int((~ft_all.ok).sum())} rows not featurisable)", flush=True)

    def take(ft: FeatureTable, m: np.ndarray) -> FeatureTable:
        return FeatureTable(ft.prot[m], ft.sub[m], ft.ok[m])

    extra: dict[str, tuple[pd.DataFrame, FeatureTable]] = {}
    if not args.no_external:
        for name, loader in (("dltkcat_test", load_dltkcat_test), ("catpred_val", load_catpred_val)):
            edf = loader(args.data_root)
            extra[name] = (edf, featurise_pairs(prot_f, sub_f, edf["sequence"].tolist(), edf["smiles"].tolist(),
                                                args.cache_dir))

    metrics: dict[str, Any] = {"protein_featuriser": prot_f.config(), "substrate_featuriser": sub_f.config(),
                               "config": asdict(cfg), "argv": argv_list,
                               "torch": torch.__version__, "splits": {}}
    rng = np.random.default_rng(cfg.seed)
    splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    ckpt_path = Path(args.checkpoint) if args.checkpoint else out / "kcat_ensemble.pt"
    for split in splits:
        if split == "random":
            test_m = (df["split"] == "test").to_numpy()
            train_m = ~test_m
            # Random CV folds over KcatNet's train + valid rows: the test set is a random draw too.
            folds = rng.integers(0, cfg.n_folds, int(train_m.sum()))
            desc = "KcatNet's own train+valid vs test split; 5 random CV folds over train+valid"
            ext = extra
        elif split == "dissimilar":
            test_m, clusters = dissimilar_split(df, test_frac=0.15, seed=cfg.seed)
            train_m = ~test_m
            folds = assign_group_folds(clusters[train_m], cfg.n_folds, cfg.seed)
            desc = ("sequence clusters (single linkage on >=5% shared distinct 5-mers of the shorter "
                    "sequence, plus same UniProt id); 15% of rows in whole clusters held out, clusters >2% of "
                    "rows kept in training; CV folds grouped by cluster")
            ext = None
        else:
            raise SystemExit(f"unknown split {split!r} (choose random, dissimilar)")
        keep_tr = train_m & ft_all.ok
        res, ens = evaluate_split(split, df[keep_tr].reset_index(drop=True), df[test_m].reset_index(drop=True),
                                  take(ft_all, keep_tr), take(ft_all, test_m), folds[ft_all.ok[train_m]], cfg,
                                  prot_f, sub_f, args.device, not args.no_tree, ext)
        res["description"] = desc
        metrics["splits"][split] = res
        if split == "random":
            ens.info.update({"trained_on": "KcatNet train+valid rows (kcatnet_splits.csv.gz)",
                             "test_metrics": res["sets"]["test"], "seed": cfg.seed,
                             "command": "kingems-ray train-kcat " + " ".join(argv_list)})
            save_checkpoint(ens, ckpt_path, half=not args.float32)
            metrics["checkpoint"] = str(ckpt_path)
            metrics["checkpoint_bytes"] = ckpt_path.stat().st_size
            print(f"  saved checkpoint {ckpt_path} ({ckpt_path.stat().st_size / 1e6:.2f} MB)", flush=True)
    metrics["total_seconds"] = round(time.time() - t_start, 1)
    (out / "metrics.json").write_text(json.dumps(json_safe(metrics), indent=2))
    (out / "metrics.md").write_text(_markdown(metrics))
    print(_markdown(metrics))
    print(f"total {metrics['total_seconds']} s; wrote {out / 'metrics.json'}", flush=True)
    return metrics


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point (``kingems-ray train-kcat``): returns a process exit status."""
    run_training(argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
