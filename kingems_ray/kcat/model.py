"""CPI-Pred-style network, the 5-member ensemble, and checkpoint save/load.

Each member maps (protein vector, substrate fingerprint) to log10 kcat: two projection MLPs bring both inputs
to the same width, the head sees ``[p, s, p * s]`` (the element-wise product lets it learn enzyme-substrate
interactions that a plain concatenation only reaches through depth) and regresses a scalar.

A checkpoint is a plain dict of str / int / float / list / dict / tensors, written by :func:`torch.save` and read
with ``torch.load(..., weights_only=True, map_location="cpu")``: no pickled classes, so loading a checkpoint
cannot run code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

CHECKPOINT_FORMAT = "kingems-ray/kcat-ensemble"
CHECKPOINT_VERSION = 1


def _mlp_block(d_in: int, d_out: int, dropout: float) -> list[nn.Module]:
    return [nn.Linear(d_in, d_out), nn.LayerNorm(d_out), nn.GELU(), nn.Dropout(dropout)]


class CPINet(nn.Module):
    """Protein + substrate → log10 kcat (standardised units).

    Parameters
    ----------
    protein_dim, substrate_dim : int
        Input widths.
    proj_dim : int
        Width of each projection.
    hidden_dim : int
        Width of the head's hidden layer.
    dropout : float
        Dropout in projections and head.
    input_dropout : float
        Dropout on the raw inputs (a cheap regulariser for wide, sparse fingerprints).
    """

    def __init__(self, protein_dim: int, substrate_dim: int, proj_dim: int = 128, hidden_dim: int = 256,
                 dropout: float = 0.2, input_dropout: float = 0.1) -> None:
        super().__init__()
        self.protein = nn.Sequential(nn.Dropout(input_dropout), *_mlp_block(protein_dim, proj_dim, dropout))
        self.substrate = nn.Sequential(nn.Dropout(input_dropout), *_mlp_block(substrate_dim, proj_dim, dropout))
        self.head = nn.Sequential(*_mlp_block(3 * proj_dim, hidden_dim, dropout), nn.Linear(hidden_dim, 1))

    def forward(self, protein: torch.Tensor, substrate: torch.Tensor) -> torch.Tensor:
        p = self.protein(protein)
        s = self.substrate(substrate)
        return self.head(torch.cat([p, s, p * s], dim=1)).squeeze(1)


@dataclass
class Normaliser:
    """Input transform ``(sign(x) log1p|x| - mean) / std`` and target scaling, fitted on training rows.

    The log squashes counts (Morgan counts, k-mer counts, sequence length) whose heavy tails would otherwise
    dominate the first layer.
    """

    prot_mean: np.ndarray
    prot_std: np.ndarray
    sub_mean: np.ndarray
    sub_std: np.ndarray
    y_mean: float
    y_std: float

    @staticmethod
    def _squash(x: np.ndarray) -> np.ndarray:
        return np.sign(x) * np.log1p(np.abs(x))

    @classmethod
    def fit(cls, prot: np.ndarray, sub: np.ndarray, y: np.ndarray) -> Normaliser:
        """Fit on training features and targets."""
        p, s = cls._squash(prot), cls._squash(sub)
        # Constant columns keep std 1 so they map to 0 rather than to inf.
        ps, ss = p.std(0), s.std(0)
        return cls(p.mean(0).astype(np.float32), np.where(ps > 1e-6, ps, 1.0).astype(np.float32),
                   s.mean(0).astype(np.float32), np.where(ss > 1e-6, ss, 1.0).astype(np.float32),
                   float(np.mean(y)), float(np.std(y) or 1.0))

    def transform(self, prot: np.ndarray, sub: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Apply the input transform."""
        p = (self._squash(prot) - self.prot_mean) / self.prot_std
        s = (self._squash(sub) - self.sub_mean) / self.sub_std
        return p.astype(np.float32), s.astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        """Tensors and floats only (weights_only-safe)."""
        return {"prot_mean": torch.from_numpy(self.prot_mean), "prot_std": torch.from_numpy(self.prot_std),
                "sub_mean": torch.from_numpy(self.sub_mean), "sub_std": torch.from_numpy(self.sub_std),
                "y_mean": self.y_mean, "y_std": self.y_std}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Normaliser:
        """Inverse of :meth:`to_dict`."""
        return cls(*(d[k].float().numpy() for k in ("prot_mean", "prot_std", "sub_mean", "sub_std")),
                   float(d["y_mean"]), float(d["y_std"]))


