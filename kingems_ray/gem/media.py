"""Growth media as exchange-reaction bounds, applied in place to a persistent solver problem.

A medium maps exchange reaction ids to what may be taken up:

* a number ``u`` is an uptake rate (cobrapy's ``model.medium`` convention, ``u >= 0``): the exchange's lower bound
  becomes ``-u`` for the usual ``met_e <=>`` orientation (the upper bound is left as it is);
* a pair ``(lb, ub)`` gives the reaction's net-flux bounds explicitly; ``None`` in either place keeps the current one.

CSV files have the columns ``reaction_id, lower_bound[, upper_bound]`` (one medium), with an extra ``condition``
column for several media in one file (one row per condition and exchange). ``lower_bound`` is a flux bound, so
an uptake of 10 is written ``-10``.

Applying a medium closes the uptake of every other exchange (``close_others=True``, cobrapy's semantics of
assigning ``model.medium``); ids the model does not have are counted and reported, not fatal, so one media file can
serve several models.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import KingemsError

Bound = float | tuple[float | None, float | None]
Medium = Mapping[str, Bound]

# Single-metabolite reactions with these prefixes are demands/sinks, not exchanges with the medium.
_NOT_EXCHANGE = ("DM_", "SK_", "sink_", "DM ", "R_DM_", "R_SK_")


@dataclass
class MediumReport:
    """What applying a medium did: exchanges set, exchanges closed, ids the model lacks."""

    n_set: int = 0
    n_closed: int = 0
    unknown: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for logs."""
        s = f"{self.n_set} exchange bounds set, {self.n_closed} other exchanges closed"
        if self.unknown:
            s += f"; {len(self.unknown)} id(s) not in the model (ignored: {', '.join(self.unknown[:5])}"
            s += ", ...)" if len(self.unknown) > 5 else ")"
        return s


# -- exchanges of a compiled model -----------------------------------------------------------------------------------
def exchange_orientation(compiled) -> dict[str, float]:
    """Exchange reactions of a compiled model and the sign of their metabolite coefficient.

    A coefficient of ``-1`` (``met_e <=>``, the BiGG/AGORA convention) means uptake is negative flux;
    ``+1`` (``<=> met_e``) means uptake is positive flux.

    Parameters
    ----------
    compiled : CompiledModel

    Returns
    -------
    dict
        Reaction id -> sign of its single metabolite coefficient (``-1.0`` or ``+1.0``).
    """
    memo = getattr(compiled, "memo", None)
    cached = memo.get("exchange_orientation") if memo is not None else None
    if cached is not None:
        return cached
    A = compiled.lp.A.tocsc()
    n_met = len(compiled.met_ids) if compiled.met_ids else A.shape[0]
    out: dict[str, float] = {}
    for j, rid in enumerate(compiled.rxn_ids):
        if rid.startswith(_NOT_EXCHANGE):
            continue
        c = int(compiled.fwd_col[j])
        lo, hi = A.indptr[c], A.indptr[c + 1]
        rows = A.indices[lo:hi]
        vals = A.data[lo:hi]
        met = rows < n_met
        if int(met.sum()) == 1:
            out[rid] = float(np.sign(vals[met][0]))
    # Kept in the (frozen) compiled model's memo: repeated media stay cheap.
    if memo is not None:
        memo["exchange_orientation"] = out
    return out


def _target_bounds(cur: tuple[float, float], sign: float, value: Bound) -> tuple[float, float]:
    lb, ub = cur
    if isinstance(value, tuple | list):
        nlb, nub = value
        return (lb if nlb is None else float(nlb), ub if nub is None else float(nub))
    u = float(value)
    if not u >= 0:
        raise KingemsError(f"uptake rates are >= 0 (got {u}); use a (lower_bound, upper_bound) pair for flux bounds")
    # Uptake is negative flux for "met_e <=>" and positive flux for "<=> met_e".
    return (-u, ub) if sign < 0 else (lb, u)


def _closed_bounds(cur: tuple[float, float], sign: float) -> tuple[float, float]:
    lb, ub = cur
    if sign < 0:
        return (max(lb, 0.0), max(ub, 0.0)) if lb < 0 else cur
    return (min(lb, 0.0), min(ub, 0.0)) if ub > 0 else cur


def medium_bounds(
    problem, medium: Medium, close_others: bool = True
) -> tuple[dict[str, tuple[float, float]], MediumReport]:
    """The reaction bounds a medium implies on a problem's current state (nothing is changed).

    Returns
    -------
    (dict, MediumReport)
        Reaction id -> (lb, ub) for every reaction whose bounds change, and the report.
    """
    ex = exchange_orientation(problem.cm)
    ridx = problem.cm.rxn_index
    rep = MediumReport()
    new: dict[str, tuple[float, float]] = {}
    for rid, value in medium.items():
        if rid not in ridx:
            rep.unknown.append(rid)
            continue
        sign = ex.get(rid, -1.0)
        new[rid] = _target_bounds(problem.reaction_bounds(rid), sign, value)
        rep.n_set += 1
    if close_others:
        for rid, sign in ex.items():
            if rid in new:
                continue
            cur = problem.reaction_bounds(rid)
            closed = _closed_bounds(cur, sign)
            if closed != cur:
                new[rid] = closed
                rep.n_closed += 1
    return new, rep


