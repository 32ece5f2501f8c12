"""Results of a sweep: one Parquet dataset, one file per work unit, written atomically; a manifest of what is done.

Layout of a sweep folder ``OUT``::

    OUT/analysis=<name>/<unit_id>.parquet      one row per unit (hive-partitioned by analysis): the dataset
    OUT/_tables/analysis=<name>/<unit_id>.parquet   the unit's detail table, when the analysis returns one
    OUT/_units.parquet                          every planned unit (unit_id, model, analysis, params)
    OUT/_manifest.json                          counts and the ids done / failed, refreshed while the sweep runs
    OUT/_config.yaml                            the resolved sweep configuration

``pyarrow.dataset.dataset(OUT, partitioning="hive")`` reads the unit rows (names starting with ``_`` or ``.``
are ignored by pyarrow); every row has ``unit_id`` and ``status`` (``ok`` / ``failed``) plus ``error_type``,
``error_message``, ``attempts`` and the analysis's own scalar columns. Plain pyarrow takes the schema of the first
file it meets; :func:`open_dataset` / :func:`read_results` unify the per-analysis schemas.

Crash safety: a unit file is written to a hidden temporary name in the same folder and ``os.replace``-d into
place, so after a SIGKILL a unit either has its complete file or none. The files are the truth about what is done:
on resume the store lists them (the manifest is a summary, rebuilt from the files). A unit run again (retry of a
failure) replaces its file, so no unit ever has two records. Nothing here imports Ray.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from .cache import atomic_write_bytes, canonical_json

log = logging.getLogger(__name__)

STATUS_OK = "ok"
STATUS_FAILED = "failed"

#: Columns every unit row has, in this order, before the analysis's own columns.
BASE_COLUMNS = [
    "unit_id", "status", "analysis", "label", "model", "model_id", "params", "error_type", "error_message",
    "attempts", "elapsed_s", "worker",
]


def unit_id(model_content_id: str, analysis: str, params: dict[str, Any]) -> str:
    """Deterministic id of a work unit: hash of the model's content id, the analysis name and its parameters."""
    text = canonical_json({"model": model_content_id, "analysis": analysis, "params": params})
    return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass
class Unit:
    """One work unit: what to run, sent to workers as paths and ids (never a model object).

    Attributes
    ----------
    unit_id : str
    model : str
        Model path (absolute, or relative to the worker's working directory) or a cobra builtin name.
    model_key : str
        Content id of the model (:func:`kingems_ray.store.cache.model_content_id`).
    analysis : str
        Name in :mod:`kingems_ray.distributed.analyses`.
    params : dict
        JSON-able analysis parameters (including the model-preparation ones: medium, ecGEM settings).
    label : str
        A name for the unit's kind (e.g. ``fba_ec``), stored with its row; not part of the id.
    """

    unit_id: str
    model: str
    model_key: str
    analysis: str
    params: dict[str, Any] = field(default_factory=dict)
    label: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (what travels to a worker)."""
        return {"unit_id": self.unit_id, "model": self.model, "model_key": self.model_key,
                "analysis": self.analysis, "params": self.params, "label": self.label}


def _scalar(v: Any) -> Any:
    """A value that fits a Parquet scalar column (nested things become JSON text)."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v)
    if isinstance(v, (dict, list, tuple)):
        return canonical_json(v)
    return str(v)


def _parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _safe(name: str) -> str:
    # Partition values are analysis names from the registry; keep them path-safe anyway.
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


