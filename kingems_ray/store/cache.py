"""Compiled-model cache: parse and compile each SBML once, then load the compiled form in milliseconds.

Format
------
One uncompressed ``.npz`` file per entry (numpy's zip of ``.npy`` arrays), written to a temporary name and
``os.replace``-d into place, so a reader sees either nothing or a complete entry:

* numeric arrays (the sparse LP in CSC parts, bounds, costs, column maps) as native ``.npy`` members;
* string lists (column/row/reaction/gene/metabolite ids) as fixed-width unicode arrays (no pickle);
* GPR clauses as a ragged CSR encoding (clause pointer per reaction, gene pointer per clause);
* the ``pairs`` and ``coef_entries`` tables as Arrow IPC stream bytes (types and index preserved);
* the small rest (ids, level, pool, report, enzyme map) as one JSON member.

Why npz + JSON rather than an Arrow file: a ``CompiledModel`` is mostly a handful of large numeric arrays of
different lengths plus a few tables; npz stores each array as-is (no row alignment, loads with ``allow_pickle=False``
in a few ms, no pickle so a cache file cannot run code) and one file per entry makes the atomic write trivial.
The two DataFrames go through Arrow because that keeps their dtypes exactly.

Keys: ``sha256(model content id, compile parameters, kcat-table content hash, FORMAT_VERSION)``; a changed file,
kcat table, level or pool gives a new entry, never a stale one. Nothing here imports Ray.

An entry may carry an ``extra`` JSON member (:func:`save_compiled_entry`, :func:`get_entry` / :func:`put_entry`):
community members keep their exchange reactions there, in the same cache folder as the sweeps' compiled models.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..ec.compiled import FORMAT_VERSION, CompiledModel, _jsonable, compiled_key
from ..hashing import canonical_json, digest, file_sha256

log = logging.getLogger(__name__)

__all__ = [
    "FORMAT_VERSION", "CompiledCache", "ContentCache", "atomic_write_bytes", "cache_key", "canonical_json",
    "compiled_from_arrays", "compiled_to_arrays", "default_cache_dir", "file_sha256", "load_compiled",
    "model_content_id", "save_compiled",
]

_BUILTIN_PREFIX = "builtin:"


# -- ids and keys ------------------------------------------------------------------------------------------------------
def model_content_id(model: str | Path) -> str:
    """A stable id for a model's content: ``sha256:<hex>`` of the file, or ``builtin:<name>@cobra-<version>``.

    A missing file gets ``missing:<path>`` so that a unit for it still has a deterministic id (and fails when run).
    """
    from ..gem.io import _BUILTIN

    s = str(model)
    if s in _BUILTIN and not Path(s).exists():
        from importlib.metadata import version  # not ``import cobra``: that costs ~1.5 s

        return f"{_BUILTIN_PREFIX}{s}@cobra-{version('cobra')}"
    p = Path(s)
    if not p.is_file():
        return f"missing:{p}"
    return "sha256:" + file_sha256(p)


def cache_key(content_id: str, params: dict[str, Any]) -> str:
    """Key of a compiled entry: hash of the model content id, the compile parameters and the format version
    (:func:`kingems_ray.ec.compiled.compiled_key`)."""
    return compiled_key(content_id, params)


def default_cache_dir() -> Path:
    """``$KINGEMS_CACHE`` or ``~/.cache/kingems-ray``, plus ``/compiled``."""
    env = os.environ.get("KINGEMS_CACHE")
    root = Path(env) if env else Path.home() / ".cache" / "kingems-ray"
    return root / "compiled"


# -- (de)serialisation -------------------------------------------------------------------------------------------------
def compiled_to_arrays(cm: CompiledModel) -> dict[str, np.ndarray]:
    """Every field of a :class:`CompiledModel` as named numpy arrays (:meth:`CompiledModel.to_arrays`)."""
    return cm.to_arrays()


def compiled_from_arrays(z: Any) -> CompiledModel:
    """Rebuild a :class:`CompiledModel` from :func:`compiled_to_arrays` output (:meth:`CompiledModel.from_arrays`)."""
    return CompiledModel.from_arrays(z)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, fsync, ``os.replace``)."""
    from .lock import writer_tag

    path.parent.mkdir(parents=True, exist_ok=True)
    # The writer's tag in the name: a cleaner removes only its own and dead writers' leftovers (store.lock).
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{writer_tag()}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def save_compiled(cm: CompiledModel, path: str | Path) -> None:
    """Write a compiled model to ``path`` (``.npz``) atomically."""
    buf = io.BytesIO()
    np.savez(buf, **compiled_to_arrays(cm))
    atomic_write_bytes(Path(path), buf.getvalue())


def load_compiled(path: str | Path) -> CompiledModel:
    """Read a compiled model written by :func:`save_compiled` (no pickle)."""
    with np.load(path, allow_pickle=False) as z:
        return compiled_from_arrays(z)


