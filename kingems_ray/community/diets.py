"""Diets: read the AGORA / VMH / MICOM diet tables and apply them to compiled problems in place.

A diet is held as uptake rates [mmol/gDW/h, positive] keyed by the compartment-free metabolite id (``glc_D``).
Keys are canonicalised to AGORA2 spelling (AGORA2 renamed a few AGORA1 ids, e.g. ``EX_glc(e)`` ->
``EX_glc_D(e)``) so that one diet fits AGORA1 and AGORA2 models and mixed communities. Applying a diet sets the
lower bound of every exchange to ``-uptake`` (0 for metabolites absent from the diet, secretion stays open) with
:meth:`Problem.set_reaction_bounds` on the compiled problem: no cobra model is copied.

Supported files (found by name in ``<data>/agora/diets`` or given as a path):

=================================================  ============================================================
``magnusdottir2017_western_diet_AGORA.tsv``        ``exchange_id``, ``lower_bound_mmol_gDW_h`` (negative)
``cobratoolbox_AverageEuropeanDiet.txt``           ``ExchangeID``, ``Constraint`` (VMH diet designer, per day)
``micom_media_*_extracted.csv`` / ``agora103``     ``reaction`` (``EX_x_m``), ``global_id``, ``flux``
``micom_media_vmh_*.tsv``                          ``Reaction`` (``EX_x[e]``), ``Flux Value`` (per day)
``*.json``                                         ``{exchange id: uptake}`` (DynamicGut, ``_LPAREN_`` ids)
any CSV/TSV                                        an id column (exchange/reaction/id) and a value column
=================================================  ============================================================
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import KingemsError
from ..paths import data_root
from .models import Member, exchange_key

log = logging.getLogger(__name__)

#: AGORA1 (VMH 2017) metabolite ids that AGORA2 renamed; applied to diet keys and to model exchange keys alike.
AGORA1_TO_AGORA2: dict[str, str] = {
    "glc": "glc_D",
}

#: Short names for the diets shipped with the reference data.
BUILTIN_DIETS: dict[str, str] = {
    "western": "magnusdottir2017_western_diet_AGORA.tsv",
    "western_agora": "magnusdottir2017_western_diet_AGORA.tsv",
    "eu_average": "cobratoolbox_AverageEuropeanDiet.txt",
    "micom_western": "micom_media_western_diet_gut_agora_extracted.csv",
    "micom_agora103_western": "micom_media_agora103_western_gut.csv",
    "micom_eu_average": "micom_media_vmh_eu_average_agora_extracted.csv",
    "micom_high_fiber": "micom_media_vmh_high_fiber_agora_extracted.csv",
    "micom_high_fat_low_carb": "micom_media_vmh_high_fat_low_carb_agora_extracted.csv",
    "dynamicgut_unhealthy": "dynamicgut_initial_unhealthy_diet.json",
}


def canonical_key(key: str) -> str:
    """AGORA2 spelling of a metabolite key (``glc`` -> ``glc_D``)."""
    return AGORA1_TO_AGORA2.get(key, key)


@dataclass
class Diet:
    """Uptake limits per metabolite.

    Attributes
    ----------
    name : str
    uptake : dict
        Canonical metabolite key -> maximal uptake rate (>= 0).
    source_ids : dict
        Canonical key -> exchange id as written in the file.
    """

    name: str
    uptake: dict[str, float]
    source_ids: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.uptake)

    def scaled(self, factor: float, name: str | None = None) -> Diet:
        """A copy with every uptake multiplied by ``factor``."""
        return Diet(name or f"{self.name}*{factor:g}", {k: v * factor for k, v in self.uptake.items()},
                    dict(self.source_ids))

    def with_changes(self, changes: dict[str, float], name: str | None = None) -> Diet:
        """A copy with some uptakes replaced (keys in any spelling; 0 removes a component)."""
        up = dict(self.uptake)
        for k, v in changes.items():
            ck = canonical_key(exchange_key(k) if k.startswith(("EX_", "R_EX_")) else k)
            if v <= 0:
                up.pop(ck, None)
            else:
                up[ck] = float(v)
        return Diet(name or f"{self.name}+changes", up, dict(self.source_ids))

    def to_frame(self) -> pd.DataFrame:
        """The diet as a table ``metabolite, uptake, source_id``."""
        return pd.DataFrame(
            {"metabolite": list(self.uptake), "uptake": list(self.uptake.values()),
             "source_id": [self.source_ids.get(k, "") for k in self.uptake]}
        )


def _from_pairs(name: str, ids, values, negative: bool) -> Diet:
    from ..validate import check_diet_rows

    ids, values = list(ids), list(values)
    check_diet_rows(name, ids, values, negative)  # NaN / inf / secretion-forcing rows are errors, not dropped
    uptake: dict[str, float] = {}
    src: dict[str, str] = {}
    for rid, val in zip(ids, values):
        if not isinstance(rid, str) or not rid.strip():
            continue
        try:
            v = float(val)
        except (TypeError, ValueError):
            continue
        if not np.isfinite(v):
            continue
        v = -v if negative else v
        if v <= 0:
            continue
        key = canonical_key(exchange_key(rid.strip()))
        uptake[key] = uptake.get(key, 0.0) + v
        src[key] = rid.strip()
    if not uptake:
        raise KingemsError(f"diet {name!r}: no usable component (expected exchange ids with uptake rates)")
    return Diet(name, uptake, src)


def diet_from_mapping(mapping: dict[str, float], name: str = "diet", negative: bool = False) -> Diet:
    """A diet from ``{exchange or metabolite id: uptake}`` (``negative=True`` for lower bounds)."""
    return _from_pairs(name, list(mapping), list(mapping.values()), negative)


def read_diet(diet: str | Path | Diet | dict) -> Diet:
    """Read a diet from a file, a built-in short name (:data:`BUILTIN_DIETS`), or a mapping.

    Raises
    ------
    KingemsError
        Missing file, unknown format, or a table without usable rows.
    """
    if isinstance(diet, Diet):
        return diet
    if isinstance(diet, dict):
        return diet_from_mapping(diet)
    p = Path(diet)
    if not p.exists():
        root = data_root()
        cand = None
        if root is not None:
            fname = BUILTIN_DIETS.get(str(diet), str(diet))
            cand = root / "agora" / "diets" / fname
        if cand is None or not cand.exists():
            raise KingemsError(
                f"diet {diet!r} not found: give a file or one of {', '.join(sorted(BUILTIN_DIETS))}"
            )
        p = cand
    name = p.name.split(".")[0]
    if p.suffix.lower() == ".json":
        try:
            data = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise KingemsError(f"{p}: cannot read diet JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise KingemsError(f"{p}: diet JSON must map exchange ids to uptake rates")
        return _from_pairs(name, list(data), list(data.values()), negative=False)
    sep = "," if p.suffix.lower() == ".csv" else "\t"
    try:
        df = pd.read_csv(p, sep=sep)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise KingemsError(f"{p}: cannot read diet table ({exc})") from exc
    cols = {c.lower().strip(): c for c in df.columns}
    if "global_id" in cols and "flux" in cols:  # MICOM media: AGORA ids in global_id
        return _from_pairs(name, df[cols["global_id"]], df[cols["flux"]], negative=False)
    if "lower_bound_mmol_gdw_h" in cols:
        return _from_pairs(name, df[cols["exchange_id"]], df[cols["lower_bound_mmol_gdw_h"]], negative=True)
    id_col = next((cols[c] for c in ("exchangeid", "exchange_id", "exchange", "reaction", "id", "rxn") if c in cols),
                  None)
    val_col = next((cols[c] for c in ("constraint", "flux value", "flux", "uptake", "value") if c in cols), None)
    if id_col is not None and val_col is not None:
        return _from_pairs(name, df[id_col], df[val_col], negative=False)
    lb_col = next((cols[c] for c in ("lower_bound", "lb") if c in cols), None)
    if id_col is not None and lb_col is not None:
        return _from_pairs(name, df[id_col], df[lb_col], negative=True)
    raise KingemsError(
        f"{p}: unknown diet table layout (columns {list(df.columns)}); expected an id column "
        "(ExchangeID/reaction/exchange_id) and a value column (Constraint/flux/uptake/lower_bound)"
    )


def resolve_keys(diet: Diet, available: set[str] | list[str]) -> tuple[dict[str, str], list[str]]:
    """Map diet keys onto the exchange keys a model (or lumen) has.

    A key matches itself, else a unique ``key_D`` / ``key_L`` variant (stereo suffix added in later VMH releases).

    Returns
    -------
    mapping : dict
        Diet key -> available key.
    unmatched : list of str
        Diet keys without an exchange.
    """
    avail = set(available)
    mapping: dict[str, str] = {}
    unmatched: list[str] = []
    for k in diet.uptake:
        if k in avail:
            mapping[k] = k
            continue
        variants = [v for v in (f"{k}_D", f"{k}_L") if v in avail]
        if len(variants) == 1:
            mapping[k] = variants[0]
        else:
            unmatched.append(k)
    return mapping, unmatched


def lumen_bounds(
    diet: Diet, keys: list[str], max_secretion: float = 1000.0
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Bounds of environment exchanges for metabolite ``keys`` under a diet.

    Returns
    -------
    lb, ub : ndarray
        ``lb = -uptake`` for diet components, 0 otherwise; ``ub = max_secretion``.
    unmatched : list of str
        Diet components that match none of ``keys``.
    """

    mapping, unmatched = resolve_keys(diet, keys)
    pos = {k: i for i, k in enumerate(keys)}
    lb = np.zeros(len(keys))
    for dk, mk in mapping.items():
        lb[pos[mk]] -= diet.uptake[dk]
    ub = np.full(len(keys), float(max_secretion))
    return lb, ub, unmatched


