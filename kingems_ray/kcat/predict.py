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
from .model import Ensemble, RxnEnsemble, load_any_checkpoint

COLUMNS = ["log10_kcat_mean", "log10_kcat_std", "kcat", "kcat_std", "status"]
ROW_COLUMNS = ["log10_kcat_mean", "log10_kcat_std", "kcat", "kcat_std", "mode", "status", "warnings"]
SEQUENCE, SEQUENCE_FREE = "sequence", "sequence_free"


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

    def __init__(self, ensemble: Ensemble | RxnEnsemble, device: str | torch.device | None = None,
                 protein_featuriser: Featuriser | None = None, substrate_featuriser: Featuriser | None = None,
                 cache_dir: str | Path | None = None) -> None:
        self.device = _pick_device(device)
        self.ensemble = ensemble.to(self.device)
        self.protein_featuriser = protein_featuriser or featuriser_from_config(ensemble.protein_featuriser)
        self.substrate_featuriser = substrate_featuriser or featuriser_from_config(ensemble.substrate_featuriser)
        self.cache_dir = cache_dir
        hp = ensemble.hparams
        dims = (hp["dims"]["prot"], hp["dims"]["sub"]) if self.reaction_aware else (hp["protein_dim"],
                                                                                    hp["substrate_dim"])
        if (self.protein_featuriser.dim, self.substrate_featuriser.dim) != dims:
            raise ValueError(
                f"featuriser widths ({self.protein_featuriser.dim}, {self.substrate_featuriser.dim}) do not "
                f"match the network inputs {dims}"
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
        ens = load_any_checkpoint(default_checkpoint_path() if path is None else path)
        return cls(ens, device=device, **kwargs)

    @property
    def reaction_aware(self) -> bool:
        """True for a reaction-aware checkpoint (sequence-free mode available), False for a version-1 one."""
        return isinstance(self.ensemble, RxnEnsemble)

    @property
    def info(self) -> dict:
        """What the checkpoint says about its training (command, data, seed, test metrics)."""
        return self.ensemble.info

    def predict(self, sequences: Sequence[str], smiles: Sequence[str], batch_size: int = 4096) -> pd.DataFrame:
        """Predict kcat for (enzyme sequence, substrate SMILES) pairs (the strict pair API).

        Both inputs are required here: a row with a missing or invalid sequence or SMILES gets that reason as its
        status and NaN values (use :meth:`predict_rows` for sequence-free and reaction-aware predictions).

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
        out = self.predict_rows(pd.DataFrame({"sequence": pd.Series(sequences, dtype=object),
                                              "smiles": pd.Series(smiles, dtype=object)}),
                                batch_size=batch_size, _strict_pairs=True)
        return out[COLUMNS].reset_index(drop=True)

    def predict_rows(self, rows: pd.DataFrame, batch_size: int = 4096, _strict_pairs: bool = False
                     ) -> pd.DataFrame:
        """Predict kcat for rows that may lack a sequence, a substrate, a reaction or an EC.

        Parameters
        ----------
        rows : pandas.DataFrame
            Any of the columns ``sequence`` (amino acids), ``smiles`` (substrate), ``reaction_smiles``
            (``"subs>>prods"``, molecules joined by ``"."``), ``ec`` (``"1.1.1.1"``, several joined by ``";"``,
            partial ``"1.1.1.-"`` allowed), ``organism``, ``lineage`` (taxonomy joined by ``";"``); a missing
            column or a NaN / empty cell means "unknown".
        batch_size : int
            Rows per forward pass.

        Returns
        -------
        pandas.DataFrame
            Same length and order as ``rows``: ``log10_kcat_mean``, ``log10_kcat_std`` (calibrated when the
            checkpoint carries a calibration), ``kcat``, ``kcat_std`` (1/s), ``mode`` (``"sequence"``,
            ``"sequence_free"`` or ``""`` when not predicted), ``status`` (``"ok"`` or the reason, see
            ``docs/kcat_predictor.md``) and ``warnings`` (inputs that were present but ignored, e.g.
            ``"invalid_sequence"``, ``"invalid_reaction"``, ``"invalid_ec"``; ``""`` when none).
        """
        n = len(rows)
        rows = rows.reset_index(drop=True)
        if n == 0:
            return pd.DataFrame({c: pd.Series(dtype=object if c in ("mode", "status", "warnings") else float)
                                 for c in ROW_COLUMNS})
        if _strict_pairs or not self.reaction_aware:
            return self._predict_pairs(rows, batch_size, strict=_strict_pairs)
        from .features import featurise_rows

        hp = self.ensemble.hparams
        rf = featurise_rows(rows, self.protein_featuriser, self.substrate_featuriser, hp["rxn_bits"],
                            hp["org_bins"], self.cache_dir)
        return self._predict_features(rf, batch_size)

    def _predict_features(self, rf, batch_size: int = 4096) -> pd.DataFrame:
        """Predictions of featurised rows (reaction-aware checkpoints)."""
        n = len(rf.status)
        status = rf.status.copy()
        mode = np.where(status == OK, np.where(rf.has_prot, SEQUENCE, SEQUENCE_FREE), "").astype(object)
        mean, std, kstd = (np.full(n, np.nan) for _ in range(3))
        idx = np.flatnonzero(status == OK)
        if len(idx):
            members = self.ensemble.predict_members(self.ensemble.tensors(rf, idx), batch_size)
            mean[idx], std[idx], kstd[idx] = self._summarise(members, mode[idx])
        return pd.DataFrame({"log10_kcat_mean": mean, "log10_kcat_std": std, "kcat": 10.0 ** mean,
                             "kcat_std": kstd, "mode": mode, "status": status, "warnings": rf.warnings})

    def _summarise(self, members: np.ndarray, mode: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mean, (calibrated) std of log10 kcat and the matching spread in 1/s."""
        mean = members.mean(0)
        raw = members.std(0, ddof=1) if len(members) > 1 else np.zeros(members.shape[1])
        cal = getattr(self.ensemble, "calibration", None)
        if cal:
            std = self.ensemble.calibrate_std(raw, mode)
            # Spread in 1/s by first-order propagation of the calibrated log10 std: ln(10) * kcat * std. (The
            # exact log-normal std, kcat * sqrt(exp((std ln10)^2) - 1), explodes for std > 1 log10 unit and would
            # send every tuning move to its clip bound.)
            kstd = np.log(10.0) * 10.0 ** mean * std
        else:
            std = raw
            kstd = (10.0 ** members).std(0, ddof=1) if len(members) > 1 else np.zeros(members.shape[1])
        return mean, std, kstd

    def _predict_pairs(self, rows: pd.DataFrame, batch_size: int, strict: bool) -> pd.DataFrame:
        """(sequence, SMILES) pairs: the strict pair API, and ``predict_rows`` with a version-1 checkpoint.

        Non-strict (a version-1 checkpoint behind ``predict_rows``): a row without a valid sequence gets status
        ``"sequence_free_unsupported"``; a row without a valid substrate SMILES ``"no_substrate_or_reaction"``
        (version-1 networks read neither reactions nor ECs).
        """
        from .cache import cached_featurise

        n = len(rows)
        seqs = rows["sequence"].tolist() if "sequence" in rows else [""] * n
        smis = rows["smiles"].tolist() if "smiles" in rows else [""] * n
        seq_keys = ["" if not isinstance(s, str) else s for s in seqs]
        smi_keys = ["" if not isinstance(s, str) else s for s in smis]
        # Featurise each distinct sequence / SMILES once: models repeat enzymes and substrates a lot.
        useq, inv_p = np.unique(np.asarray(seq_keys, dtype=object), return_inverse=True)
        usmi, inv_s = np.unique(np.asarray(smi_keys, dtype=object), return_inverse=True)
        pb = cached_featurise(self.protein_featuriser, list(useq), self.cache_dir)
        sb = self.substrate_featuriser.featurise(list(usmi))
        p_status, s_status = pb.status[inv_p], sb.status[inv_s]
        status = np.full(n, OK, dtype=object)
        warnings = np.full(n, "", dtype=object)
        if strict:
            for i in np.flatnonzero((p_status != OK) | (s_status != OK)):
                status[i] = ";".join(s for s in (p_status[i], s_status[i]) if s != OK)
        else:
            for i in np.flatnonzero((p_status != OK) | (s_status != OK)):
                status[i] = "no_substrate_or_reaction" if s_status[i] != OK else "sequence_free_unsupported"
                bad = [s for s in (p_status[i], s_status[i]) if s not in (OK, "empty_sequence", "empty_smiles")]
                warnings[i] = ";".join(bad)
        ok = status == OK
        mode = np.where(ok, SEQUENCE, "").astype(object)
        mean, std, kstd = (np.full(n, np.nan) for _ in range(3))
        idx = np.flatnonzero(ok)
        if len(idx):
            if self.reaction_aware:
                from .features import featurise_rows

                hp = self.ensemble.hparams
                sub_rows = pd.DataFrame({"sequence": [seq_keys[i] for i in idx], "smiles": [smi_keys[i] for i in idx]})
                rf = featurise_rows(sub_rows, self.protein_featuriser, self.substrate_featuriser, hp["rxn_bits"],
                                    hp["org_bins"], self.cache_dir)
                members = self.ensemble.predict_members(self.ensemble.tensors(rf), batch_size)
            else:
                members = self.ensemble.predict_members(pb.values[inv_p[idx]], sb.values[inv_s[idx]], batch_size)
            mean[idx], std[idx], kstd[idx] = self._summarise(members, mode[idx])
        return pd.DataFrame({"log10_kcat_mean": mean, "log10_kcat_std": std, "kcat": 10.0 ** mean,
                             "kcat_std": kstd, "mode": mode, "status": status, "warnings": warnings})
