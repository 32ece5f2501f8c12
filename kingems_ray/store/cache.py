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
import pyarrow as pa
import scipy.sparse as sp

from ..ec.compile import CompiledModel
from ..solver.highs import LinearProblem

log = logging.getLogger(__name__)

#: Bumped whenever the layout of CompiledModel or of this file changes (old entries are then ignored).
FORMAT_VERSION = 1

_BUILTIN_PREFIX = "builtin:"


# -- ids and keys ------------------------------------------------------------------------------------------------------
def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            b = fh.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def model_content_id(model: str | Path) -> str:
    """A stable id for a model's content: ``sha256:<hex>`` of the file, or ``builtin:<name>@cobra-<version>``.

    A missing file gets ``missing:<path>`` so that a unit for it still has a deterministic id (and fails when run).
    """
    from ..gem.io import _BUILTIN

    s = str(model)
    if s in _BUILTIN and not Path(s).exists():
        import cobra

        return f"{_BUILTIN_PREFIX}{s}@cobra-{cobra.__version__}"
    p = Path(s)
    if not p.is_file():
        return f"missing:{p}"
    return "sha256:" + file_sha256(p)


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: the same parameters always give the same text."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def cache_key(content_id: str, params: dict[str, Any]) -> str:
    """Key of a compiled entry: hash of the model content id, the compile parameters and the format version."""
    text = canonical_json({"model": content_id, "params": params, "format": FORMAT_VERSION})
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def default_cache_dir() -> Path:
    """``$KINGEMS_CACHE`` or ``~/.cache/kingems-ray``, plus ``/compiled``."""
    env = os.environ.get("KINGEMS_CACHE")
    root = Path(env) if env else Path.home() / ".cache" / "kingems-ray"
    return root / "compiled"


# -- (de)serialisation -------------------------------------------------------------------------------------------------
def _df_bytes(df: pd.DataFrame | None) -> np.ndarray:
    if df is None:
        return np.zeros(0, dtype=np.uint8)
    table = pa.Table.from_pandas(df, preserve_index=True)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return np.frombuffer(sink.getvalue().to_pybytes(), dtype=np.uint8)


def _df_from(arr: np.ndarray) -> pd.DataFrame | None:
    if arr.size == 0:
        return None
    with pa.ipc.open_stream(pa.py_buffer(arr.tobytes())) as reader:
        return reader.read_pandas()


def _strs(values: list[str]) -> np.ndarray:
    # Fixed-width unicode: no pickle needed; an empty list still needs a dtype.
    return np.asarray(list(values), dtype=str) if len(values) else np.zeros(0, dtype="<U1")


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    return obj


def compiled_to_arrays(cm: CompiledModel) -> dict[str, np.ndarray]:
    """Every field of a :class:`CompiledModel` as named numpy arrays (see the module docstring)."""
    A = sp.csc_matrix(cm.lp.A)
    clause_ptr = [0]
    gene_ptr = [0]
    genes: list[int] = []
    for clauses in cm.rxn_clauses:
        for c in clauses:
            genes.extend(int(g) for g in c)
            gene_ptr.append(len(genes))
        clause_ptr.append(len(gene_ptr) - 1)
    meta = {
        "format": FORMAT_VERSION,
        "model_id": cm.model_id,
        "objective_rxn": cm.objective_rxn,
        "maximize": bool(cm.lp.maximize),
        "shape": list(A.shape),
        "enzyme_col": {g: int(c) for g, c in cm.enzyme_col.items()},
        "pool_row": None if cm.pool_row is None else int(cm.pool_row),
        "pool": cm.pool,
        "level": cm.level,
        "report": _jsonable(cm.report),
    }
    return {
        "meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
        "A_data": A.data.astype(float),
        "A_indices": A.indices.astype(np.int64),
        "A_indptr": A.indptr.astype(np.int64),
        "col_lb": np.asarray(cm.lp.col_lb, float),
        "col_ub": np.asarray(cm.lp.col_ub, float),
        "row_lb": np.asarray(cm.lp.row_lb, float),
        "row_ub": np.asarray(cm.lp.row_ub, float),
        "cost": np.asarray(cm.lp.cost, float),
        "col_names": _strs(cm.lp.col_names),
        "row_names": _strs(cm.lp.row_names),
        "rxn_ids": _strs(cm.rxn_ids),
        "gene_ids": _strs(cm.gene_ids),
        "met_ids": _strs(cm.met_ids),
        "fwd_col": np.asarray(cm.fwd_col, np.int64),
        "rev_col": np.asarray(cm.rev_col, np.int64),
        "rxn_lb": np.asarray(cm.rxn_lb, float),
        "rxn_ub": np.asarray(cm.rxn_ub, float),
        "clause_ptr": np.asarray(clause_ptr, np.int64),
        "gene_ptr": np.asarray(gene_ptr, np.int64),
        "clause_genes": np.asarray(genes, np.int64),
        "pairs": _df_bytes(cm.pairs),
        "coef_entries": _df_bytes(cm.coef_entries),
    }


def compiled_from_arrays(z: Any) -> CompiledModel:
    """Rebuild a :class:`CompiledModel` from :func:`compiled_to_arrays` output (or an open npz)."""
    meta = json.loads(bytes(z["meta"]).decode())
    if meta.get("format") != FORMAT_VERSION:
        raise ValueError(f"compiled cache format {meta.get('format')} != {FORMAT_VERSION}")
    A = sp.csc_matrix((z["A_data"], z["A_indices"], z["A_indptr"]), shape=tuple(meta["shape"]))
    lp = LinearProblem(
        A=A,
        col_lb=z["col_lb"].copy(),
        col_ub=z["col_ub"].copy(),
        row_lb=z["row_lb"].copy(),
        row_ub=z["row_ub"].copy(),
        cost=z["cost"].copy(),
        col_names=z["col_names"].tolist(),
        row_names=z["row_names"].tolist(),
        maximize=bool(meta["maximize"]),
    )
    # Python lists first: slicing lists is ~20x faster than building tuples from numpy scalars.
    cp, gp, cg = z["clause_ptr"].tolist(), z["gene_ptr"].tolist(), z["clause_genes"].tolist()
    per_clause = [tuple(cg[gp[c] : gp[c + 1]]) for c in range(len(gp) - 1)]
    clauses = [per_clause[cp[j] : cp[j + 1]] for j in range(len(cp) - 1)]
    return CompiledModel(
        lp=lp,
        model_id=meta["model_id"],
        rxn_ids=z["rxn_ids"].tolist(),
        fwd_col=z["fwd_col"].astype(int),
        rev_col=z["rev_col"].astype(int),
        rxn_lb=z["rxn_lb"].copy(),
        rxn_ub=z["rxn_ub"].copy(),
        objective_rxn=meta["objective_rxn"],
        gene_ids=z["gene_ids"].tolist(),
        rxn_clauses=clauses,
        met_ids=z["met_ids"].tolist(),
        enzyme_col={g: int(c) for g, c in meta["enzyme_col"].items()},
        coef_entries=_df_from(z["coef_entries"]),
        pairs=_df_from(z["pairs"]),
        pool_row=meta["pool_row"],
        pool=meta["pool"],
        level=meta["level"],
        report=meta["report"],
    )


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
