"""kcat values for pairs the predictor cannot score: database values, EC-class medians, a global median.

Order tried for one (reaction, substrate, gene) row (``source`` column):

1. ``database_substrate``: median of the BRENDA / SABIO-RK values for one of the reaction's ECs *and* the
   row's substrate (BiGG id), the given organism's values when it has any;
2. ``database_ec``: median of all values for the reaction's ECs (any substrate), organism-preferred likewise;
3. ``ec_class_median``: median of the per-EC medians of the EC's sub-subclass (``2.7.1``), then subclass
   (``2.7``), then class (``2``); per-EC medians first, so that a few heavily measured ECs do not dominate;
4. ``global_median``: median of all per-EC medians of the database (or :data:`DEFAULT_KCAT` without one).

Spread: ``kcat_std`` is the delta-method standard deviation ``kcat · ln(10) · sd(log10 values)``, with
``sd = 1`` (one order of magnitude) when a single value is known; tuning uses it to scale its moves.

Databases: ECMpy's parses of BRENDA (EC -> substrate -> organism -> values) and SABIO-RK (EC -> "s1;s2" ->
organism -> values; ``REST`` = other substrates; a ``WILDCARD`` flag) in ``<data>/kcat``.
Nothing here imports Ray.
"""

from __future__ import annotations

import gzip
import json
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..paths import data_root

#: kcat [1/s] used when no database is available at all: the median enzyme of Bar-Even et al. 2011 (~10 1/s).
DEFAULT_KCAT = 10.0
#: log10 spread assumed when a value rests on a single measurement (or on no data).
DEFAULT_LOG10_SD = 1.0

_DB_FILES = ("ecmpy_kcat_database_brenda.json.gz", "ecmpy_kcat_database_sabio_rk.json.gz")
_DEFAULT_CACHE: dict[Path, KcatDatabase] = {}


@dataclass(frozen=True)
class FallbackValue:
    """One fallback kcat.

    Attributes
    ----------
    kcat : float
        [1/s].
    log10_sd : float
        Spread of the values used, in log10 units.
    source : str
        ``database_substrate``, ``database_ec``, ``ec_class_median`` or ``global_median``.
    n : int
        Number of database values behind it (0 for the default constant).
    ec : str
        The EC (or EC class) used; empty for the global median.
    """

    kcat: float
    log10_sd: float
    source: str
    n: int
    ec: str = ""

    @property
    def kcat_std(self) -> float:
        """Standard deviation [1/s] by the delta method."""
        return float(self.kcat * math.log(10) * self.log10_sd)


def _summary(values: list[float]) -> tuple[float, float, int]:
    arr = np.asarray([v for v in values if v is not None and np.isfinite(v) and v > 0], dtype=float)
    if arr.size == 0:
        return math.nan, math.nan, 0
    logs = np.log10(arr)
    sd = float(np.std(logs, ddof=1)) if arr.size > 1 else DEFAULT_LOG10_SD
    return float(np.median(arr)), sd, int(arr.size)


def _normalise_organism(name: str | None) -> str:
    return " ".join(str(name).lower().split()) if name else ""


