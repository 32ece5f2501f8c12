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
    g = ap.add_argument_group("corpus training (reaction-aware ensemble; used when --corpus is given)")
    g.add_argument("--corpus", default=None, help="corpus Parquet from `kingems-ray kcat-corpus`: train the "
                   "reaction-aware, sequence-optional ensemble on it instead of the KcatNet-only one")
    g.add_argument("--corpus-splits", dest="corpus_splits", default="random,dissimilar,ec3,scaffold",
                   help="comma list of: random, dissimilar, ec3, scaffold")
    g.add_argument("--split-members", type=int, default=None, help="members per split ensemble (default: as final)")
    g.add_argument("--no-final", action="store_true", help="skip the final ensemble / checkpoint")
    g.add_argument("--tree-iter", type=int, default=200, help="boosting iterations of the tree baseline")
    g.add_argument("--split-member-seconds", type=float, default=None,
                   help="time cap per member of the split ensembles (default: as the final one)")
    for f, v in asdict(RxnTrainConfig()).items():
        g.add_argument(f"--rx-{f.replace('_', '-')}", dest=f"rx_{f}", type=type(v), default=v)


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
    if getattr(args, "corpus", None):
        args.splits = args.corpus_splits
        return run_corpus_training(args, argv_list)
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


# ==========================================================================================================
# reaction-aware ensemble trained on the corpus (``train-kcat --corpus``)
# ==========================================================================================================


@dataclass
class RxnTrainConfig:
    """Settings of the reaction-aware ensemble (:class:`~kingems_ray.kcat.model.RxnKcatNet`)."""

    # Small on purpose: it trains in minutes on a shared 2-core CPU (the head dominates the cost).
    proj_dim: int = 32
    hidden_dim: int = 128
    ec_dim: int = 32
    dropout: float = 0.1
    input_dropout: float = 0.05
    lr: float = 2e-3
    weight_decay: float = 1e-4
    batch_size: int = 256
    max_epochs: int = 15
    patience: int = 3
    n_members: int = 5
    # Block dropout while training: the same net learns to predict without a sequence (its sequence-free
    # mode), without a reaction, an organism, or with a partial EC.
    p_drop_prot: float = 0.4
    p_drop_rxn: float = 0.3
    p_drop_org: float = 0.3
    p_drop_sub: float = 0.05
    p_trunc_ec: float = 0.25
    rxn_bits: int = 256
    org_bins: int = 64
    calib_frac: float = 0.1
    max_member_seconds: float = 110.0
    seed: int = 0
    # 1: add the retrieval block (kcats of corpus rows sharing a key, out-of-fold while training; see
    # kingems_ray.kcat.retrieval); 0: the network alone.
    retrieval: int = 1