@dataclass
class DietReport:
    """What applying a diet to one model found."""

    model: str
    n_components: int
    n_matched: int
    unmatched: list[str]
    growth: float | None = None
    status: str = ""

    @property
    def grows(self) -> bool:
        """Whether the model grows (> 1e-6 1/h) on the diet."""
        return self.growth is not None and self.growth > 1e-6


def apply_diet(problem, member: Member, diet: Diet, max_secretion: float | None = None) -> DietReport:
    """Set a single model's exchange bounds from a diet, in place on its :class:`Problem`.

    Every exchange gets ``lb = -uptake`` (0 when the metabolite is not in the diet); the upper bound is the
    model's own (or ``max_secretion``). Returns what matched; no solve.
    """
    keys = [canonical_key(k) for k in member.ex_key]
    lb, ub, unmatched = lumen_bounds(diet, keys)
    cm = member.compiled
    for i, j in enumerate(member.ex_rxn):
        s = member.ex_sign[i]
        # exchange written "met <=>" (s = -1): uptake is negative flux; for "<=> met" (s = +1) it is positive
        hi = float(max_secretion) if max_secretion is not None else float(cm.rxn_ub[j] if s < 0 else -cm.rxn_lb[j])
        hi = max(hi, 0.0)
        if s < 0:
            problem.set_reaction_bounds(int(j), float(lb[i]), hi)
        else:
            problem.set_reaction_bounds(int(j), -hi, float(-lb[i]))
    return DietReport(member.name, len(diet), len(diet) - len(unmatched), unmatched)