class KcatDatabase:
    """EC-keyed kcat values with the fallback order above.

    Parameters
    ----------
    entries : dict
        EC -> substrate (BiGG id, or ``""`` for "unspecified") -> organism -> list of kcats [1/s].
    default_kcat : float
        Global value when the database is empty.
    """

    def __init__(
        self, entries: dict[str, dict[str, dict[str, list[float]]]], default_kcat: float = DEFAULT_KCAT
    ) -> None:
        self.entries = entries
        self.default_kcat = default_kcat
        self._ec_median: dict[str, float] = {}
        for ec, subs in entries.items():
            vals = [v for orgs in subs.values() for vs in orgs.values() for v in vs]
            med, _, n = _summary(vals)
            if n:
                self._ec_median[ec] = med
        self._class_cache: dict[str, tuple[float, float, int]] = {}
        glob = list(self._ec_median.values())
        med, sd, n = _summary(glob)
        self.global_value = (
            FallbackValue(med, sd, "global_median", n) if n else FallbackValue(default_kcat, DEFAULT_LOG10_SD,
                                                                               "global_median", 0)
        )

    # -- construction ------------------------------------------------------------------------------------
    @classmethod
    def empty(cls, default_kcat: float = DEFAULT_KCAT) -> KcatDatabase:
        """A database with no entries: every lookup ends at the global default."""
        return cls({}, default_kcat=default_kcat)

    @classmethod
    def from_ecmpy_json(cls, paths: list[str | Path]) -> KcatDatabase:
        """Merge ECMpy BRENDA / SABIO-RK JSON files (plain or ``.gz``).

        SABIO-RK substrate sets (``"atp;f6p"``) are split so that each listed substrate matches.
        """
        entries: dict[str, dict[str, dict[str, list[float]]]] = defaultdict(lambda: defaultdict(dict))
        for path in paths:
            p = Path(path)
            opener = gzip.open if p.suffix == ".gz" else open
            with opener(p, "rt") as fh:
                raw = json.load(fh)
            for ec, subs in raw.items():
                if not isinstance(subs, dict) or not ec[:1].isdigit():
                    continue  # "spontaneous" and other non-EC keys
                for skey, orgs in subs.items():
                    if skey == "WILDCARD" or not isinstance(orgs, dict):
                        continue
                    names = [""] if skey == "REST" else [s.strip() for s in skey.split(";") if s.strip()]
                    for org, vals in orgs.items():
                        vals = [float(v) for v in (vals if isinstance(vals, list) else [vals])
                                if isinstance(v, (int, float))]
                        for name in names:
                            entries[ec][name].setdefault(org, []).extend(vals)
        return cls({ec: dict(s) for ec, s in entries.items()})

    @classmethod
    def default(cls) -> KcatDatabase:
        """BRENDA + SABIO-RK from the reference data, or :meth:`empty` when the data folder is absent.

        Loaded once per process and data folder (~1 s of JSON parsing); treat the result as read-only.
        """
        root = data_root()
        if root is None:
            return cls.empty()
        if root not in _DEFAULT_CACHE:
            files = [root / "kcat" / f for f in _DB_FILES if (root / "kcat" / f).exists()]
            _DEFAULT_CACHE[root] = cls.from_ecmpy_json(files) if files else cls.empty()
        return _DEFAULT_CACHE[root]

    # -- lookups -----------------------------------------------------------------------------------------
    def _pick(self, orgs_list: list[dict[str, list[float]]], organism: str) -> list[float]:
        # Organism match preferred; otherwise every organism's values.
        if organism:
            own = [v for orgs in orgs_list for o, vs in orgs.items() if _normalise_organism(o) == organism
                   for v in vs]
            if own:
                return own
        return [v for orgs in orgs_list for vs in orgs.values() for v in vs]

    def _class_value(self, prefix: str) -> tuple[float, float, int]:
        if prefix not in self._class_cache:
            vals = [m for ec, m in self._ec_median.items() if ec.startswith(prefix + ".")]
            self._class_cache[prefix] = _summary(vals)
        return self._class_cache[prefix]

    def lookup(
        self, ecs: list[str], substrate: str | None = None, organism: str | None = None
    ) -> FallbackValue:
        """The best available value for a reaction's ECs and a substrate.

        Parameters
        ----------
        ecs : list of str
            The reaction's EC numbers (may be empty or hold partial ECs such as ``2.3.1.-``).
        substrate : str, optional
            Compartment-free BiGG id of the substrate.
        organism : str, optional
            Preferred organism, e.g. ``"Escherichia coli"`` (case-insensitive exact match).

        Returns
        -------
        FallbackValue
        """
        org = _normalise_organism(organism)
        full = [e for e in ecs if e in self.entries]
        if substrate and full:
            lists = [self.entries[e][substrate] for e in full if substrate in self.entries[e]]
            med, sd, n = _summary(self._pick(lists, org)) if lists else (math.nan, math.nan, 0)
            if n:
                return FallbackValue(med, sd, "database_substrate", n, ";".join(full))
        if full:
            lists = [orgs for e in full for orgs in self.entries[e].values()]
            med, sd, n = _summary(self._pick(lists, org))
            if n:
                return FallbackValue(med, sd, "database_ec", n, ";".join(full))
        for depth in (3, 2, 1):
            prefixes = []
            for e in ecs:
                parts = e.split(".")
                if len(parts) >= depth and all(p.isdigit() for p in parts[:depth]):
                    prefixes.append(".".join(parts[:depth]))
            prefixes = list(dict.fromkeys(prefixes))
            if not prefixes:
                continue
            meds = [self._class_value(p) for p in prefixes]
            meds = [m for m in meds if m[2]]
            if meds:
                # Several ECs on one reaction: the median over their class medians.
                med = float(np.median([m[0] for m in meds]))
                sd = float(np.mean([m[1] for m in meds]))
                return FallbackValue(med, sd, "ec_class_median", sum(m[2] for m in meds), ";".join(prefixes))
        return self.global_value