def apply_medium(problem, medium: Medium, close_others: bool = True) -> MediumReport:
    """Set a medium's exchange bounds on a problem, in place (no rebuild; the next solve warm-starts).

    Parameters
    ----------
    problem : Problem
    medium : mapping
        Exchange id -> uptake rate (``>= 0``) or ``(lb, ub)`` flux bounds.
    close_others : bool
        Close the uptake of every exchange not in ``medium`` (cobrapy's ``model.medium = ...`` semantics).

    Returns
    -------
    MediumReport
        Counts, and the ids not in the model (ignored).
    """
    new, rep = medium_bounds(problem, medium, close_others)
    for rid, (lb, ub) in new.items():
        problem.set_reaction_bounds(rid, lb, ub)
    return rep


@contextlib.contextmanager
def medium_applied(problem, medium: Medium | None, close_others: bool = True) -> Iterator[MediumReport]:
    """Apply a medium for the duration of a ``with`` block, then restore every changed bound.

    ``medium=None`` leaves the problem as it is (the model's own medium).
    """
    if medium is None:
        yield MediumReport()
        return
    new, rep = medium_bounds(problem, medium, close_others)
    with problem.reactions_bounded(new):
        yield rep


# -- building media -------------------------------------------------------------------------------------------------
def model_medium(model) -> dict[str, float]:
    """A cobra model's own medium as ``{exchange id: uptake rate}`` (cobrapy's ``model.medium``)."""
    return dict(model.medium)


def carbon_source_medium(
    model,
    base_medium: Medium | None,
    carbon_exchange: str,
    uptake: float = 10.0,
    base_carbon: str | list[str] = "EX_glc__D_e",
) -> dict[str, Bound]:
    """A minimal medium with its carbon source replaced (e.g. M9 glucose -> M9 acetate).

    Parameters
    ----------
    model : cobra.Model or CompiledModel
        Used to check that ``carbon_exchange`` exists.
    base_medium : mapping or None
        The base medium (default: the model's own, see :func:`model_medium`).
    carbon_exchange : str
        Exchange reaction of the new carbon source, e.g. ``EX_ac_e``.
    uptake : float
        Its uptake rate [mmol/gDW/h].
    base_carbon : str or list of str
        The base medium's carbon source(s), removed (closed).

    Raises
    ------
    KingemsError
        When the model has no reaction ``carbon_exchange``.
    """
    ids = {r.id for r in model.reactions} if hasattr(model, "reactions") else set(model.rxn_ids)
    if carbon_exchange not in ids:
        name = model.id if hasattr(model, "id") else model.model_id
        raise KingemsError(f"carbon source exchange {carbon_exchange!r} is not in model {name!r}")
    med: dict[str, Bound] = dict(model_medium(model) if base_medium is None else base_medium)
    for b in [base_carbon] if isinstance(base_carbon, str) else base_carbon:
        med.pop(b, None)
    med[carbon_exchange] = float(uptake)
    return med


def read_media(path: str | Path) -> dict[str, dict[str, Bound]]:
    """Read media from a CSV/TSV file.

    Columns: ``condition`` (optional; absent = one medium named after the file), ``reaction_id``,
    ``lower_bound`` (flux bound: uptake 10 is ``-10``), optional ``upper_bound`` (empty = keep the model's).

    Returns
    -------
    dict
        Condition -> medium (exchange id -> ``(lb, ub)``), conditions in file order.

    Raises
    ------
    KingemsError
        Missing file or columns, non-numeric bounds, ``lower_bound > upper_bound``.
    """
    p = Path(path)
    if not p.exists():
        raise KingemsError(f"{p}: media file not found")
    sep = "\t" if p.suffix in (".tsv", ".txt") else ","
    try:
        df = pd.read_csv(p, sep=sep)
    except Exception as exc:  # pandas raises several types for malformed text
        raise KingemsError(f"{p}: cannot read media file ({type(exc).__name__}: {exc})") from exc
    missing = [c for c in ("reaction_id", "lower_bound") if c not in df.columns]
    if missing:
        raise KingemsError(
            f"{p}: media file needs columns condition, reaction_id, lower_bound[, upper_bound]; "
            f"missing {', '.join(missing)} (has: {', '.join(map(str, df.columns))})"
        )
    if "condition" not in df.columns:
        df["condition"] = p.stem
    lb = pd.to_numeric(df["lower_bound"], errors="coerce")
    if lb.isna().any():
        bad = df.loc[lb.isna(), "reaction_id"].astype(str).tolist()[:5]
        raise KingemsError(f"{p}: non-numeric or empty lower_bound for {', '.join(bad)}")
    ub = pd.Series(np.nan, index=df.index)
    if "upper_bound" in df.columns:
        ub = pd.to_numeric(df["upper_bound"], errors="coerce")
    bad = ub.notna() & (lb > ub)
    if bad.any():
        ids = ", ".join(df.loc[bad, "reaction_id"].astype(str)[:5])
        raise KingemsError(f"{p}: lower_bound > upper_bound for {ids}")
    out: dict[str, dict[str, Bound]] = {}
    for cond, rid, lo, hi in zip(df["condition"].astype(str), df["reaction_id"].astype(str), lb, ub):
        out.setdefault(cond, {})[rid] = (float(lo), None if pd.isna(hi) else float(hi))
    return out


def write_media(media: Mapping[str, Medium], path: str | Path) -> None:
    """Write media in the format :func:`read_media` reads (uptake rates become ``lower_bound = -u``)."""
    rows = []
    for cond, med in media.items():
        for rid, v in med.items():
            if isinstance(v, tuple | list):
                rows.append((cond, rid, v[0], v[1]))
            else:
                rows.append((cond, rid, -float(v), None))
    df = pd.DataFrame(rows, columns=["condition", "reaction_id", "lower_bound", "upper_bound"])
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False)
