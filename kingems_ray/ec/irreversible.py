"""Comparing with the kinGEMs reference outputs: its irreversible models and its "FVi" variability metric."""

from __future__ import annotations

import pandas as pd


def to_irreversible(model, kcats: pd.DataFrame | None = None, suffix: str = "_reverse"):
    """Split every reversible reaction into a forward and a ``<id>_reverse`` reaction, as the kinGEMs reference does.

    Parameters
    ----------
    model : cobra.Model
        Left unchanged (a copy is returned).
    kcats : DataFrame, optional
        Matched kcats (:func:`kingems_ray.ec.kcats.match_to_model`); ``reverse`` rows move to the ``_reverse``
        reaction (as ``forward``), ``both`` rows are copied to both.
    suffix : str

    Returns
    -------
    (cobra.Model, DataFrame or None)
        Every reaction of the copy has ``lower_bound >= 0``; the objective is unchanged.
    """
    irr = model.copy()
    new = []
    split = set()
    for r in irr.reactions:
        if r.lower_bound >= 0:
            continue
        rev = r.__class__(r.id + suffix, name=(r.name or r.id) + " (reverse)")
        rev.add_metabolites({m: -c for m, c in r.metabolites.items()})
        rev.bounds = (max(-r.upper_bound, 0.0), -r.lower_bound)
        rev.gene_reaction_rule = r.gene_reaction_rule
        r.bounds = (0.0, max(r.upper_bound, 0.0))
        new.append(rev)
        split.add(r.id)
    irr.add_reactions(new)
    if kcats is None:
        return irr, None
    rows = []
    for rec in kcats.to_dict("records"):
        rid, d = rec["reaction_id"], rec["direction"]
        if d in ("forward", "both"):
            rows.append({**rec, "direction": "forward"})
        if d in ("reverse", "both") and rid in split:
            rows.append({**rec, "reaction_id": rid + suffix, "direction": "forward"})
    return irr, pd.DataFrame(rows, columns=kcats.columns)


def reference_variability(fva: pd.DataFrame, suffix: str = "_reverse") -> pd.Series:
    """kinGEMs' per-reaction "FVi" from an FVA of an irreversible model (see :func:`to_irreversible`).

    A pair ``R`` / ``R_reverse`` is combined as ``|(max_R - min_Rrev) - (min_R - max_Rrev)|``, i.e. the sum of the
    two directions' ranges: a futile forward+reverse cycle (both halves at their bounds) counts twice
    (up to 2000 for +-1000 bounds), which a net-flux range never shows. Other reactions give ``|max - min|``.

    Parameters
    ----------
    fva : DataFrame
        ``reaction_id, minimum, maximum`` (as returned by ``flux_variability``).

    Returns
    -------
    Series
        FVi per original reaction id.
    """
    df = fva.set_index("reaction_id")[["minimum", "maximum"]]
    out: dict[str, float] = {}
    done: set[str] = set()
    for rid in df.index:
        if rid.endswith(suffix) and rid[: -len(suffix)] in df.index:
            f = rid[: -len(suffix)]
            fmin, fmax = df.at[f, "minimum"], df.at[f, "maximum"]
            rmin, rmax = df.at[rid, "minimum"], df.at[rid, "maximum"]
            out[f] = abs((fmax - rmin) - (fmin - rmax))
            done.update((f, rid))
    for rid in df.index:
        if rid not in done:
            out[rid] = abs(df.at[rid, "maximum"] - df.at[rid, "minimum"])
    return pd.Series(out, name="fvi")
