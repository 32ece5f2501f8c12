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


def check_unique_model_names(paths: Sequence[str | Path]) -> None:
    """Two model files with the same short name (file stem) would overwrite each other's rows."""
    from .community.models import model_name

    seen: dict[str, str] = {}
    for p in paths:
        n = model_name(p)
        if n in seen and str(Path(seen[n]).resolve()) != str(Path(p).resolve()):
            raise InputError(f"two models share the name {n!r}: {seen[n]} and {p}; rename one (results are keyed "
                             "by name)")
        seen[n] = str(p)


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


def check_diet_matches(diet, keys: Iterable[str]) -> list[str]:
    """The diet must name at least one exchange of the models; returns the unmatched components.

    Raises
    ------
    InputError
        When no component matches (every model would grow at 0 and the run would look fine).
    """
    from .community.diets import resolve_keys

    keys = set(keys)
    mapping, unmatched = resolve_keys(diet, keys)
    if not mapping:
        ex = _names(sorted(diet.source_ids.get(k, k) for k in diet.uptake))
        raise InputError(f"diet {diet.name!r}: none of its {len(diet)} components matches an exchange of the models "
                         f"(e.g. {ex}); check the id namespace (AGORA / BiGG)")
    return unmatched


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
_ATPM_IDS = ("ATPM", "NGAM", "R_ATPM", "ATPM_c", "DM_atp_c_")


def _maintenance_reaction(cm) -> str | None:
    for rid in _ATPM_IDS:
        if rid in cm.rxn_index:
            return rid
    return None


def diagnose_infeasible(problem, medium=None, close_others: bool = True, status: str = "infeasible") -> str:
    """Why the wild type of ``problem`` (with ``medium`` applied) does not solve, as one sentence with a hint.

    Tries, on the same solver (restored afterwards): the maintenance reaction's lower bound at 0; the enzyme pool
    opened; every uptake opened. The first relaxation that makes the model grow names the cause.
    """
    import contextlib

    from .gem.media import medium_applied

    cm = problem.cm
    atpm = _maintenance_reaction(cm)
    lp = problem.solver
    parts = []

    def grows() -> bool:
        r = problem.optimize(need_x=False)
        return bool(r.ok and r.objective > 1e-9)

    with medium_applied(problem, medium, close_others=close_others) if medium is not None \
            else contextlib.nullcontext():
        atpm_lb = problem.reaction_bounds(atpm)[0] if atpm else 0.0
        pool = cm.pool if cm.pool_row is not None else None
        if atpm and atpm_lb > 0:
            with problem.reactions_bounded({atpm: (0.0, problem.reaction_bounds(atpm)[1])}):
                ok_no_atpm = grows()
            if ok_no_atpm and pool is not None:
                parts.append(f"the fixed maintenance flux {atpm} >= {atpm_lb:g} mmol/gDW/h needs more enzyme than "
                             f"the pool of {pool:g} g/gDW allows (level {cm.level})")
            elif ok_no_atpm:
                parts.append(f"the medium cannot supply the fixed maintenance flux {atpm} >= {atpm_lb:g} "
                             "mmol/gDW/h (a medium with no carbon source?)")
        if not parts and pool is not None:
            lp.set_row_bounds(cm.pool_row, -np.inf, np.inf)
            try:
                ok_no_pool = grows()
            finally:
                lp.set_row_bounds(cm.pool_row, -np.inf, float(pool))
            if ok_no_pool:
                parts.append(f"the enzyme pool of {pool:g} g/gDW is too small for any growth at level {cm.level}")
        if not parts:
            parts.append("the medium has no usable carbon source, or a bound forces an impossible flux")
    hints = []
    if pool is not None:
        hints.append("a larger --pool")
        hints.append("'kingems-ray tune' to raise the limiting kcats")
        hints.append("a lower level (L1/L2 still solve?)")
    if atpm and atpm_lb > 0:
        hints.append(f"a smaller {atpm} lower bound ('kingems-ray maintenance' scans it)")
    hints.append("a medium with a carbon source")
    return f"{'; '.join(parts)}. Try {', '.join(dict.fromkeys(hints))}"


def check_wild_type(problem, condition: str, status: str, medium=None) -> None:
    """Raise :class:`WildTypeError` with the likely cause when the wild type is not optimal."""
    if status == "optimal":
        return
    why = diagnose_infeasible(problem, medium)
    raise WildTypeError(f"model {problem.cm.model_id!r}: the wild type is {status} in condition {condition!r} "
                        f"(level {problem.cm.level}): {why}")


def check_screen_wild_type(df, target, conditions: Mapping[str, Any]) -> None:
    """After a knockout screen: the wild type must be optimal in at least one condition.

    Where it fails in every condition each row would read "lethal": that is an error (with the cause). Where it
    fails in some conditions only, their rows keep their ``wild_type_<status>`` method and a warning names them.
    """
    if df is None or not len(df) or "method" not in df.columns:
        return
    wt_bad = df["method"].astype(str).str.startswith("wild_type_")
    if not wt_bad.any():
        return
    bad_conds = list(dict.fromkeys(df.loc[wt_bad, "condition"]))
    if len(bad_conds) < df["condition"].nunique():
        log.warning("wild type not optimal in condition(s) %s: their knockout rows carry method wild_type_<status>",
                    ", ".join(map(str, bad_conds)))
        return
    from .ec.problem import Problem

    problem = target if isinstance(target, Problem) else Problem(target)
    cond = bad_conds[0]
    status = str(df.loc[wt_bad & (df["condition"] == cond), "status"].iloc[0])
    check_wild_type(problem, str(cond), status, (conditions or {}).get(cond))


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