def check_diet(members: list[Member], diet: Diet) -> tuple[pd.DataFrame, list[str]]:
    """Apply a diet to each model alone (plain FBA) and report growth and unmatched components.

    Returns
    -------
    table : DataFrame
        ``model, growth, status, grows, n_matched, n_unmatched``.
    unmatched_everywhere : list of str
        Diet components that match no exchange of any model.
    """
    from ..ec.problem import Problem

    rows = []
    all_keys: set[str] = set()
    for mem in members:
        prob = Problem(mem.compiled)
        rep = apply_diet(prob, mem, diet)
        res = prob.optimize(need_x=False)
        rep.growth = res.objective if res.ok else 0.0
        rep.status = res.status
        rows.append({"model": mem.name, "growth": rep.growth, "status": rep.status, "grows": rep.grows,
                     "n_matched": rep.n_matched, "n_unmatched": len(rep.unmatched)})
        all_keys.update(canonical_key(k) for k in mem.ex_key)
    _, unmatched = resolve_keys(diet, all_keys)
    return pd.DataFrame(rows), unmatched


def micom_medium(diet: Diet, keys: list[str] | set[str]) -> dict[str, float]:
    """The diet as a MICOM medium (``{"EX_<key>_m": uptake}``) for a community with exchange ``keys``.

    MICOM matches its medium by id only: its AGORA media use AGORA1 ids (``EX_glc_m``), which AGORA2 communities
    (``glc_D``) silently ignore. Resolving the keys here first gives both engines the same medium.
    """
    mapping, _ = resolve_keys(diet, set(keys))
    out: dict[str, float] = {}
    for dk, mk in mapping.items():
        out[f"EX_{mk}_m"] = out.get(f"EX_{mk}_m", 0.0) + diet.uptake[dk]
    return out


def check_diet_matches(diet, keys: set[str] | list[str]) -> list[str]:
    """The diet must name at least one exchange of the models; returns the unmatched components.

    Raises
    ------
    InputError
        When no component matches (every model would grow at 0 and the run would look fine).
    """
    keys = set(keys)
    from ..validate import InputError, _names

    mapping, unmatched = resolve_keys(diet, keys)
    if not mapping:
        ex = _names(sorted(diet.source_ids.get(k, k) for k in diet.uptake))
        raise InputError(f"diet {diet.name!r}: none of its {len(diet)} components matches an exchange of the models "
                         f"(e.g. {ex}); check the id namespace (AGORA / BiGG)")
    return unmatched
