"""Embedding cache: protein vectors keyed by sha256(encoder key + sequence), stored as Parquet.

Protein language model embeddings are the expensive part of kcat prediction (seconds per sequence for ESM-2
650M on CPU), and the same enzymes recur across models and runs. The cache de-duplicates sequences before
encoding and writes new rows atomically (temporary file + rename), so an interrupted run loses nothing it
already wrote.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .features import FeatureBatch, Featuriser


def sequence_key(sequence: str, encoder_key: str = "") -> str:
    """sha256 hex digest of ``encoder_key`` + newline + ``sequence``.

    Parameters
    ----------
    sequence : str
        The raw sequence (hash the exact string the encoder sees).
    encoder_key : str
        Identifies the encoder and its parameters, so two encoders never share entries.
    """
    return hashlib.sha256(f"{encoder_key}\n{sequence}".encode()).hexdigest()


class EmbeddingCache:
    """Parquet-backed map from sequence hash to (status, embedding) for one encoder.

    Parameters
    ----------
    path : str or Path
        Parquet file; created on first write. Use one file per encoder (the file name may hold
        :meth:`Featuriser.cache_key`), though keys are also salted with the encoder key.
    encoder_key : str
        Salt for the keys (normally ``featuriser.cache_key()``).
    """

    def __init__(self, path: str | Path, encoder_key: str = "") -> None:
        self.path = Path(path)
        self.encoder_key = encoder_key
        self._store: dict[str, tuple[str, np.ndarray]] = {}
        self.n_encoded = 0  # sequences actually sent to the encoder through this cache (for tests / logs)
        if self.path.exists():
            table = pq.read_table(self.path)
            keys = table.column("key").to_pylist()
            status = table.column("status").to_pylist()
            emb = table.column("embedding").to_pylist()
            for k, s, e in zip(keys, status, emb):
                self._store[k] = (s, np.asarray(e, dtype=np.float32))

    def __len__(self) -> int:
        return len(self._store)

    def __contains__(self, sequence: str) -> bool:
        return sequence_key(sequence, self.encoder_key) in self._store

    def encode(self, featuriser: Featuriser, sequences: Sequence[str]) -> FeatureBatch:
        """Return features for ``sequences``, encoding only those not yet cached.

        Parameters
        ----------
        featuriser : Featuriser
            Protein encoder used for cache misses.
        sequences : sequence of str
            Input sequences, duplicates allowed.

        Returns
        -------
        FeatureBatch
            One row per input, in order.
        """
        keys = [sequence_key(s if isinstance(s, str) else "", self.encoder_key) for s in sequences]
        missing: dict[str, str] = {}
        for k, s in zip(keys, sequences):
            if k not in self._store and k not in missing:
                missing[k] = s
        if missing:
            new = featuriser.featurise(list(missing.values()))
            self.n_encoded += len(missing)
            for j, k in enumerate(missing):
                self._store[k] = (str(new.status[j]), new.values[j].astype(np.float32))
            self.save()
        dim = featuriser.dim
        values = np.zeros((len(sequences), dim), dtype=np.float32)
        status = np.empty(len(sequences), dtype=object)
        for i, k in enumerate(keys):
            st, vec = self._store[k]
            status[i] = st
            values[i] = vec
        return FeatureBatch(values, status)

    def save(self) -> None:
        """Write all entries to :attr:`path` atomically."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = list(self._store)
        table = pa.table(
            {
                "key": pa.array(keys, pa.string()),
                "status": pa.array([self._store[k][0] for k in keys], pa.string()),
                "embedding": pa.array([self._store[k][1] for k in keys], pa.list_(pa.float32())),
            }
        )
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, suffix=".parquet.tmp")
        os.close(fd)
        try:
            pq.write_table(table, tmp)
            os.replace(tmp, self.path)  # rename is atomic: readers never see half a file
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


def cached_featurise(featuriser: Featuriser, sequences: Sequence[str], cache_dir: str | Path | None) -> FeatureBatch:
    """Featurise proteins through an :class:`EmbeddingCache` in ``cache_dir`` (no cache when ``None``).

    The file is ``<cache_dir>/<featuriser name>-<cache key>.parquet``.
    """
    if cache_dir is None:
        return featuriser.featurise(list(sequences))
    path = Path(cache_dir) / f"{featuriser.name}-{featuriser.cache_key()}.parquet"
    return EmbeddingCache(path, featuriser.cache_key()).encode(featuriser, sequences)
