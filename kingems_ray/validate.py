"""Plausibility checks on inputs and results: a wrong input is an error that names it, never a quiet default.

Each check is a small function called from the place its input is read (the kcat reader, the diet reader, the
fast SBML reader, the knockout screen, the CLI), so that the rule lives here once and its tests do not depend on
where the call sits. Nothing here imports Ray; the solver is imported only by :func:`diagnose_infeasible`.
"""

from __future__ import annotations

import logging
import math
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import KcatTableError, KingemsError, ModelLoadError

log = logging.getLogger(__name__)

#: Plausible turnover numbers [1/s]; outside this range a kcat is most likely a unit or parsing error.
KCAT_RANGE = (1e-6, 1e7)
#: At most this many rows are named in one message (the count is always given).
MAX_NAMED = 5
#: At most this many per-row warnings are logged; the rest are summarised in one more line.
MAX_ROW_WARNINGS = 20


class InputError(KingemsError):
    """An input holds values that cannot be right (non-finite, non-positive, duplicated, matching nothing)."""


class WildTypeError(KingemsError):
    """The unperturbed model does not solve to optimality, so no result computed from it means anything."""


def _names(items: Sequence[str]) -> str:
    shown = ", ".join(str(i) for i in list(items)[:MAX_NAMED])
    return shown + (f" and {len(items) - MAX_NAMED} more" if len(items) > MAX_NAMED else "")