class ResultStore:
    """The results folder of one sweep (see the module docstring).

    Parameters
    ----------
    root : str or Path
        The sweep's output folder (created when missing).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _with_root(self, root: str | Path) -> ResultStore:
        self.root = Path(root)  # a read-only view: nothing is created
        return self

    def clean_temporaries(self) -> int:
        """Remove this process's temporaries and those left by dead writers on this host.

        A live writer's temporaries (another process on this host, or another host) are left alone, so that
        this is safe even when a second writer ignored the lock (:mod:`kingems_ray.store.lock`).
        """
        from .lock import removable_temp

        n = 0
        for p in self.root.rglob(".*.tmp"):
            if removable_temp(p):
                p.unlink(missing_ok=True)
                n += 1
        return n

    def damaged_files(self) -> list[Path]:
        """Unit row files and detail tables whose Parquet footer cannot be read (truncated, garbage)."""
        bad = []
        files = list(self.unit_files()) + sorted(p for p in (self.root / "_tables").glob("analysis=*/*.parquet")
                                                 if not p.name.startswith("."))
        for p in files:
            if not parquet_ok(p):
                bad.append(p)
        return bad

    def quarantine_damaged(self) -> list[Path]:
        """Move damaged files to ``OUT/_quarantine/`` so their units run again; returns the moved files' old paths.

        A damaged detail table also moves its unit's row file (the row means "done", and the unit is not).
        """
        import os

        bad = self.damaged_files()
        moved: list[Path] = []
        if not bad:
            return moved
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        qroot = self.root / "_quarantine" / stamp
        extra = []
        for p in bad:
            rel = p.relative_to(self.root)
            if rel.parts[0] == "_tables":  # _tables/analysis=<a>[.<name>]/<uid>.parquet -> that unit's row file
                part = rel.parts[1].split(".", 1)[0]
                row = self.root / part / p.name
                if row.exists() and row not in bad:
                    extra.append(row)
        for p in bad + extra:
            dest = qroot / p.relative_to(self.root)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(p, dest)
            moved.append(p)
        return moved

    # -- paths ---------------------------------------------------------------------------------------------------
    def unit_path(self, analysis: str, uid: str) -> Path:
        """File of a unit's row."""
        return self.root / f"analysis={_safe(analysis)}" / f"{uid}.parquet"

    def table_path(self, analysis: str, uid: str, name: str = "") -> Path:
        """File of a unit's detail table (``name``: an extra table, e.g. ``trajectory``)."""
        part = _safe(analysis) + (f".{_safe(name)}" if name else "")
        return self.root / "_tables" / f"analysis={part}" / f"{uid}.parquet"

    @property
    def manifest_path(self) -> Path:
        """The manifest (JSON)."""
        return self.root / "_manifest.json"

    @property
    def units_path(self) -> Path:
        """The planned units (Parquet)."""
        return self.root / "_units.parquet"

    # -- writing ---------------------------------------------------------------------------------------------------
    def write_unit(
        self, unit: Unit, record: dict[str, Any], table: pd.DataFrame | dict[str, pd.DataFrame] | None = None
    ) -> Path:
        """Write one unit's result atomically (its detail table first, then its row: the row means "done").

        Parameters
        ----------
        unit : Unit
        record : dict
            ``status``, ``error_type``, ``error_message``, ``attempts``, ``elapsed_s``, ``worker``, ``model_id``
            and the analysis's scalar results (anything nested is stored as JSON text).
        table : DataFrame or dict, optional
            A detail table (e.g. one row per gene of a knockout screen), or name -> table (``""`` the main one);
            ``unit_id`` is added as a column.
        """
        tables = table if isinstance(table, dict) else {"": table}
        for name, tb in tables.items():
            if tb is None or not len(tb.columns):
                continue
            t = tb.reset_index(drop=True).copy()
            t.insert(0, "unit_id", unit.unit_id)
            atomic_write_bytes(self.table_path(unit.analysis, unit.unit_id, name),
                               _parquet_bytes(pa.Table.from_pandas(t, preserve_index=False)))
        row: dict[str, Any] = {
            "unit_id": unit.unit_id,
            "status": record.get("status", STATUS_OK),
            "analysis": unit.analysis,
            "label": unit.label or unit.analysis,
            "model": unit.model,
            "model_id": record.get("model_id"),
            "params": canonical_json(unit.params),
            "error_type": record.get("error_type"),
            "error_message": record.get("error_message"),
            "attempts": int(record.get("attempts", 1)),
            "elapsed_s": float(record.get("elapsed_s", math.nan)),
            "worker": record.get("worker"),
        }
        for k, v in record.items():
            if k not in row and k not in ("table",):
                row[f"r_{k}" if k in BASE_COLUMNS else k] = _scalar(v)
        # Fixed types for the base columns, so every file of the dataset agrees on them.
        schema_fields = [
            pa.field("unit_id", pa.string()), pa.field("status", pa.string()), pa.field("analysis", pa.string()),
            pa.field("label", pa.string()), pa.field("model", pa.string()), pa.field("model_id", pa.string()),
            pa.field("params", pa.string()),
            pa.field("error_type", pa.string()), pa.field("error_message", pa.string()),
            pa.field("attempts", pa.int64()), pa.field("elapsed_s", pa.float64()), pa.field("worker", pa.string()),
        ]
        arrays = [pa.array([row[f.name]], type=f.type) for f in schema_fields]
        names = [f.name for f in schema_fields]
        for k, v in row.items():
            if k in names:
                continue
            # Numbers are stored as float64 so that a value that is an int in one unit and NaN in another agrees.
            if isinstance(v, bool):
                arrays.append(pa.array([v], type=pa.bool_()))
            elif isinstance(v, (int, float)):
                arrays.append(pa.array([float(v)], type=pa.float64()))
            elif v is None:
                continue
            else:
                arrays.append(pa.array([str(v)], type=pa.string()))
            names.append(k)
        # The partition column comes from the folder name: do not duplicate it in the file.
        keep = [i for i, n in enumerate(names) if n != "analysis"]
        tbl = pa.Table.from_arrays([arrays[i] for i in keep], names=[names[i] for i in keep])
        path = self.unit_path(unit.analysis, unit.unit_id)
        atomic_write_bytes(path, _parquet_bytes(tbl))
        return path

    def write_units(self, units: Iterable[Unit]) -> None:
        """Record the planned units (atomically)."""
        rows = [{"unit_id": u.unit_id, "model": u.model, "model_key": u.model_key, "analysis": u.analysis,
                 "params": canonical_json(u.params)} for u in units]
        df = pd.DataFrame(rows, columns=["unit_id", "model", "model_key", "analysis", "params"])
        atomic_write_bytes(self.units_path, _parquet_bytes(pa.Table.from_pandas(df, preserve_index=False)))

    def write_manifest_from(
        self, done: dict[str, str], planned: Iterable[str] | None = None, extra: dict[str, Any] | None = None
    ) -> dict:
        """Write the manifest atomically from a unit id -> status map.

        Returns
        -------
        dict
            ``n_planned, n_done, n_ok, n_failed, updated, done`` (unit id -> status), ``pending`` and ``extra``.
        """
        planned_ids = sorted(set(planned)) if planned is not None else None
        ok = sum(1 for s in done.values() if s == STATUS_OK)
        man: dict[str, Any] = {
            "n_planned": len(planned_ids) if planned_ids is not None else None,
            "n_done": len(done),
            "n_ok": ok,
            "n_failed": len(done) - ok,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if planned_ids is not None:
            man["pending"] = [u for u in planned_ids if u not in done]
        if extra:
            man.update(extra)
        man["done"] = dict(sorted(done.items()))
        atomic_write_bytes(self.manifest_path, json.dumps(man, indent=1).encode())
        return man

    def write_manifest(self, planned: Iterable[str] | None = None, extra: dict[str, Any] | None = None) -> dict:
        """Rebuild the manifest from the unit files (the truth) and write it atomically."""
        return self.write_manifest_from(self.done_statuses(), planned, extra)

    def read_manifest(self) -> dict:
        """The manifest, or ``{}`` when none was written yet."""
        if not self.manifest_path.exists():
            return {}
        return json.loads(self.manifest_path.read_text())

    # -- reading ---------------------------------------------------------------------------------------------------
    def unit_files(self) -> list[Path]:
        """Every unit row file (not temporaries)."""
        return sorted(p for p in self.root.glob("analysis=*/*.parquet") if not p.name.startswith("."))

    def done_units(self) -> set[str]:
        """Ids of the units that have a result file."""
        return {p.stem for p in self.unit_files()}

    def done_statuses(self) -> dict[str, str]:
        """Unit id -> status of every unit with a readable result file (reads only those two columns).

        A damaged file (unreadable footer) counts as not done, so its unit runs again.
        """
        files = self.unit_files()
        if not files:
            return {}
        try:
            t = ds.dataset([str(p) for p in files], format="parquet").to_table(columns=["unit_id", "status"])
        except (OSError, pa.ArrowException):  # a damaged file: read the others (one footer check each)
            files = [p for p in files if parquet_ok(p)]
            if not files:
                return {}
            t = ds.dataset([str(p) for p in files], format="parquet").to_table(columns=["unit_id", "status"])
        return dict(zip(t.column("unit_id").to_pylist(), t.column("status").to_pylist()))

    def read(self, columns: list[str] | None = None) -> pd.DataFrame:
        """All unit rows as one DataFrame (see :func:`read_results`)."""
        return read_results(self.root, columns=columns)

    def read_tables(self, analysis: str, name: str = "", unit: str | None = None) -> pd.DataFrame:
        """The detail tables of one analysis (one unit's, or all concatenated; ``unit_id`` column)."""
        folder = self.table_path(analysis, "x", name).parent
        if unit is not None:
            p = folder / f"{unit}.parquet"
            return pd.read_parquet(p) if p.exists() else pd.DataFrame()
        files = sorted(str(p) for p in folder.glob("*.parquet") if not p.name.startswith("."))
        if not files:
            return pd.DataFrame()
        schema = pa.unify_schemas([pq.read_schema(f) for f in files], promote_options="permissive")
        return ds.dataset(files, format="parquet", schema=schema).to_table().to_pandas()


def parquet_ok(path: str | Path) -> bool:
    """Whether a Parquet file's footer (its metadata) can be read: false for truncated or foreign files."""
    try:
        pq.read_metadata(str(path))
    except (OSError, pa.ArrowException, ValueError):
        return False
    return True


def open_dataset(root: str | Path, analysis: str | None = None) -> ds.Dataset:
    """The sweep's unit rows as a ``pyarrow.dataset.Dataset`` with the schemas of all files unified.

    ``pyarrow.dataset.dataset(OUT, partitioning="hive")`` alone takes its schema from the first file it meets:
    ``unit_id``, ``status`` and the other base columns are always there, but columns of other analyses are not.
    This one reads every file's footer first (cheap) and gives the union.
    """
    root = Path(root)
    pattern = f"analysis={_safe(analysis)}/*.parquet" if analysis else "analysis=*/*.parquet"
    files = sorted(str(p) for p in root.glob(pattern) if not p.name.startswith("."))
    part = ds.partitioning(pa.schema([("analysis", pa.string())]), flavor="hive")
    schemas, damaged = [], []
    for f in files:
        try:
            schemas.append(pq.read_schema(f))
        except (OSError, pa.ArrowException, ValueError):
            damaged.append(f)
    if damaged:  # skipped and reported: a rerun of the sweep quarantines them and redoes their units
        log.warning("skipping %d damaged unit file(s) in %s (e.g. %s); rerun the sweep to redo them",
                    len(damaged), root, damaged[0])
        files = [f for f in files if f not in set(damaged)]
    if not files:
        schema = pa.schema([(c, pa.string()) for c in BASE_COLUMNS])
        return ds.dataset([], format="parquet", schema=schema)
    schema = pa.unify_schemas(schemas, promote_options="permissive")
    return ds.dataset(files, format="parquet", schema=schema.append(pa.field("analysis", pa.string())),
                      partitioning=part, partition_base_dir=str(root))


def read_results(root: str | Path, columns: list[str] | None = None, analysis: str | None = None) -> pd.DataFrame:
    """Read a sweep's unit rows with the schemas of all analyses unified (see :func:`open_dataset`).

    Parameters
    ----------
    root : str or Path
        The sweep folder.
    columns : list of str, optional
    analysis : str, optional
        Only this analysis's rows.

    Returns
    -------
    DataFrame
        One row per unit: ``unit_id, status, analysis, ...``.
    """
    dset = open_dataset(root, analysis)
    if not dset.files:
        return pd.DataFrame(columns=columns or BASE_COLUMNS)
    return dset.to_table(columns=columns).to_pandas()


def damaged_results(root: str | Path) -> list[Path]:
    """Unit files of a sweep folder that :func:`read_results` skips because they cannot be read."""
    return ResultStore.__new__(ResultStore)._with_root(root).damaged_files()