def _augment(xb: dict[str, torch.Tensor], cfg: RxnTrainConfig, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Random block dropout and EC truncation of one training batch."""
    n = len(xb["ec"])
    xb = dict(xb)
    for b, p in (("prot", cfg.p_drop_prot), ("rxn", cfg.p_drop_rxn), ("org", cfg.p_drop_org),
                 ("sub", cfg.p_drop_sub)):
        if p > 0:
            xb["has_" + b] = xb["has_" + b] & (torch.rand(n, generator=gen) >= p)
    if "ret_noseq" in xb:
        # A row whose protein block was dropped also loses its sequence retrieval key (the sequence-free mode).
        lost = (~xb["has_prot"]).unsqueeze(1)
        xb["ret"] = torch.where(lost, xb["ret_noseq"], xb["ret"])
    if cfg.p_trunc_ec > 0:
        trunc = torch.rand(n, generator=gen) < cfg.p_trunc_ec
        keep = torch.randint(0, 4, (n,), generator=gen)
        level = torch.arange(4).unsqueeze(0)
        drop = trunc.unsqueeze(1) & (level >= keep.unsqueeze(1))
        xb["ec"] = torch.where(drop, torch.zeros_like(xb["ec"]), xb["ec"])
    return xb


def _rxn_val_loss(net: torch.nn.Module, x: dict[str, torch.Tensor], y: torch.Tensor, va: torch.Tensor) -> float:
    """Mean of the validation MSE with and without the protein block (both modes matter)."""
    with torch.no_grad():
        xb = {k: v[va] for k, v in x.items()}
        full = torch.nn.functional.mse_loss(net(xb), y[va])
        xb["has_prot"] = torch.zeros_like(xb["has_prot"])
        if "ret_noseq" in xb:
            xb["ret"] = xb["ret_noseq"]
        free = torch.nn.functional.mse_loss(net(xb), y[va])
    return float(0.5 * (full + free))


def _train_rxn_member(x: dict[str, torch.Tensor], y: torch.Tensor, tr: np.ndarray, va: np.ndarray,
                      cfg: RxnTrainConfig, net_kwargs: dict[str, Any], seed: int) -> tuple[Any, dict[str, Any]]:
    from .model import RxnKcatNet

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    net = RxnKcatNet(**net_kwargs)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    tr_t, va_t = torch.from_numpy(tr), torch.from_numpy(va)
    best, best_state, best_epoch, wait, t0 = float("inf"), None, 0, 0, time.time()
    epoch = 0
    for epoch in range(cfg.max_epochs):
        net.train()
        perm = tr_t[torch.randperm(len(tr_t), generator=gen)]
        for i in range(0, len(perm), cfg.batch_size):
            b = perm[i : i + cfg.batch_size]
            if len(b) < 2:
                continue
            xb = _augment({k: v[b] for k, v in x.items()}, cfg, gen)
            loss = torch.nn.functional.mse_loss(net(xb), y[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        net.eval()
        val = _rxn_val_loss(net, x, y, va_t)
        if val < best - 1e-4:
            best, best_epoch, wait = val, epoch, 0
            best_state = copy.deepcopy(net.state_dict())
        else:
            wait += 1
            if wait >= cfg.patience:
                break
        if time.time() - t0 > cfg.max_member_seconds:
            break
    net.load_state_dict(best_state)
    net.eval()
    return net, {"best_val_mse_std_units": best, "best_epoch": best_epoch, "epochs_run": epoch + 1,
                 "seconds": round(time.time() - t0, 1)}


def fit_calibration(resid: np.ndarray, std: np.ndarray) -> dict[str, float]:
    """Fit ``std_cal = a * std + b`` (``a, b >= 0``) by the Gaussian likelihood of held-out residuals.

    Parameters
    ----------
    resid : numpy.ndarray
        Held-out ``y - mean`` (log10 units).
    std : numpy.ndarray
        Ensemble std of the same rows.

    Returns
    -------
    dict
        ``{"a", "b", "n"}``.
    """
    from scipy.optimize import minimize

    resid, std = np.asarray(resid, float), np.asarray(std, float)
    m = np.isfinite(resid) & np.isfinite(std)
    resid, std = resid[m], std[m]
    if len(resid) < 10:
        return {"a": 1.0, "b": 0.0, "n": int(len(resid))}

    def nll(theta: np.ndarray) -> float:
        a, b = np.exp(theta)
        s = a * std + b
        return float(np.mean(np.log(s) + 0.5 * (resid / s) ** 2))

    rms = float(np.sqrt(np.mean(resid ** 2)))
    best = None
    for a0, b0 in ((1.0, 0.1), (rms / max(float(np.mean(std)), 1e-3), 1e-3), (1e-3, rms)):
        r = minimize(nll, np.log([max(a0, 1e-4), max(b0, 1e-4)]), method="Nelder-Mead",
                     options={"xatol": 1e-4, "fatol": 1e-6, "maxiter": 2000})
        if best is None or r.fun < best.fun:
            best = r
    a, b = np.exp(best.x)
    return {"a": float(a), "b": float(b), "n": int(len(resid))}


def coverage(y: np.ndarray, mean: np.ndarray, std: np.ndarray) -> dict[str, float]:
    """Fraction of labels within ±1 and ±2 std of the mean."""
    y, mean, std = (np.asarray(v, float) for v in (y, mean, std))
    m = np.isfinite(y) & np.isfinite(mean) & np.isfinite(std)
    if not m.any():
        return {"within_1std": float("nan"), "within_2std": float("nan"), "n": 0}
    z = np.abs(y[m] - mean[m]) / np.maximum(std[m], 1e-9)
    return {"within_1std": float(np.mean(z <= 1)), "within_2std": float(np.mean(z <= 2)), "n": int(m.sum())}


def train_rxn_ensemble(rf: Any, y: np.ndarray, fold_groups: np.ndarray, calib_mask: np.ndarray,
                       cfg: RxnTrainConfig, protein_featuriser: dict[str, Any],
                       substrate_featuriser: dict[str, Any], log: bool = True) -> tuple[Any, dict[str, Any]]:
    """Train the reaction-aware ensemble and calibrate its spread.

    Rows ``calib_mask`` are kept out of every member and used only to fit the calibration (per mode:
    ``"sequence"`` on calibration rows with a sequence, ``"sequence_free"`` on every calibration row with the
    protein block dropped). The other rows are split into ``cfg.n_members`` folds of whole ``fold_groups``;
    member k trains on the folds other than k and early-stops on fold k.

    Parameters
    ----------
    rf : RowFeatures
        Features of the training rows.
    y : numpy.ndarray
        log10 kcat.
    fold_groups : numpy.ndarray
        Group label per row (folds keep groups whole).
    calib_mask : numpy.ndarray
        Boolean: rows held out for calibration.
    cfg : RxnTrainConfig
    protein_featuriser, substrate_featuriser : dict
        Featuriser configs stored in the checkpoint.
    log : bool

    Returns
    -------
    (RxnEnsemble, dict)
        The calibrated ensemble and a record (per-member info, calibration coverage before/after).
    """
    from .datasets import assign_group_folds
    from .model import DENSE_BLOCKS, ECVocab, RowNormaliser, RxnEnsemble
    from .retrieval import RetrievalIndex

    fit_rows = np.flatnonzero(~calib_mask)
    vocab = ECVocab.fit([rf.ec[i] for i in fit_rows])
    blocks = {b: getattr(rf, b)[fit_rows] for b in DENSE_BLOCKS}
    masks = {b: getattr(rf, "has_" + b)[fit_rows] for b in DENSE_BLOCKS}
    dims = {b: int(getattr(rf, b).shape[1]) for b in DENSE_BLOCKS}
    retrieval = None
    if cfg.retrieval:
        # Out-of-fold features for every training row (calibration rows included), an index of all of them
        # for prediction: no row ever sees its own label.
        rf = rf.take(np.arange(len(rf.status)))
        rf.ret = RetrievalIndex.out_of_fold(rf.keys, y, seed=cfg.seed)
        retrieval = RetrievalIndex.fit(rf.keys, y)
        blocks["ret"], masks["ret"] = rf.ret[fit_rows], rf.ret[fit_rows].any(axis=1)
        dims["ret"] = int(rf.ret.shape[1])
    norm = RowNormaliser.fit(blocks, masks, y[fit_rows])
    dims["cof"] = int(rf.cof.shape[1])
    hp = {"dims": dims, "rxn_bits": cfg.rxn_bits, "org_bins": cfg.org_bins, **asdict(cfg)}
    ens = RxnEnsemble([], norm, vocab, hp, protein_featuriser, substrate_featuriser, retrieval=retrieval)
    net_kwargs = {"dims": dims, "ec_vocab": vocab.sizes(), "proj_dim": cfg.proj_dim, "hidden_dim": cfg.hidden_dim,
                  "ec_dim": cfg.ec_dim, "dropout": cfg.dropout, "input_dropout": cfg.input_dropout}
    x_np = ens.tensors(rf)
    if cfg.retrieval:
        x_np["ret_noseq"] = norm.transform("ret", RetrievalIndex.drop_sequence(rf.ret))
    x = {k: torch.from_numpy(v) for k, v in x_np.items()}
    yz = torch.from_numpy(((y - norm.y_mean) / norm.y_std).astype(np.float32))
    if cfg.n_members > 1:
        folds = assign_group_folds(np.asarray(fold_groups)[fit_rows].astype(str), cfg.n_members, cfg.seed)
    else:
        # One member: early-stop on 10 % of the groups (it would otherwise have no held-out fold).
        folds = np.where(assign_group_folds(np.asarray(fold_groups)[fit_rows].astype(str), 10, cfg.seed) == 0, 0, 1)
    record: dict[str, Any] = {"members": []}
    for k in range(cfg.n_members):
        tr, va = fit_rows[folds != k], fit_rows[folds == k]
        if cfg.n_members == 1:
            tr, va = fit_rows[folds == 1], fit_rows[folds == 0]
        net, info = _train_rxn_member(x, yz, tr, va, cfg, net_kwargs, cfg.seed * 100 + k)
        ens.members.append(net)
        record["members"].append(info)
        if log:
            print(f"    member {k}: {info['epochs_run']} epochs, best val {info['best_val_mse_std_units']:.3f} "
                  f"({info['seconds']} s)", flush=True)
    cal = np.flatnonzero(calib_mask)
    record["calibration"] = {}
    if len(cal):
        for mode, drop in (("sequence", False), ("sequence_free", True)):
            rows = cal[rf.has_prot[cal]] if mode == "sequence" else cal
            if not len(rows):
                continue
            mem = ens.predict_members(ens.tensors(rf, rows, drop_protein=drop))
            mu, sd = mem.mean(0), mem.std(0, ddof=1)
            c = fit_calibration(y[rows] - mu, sd)
            ens.calibration[mode] = {"a": c["a"], "b": c["b"]}
            record["calibration"][mode] = {**c, "before": coverage(y[rows], mu, sd),
                                           "after": coverage(y[rows], mu, c["a"] * sd + c["b"])}
    return ens, record


class _ECLevelMedians:
    """Median log10 kcat per EC prefix at each of the four levels (tree-baseline features; NaN when unseen)."""

    def fit(self, ec_rows: list[list[str]], y: np.ndarray, min_count: int = 3) -> _ECLevelMedians:
        vals: list[dict[str, list[float]]] = [{} for _ in range(4)]
        for r, v in zip(ec_rows, y):
            for i in range(4):
                if r[i]:
                    vals[i].setdefault(r[i], []).append(float(v))
        self.tables = [{p: float(np.median(v)) for p, v in d.items() if len(v) >= min_count} for d in vals]
        return self

    def transform(self, ec_rows: list[list[str]]) -> np.ndarray:
        return np.array([[self.tables[i].get(r[i], np.nan) for i in range(4)] for r in ec_rows], dtype=np.float32)


def _tree_features(rf: Any, idx: np.ndarray, ecm: _ECLevelMedians, drop_protein: bool = False) -> np.ndarray:
    """Compact features of the tree baseline (folded fingerprints keep gradient boosting fast)."""
    sub = rf.sub[idx]
    nb = sub.shape[1] - 10 if sub.shape[1] > 1024 else sub.shape[1]
    fp = sub[:, :nb]
    fp = fp.reshape(len(fp), -1, 256).sum(1) if nb % 256 == 0 else fp
    rxn = rf.rxn[idx]
    rxn = rxn.reshape(len(rxn), -1, 128).sum(1) if rxn.shape[1] % 128 == 0 else rxn
    prot = rf.prot[idx]
    pcols = np.hstack([prot[:, :20], prot[:, -8:]]) if prot.shape[1] >= 28 else prot
    has_p = rf.has_prot[idx].astype(np.float32)
    if drop_protein:
        pcols = np.zeros_like(pcols)
        has_p = np.zeros_like(has_p)
    return np.hstack([fp, sub[:, nb:], rxn, rf.has_rxn[idx, None].astype(np.float32), pcols, has_p[:, None],
                      rf.org[idx], rf.cof[idx], ecm.transform([rf.ec[i] for i in idx])]).astype(np.float32)


def _fit_tree_baseline(rf: Any, tr: np.ndarray, y: np.ndarray, seed: int, max_iter: int = 200
                       ) -> tuple[Any, _ECLevelMedians]:
    from sklearn.ensemble import HistGradientBoostingRegressor

    ecm = _ECLevelMedians().fit([rf.ec[i] for i in tr], y[tr])
    # The protein block is dropped from a third of the rows so the tree also has a sequence-free mode.
    rng = np.random.default_rng(seed)
    drop = rng.random(len(tr)) < 0.33
    x = np.vstack([_tree_features(rf, tr[~drop], ecm), _tree_features(rf, tr[drop], ecm, drop_protein=True)])
    yy = np.concatenate([y[tr[~drop]], y[tr[drop]]])
    model = HistGradientBoostingRegressor(max_iter=max_iter, learning_rate=0.1, random_state=seed).fit(x, yy)
    return model, ecm


def _predict_modes(ens: Any, rf: Any, idx: np.ndarray) -> dict[str, np.ndarray]:
    """Ensemble mean, raw std and calibrated std with the protein (where known) and without it."""
    out = {}
    for tag, drop in (("full", False), ("free", True)):
        mem = ens.predict_members(ens.tensors(rf, idx, drop_protein=drop))
        mode = np.where(rf.has_prot[idx] & (not drop), "sequence", "sequence_free")
        out[f"{tag}_mean"] = mem.mean(0)
        out[f"{tag}_std"] = mem.std(0, ddof=1)
        out[f"{tag}_cal"] = ens.calibrate_std(out[f"{tag}_std"], mode)
    return out


def evaluate_rxn(ens: Any, tree: Any, ecm_tree: _ECLevelMedians, ecmed: ECMedian, rf: Any, df: pd.DataFrame,
                 idx: np.ndarray) -> dict[str, Any]:
    """Metrics on rows ``idx``: with and without sequence, net vs EC median vs tree, coverage before/after."""
    y = df["log10_kcat"].to_numpy()[idx]
    p = _predict_modes(ens, rf, idx)
    seq = rf.has_prot[idx]
    ec_pred = ecmed.predict(df["ec"].to_numpy()[idx].tolist())
    res: dict[str, Any] = {"n_rows": int(len(idx)), "n_with_sequence": int(seq.sum())}
    if tree is not None:
        t_full = tree.predict(_tree_features(rf, idx, ecm_tree))
        t_free = tree.predict(_tree_features(rf, idx, ecm_tree, drop_protein=True))
    groups = {"with_sequence": seq, "all_rows": np.ones(len(idx), dtype=bool)}
    for gname, m in groups.items():
        if not m.any():
            continue
        g: dict[str, Any] = {"n": int(m.sum()), "ec_median": regression_metrics(y[m], ec_pred[m])}
        if gname == "with_sequence":
            g["net_with_sequence"] = regression_metrics(y[m], p["full_mean"][m])
            g["net_without_sequence"] = regression_metrics(y[m], p["free_mean"][m])
            if tree is not None:
                g["tree_with_sequence"] = regression_metrics(y[m], t_full[m])
                g["tree_without_sequence"] = regression_metrics(y[m], t_free[m])
            g["coverage_with_sequence"] = {"before": coverage(y[m], p["full_mean"][m], p["full_std"][m]),
                                           "after": coverage(y[m], p["full_mean"][m], p["full_cal"][m])}
        else:
            g["net_as_given"] = regression_metrics(y[m], p["full_mean"][m])
            g["net_without_sequence"] = regression_metrics(y[m], p["free_mean"][m])
            if tree is not None:
                g["tree_as_given"] = regression_metrics(y[m], t_full[m])
                g["tree_without_sequence"] = regression_metrics(y[m], t_free[m])
        g["coverage_without_sequence"] = {"before": coverage(y[m], p["free_mean"][m], p["free_std"][m]),
                                          "after": coverage(y[m], p["free_mean"][m], p["free_cal"][m])}
        res[gname] = g
    return res


def _fold_groups(split: str, df: pd.DataFrame, clusters: np.ndarray, ec3: np.ndarray, scaffolds: np.ndarray
                 ) -> np.ndarray:
    idx = np.arange(len(df)).astype(str)
    if split == "dissimilar":
        # Sequence rows: their cluster. Rows without one: their (EC-3, substrate), so members early-stop on
        # unseen enzymes and unseen (class, substrate) pairs.
        return np.where(clusters >= 0, "c" + clusters.astype(str), "n" + ec3.astype(str) + "|" + df["smiles"])
    if split == "ec3":
        return np.where(ec3 != "", ec3, idx)
    if split == "scaffold":
        return scaffolds
    return idx


def _ec_substrate_keys(df: pd.DataFrame) -> np.ndarray:
    return (df["ec"] + "|" + df["smiles"]).to_numpy()


def make_split(split: str, df: pd.DataFrame, clusters: np.ndarray, ec3: np.ndarray, scaffolds: np.ndarray,
               seed: int = 0, frac: float = 0.15) -> tuple[np.ndarray, np.ndarray]:
    """Train and test masks of one corpus split (each test set is whole groups, ``frac`` of the rows).

    Parameters
    ----------
    split : {"random", "dissimilar", "ec3", "scaffold"}
    df : pandas.DataFrame
        Corpus rows (``sequence``, ``smiles``, ``ec``).
    clusters, ec3, scaffolds : numpy.ndarray
        Per-row sequence cluster (-1 without a sequence), EC-3 class ('' when unknown) and substrate scaffold.
    seed : int
    frac : float

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Boolean train and test masks (disjoint; a row may be in neither: the dissimilar split drops training
        rows without a sequence whose (EC, substrate) pair is held out).
    """
    from .datasets import group_holdout

    n = len(df)
    if split == "random":
        test = np.random.default_rng(seed).random(n) < frac
    elif split == "dissimilar":
        # Only rows with a sequence are held out (whole clusters); rows without one stay in training.
        test = group_holdout(np.where(clusters >= 0, clusters.astype(str), ""), frac, seed, never="")
    elif split == "ec3":
        test = group_holdout(ec3, frac, seed, max_group_frac=0.03, never="")
    elif split == "scaffold":
        test = group_holdout(scaffolds, frac, seed, max_group_frac=0.03)
    else:
        raise SystemExit(f"unknown split {split!r} (choose random, dissimilar, ec3, scaffold)")
    train = ~test
    if split == "dissimilar":
        held = set(_ec_substrate_keys(df[test]))
        train &= ~((df["sequence"] == "").to_numpy() & np.isin(_ec_substrate_keys(df), list(held)))
    return train, test


def run_corpus_training(args: argparse.Namespace, argv_list: Sequence[str] = ()) -> dict[str, Any]:
    """Train and evaluate the reaction-aware ensemble on a corpus (``train-kcat --corpus``).

    Splits (each holds out whole groups, 15 % of the non-external rows): ``random`` (rows), ``dissimilar``
    (sequence clusters; training rows without a sequence that share an (EC, substrate) pair with a held-out
    row are dropped), ``ec3`` (whole EC-3 classes) and ``scaffold`` (Bemis-Murcko scaffolds of the substrate;
    an acyclic substrate is its own group). The external set (``external`` rows of the corpus) is never
    trained on; training rows duplicating one of its (sequence, substrate) pairs, or (EC, substrate, organism)
    for rows without a sequence, are removed. The final ensemble (the checkpoint) trains on every
    remaining row and is scored on the external set.
    """
    from .corpus import load_corpus, split_overlap
    from .datasets import corpus_sequence_clusters, ec3_groups, group_holdout, scaffold_groups
    from .features import featurise_rows

    argv_list = list(argv_list)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = RxnTrainConfig(**{f: getattr(args, "rx_" + f) for f in asdict(RxnTrainConfig())})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    prot_f = get_featuriser(args.protein_encoder, **json.loads(args.protein_params))
    sub_f = get_featuriser("morgan", **json.loads(args.substrate_params))
    corpus = load_corpus(args.corpus)
    if args.max_rows and args.max_rows < len(corpus):
        corpus = corpus.sample(n=args.max_rows, random_state=cfg.seed).reset_index(drop=True)
    ext = corpus[corpus["external"]].reset_index(drop=True)
    train = corpus[~corpus["external"]]
    ext_pairs = set(zip(ext.loc[ext["sequence"] != "", "sequence"], ext.loc[ext["sequence"] != "", "smiles"]))
    ext_free = set(zip(ext["ec"], ext["smiles"], ext["organism"]))
    dup = np.array([(q, s) in ext_pairs if q else (e, s, o) in ext_free
                    for q, s, e, o in zip(train["sequence"], train["smiles"], train["ec"], train["organism"])],
                   dtype=bool)
    train = train[~dup].reset_index(drop=True)
    metrics: dict[str, Any] = {"corpus": str(args.corpus), "config": asdict(cfg), "argv": argv_list,
                               "protein_featuriser": prot_f.config(), "substrate_featuriser": sub_f.config(),
                               "torch": torch.__version__, "n_train_pool": len(train), "n_external": len(ext),
                               "removed_external_duplicates": int(dup.sum()), "splits": {}}
    print(f"corpus: {len(train)} training-pool rows ({int(dup.sum())} duplicates of external rows removed), "
          f"{len(ext)} external rows", flush=True)

    t0 = time.time()
    cols = ["sequence", "smiles", "reaction_smiles", "ec", "organism", "substrates_smiles"]
    rf_all = featurise_rows(pd.concat([train[cols], ext[cols]], ignore_index=True), prot_f, sub_f, cfg.rxn_bits,
                            cfg.org_bins, args.cache_dir)
    n_tr = len(train)
    rf = rf_all.take(np.arange(n_tr))
    rf_ext = rf_all.take(np.arange(n_tr, len(rf_all.status)))
    clusters = corpus_sequence_clusters(train)
    ec3 = ec3_groups(train["ec"].tolist())
    scaffolds = scaffold_groups(train["smiles"].tolist())
    metrics["featurise_seconds"] = round(time.time() - t0, 1)
    print(f"featurised and grouped in {metrics['featurise_seconds']} s", flush=True)
    y = train["log10_kcat"].to_numpy()
    rng_seed = cfg.seed
    split_cfg = RxnTrainConfig(**{**asdict(cfg), "n_members": args.split_members or cfg.n_members,
                                  "max_member_seconds": args.split_member_seconds or cfg.max_member_seconds})

    if not args.no_final:
        t_final = time.time()
        print(f"== final ensemble on all {n_tr} training-pool rows; external set {len(ext)} rows", flush=True)
        groups = _fold_groups("dissimilar", train, clusters, ec3, scaffolds)
        calib = group_holdout(groups, cfg.calib_frac, rng_seed + 1, max_group_frac=0.01)
        ens, rec = train_rxn_ensemble(rf, y, groups, calib, cfg, prot_f.config(), sub_f.config())
        tree = ecm_tree = None
        if not args.no_tree:
            tree, ecm_tree = _fit_tree_baseline(rf, np.arange(n_tr), y, cfg.seed, args.tree_iter)
        ecmed = ECMedian().fit(train["ec"].tolist(), y)
        res = evaluate_rxn(ens, tree, ecm_tree, ecmed, rf_ext, ext, np.arange(len(ext)))
        res.update({"overlap": split_overlap(train, ext), "training": rec, "seconds": round(time.time() - t_final, 1),
                    "external_source": str(ext["source"].iloc[0]) if len(ext) else ""})
        metrics["external"] = res
        _print_split("external", res)
        ens.info.update({"trained_on": f"kcat corpus {Path(args.corpus).name}: {n_tr} non-external rows "
                                       "(derived from ../shared/data/kcat, see docs/kcat_predictor.md)",
                         "external_metrics": json_safe({k: res[k] for k in ("with_sequence", "all_rows")
                                                        if k in res}),
                         "calibration": rec.get("calibration"), "seed": cfg.seed,
                         "command": "kingems-ray train-kcat " + " ".join(argv_list)})
        ckpt_path = Path(args.checkpoint) if args.checkpoint else out / "kcat_ensemble.pt"
        from .model import save_rxn_checkpoint

        save_rxn_checkpoint(ens, ckpt_path, half=not args.float32)
        metrics["checkpoint"] = str(ckpt_path)
        metrics["checkpoint_bytes"] = ckpt_path.stat().st_size
        print(f"  saved checkpoint {ckpt_path} ({ckpt_path.stat().st_size / 1e6:.2f} MB)", flush=True)
        (out / "metrics.json").write_text(json.dumps(json_safe(metrics), indent=2))
    for split in [s.strip() for s in args.splits.split(",") if s.strip()]:
        t_split = time.time()
        trn, test = make_split(split, train, clusters, ec3, scaffolds, rng_seed)
        tr_idx, te_idx = np.flatnonzero(trn), np.flatnonzero(test)
        overlap = split_overlap(train.iloc[tr_idx], train.iloc[te_idx])
        print(f"== split {split}: {len(tr_idx)} train, {len(te_idx)} test; overlap: "
              + ", ".join(f"{k} {v:.3f}" for k, v in overlap.items() if k != "n_test"), flush=True)
        groups = _fold_groups(split, train, clusters, ec3, scaffolds)[tr_idx]
        calib = group_holdout(groups, cfg.calib_frac, rng_seed + 1, max_group_frac=0.01)
        ens, rec = train_rxn_ensemble(rf.take(tr_idx), y[tr_idx], groups, calib, split_cfg, prot_f.config(),
                                      sub_f.config())
        tree = ecm_tree = None
        if not args.no_tree:
            t1 = time.time()
            tree, ecm_tree = _fit_tree_baseline(rf, tr_idx, y, cfg.seed, args.tree_iter)
            rec["tree_seconds"] = round(time.time() - t1, 1)
        ecmed = ECMedian().fit(train["ec"].to_numpy()[tr_idx].tolist(), y[tr_idx])
        res = evaluate_rxn(ens, tree, ecm_tree, ecmed, rf, train, te_idx)
        res.update({"overlap": overlap, "n_train": int(len(tr_idx)), "n_test": int(len(te_idx)), "training": rec,
                    "seconds": round(time.time() - t_split, 1)})
        metrics["splits"][split] = res
        _print_split(split, res)
        (out / "metrics.json").write_text(json.dumps(json_safe(metrics), indent=2))

    metrics["total_seconds"] = round(time.time() - t_start, 1)
    (out / "metrics.json").write_text(json.dumps(json_safe(metrics), indent=2))
    (out / "metrics.md").write_text(rxn_markdown(metrics))
    print(rxn_markdown(metrics))
    print(f"total {metrics['total_seconds']} s; wrote {out / 'metrics.json'}", flush=True)
    return metrics


def _print_split(name: str, res: dict[str, Any]) -> None:
    for g in ("with_sequence", "all_rows"):
        if g not in res:
            continue
        parts = [f"{m}: R2={v['r2']:.3f} r={v['pearson_r']:.3f}" for m, v in res[g].items()
                 if isinstance(v, dict) and "r2" in v]
        print(f"  [{name} / {g}, n={res[g]['n']}] " + "; ".join(parts), flush=True)


def rxn_markdown(metrics: dict[str, Any]) -> str:
    """Tables of a corpus run: metrics and coverage per split and the external set."""
    lines = ["| split | rows | model | R² | RMSE | Pearson r |", "|---|---|---|---|---|---|"]
    cov = ["| split | rows | mode | ±1 std before | ±2 std before | ±1 std after | ±2 std after |",
           "|---|---|---|---|---|---|---|"]
    sets = dict(metrics.get("splits", {}))
    if "external" in metrics:
        sets["external"] = metrics["external"]
    for split, res in sets.items():
        for g in ("with_sequence", "all_rows"):
            if g not in res:
                continue
            for model, v in res[g].items():
                if isinstance(v, dict) and "r2" in v:
                    lines.append(f"| {split} | {g} (n={v['n']}) | {model} | {_fmt(v['r2'])} | {_fmt(v['rmse'])} | "
                                 f"{_fmt(v['pearson_r'])} |")
                elif isinstance(v, dict) and "before" in v:
                    b, a = v["before"], v["after"]
                    cov.append(f"| {split} | {g} (n={b['n']}) | {model.replace('coverage_', '')} | "
                               f"{_fmt(b['within_1std'])} | {_fmt(b['within_2std'])} | {_fmt(a['within_1std'])} | "
                               f"{_fmt(a['within_2std'])} |")
    ov = ["| split | test rows | shared sequences | shared (EC, substrate) | shared SMILES |", "|---|---|---|---|---|"]
    for split, res in sets.items():
        o = res.get("overlap", {})
        ov.append(f"| {split} | {o.get('n_test')} | {_fmt(o.get('shared_sequence'))} | "
                  f"{_fmt(o.get('shared_ec_substrate'))} | {_fmt(o.get('shared_smiles'))} |")
    return "\n".join(lines + [""] + cov + [""] + ov) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
