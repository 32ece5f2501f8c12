"""Public kcat predictor: ``KcatPredictor.from_checkpoint(...).predict(sequences, smiles)``.

Plain Python (no Ray): the Ray actors in :mod:`kingems_ray.kcat.actor` hold one of these each.

Output units: ``log10_kcat_mean`` / ``log10_kcat_std`` are the mean and standard deviation of the ensemble
members' log10 kcat [log10 1/s]; ``kcat = 10 ** log10_kcat_mean`` [1/s] (the geometric mean of the members) and
``kcat_std`` is the standard deviation of the members' kcats in 1/s (the fold spread kinGEMs' annealing uses).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..paths import package_data
from .features import OK, Featuriser, featuriser_from_config
from .model import Ensemble, load_checkpoint

COLUMNS = ["log10_kcat_mean", "log10_kcat_std", "kcat", "kcat_std", "status"]


def default_checkpoint_path() -> Path:
    """Path of the checkpoint shipped with the package (``kingems_ray/data/kcat_default/kcat_ensemble.pt``)."""
    return package_data("kcat_default", "kcat_ensemble.pt")


def _pick_device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class KcatPredictor:
    """An ensemble plus the featurisers it was trained with.

    Parameters
    ----------
    ensemble : Ensemble
    device : str or torch.device, optional
        Default: CUDA when available, else CPU.
    protein_featuriser, substrate_featuriser : Featuriser, optional
        Override the featurisers named in the checkpoint (e.g. an ESM-2 encoder with a local weights path);
        their output width must match the network's.
    cache_dir : str or Path, optional
        Folder for a Parquet protein-embedding cache (worth it for ESM-2; the offline encoder is cheap).
    """

    def __init__(self, ensemble: Ensemble, device: str | torch.device | None = None,
                 protein_featuriser: Featuriser | None = None, substrate_featuriser: Featuriser | None = None,
                 cache_dir: str | Path | None = None) -> None:
        self.device = _pick_device(device)
        self.ensemble = ensemble.to(self.device)
        self.protein_featuriser = protein_featuriser or featuriser_from_config(ensemble.protein_featuriser)
        self.substrate_featuriser = substrate_featuriser or featuriser_from_config(ensemble.substrate_featuriser)
        self.cache_dir = cache_dir
        hp = ensemble.hparams
        if self.protein_featuriser.dim != hp["protein_dim"] or self.substrate_featuriser.dim != hp["substrate_dim"]:
            raise ValueError(
                f"featuriser widths ({self.protein_featuriser.dim}, {self.substrate_featuriser.dim}) do not "
                f"match the network inputs ({hp['protein_dim']}, {hp['substrate_dim']})"
            )

    @classmethod
    def from_checkpoint(cls, path: str | Path | None = None, device: str | torch.device | None = None,
                        **kwargs) -> KcatPredictor:
        """Load a checkpoint written by the training script.

        Parameters
        ----------
        path : str or Path, optional
            Checkpoint file; ``None`` loads :func:`default_checkpoint_path`.
        device : str or torch.device, optional
            Default: CUDA when available, else CPU.
        **kwargs
            Passed to the constructor (``cache_dir``, featuriser overrides).

        Returns
        -------
        KcatPredictor
        """
        ens = load_checkpoint(default_checkpoint_path() if path is None else path)
        return cls(ens, device=device, **kwargs)

    @property
    def info(self) -> dict:
        """What the checkpoint says about its training (command, data, seed, test metrics)."""
        return self.ensemble.info

    def predict(self, sequences: Sequence[str], smiles: Sequence[str], batch_size: int = 4096) -> pd.DataFrame:
        """Predict kcat for (enzyme sequence, substrate SMILES) pairs.

        Parameters
        ----------
        sequences : sequence of str
            Amino-acid sequences.
        smiles : sequence of str
            Substrate SMILES (or InChI), same length as ``sequences``.
        batch_size : int
            Rows per forward pass.

        Returns
        -------
        pandas.DataFrame
            One row per input pair, in order, with columns ``log10_kcat_mean``, ``log10_kcat_std``, ``kcat``,
            ``kcat_std`` (1/s) and ``status`` (``"ok"``, or e.g. ``"invalid_smiles"``, ``"invalid_sequence"``,
            ``"empty_sequence"``; both reasons joined by ``";"`` when both inputs are bad). Values are NaN where
            the status is not ``"ok"``.
        """
        sequences, smiles = list(sequences), list(smiles)
        if len(sequences) != len(smiles):
            raise ValueError(f"got {len(sequences)} sequences but {len(smiles)} SMILES")
        n = len(sequences)
        if n == 0:
            return pd.DataFrame({c: pd.Series(dtype=object if c == "status" else float) for c in COLUMNS})
        from .cache import cached_featurise

        # Featurise each distinct sequence / SMILES once: models repeat enzymes and substrates a lot.
        seq_keys = ["" if not isinstance(s, str) else s for s in sequences]
        smi_keys = ["" if not isinstance(s, str) else s for s in smiles]
        useq, inv_p = np.unique(np.asarray(seq_keys, dtype=object), return_inverse=True)
        usmi, inv_s = np.unique(np.asarray(smi_keys, dtype=object), return_inverse=True)
        pb = cached_featurise(self.protein_featuriser, list(useq), self.cache_dir)
        sb = self.substrate_featuriser.featurise(list(usmi))
        p_status, s_status = pb.status[inv_p], sb.status[inv_s]
        ok = (p_status == OK) & (s_status == OK)
        status = np.full(n, OK, dtype=object)
        for i in np.flatnonzero(~ok):
            status[i] = ";".join(s for s in (p_status[i], s_status[i]) if s != OK)

        mean = np.full(n, np.nan)
        std = np.full(n, np.nan)
        kcat_std = np.full(n, np.nan)
        idx = np.flatnonzero(ok)
        if len(idx):
            members = self.ensemble.predict_members(pb.values[inv_p[idx]], sb.values[inv_s[idx]], batch_size)
            mean[idx] = members.mean(0)
            std[idx] = members.std(0, ddof=1) if len(members) > 1 else 0.0
            kcat_std[idx] = (10.0 ** members).std(0, ddof=1) if len(members) > 1 else 0.0
        return pd.DataFrame({"log10_kcat_mean": mean, "log10_kcat_std": std, "kcat": 10.0 ** mean,
                             "kcat_std": kcat_std, "status": status})