# -- the cache ---------------------------------------------------------------------------------------------------------
class CompiledCache:
    """A folder of compiled models keyed by content + compile parameters.

    Safe to share between processes and nodes on one filesystem: entries are written atomically and two workers
    compiling the same entry at once both produce the same bytes (the last ``os.replace`` wins).

    Parameters
    ----------
    root : str or Path, optional
        Folder; default :func:`default_cache_dir`.
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()
        self.hits = 0
        self.misses = 0

    def path(self, key: str) -> Path:
        """File of an entry (two-level fan-out keeps folders small at 10^4 models)."""
        return self.root / key[:2] / f"{key}.npz"

    def get(self, key: str) -> CompiledModel | None:
        """The entry, or ``None`` when absent or unreadable (a corrupt entry is treated as a miss)."""
        p = self.path(key)
        if not p.exists():
            return None
        try:
            return load_compiled(p)
        except Exception as exc:  # a truncated/foreign file must not stop a sweep: recompile instead
            log.warning("ignoring unreadable cache entry %s (%s: %s)", p, type(exc).__name__, exc)
            return None

    def put(self, key: str, cm: CompiledModel) -> Path:
        """Store an entry; returns its path."""
        p = self.path(key)
        save_compiled(cm, p)
        return p

    def get_or_compile(self, key: str, compile_fn: Callable[[], CompiledModel]) -> tuple[CompiledModel, bool]:
        """Load the entry or build it with ``compile_fn`` and store it.

        Returns
        -------
        (CompiledModel, bool)
            The model and whether it came from the cache.
        """
        cm = self.get(key)
        if cm is not None:
            self.hits += 1
            return cm, True
        self.misses += 1
        t0 = time.perf_counter()
        cm = compile_fn()
        self.put(key, cm)
        log.debug("compiled %s in %.2f s", key, time.perf_counter() - t0)
        return cm, False


# -- any content-keyed artefact ----------------------------------------------------------------------------------------
class ContentCache:
    """A folder of content-keyed artefacts: arrays (``.npz``, no pickle) and tables (``.parquet``).

    The key is :func:`kingems_ray.hashing.digest` of whatever identifies the content (ids, parameters, versions):
    the same inputs always give the same key, changed inputs a new entry, never a stale one. Writes are atomic, so
    processes and nodes sharing the folder see either nothing or a complete entry.

    Parameters
    ----------
    root : str or Path
        Folder (e.g. ``default_cache_dir().parent / "members"``).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @staticmethod
    def key(identity: Any) -> str:
        """Key of an artefact identified by ``identity`` (any JSON-able value)."""
        return digest(identity)

    def path(self, key: str, suffix: str) -> Path:
        """File of an entry (two-level fan-out)."""
        return self.root / key[:2] / f"{key}{suffix}"

    def put_arrays(self, key: str, arrays: dict[str, np.ndarray]) -> Path:
        """Store named arrays (``np.savez``, uncompressed); returns the path."""
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        p = self.path(key, ".npz")
        atomic_write_bytes(p, buf.getvalue())
        return p

    def get_arrays(self, key: str) -> dict[str, np.ndarray] | None:
        """The stored arrays, or ``None`` when absent or unreadable (read without pickle)."""
        p = self.path(key, ".npz")
        if not p.exists():
            return None
        try:
            with np.load(p, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except Exception as exc:  # a truncated/foreign file is a miss, not an error
            log.warning("ignoring unreadable cache entry %s (%s: %s)", p, type(exc).__name__, exc)
            return None

    def put_table(self, key: str, df: pd.DataFrame) -> Path:
        """Store a table as Parquet; returns the path."""
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        p = self.path(key, ".parquet")
        atomic_write_bytes(p, buf.getvalue())
        return p

    def get_table(self, key: str) -> pd.DataFrame | None:
        """The stored table, or ``None`` when absent or unreadable."""
        p = self.path(key, ".parquet")
        if not p.exists():
            return None
        try:
            return pd.read_parquet(p)
        except Exception as exc:
            log.warning("ignoring unreadable cache entry %s (%s: %s)", p, type(exc).__name__, exc)
            return None


# -- entries with extra data (community members) -----------------------------------------------------------------------
#: npz member holding an entry's extra JSON (absent from plain entries).
_EXTRA = "extra"


def save_compiled_entry(cm: CompiledModel, path: str | Path, extra: dict[str, Any]) -> None:
    """Write a compiled model plus a JSON-able ``extra`` dict (e.g. a community member's exchanges) atomically."""
    arrays = compiled_to_arrays(cm)
    arrays[_EXTRA] = np.frombuffer(json.dumps(_jsonable(extra)).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(Path(path), buf.getvalue())


def load_compiled_entry(path: str | Path) -> tuple[CompiledModel, dict[str, Any]]:
    """Read an entry of :func:`save_compiled_entry` (``extra`` is ``{}`` for a plain entry); never unpickles."""
    with np.load(path, allow_pickle=False) as z:
        extra = json.loads(bytes(z[_EXTRA]).decode()) if _EXTRA in z.files else {}
        return compiled_from_arrays(z), extra


def table_sha256(df: pd.DataFrame) -> str:
    """Hex sha256 of a table's content (column names, dtypes, index and values), for cache keys."""
    h = hashlib.sha256(canonical_json([list(map(str, df.columns)), [str(t) for t in df.dtypes]]).encode())
    h.update(pd.util.hash_pandas_object(df, index=True).to_numpy().tobytes())
    return h.hexdigest()


def get_entry(cache: CompiledCache, key: str) -> tuple[CompiledModel, dict[str, Any]] | None:
    """An entry of ``cache`` with its extra data, or ``None`` when absent or unreadable (counted as hit / miss)."""
    p = cache.path(key)
    if p.exists():
        try:
            out = load_compiled_entry(p)
            cache.hits += 1
            return out
        except Exception as exc:  # a truncated or foreign file (a pickle, say) is a miss, never loaded
            log.warning("ignoring unreadable cache entry %s (%s: %s)", p, type(exc).__name__, exc)
    cache.misses += 1
    return None


def put_entry(cache: CompiledCache, key: str, cm: CompiledModel, extra: dict[str, Any]) -> Path:
    """Store an entry with extra data in ``cache``; returns its path."""
    p = cache.path(key)
    save_compiled_entry(cm, p, extra)
    return p