class _OnDevice:
    """``to(device)`` and ``device`` for an ensemble of ``members`` (both ensemble kinds share them)."""

    members: list[nn.Module]

    def to(self, device: torch.device | str):
        """Move all members to ``device``; returns the ensemble."""
        for m in self.members:
            m.to(device)
        return self

    @property
    def device(self) -> torch.device:
        """Where the members' weights are."""
        return next(self.members[0].parameters()).device


@dataclass
class Ensemble(_OnDevice):
    """Several :class:`CPINet` members sharing one normaliser and featuriser configuration.

    Attributes
    ----------
    members : list of CPINet
    normaliser : Normaliser
    hparams : dict
        Constructor arguments of :class:`CPINet` (plus training settings, for the record).
    protein_featuriser, substrate_featuriser : dict
        ``{"name", "params"}`` of the featurisers the members were trained on.
    info : dict
        Free-form record: training command, data, seed, metrics.
    """

    members: list[CPINet]
    normaliser: Normaliser
    hparams: dict[str, Any]
    protein_featuriser: dict[str, Any]
    substrate_featuriser: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)

    @torch.no_grad()
    def predict_members(self, prot: np.ndarray, sub: np.ndarray, batch_size: int = 4096) -> np.ndarray:
        """Per-member log10 kcat predictions, shape ``(n_members, n)``.

        Parameters
        ----------
        prot, sub : numpy.ndarray
            Raw (untransformed) feature matrices.
        batch_size : int
            Rows per forward pass.
        """
        p, s = self.normaliser.transform(prot, sub)
        out = np.zeros((len(self.members), len(p)), dtype=np.float64)
        dev = self.device
        for m in self.members:
            m.eval()
        for start in range(0, len(p), batch_size):
            pt = torch.from_numpy(p[start : start + batch_size]).to(dev)
            st = torch.from_numpy(s[start : start + batch_size]).to(dev)
            for j, m in enumerate(self.members):
                out[j, start : start + batch_size] = m(pt, st).double().cpu().numpy()
        return out * self.normaliser.y_std + self.normaliser.y_mean

    def predict(self, prot: np.ndarray, sub: np.ndarray, batch_size: int = 4096) -> tuple[np.ndarray, np.ndarray]:
        """Ensemble mean and standard deviation of log10 kcat."""
        preds = self.predict_members(prot, sub, batch_size)
        return preds.mean(0), preds.std(0, ddof=1) if len(preds) > 1 else np.zeros(preds.shape[1])


def _net_kwargs(hparams: dict[str, Any]) -> dict[str, Any]:
    keys = ("protein_dim", "substrate_dim", "proj_dim", "hidden_dim", "dropout", "input_dropout")
    return {k: hparams[k] for k in keys if k in hparams}