def safe_text(text: str) -> str:
    """``text`` with undecodable bytes of file names (surrogate escapes) shown as ``\\xff``, printable anywhere."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


# -- numbers ---------------------------------------------------------------------------------------------------------
def bad_positive(values: Iterable[Any]) -> list[int]:
    """Positions of values that are not finite numbers > 0 (``None`` / NaN count as bad)."""
    out = []
    for i, v in enumerate(values):
        try:
            f = float(v)
        except (TypeError, ValueError):
            out.append(i)
            continue
        if not math.isfinite(f) or f <= 0:
            out.append(i)
    return out


def check_positive(values: Sequence[Any], labels: Sequence[str], what: str, source: str) -> None:
    """Every value must be a finite number > 0.

    Raises
    ------
    InputError
        Naming the rows (``labels``) that are not.
    """
    bad = bad_positive(values)
    if bad:
        rows = [f"{labels[i]} ({values[i]})" for i in bad]
        raise InputError(f"{source}: {len(bad)} {what} value(s) not a finite number > 0: {_names(rows)}")


# -- kcat tables -----------------------------------------------------------------------------------------------------
def _row_labels(df) -> list[str]:
    return (df["reaction_id"].astype(str) + "/" + df["gene_id"].astype(str)).tolist()


def check_kcat_table(df, name: str) -> list[str]:
    """Plausibility of a validated kcat table: ``mw`` must be > 0 where given; kcats outside :data:`KCAT_RANGE` warn.

    Parameters
    ----------
    df : DataFrame
        Columns ``reaction_id, gene_id, kcat`` and optionally ``mw`` (NaN: not given, computed from the sequence).
    name : str
        The table's name in messages (its path).

    Returns
    -------
    list of str
        One warning per implausible kcat (also logged, at most :data:`MAX_ROW_WARNINGS` lines).

    Raises
    ------
    KcatTableError
        A given ``mw`` that is not a finite number > 0.
    """
    import pandas as pd

    labels = _row_labels(df)
    if "mw" in df.columns:
        mw = pd.to_numeric(df["mw"], errors="coerce")
        raw = df["mw"]
        given = raw.notna() & (raw.astype(str).str.strip() != "")
        bad = given & (~np.isfinite(mw.fillna(np.nan)) | (mw <= 0) | mw.isna())
        if bad.any():
            pos = np.flatnonzero(bad.to_numpy())
            rows = [f"row {i + 1} {labels[i]} (mw {raw.iloc[i]})" for i in pos]
            raise KcatTableError(f"{name}: {len(pos)} row(s) with an mw that is not a finite number > 0 [g/mol]: "
                                 f"{_names(rows)}")
    kc = pd.to_numeric(df["kcat"], errors="coerce").to_numpy(float)
    lo, hi = KCAT_RANGE
    out = []
    for i in np.flatnonzero((kc < lo) | (kc > hi)):
        out.append(f"{name}: row {i + 1} {labels[i]}: kcat {kc[i]:.3g} 1/s is outside the plausible range "
                   f"[{lo:g}, {hi:g}] (a unit error?)")
    for w in out[:MAX_ROW_WARNINGS]:
        log.warning(w)
    if len(out) > MAX_ROW_WARNINGS:
        log.warning("%s: %d more kcats outside [%g, %g]", name, len(out) - MAX_ROW_WARNINGS, lo, hi)
    return out


def check_kcat_match(report, name: str, model_id: str) -> None:
    """A kcat table that matches no (reaction, gene) pair of the model is an error, not a silent plain model.

    Parameters
    ----------
    report : KcatReport
        From :func:`kingems_ray.ec.kcats.match_to_model`.
    """
    if report is None or report.n_rows == 0 or report.n_used > 0:
        return
    reasons = "; ".join(f"{n} {r}" + (f" (e.g. {', '.join(report.examples.get(r, [])[:3])})"
                                      if report.examples.get(r) else "") for r, n in report.skipped.items())
    raise KcatTableError(f"{name}: the kcat table matches no gene of model {model_id!r} ({reasons}); "
                         "check that its gene ids use the model's namespace")


def check_level_needs_kcats(level: str | None, kcats: Any, level_given: bool = True) -> None:
    """``--level`` other than L1 without ``--kcats`` would quietly compile the plain model (L1)."""
    if level_given and level not in (None, "L1") and kcats is None:
        raise InputError(f"--level {level} needs --kcats (a kcat table); without one the model is the plain GEM "
                         "(L1): drop --level or give --kcats")


# -- models ----------------------------------------------------------------------------------------------------------
def check_unique_ids(ids: Iterable[str], what: str, source: str) -> None:
    """Ids of one kind (reactions, metabolites) must be unique within a model file."""
    dup = [k for k, n in Counter(ids).items() if n > 1]
    if dup:
        raise ModelLoadError(f"{source}: duplicate {what} id(s) {_names(dup)}; each id must appear once")


# -- diets and abundances --------------------------------------------------------------------------------------------
def check_diet_rows(name: str, ids: Sequence[Any], values: Sequence[Any], negative: bool) -> None:
    """Every diet row with an id must have a finite value that means uptake (``negative``: a lower bound <= 0).

    A value of 0 is allowed (the component is listed but closed).

    Raises
    ------
    InputError
        Naming the rows with a missing / non-numeric / non-finite value, or one that would force secretion.
    """
    bad = []
    for rid, val in zip(ids, values):
        if not isinstance(rid, str) or not rid.strip():
            continue
        try:
            v = float(val)
        except (TypeError, ValueError):
            bad.append(f"{rid} ({val!r})")
            continue
        if not math.isfinite(v) or (v > 0 if negative else v < 0):
            bad.append(f"{rid} ({val})")
    if bad:
        kind = "lower bound must be a finite number <= 0" if negative else "uptake must be a finite number >= 0"
        raise InputError(f"diet {name!r}: {len(bad)} row(s) where the {kind}: {_names(bad)}")


def check_abundances(ab: Mapping[str, Any], names: Sequence[str], source: str) -> None:
    """Abundances must name only given models and be finite numbers > 0."""
    unknown = [k for k in ab if k not in set(names)]
    if unknown:
        raise InputError(f"{source}: abundance for model(s) not given: {_names(unknown)} (models: "
                         f"{_names(list(names))})")
    keys = list(ab)
    check_positive([ab[k] for k in keys], keys, "abundance", source)


# -- outputs ---------------------------------------------------------------------------------------------------------
def check_output_path(path: str | Path, what: str = "--out") -> None:
    """Fail early, before any work, when ``path`` cannot be written (read-only or full file system, a file in the
    way of its folder). Creates nothing.

    Raises
    ------
    InputError
        Naming the path and the cause.
    """
    p = Path(path)
    try:
        str(p).encode("utf-8")
    except UnicodeEncodeError:  # the Parquet / Arrow writers need UTF-8 names: fail before any work
        raise InputError(f"{what} {safe_text(str(p))}: the name is not valid UTF-8; use a UTF-8 name") from None
    anc = p.parent if not p.is_dir() else p
    while not anc.exists():
        if anc.parent == anc:
            break
        anc = anc.parent
    if anc.exists() and not anc.is_dir():
        raise InputError(f"{what} {safe_text(str(p))}: cannot create it, {safe_text(str(anc))} is a file")
    if not os.access(anc, os.W_OK):
        import errno

        try:  # tell a read-only file system from missing permissions
            st = os.statvfs(anc)
            ro = bool(st.f_flag & os.ST_RDONLY)
        except OSError:
            ro = False
        cause = os.strerror(errno.EROFS) if ro else os.strerror(errno.EACCES)
        raise InputError(f"{what} {safe_text(str(p))}: cannot write there ({cause})")
    try:
        st = os.statvfs(anc)
    except OSError:
        return
    if st.f_bavail * st.f_frsize < 64 * 1024:
        raise InputError(f"{what} {safe_text(str(p))}: no space left on the device holding "
                         f"{safe_text(str(anc))} ({st.f_bavail * st.f_frsize} bytes free)")


# -- the wild type ---------------------------------------------------------------------------------------------------
# -- tables ----------------------------------------------------------------------------------------------------------
def read_table(path: str | Path, what: str, required: Sequence[str] = ()):
    """Read a Parquet / CSV / TSV table given on the command line, with one clear error for every way it can fail.

    Raises
    ------
    InputError
        Missing, empty, truncated or garbage file; a required column absent (the message lists the columns).
    """
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{what} {safe_text(str(p))}: file not found")
    try:
        if p.name.lower().endswith((".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt")):
            df = pd.read_csv(p, sep="\t" if ".tsv" in p.name.lower() or p.suffix == ".txt" else ",")
        else:
            df = pd.read_parquet(p)
    except Exception as exc:  # noqa: BLE001 - pandas / pyarrow raise many types for damaged files
        msg = " ".join(str(exc).split())[:200]
        raise InputError(f"{what} {safe_text(str(p))}: not a readable table (damaged, truncated or not Parquet/CSV: "
                         f"{type(exc).__name__}: {msg})") from exc
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(f"{what} {safe_text(str(p))}: missing column(s) {', '.join(missing)} (has: "
                         f"{', '.join(map(str, df.columns[:12]))})")
    return df
