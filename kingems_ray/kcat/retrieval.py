"""Retrieval features for the kcat predictor: what the labelled corpus says about rows like this one.

For each row the predictor looks up the measured log10 kcats of corpus rows that share a key with it, at several
granularities: the same enzyme sequence, the same (EC, substrate), EC number at each level, the same substrate,
the same (organism, EC), the same reaction, the same (EC-3, substrate) and the same (organism, substrate). Each key
contributes three numbers: whether it was found, the mean log10 kcat there (centred on the corpus mean) and
log(1 + number of rows). The network learns how far to trust each level, the way a curator falls back from an
exact measurement to the enzyme class.

Leakage is controlled where the features are made, not here: training rows get *out-of-fold* features
(:meth:`RetrievalIndex.out_of_fold`: each fold looked up in an index of the other folds), held-out rows get
features from an index of the training rows only, and the index shipped in a checkpoint holds only the rows that
checkpoint trained on. The sequence key is dropped together with the protein block in the sequence-free mode.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Keys, most specific first. ``seq`` needs the sequence: it is dropped in the sequence-free mode.
KEYS = ("seq", "ec_sub", "ec4", "ec3", "ec2", "sub", "org_ec", "rxn", "ec3_sub", "org_sub")
SEQ_KEYS = ("seq",)
WIDTH = 3  # per key: found, centred mean, log1p(count)


def _hash(text: str) -> int:
    """A stable 63-bit hash (Python's ``hash`` is salted per process); 0 is reserved for "no key"."""
    h = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") & 0x7FFFFFFFFFFFFFFF
    return h or 1


def _species(organism: object) -> str:
    if not isinstance(organism, str) or not organism.strip():
        return ""
    words = organism.strip().lower().replace("[", "").replace("]", "").split()
    return " ".join(words[:2])


def row_keys(sequences: Sequence[str], substrates: Sequence[str], ec_levels: Sequence[Sequence[str]],
             organisms: Sequence[object], reactions: Sequence[object]) -> np.ndarray:
    """Hashed keys of rows, shape ``(n, len(KEYS))`` (0 where a key cannot be formed).

    Parameters
    ----------
    sequences : sequence of str
        Cleaned protein sequences (``""`` when none).
    substrates : sequence of str
        Canonical SMILES of the substrate the featuriser used (``""`` when none).
    ec_levels : sequence of list of str
        The four EC level prefixes per row (``""`` for unknown levels), as
        :func:`kingems_ray.kcat.features.ec_levels` gives them.
    organisms : sequence
        Organism names (genus and species are used).
    reactions : sequence
        Reaction SMILES (``""``/None when none).
    """
    n = len(sequences)
    out = np.zeros((n, len(KEYS)), dtype=np.int64)
    cache: dict[str, int] = {}

    def h(kind: str, *parts: str) -> int:
        if any(not p for p in parts):
            return 0
        text = kind + "\x1f" + "\x1f".join(parts)
        v = cache.get(text)
        if v is None:
            v = cache[text] = _hash(text)
        return v

    for i in range(n):
        lv = list(ec_levels[i]) + ["", "", "", ""]
        sub, sp = substrates[i] or "", _species(organisms[i])
        rxn = reactions[i] if isinstance(reactions[i], str) else ""
        out[i] = (h("seq", sequences[i] or ""), h("ec_sub", lv[3], sub), h("ec4", lv[3]), h("ec3", lv[2]),
                  h("ec2", lv[1]), h("sub", sub), h("org_ec", sp, lv[3] or lv[2]), h("rxn", rxn.strip()),
                  h("ec3_sub", lv[2], sub), h("org_sub", sp, sub))
    return out


@dataclass
class RetrievalIndex:
    """Mean log10 kcat and row count per hashed key, one sorted table per key kind.

    Attributes
    ----------
    tables : dict
        ``kind -> (sorted hashes int64, mean float32, count int32)``.
    y_mean : float
        Mean log10 kcat of the indexed rows (features are centred on it).
    """

    tables: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    y_mean: float

    @classmethod
    def fit(cls, keys: np.ndarray, y: np.ndarray) -> RetrievalIndex:
        """Index rows with keys ``keys`` (from :func:`row_keys`) and labels ``y`` (log10 kcat)."""
        y = np.asarray(y, dtype=float)
        tables = {}
        for j, kind in enumerate(KEYS):
            k = keys[:, j]
            ok = k != 0
            u, inv, cnt = np.unique(k[ok], return_inverse=True, return_counts=True)
            s = np.bincount(inv, weights=y[ok], minlength=len(u))
            tables[kind] = (u, (s / np.maximum(cnt, 1)).astype(np.float32), cnt.astype(np.int32))
        return cls(tables, float(y.mean()) if len(y) else 0.0)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Features of rows with ``keys``: ``(n, WIDTH * len(KEYS))`` float32 (zeros where not found)."""
        n = len(keys)
        out = np.zeros((n, WIDTH * len(KEYS)), dtype=np.float32)
        for j, kind in enumerate(KEYS):
            u, mean, cnt = self.tables[kind]
            k = keys[:, j]
            if not len(u):
                continue
            pos = np.clip(np.searchsorted(u, k), 0, len(u) - 1)
            hit = (u[pos] == k) & (k != 0)
            out[hit, WIDTH * j] = 1.0
            out[hit, WIDTH * j + 1] = mean[pos[hit]] - self.y_mean
            out[hit, WIDTH * j + 2] = np.log1p(cnt[pos[hit]])
        return out

    @classmethod
    def out_of_fold(cls, keys: np.ndarray, y: np.ndarray, n_folds: int = 5, seed: int = 0) -> np.ndarray:
        """Features of training rows, each fold looked up in an index of the other folds (no self-retrieval)."""
        fold = np.random.default_rng(seed).integers(0, n_folds, len(keys))
        out = np.zeros((len(keys), WIDTH * len(KEYS)), dtype=np.float32)
        for f in range(n_folds):
            m = fold == f
            if m.any():
                idx = cls.fit(keys[~m], np.asarray(y)[~m])
                out[m] = idx.lookup(keys[m])
        return out

    @staticmethod
    def drop_sequence(features: np.ndarray) -> np.ndarray:
        """A copy with the sequence keys marked not found (the sequence-free mode)."""
        f = features.copy()
        for kind in SEQ_KEYS:
            j = KEYS.index(kind)
            f[:, WIDTH * j : WIDTH * (j + 1)] = 0.0
        return f

    def to_state(self) -> dict:
        """Tensors and floats only, for a ``weights_only`` checkpoint."""
        import torch

        return {"y_mean": self.y_mean, "keys": list(KEYS),
                "tables": {k: [torch.from_numpy(u.copy()), torch.from_numpy(m.copy()), torch.from_numpy(c.copy())]
                           for k, (u, m, c) in self.tables.items()}}

    @classmethod
    def from_state(cls, d: dict) -> RetrievalIndex:
        """Inverse of :meth:`to_state`."""
        if list(d["keys"]) != list(KEYS):
            raise ValueError(f"retrieval index keys {d['keys']} do not match this code's {list(KEYS)}")
        return cls({k: (u.numpy().astype(np.int64), m.float().numpy(), c.numpy().astype(np.int32))
                    for k, (u, m, c) in d["tables"].items()}, float(d["y_mean"]))