def save_checkpoint(ensemble: Ensemble, path: str | Path, half: bool = True) -> Path:
    """Write an ensemble as a plain-dict checkpoint.

    Parameters
    ----------
    ensemble : Ensemble
    path : str or Path
        Output ``.pt`` file (parent folders are created).
    half : bool
        Store floating weights as float16 (halves the size; predictions change by ~1e-3 log10 units).

    Returns
    -------
    Path
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def conv(t: torch.Tensor) -> torch.Tensor:
        t = t.detach().cpu()
        return t.half() if half and t.is_floating_point() else t.clone()

    ckpt = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "hparams": dict(ensemble.hparams),
        "protein_featuriser": ensemble.protein_featuriser,
        "substrate_featuriser": ensemble.substrate_featuriser,
        "normaliser": ensemble.normaliser.to_dict(),
        "members": [{k: conv(v) for k, v in m.state_dict().items()} for m in ensemble.members],
        "info": ensemble.info,
    }
    torch.save(ckpt, path)
    return path


def load_checkpoint(path: str | Path, device: torch.device | str | None = None) -> Ensemble:
    """Read a checkpoint written by :func:`save_checkpoint` (``weights_only=True``, CPU first).

    Parameters
    ----------
    path : str or Path
    device : torch.device or str, optional
        Where to move the members after loading (default CPU).

    Returns
    -------
    Ensemble
        Members in float32, eval mode.
    """
    from ..errors import DataNotFoundError

    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"kcat checkpoint not found: {path}")
    ckpt = torch.load(str(path), weights_only=True, map_location="cpu")
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a kingems-ray kcat checkpoint (format={ckpt.get('format')!r})")
    members = []
    for sd in ckpt["members"]:
        net = CPINet(**_net_kwargs(ckpt["hparams"]))
        net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()})
        net.eval()
        members.append(net)
    ens = Ensemble(members, Normaliser.from_dict(ckpt["normaliser"]), ckpt["hparams"],
                   ckpt["protein_featuriser"], ckpt["substrate_featuriser"], ckpt.get("info", {}))
    if device is not None:
        ens.to(device)
    return ens


# ----------------------------------------------------------------------------------------------------------
# version 2: reaction-aware, every input optional (sequence-free mode)
# ----------------------------------------------------------------------------------------------------------

CHECKPOINT_FORMAT_V2 = "kingems-ray/kcat-rxn-ensemble"
DENSE_BLOCKS = ("prot", "sub", "rxn", "org")
#: Optional blocks, used when the checkpoint's ``dims`` names them: ``ret`` = retrieval features
#: (:mod:`kingems_ray.kcat.retrieval`).
OPTIONAL_BLOCKS = ("ret",)


def dense_blocks(dims: dict[str, int]) -> tuple[str, ...]:
    """The dense blocks of a network with input widths ``dims`` (the four always, then optional ones present)."""
    return DENSE_BLOCKS + tuple(b for b in OPTIONAL_BLOCKS if b in dims)


class RxnKcatNet(nn.Module):
    """Optional protein, substrate, reaction, EC hierarchy, organism and cofactors → log10 kcat (standardised).

    Every dense block (protein, substrate, reaction difference fingerprint, organism tokens) has its own
    projection and a learned "absent" vector used where the input is missing: without a sequence the net
    predicts from what it knows (its sequence-free mode, trained by dropping the protein block at random), not
    from a zero vector. The EC number enters as the sum of four embeddings, one per level (index 0 = unknown
    at that level, so a partial EC uses the levels it has). The head sees the projections, the cofactor flags
    and the protein × substrate and protein × EC products.

    Parameters
    ----------
    dims : dict
        Input width of each of :data:`DENSE_BLOCKS` and ``"cof"``.
    ec_vocab : list of int
        Vocabulary size of each EC level (without the unknown index).
    proj_dim, hidden_dim, ec_dim : int
    dropout, input_dropout : float
    """

    def __init__(self, dims: dict[str, int], ec_vocab: list[int], proj_dim: int = 96, hidden_dim: int = 256,
                 ec_dim: int = 48, dropout: float = 0.1, input_dropout: float = 0.05) -> None:
        super().__init__()
        self.blocks = dense_blocks(dims)
        self.proj = nn.ModuleDict({b: nn.Sequential(nn.Dropout(input_dropout), *_mlp_block(dims[b], proj_dim, dropout))
                                   for b in self.blocks})
        self.absent = nn.ParameterDict({b: nn.Parameter(torch.zeros(proj_dim)) for b in self.blocks})
        self.ec_emb = nn.ModuleList([nn.Embedding(v + 1, ec_dim) for v in ec_vocab])
        self.ec_proj = nn.Sequential(*_mlp_block(ec_dim, proj_dim, dropout))
        n_in = (len(self.blocks) + 1) * proj_dim + dims["cof"] + 2 * proj_dim
        self.head = nn.Sequential(*_mlp_block(n_in, hidden_dim, dropout), *_mlp_block(hidden_dim, hidden_dim // 2,
                                                                                   dropout),
                                  nn.Linear(hidden_dim // 2, 1))

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        h = {}
        for b in self.blocks:
            m = x["has_" + b].unsqueeze(1)
            h[b] = torch.where(m, self.proj[b](x[b]), self.absent[b].expand(len(m), -1))
        e = sum(emb(x["ec"][:, i]) for i, emb in enumerate(self.ec_emb))
        e = self.ec_proj(e)
        z = torch.cat([h["prot"], h["sub"], h["rxn"], h["org"], e, *[h[b] for b in self.blocks[4:]], x["cof"],
                       h["prot"] * h["sub"], h["prot"] * e], dim=1)
        return self.head(z).squeeze(1)


@dataclass
class RowNormaliser:
    """``(sign(x) log1p|x| - mean) / std`` per dense block (statistics over rows where the block is present)."""

    stats: dict[str, tuple[np.ndarray, np.ndarray]]
    y_mean: float
    y_std: float

    @classmethod
    def fit(cls, blocks: dict[str, np.ndarray], masks: dict[str, np.ndarray], y: np.ndarray) -> RowNormaliser:
        """Fit on training blocks."""
        stats = {}
        for b, x in blocks.items():
            m = masks.get(b)
            rows = x[m] if m is not None and m.any() else x
            z = Normaliser._squash(rows)
            sd = z.std(0)
            stats[b] = (z.mean(0).astype(np.float32), np.where(sd > 1e-6, sd, 1.0).astype(np.float32))
        return cls(stats, float(np.mean(y)), float(np.std(y) or 1.0))

    def transform(self, b: str, x: np.ndarray) -> np.ndarray:
        """Transform block ``b``."""
        mu, sd = self.stats[b]
        return ((Normaliser._squash(x) - mu) / sd).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        """Tensors and floats only (weights_only-safe)."""
        return {"stats": {b: [torch.from_numpy(m), torch.from_numpy(s)] for b, (m, s) in self.stats.items()},
                "y_mean": self.y_mean, "y_std": self.y_std}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RowNormaliser:
        """Inverse of :meth:`to_dict`."""
        return cls({b: (m.float().numpy(), s.float().numpy()) for b, (m, s) in d["stats"].items()},
                   float(d["y_mean"]), float(d["y_std"]))


class ECVocab:
    """Index of each EC level prefix seen in training (0 = unknown)."""

    def __init__(self, levels: list[list[str]]) -> None:
        self.levels = [list(lv) for lv in levels]
        self.index = [{p: i + 1 for i, p in enumerate(lv)} for lv in self.levels]

    @classmethod
    def fit(cls, ec_rows: list[list[str]], min_count: int = 1) -> ECVocab:
        """Prefixes seen at least ``min_count`` times, per level."""
        from collections import Counter

        counts = [Counter(r[i] for r in ec_rows if r[i]) for i in range(4)]
        return cls([sorted(p for p, c in cnt.items() if c >= min_count) for cnt in counts])

    def sizes(self) -> list[int]:
        return [len(lv) for lv in self.levels]

    def encode(self, ec_rows: list[list[str]]) -> np.ndarray:
        """``(n, 4)`` int64 indices."""
        out = np.zeros((len(ec_rows), 4), dtype=np.int64)
        for j, r in enumerate(ec_rows):
            for i in range(4):
                out[j, i] = self.index[i].get(r[i], 0)
        return out


@dataclass
class RxnEnsemble(_OnDevice):
    """Members of :class:`RxnKcatNet` sharing a normaliser, EC vocabulary, featurisers and calibration.

    Attributes
    ----------
    members : list of RxnKcatNet
    normaliser : RowNormaliser
    ec_vocab : ECVocab
    hparams : dict
        Network and feature settings (``dims``, ``rxn_bits``, ``org_bins`` ...).
    protein_featuriser, substrate_featuriser : dict
        Featuriser configs.
    calibration : dict
        ``{mode: {"a": float, "b": float}}``: calibrated std = ``a * ensemble std + b`` (log10 units).
    info : dict
    """

    members: list[RxnKcatNet]
    normaliser: RowNormaliser
    ec_vocab: ECVocab
    hparams: dict[str, Any]
    protein_featuriser: dict[str, Any]
    substrate_featuriser: dict[str, Any]
    calibration: dict[str, dict[str, float]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    retrieval: Any = None  # kingems_ray.kcat.retrieval.RetrievalIndex when the net has a "ret" block

    def retrieval_features(self, rf: Any, idx: np.ndarray) -> np.ndarray:
        """Raw retrieval features of rows ``idx``: the trainer's out-of-fold ones, else the checkpoint's index."""
        if rf.ret is not None:
            return rf.ret[idx]
        if self.retrieval is None or rf.keys is None:
            raise ValueError("this checkpoint needs retrieval features: rows without keys or a checkpoint "
                             "without its retrieval index")
        return self.retrieval.lookup(rf.keys[idx])

    def tensors(self, rf: Any, idx: np.ndarray | None = None, drop_protein: bool = False) -> dict[str, np.ndarray]:
        """Normalised numpy inputs of :class:`~kingems_ray.kcat.features.RowFeatures` rows."""
        from .retrieval import RetrievalIndex

        if idx is None:
            idx = np.arange(len(rf.status))
        x: dict[str, np.ndarray] = {}
        for b in dense_blocks(self.hparams["dims"]):
            if b == "ret":
                raw = self.retrieval_features(rf, idx)
                raw = RetrievalIndex.drop_sequence(raw) if drop_protein else raw
                x[b] = self.normaliser.transform(b, raw)
                x["has_" + b] = raw.any(axis=1)
                continue
            x[b] = self.normaliser.transform(b, getattr(rf, b)[idx])
            x["has_" + b] = getattr(rf, "has_" + b)[idx].copy()
        if drop_protein:
            x["has_prot"][:] = False
        x["ec"] = self.ec_vocab.encode([rf.ec[i] for i in idx])
        x["cof"] = rf.cof[idx].astype(np.float32)
        return x

    @torch.no_grad()
    def predict_members(self, x: dict[str, np.ndarray], batch_size: int = 4096) -> np.ndarray:
        """Per-member log10 kcat, shape ``(n_members, n)``, from :meth:`tensors` output."""
        n = len(x["ec"])
        out = np.zeros((len(self.members), n), dtype=np.float64)
        dev = self.device
        for m in self.members:
            m.eval()
        for start in range(0, n, batch_size):
            xb = {k: torch.from_numpy(v[start : start + batch_size]).to(dev) for k, v in x.items()}
            for j, m in enumerate(self.members):
                out[j, start : start + batch_size] = m(xb).double().cpu().numpy()
        return out * self.normaliser.y_std + self.normaliser.y_mean

    def calibrate_std(self, std: np.ndarray, mode: np.ndarray) -> np.ndarray:
        """Apply the stored calibration per mode (identity for a mode without one)."""
        std = np.asarray(std, dtype=float).copy()
        for md, c in self.calibration.items():
            m = np.asarray(mode) == md
            std[m] = c["a"] * std[m] + c["b"]
        return std


def save_rxn_checkpoint(ens: RxnEnsemble, path: str | Path, half: bool = True) -> Path:
    """Write a :class:`RxnEnsemble` as a plain dict (``torch.load(weights_only=True)`` reads it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    def conv(t: torch.Tensor) -> torch.Tensor:
        t = t.detach().cpu()
        return t.half() if half and t.is_floating_point() else t.clone()

    ckpt = {
        "format": CHECKPOINT_FORMAT_V2,
        "version": 1,
        "hparams": dict(ens.hparams),
        "protein_featuriser": ens.protein_featuriser,
        "substrate_featuriser": ens.substrate_featuriser,
        "normaliser": ens.normaliser.to_dict(),
        "ec_vocab": ens.ec_vocab.levels,
        "calibration": ens.calibration,
        "members": [{k: conv(v) for k, v in m.state_dict().items()} for m in ens.members],
        "info": ens.info,
    }
    if ens.retrieval is not None:
        ckpt["retrieval"] = ens.retrieval.to_state()
    torch.save(ckpt, path)
    return path


def _rxn_net_kwargs(hp: dict[str, Any], vocab: ECVocab) -> dict[str, Any]:
    return {"dims": hp["dims"], "ec_vocab": vocab.sizes(), "proj_dim": hp["proj_dim"],
            "hidden_dim": hp["hidden_dim"], "ec_dim": hp["ec_dim"], "dropout": hp["dropout"],
            "input_dropout": hp["input_dropout"]}


def load_any_checkpoint(path: str | Path) -> Ensemble | RxnEnsemble:
    """Load a version-1 (:class:`Ensemble`) or reaction-aware (:class:`RxnEnsemble`) checkpoint.

    Always ``torch.load(..., weights_only=True)``: a checkpoint cannot run code.
    """
    from ..errors import DataNotFoundError

    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"kcat checkpoint not found: {path}")
    ckpt = torch.load(str(path), weights_only=True, map_location="cpu")
    fmt = ckpt.get("format") if isinstance(ckpt, dict) else None
    if fmt == CHECKPOINT_FORMAT:
        return load_checkpoint(path)
    if fmt != CHECKPOINT_FORMAT_V2:
        raise ValueError(f"{path} is not a kingems-ray kcat checkpoint (format={fmt!r})")
    vocab = ECVocab(ckpt["ec_vocab"])
    members = []
    for sd in ckpt["members"]:
        net = RxnKcatNet(**_rxn_net_kwargs(ckpt["hparams"], vocab))
        net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()})
        net.eval()
        members.append(net)
    retrieval = None
    if "retrieval" in ckpt:
        from .retrieval import RetrievalIndex

        retrieval = RetrievalIndex.from_state(ckpt["retrieval"])
    return RxnEnsemble(members, RowNormaliser.from_dict(ckpt["normaliser"]), vocab, ckpt["hparams"],
                       ckpt["protein_featuriser"], ckpt["substrate_featuriser"],
                       {k: dict(v) for k, v in ckpt.get("calibration", {}).items()}, ckpt.get("info", {}), retrieval)
