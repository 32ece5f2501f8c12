"""ESM-2 protein encoder (fair-esm), loaded from a local checkpoint file only.

The weights are never downloaded here: pass ``checkpoint=<file.pt>`` or place ``<model_name>.pt`` in the torch
hub cache (``torch.hub.get_dir()/checkpoints/``), the layout fair-esm itself downloads into. A missing file
raises :class:`~kingems_ray.errors.DataNotFoundError` naming the path that was looked for.
"""

from __future__ import annotations

import argparse
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import DataNotFoundError
from .features import OK, FeatureBatch, Featuriser, clean_sequence, register_featuriser

# ESM-2 was trained on crops of 1,024 tokens including BOS/EOS.
MAX_RESIDUES = 1022


def hub_checkpoint_path(model_name: str) -> Path:
    """Where fair-esm's hub loader keeps ``<model_name>.pt``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / f"{model_name}.pt"


def resolve_checkpoint(model_name: str, checkpoint: str | Path | None = None) -> Path:
    """Return the checkpoint file for ``model_name``, or raise naming what is missing.

    Parameters
    ----------
    model_name : str
        e.g. ``"esm2_t33_650M_UR50D"``.
    checkpoint : str or Path, optional
        Explicit file; a directory is searched for ``<model_name>.pt``.

    Raises
    ------
    DataNotFoundError
        When the file does not exist.
    """
    if checkpoint is not None:
        path = Path(checkpoint)
        if path.is_dir():
            path = path / f"{model_name}.pt"
    else:
        path = hub_checkpoint_path(model_name)
    if not path.is_file():
        raise DataNotFoundError(
            f"ESM-2 checkpoint not found: {path} (model {model_name!r}). Weights are not downloaded "
            "automatically: copy the fair-esm checkpoint there, pass checkpoint=<file>, or use the offline "
            "'composition' protein encoder."
        )
    return path


def _torch_load_trusted(path: Path) -> Any:
    """Load an ESM checkpoint with ``weights_only=True`` only: a file that needs full unpickling is refused.

    fair-esm checkpoints hold an ``argparse.Namespace`` config, the one non-tensor type allowed here. Nothing
    in a checkpoint file is ever executed (a crafted pickle raises instead of running).

    Raises
    ------
    ValueError
        When the file is not loadable as weights only, with how to convert a trusted file.
    """
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(str(path), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError) as exc:
        raise ValueError(
            f"refusing to load ESM checkpoint {path}: it is not loadable with torch.load(weights_only=True) "
            f"({str(exc).splitlines()[0]}). Files that need full unpickling can run code and are never loaded. "
            "If you trust the file, re-save it as weights only once, in a separate Python session: "
            "d = torch.load(path, weights_only=False); keep only tensors, plain dicts / lists / numbers / strings "
            "and the argparse.Namespace config; torch.save(d, new_path); then pass checkpoint=new_path."
        ) from None


def load_esm_model(model_name: str, checkpoint: str | Path | None = None) -> tuple[torch.nn.Module, Any]:
    """Load an ESM-2 model and its alphabet with fair-esm's own loader code.

    Parameters
    ----------
    model_name : str
        Name starting with ``"esm2"``; decides fair-esm's code path and the contact-regression file name.
    checkpoint : str or Path, optional
        See :func:`resolve_checkpoint`.

    Returns
    -------
    (torch.nn.Module, esm.data.Alphabet)
        The model in eval mode on CPU, and its alphabet.
    """
    import esm.pretrained

    path = resolve_checkpoint(model_name, checkpoint)
    model_data = _torch_load_trusted(path)
    regression_path = path.with_name(path.stem + "-contact-regression.pt")
    regression_data = _torch_load_trusted(regression_path) if regression_path.is_file() else None
    # The contact head is irrelevant for embeddings; fair-esm only warns when its weights are absent.
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Regression weights not found")
        model, alphabet = esm.pretrained.load_model_and_alphabet_core(model_name, model_data, regression_data)
    model.eval()
    return model, alphabet


@register_featuriser("esm2")
class EsmFeaturiser(Featuriser):
    """ESM-2 embeddings of protein sequences.

    Parameters
    ----------
    model_name : str
        fair-esm model name, e.g. ``"esm2_t33_650M_UR50D"``.
    checkpoint : str, optional
        Local checkpoint file or folder; default: the torch hub cache.
    layer : int
        Representation layer; ``-1`` means the last.
    pooling : {"mean", "per_residue"}
        ``featurise`` always mean-pools (fixed-length vectors); :meth:`embed_per_residue` gives per-residue
        arrays.
    device : str, optional
        ``"cuda"``/``"cpu"``; default CUDA when available.
    max_tokens : int
        Token budget per batch (sequences are sorted by length and packed).
    """

    kind = "protein"

    def __init__(self, model_name: str = "esm2_t33_650M_UR50D", checkpoint: str | None = None, layer: int = -1,
                 pooling: str = "mean", device: str | None = None, max_tokens: int = 4096) -> None:
        if pooling not in ("mean", "per_residue"):
            raise ValueError(f"pooling must be 'mean' or 'per_residue', not {pooling!r}")
        self.model_name = model_name
        self.checkpoint = None if checkpoint is None else str(checkpoint)
        self.pooling = pooling
        self.max_tokens = int(max_tokens)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model, self.alphabet = load_esm_model(model_name, checkpoint)
        self.model.to(self.device)
        n_layers = self.model.num_layers
        self.layer = n_layers if layer == -1 else int(layer)
        if not 0 <= self.layer <= n_layers:
            raise ValueError(f"layer {layer} out of range for {model_name} ({n_layers} layers)")
        self._converter = self.alphabet.get_batch_converter()

    def params(self) -> dict[str, Any]:
        # The checkpoint path and device are machine-specific: not part of the encoder's identity.
        return {"model_name": self.model_name, "layer": self.layer, "pooling": "mean"}

    @property
    def dim(self) -> int:
        return int(self.model.embed_dim)

    def _batches(self, seqs: list[str]) -> list[list[int]]:
        order = np.argsort([len(s) for s in seqs])[::-1]
        batches: list[list[int]] = []
        cur: list[int] = []
        for i in order:
            longest = len(seqs[cur[0]]) + 2 if cur else len(seqs[i]) + 2
            if cur and longest * (len(cur) + 1) > self.max_tokens:
                batches.append(cur)
                cur = []
            cur.append(int(i))
        if cur:
            batches.append(cur)
        return batches

    @torch.no_grad()
    def embed_per_residue(self, sequences: Sequence[str]) -> tuple[list[np.ndarray | None], np.ndarray]:
        """Per-residue representations (``L x dim``, first 1,022 residues) and a status per sequence."""
        cleaned, status = [], np.empty(len(sequences), dtype=object)
        for i, s in enumerate(sequences):
            c, st = clean_sequence(s)
            cleaned.append(c[:MAX_RESIDUES])
            status[i] = st
        ok = [i for i in range(len(sequences)) if status[i] == OK]
        out: list[np.ndarray | None] = [None] * len(sequences)
        for batch in self._batches([cleaned[i] for i in ok]):
            idx = [ok[j] for j in batch]
            _, _, tokens = self._converter([(str(i), cleaned[i]) for i in idx])
            reps = self.model(tokens.to(self.device), repr_layers=[self.layer])["representations"][self.layer]
            for row, i in enumerate(idx):
                n = len(cleaned[i])
                out[i] = reps[row, 1 : n + 1].float().cpu().numpy()  # drop BOS, EOS and padding
        return out, status

    def featurise(self, items: Sequence[str]) -> FeatureBatch:
        per_res, status = self.embed_per_residue(items)
        values = np.zeros((len(items), self.dim), dtype=np.float32)
        for i, r in enumerate(per_res):
            if r is not None:
                values[i] = r.mean(axis=0)
        return FeatureBatch(values, status)
