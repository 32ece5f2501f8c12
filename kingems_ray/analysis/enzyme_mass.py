"""Enzyme mass per (reaction, gene, direction) pair at a solution, kcat spreads, and the pairs annealing tunes."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ..ec.compile import SEC_PER_H
from ..ec.compiled import CompiledModel
from ..ec.problem import Problem
from ..errors import KingemsError
from .annealing_settings import DEFAULT_FALLBACK_CV

log = logging.getLogger(__name__)


def _flux_col_of_entries(cm: CompiledModel) -> np.ndarray:
    """For every kcat matrix entry, the column of the flux that the entry's kcat limits."""
    ce = cm.coef_entries
    out = ce["col"].to_numpy(int).copy()
    e_rows = ce["kind"].to_numpy() == "E"
    if e_rows.any():
        A = cm.lp.A.tocsr()
        for i in np.nonzero(e_rows)[0]:
            r, c = int(ce["row"].iat[i]), int(ce["col"].iat[i])
            cols = A.indices[A.indptr[r] : A.indptr[r + 1]]
            # A capacity row holds the flux (coefficient 1) and one enzyme column.
            out[i] = int(cols[cols != c][0])
    return out


def pair_enzyme_mass(cm: CompiledModel, x: np.ndarray, kcats: np.ndarray | None = None) -> np.ndarray:
    """Enzyme mass [g/gDW] each pair needs at a solution ``x``: ``flux / (kcat * 3600) * MW / 1000``.

    Parameters
    ----------
    cm : CompiledModel
    x : ndarray
        Column values of a solution.
    kcats : ndarray, optional
        Current kcats [1/s] per pair (default: the compiled ones).

    Returns
    -------
    ndarray
        One value per row of ``cm.pairs``; a pair used in several clauses gets the largest share.
    """
    if cm.pairs is None or cm.coef_entries is None or len(cm.coef_entries) == 0:
        return np.zeros(0 if cm.pairs is None else len(cm.pairs))
    k = cm.pairs["kcat"].to_numpy(float) if kcats is None else np.asarray(kcats, float)
    mw = cm.pairs["mw"].to_numpy(float) if "mw" in cm.pairs else np.full(len(k), np.nan)
    mw = np.where(np.isfinite(mw) & (mw > 0), mw, float(cm.report.get("default_mw", 40000.0)))
    pidx = cm.coef_entries["pair"].to_numpy(int)
    flux = np.abs(x[_flux_col_of_entries(cm)])
    share = flux / (k[pidx] * SEC_PER_H) * mw[pidx] / 1000.0
    out = np.zeros(len(k))
    np.maximum.at(out, pidx, share)
    return out


def pair_spreads(pairs: pd.DataFrame, fallback_cv: float | None = None) -> tuple[np.ndarray, float, int]:
    """sigma [1/s] per pair: its ``kcat_std``, or ``fallback_cv * kcat`` where that is missing or zero.

    The fallback relative spread is, unless given, the median ``kcat_std / kcat`` of the pairs that have a spread
    (so a table with ensemble spreads lends them to its gaps), or :data:`DEFAULT_FALLBACK_CV` when none has one
    (e.g. ECMpy's database kcats).

    Returns
    -------
    (sigma, cv_used, n_fallback)
    """
    k = pairs["kcat"].to_numpy(float)
    std = pd.to_numeric(pairs["kcat_std"], errors="coerce").to_numpy(float) if "kcat_std" in pairs else np.full(
        len(k), np.nan
    )
    ok = np.isfinite(std) & (std > 0)
    if fallback_cv is None:
        fallback_cv = float(np.median(std[ok] / k[ok])) if ok.any() else DEFAULT_FALLBACK_CV
    if not fallback_cv > 0:
        raise KingemsError(f"fallback_cv must be > 0, got {fallback_cv}")
    sigma = np.where(ok, std, fallback_cv * k)
    return sigma, float(fallback_cv), int((~ok).sum())


def select_targets(problem: Problem, n_top: int, x: np.ndarray | None = None) -> pd.DataFrame:
    """The ``n_top`` pairs holding the most enzyme mass at the problem's current optimum.

    When the problem has no optimum (or no pair carries flux), pairs are ranked by the mass per unit flux
    (``MW / kcat``), i.e. those that would cost the most enzyme.

    Returns
    -------
    DataFrame
        Index = pair index into ``compiled.pairs``; columns ``reaction_id, gene_id, direction, kcat, enzyme_mass``.
    """
    cm = problem.cm
    kc = problem.kcats
    if x is None:
        res = problem.optimize()
        x = res.x if res.ok else None
    mass = pair_enzyme_mass(cm, x, kc) if x is not None else np.zeros(len(kc))
    order = np.argsort(-mass, kind="stable")
    chosen = order[mass[order] > 0][:n_top]
    if len(chosen) == 0:
        mw = cm.pairs["mw"].to_numpy(float)
        mw = np.where(np.isfinite(mw) & (mw > 0), mw, float(cm.report.get("default_mw", 40000.0)))
        cost = mw / kc
        chosen = np.argsort(-cost, kind="stable")[:n_top]
        log.warning("no enzyme carries flux at the optimum: tuning the %d pairs with the highest MW/kcat", len(chosen))
    df = cm.pairs.loc[chosen, ["reaction_id", "gene_id", "direction"]].copy()
    df["kcat"] = kc[chosen]
    df["enzyme_mass"] = mass[chosen]
    return df
