"""EC numbers of model reactions: annotations, legacy notes, and cross-references by reaction id.

Sources, in the order tried for one reaction (the first that gives an EC wins, and is recorded as the
reaction's ``ec_source``):

1. ``annotation``: the reaction's annotation keys ``ec-code`` (SBML ``identifiers.org/ec-code``, COBRA JSON),
   ``brenda`` (BiGG JSON), ``ec`` / ``EC Number`` / ``ec_number``;
2. ``notes``: legacy SBML notes (``<p>EC Number: 1.1.1.1</p>``, ``EC_NUMBER``, ``PROTEIN_CLASS``, ...). cobrapy
   turns ``<p>KEY: VALUE</p>`` into ``reaction.notes[KEY] = VALUE`` for SBML, and keeps the JSON ``notes`` dict as
   written (values may be lists); only full four-level ECs are taken from free text;
3. ``ec_map``: a caller's reaction id -> ECs map (``--ec-from MODEL``);
4. ``xref_bigg``: the reaction's BiGG id (annotation ``bigg.reaction``, else its id without ``R_``) in the packaged
   table ``data/kcat_stats/reaction_ec_xref.tsv.gz`` (EC annotations of the 21 BiGG models of the reference data;
   AGORA / VMH reaction ids mostly equal BiGG ids);
5. ``xref_metanetx``: the reaction's ``metanetx.reaction`` annotation in the same table.

Nothing here imports Ray.
"""

from __future__ import annotations

import csv
import gzip
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..paths import package_data

#: Annotation keys holding EC numbers.
EC_ANNOTATION_KEYS = ("ec-code", "brenda", "ec", "EC Number", "ec_number", "EC")
#: Note keys (case-insensitive, spaces / underscores / hyphens ignored) holding EC numbers in legacy models.
EC_NOTE_KEYS = frozenset({"ecnumber", "ec", "eccode", "proteinclass", "ecnumbers", "enzymecommission"})

# A structured field: full or partial ECs ("2.7.1.11", "2.3.1.-", "3.6.3.n1").
_EC_FIELD = re.compile(r"^\d+(\.(\d+|-|n\d*)){0,3}$")
# Free text: only full four-level ECs, not part of a longer dotted number.
_EC_TEXT = re.compile(r"(?<![\d.])(\d+\.(?:\d+|-)\.(?:\d+|-)\.(?:n?\d+|-))(?![\d.])")

XREF_FILE = ("kcat_stats", "reaction_ec_xref.tsv.gz")


def normalise_ec(text: str) -> str | None:
    """An EC string without prefix (``EC:``, ``ec-code/``), or ``None`` when it is not one.

    Examples
    --------
    >>> normalise_ec("EC:2.7.1.11"), normalise_ec("2.3.1.-"), normalise_ec("kinase")
    ('2.7.1.11', '2.3.1.-', None)
    """
    s = str(text).strip().rstrip(".")
    for prefix in ("EC:", "ec:", "EC ", "ec-code/", "EC"):
        s = s.removeprefix(prefix).strip()
    return s if _EC_FIELD.match(s) else None


def _values(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple, set)):
        return [str(v) for v in value]
    return [str(value)]


def annotation_ecs(reaction) -> list[str]:
    """ECs in a reaction's annotation (structured fields; several ECs in one string are split)."""
    ann = getattr(reaction, "annotation", {}) or {}
    out: list[str] = []
    for key in EC_ANNOTATION_KEYS:
        for item in _values(ann.get(key)):
            for part in re.split(r"[;,|\s]+", item):
                ec = normalise_ec(part) if part else None
                if ec and ec not in out:
                    out.append(ec)
    return out


def notes_ecs(reaction) -> list[str]:
    """Full ECs written in a reaction's legacy notes under an EC-like key."""
    notes = getattr(reaction, "notes", {}) or {}
    out: list[str] = []
    if not isinstance(notes, dict):
        return out
    for key, value in notes.items():
        if re.sub(r"[\s_\-]", "", str(key)).lower() not in EC_NOTE_KEYS:
            continue
        for item in _values(value):
            for ec in _EC_TEXT.findall(item):
                if ec not in out:
                    out.append(ec)
    return out


def _first(value: Any) -> str | None:
    vals = _values(value)
    return vals[0].strip() if vals and vals[0].strip() else None


def bigg_reaction_id(reaction) -> str:
    """The reaction's BiGG id: annotation ``bigg.reaction``, else its id without an ``R_`` prefix."""
    ann = getattr(reaction, "annotation", {}) or {}
    return _first(ann.get("bigg.reaction")) or str(reaction.id).removeprefix("R_")


class EcCrossReference:
    """Reaction id (BiGG) and MetaNetX reaction id -> EC numbers.

    Parameters
    ----------
    bigg : dict
        BiGG reaction id -> ECs.
    metanetx : dict
        ``MNXR...`` -> ECs.
    """

    def __init__(self, bigg: dict[str, list[str]] | None = None,
                 metanetx: dict[str, list[str]] | None = None) -> None:
        self.bigg = dict(bigg or {})
        self.metanetx = dict(metanetx or {})
        self._bigg_upper = {k.upper(): v for k, v in self.bigg.items()}

    @classmethod
    def packaged(cls) -> EcCrossReference:
        """The table shipped in ``kingems_ray/data/kcat_stats`` (empty if it is missing)."""
        path = package_data(*XREF_FILE)
        return cls.from_file(path) if path.exists() else cls()

    @classmethod
    def from_file(cls, path: str | Path) -> EcCrossReference:
        """Read a ``key_type, key, ecs, n_models`` TSV (``ecs`` joined by ``;``)."""
        bigg: dict[str, list[str]] = {}
        mnx: dict[str, list[str]] = {}
        with gzip.open(path, "rt", newline="") if str(path).endswith(".gz") else open(path, newline="") as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                ecs = [e for e in (row.get("ecs") or "").split(";") if e]
                if not ecs:
                    continue
                target = bigg if row.get("key_type") == "bigg" else mnx
                target[row["key"]] = ecs
        return cls(bigg, mnx)

    def lookup(self, reaction) -> tuple[list[str], str]:
        """``(ECs, source)`` for a reaction by its BiGG id, then its MetaNetX ids; ``([], "")`` if unknown."""
        rid = bigg_reaction_id(reaction)
        for cand in dict.fromkeys([rid, str(reaction.id).removeprefix("R_")]):
            ecs = self.bigg.get(cand) or self._bigg_upper.get(cand.upper())
            if ecs:
                return list(ecs), "xref_bigg"
        ann = getattr(reaction, "annotation", {}) or {}
        for mnx in _values(ann.get("metanetx.reaction")):
            ecs = self.metanetx.get(mnx.strip())
            if ecs:
                return list(ecs), "xref_metanetx"
        return [], ""

    def __len__(self) -> int:
        return len(self.bigg) + len(self.metanetx)


def reaction_ecs_with_source(
    reaction, ec_map: dict[str, list[str]] | None = None, xref: EcCrossReference | None = None,
    notes: bool = True,
) -> tuple[list[str], str]:
    """A reaction's ECs and where they came from.

    Parameters
    ----------
    reaction : cobra.Reaction
    ec_map : dict, optional
        Caller's reaction id -> ECs (source ``ec_map``), tried after the reaction's own annotation and notes.
    xref : EcCrossReference, optional
        Cross-reference table (sources ``xref_bigg`` / ``xref_metanetx``), tried last.
    notes : bool
        Read legacy notes (default True).

    Returns
    -------
    (list of str, str)
        ECs (possibly empty) and the source: ``annotation``, ``notes``, ``ec_map``, ``xref_bigg``,
        ``xref_metanetx``, or ``none``.
    """
    ecs = annotation_ecs(reaction)
    if ecs:
        return ecs, "annotation"
    ecs = notes_ecs(reaction) if notes else []
    if ecs:
        return ecs, "notes"
    if ec_map:
        ecs = list(ec_map.get(reaction.id, []) or ec_map.get(bigg_reaction_id(reaction), []))
        if ecs:
            return ecs, "ec_map"
    if xref is not None:
        ecs, how = xref.lookup(reaction)
        if ecs:
            return ecs, how
    return [], "none"


def build_xref_table(models: Iterable) -> list[tuple[str, str, str, int]]:
    """Rows ``(key_type, key, ecs, n_models)`` from the EC annotations of annotated models.

    For each BiGG reaction id (and each MetaNetX reaction id it is annotated with), the ECs given by the most
    models win; ties keep every EC seen. Only annotations (``ec-code`` / ``brenda``) count, not notes.
    """
    by_key: dict[tuple[str, str], Counter] = defaultdict(Counter)
    n_models: Counter = Counter()
    for model in models:
        for rxn in model.reactions:
            ecs = annotation_ecs(rxn)
            if not ecs:
                continue
            keys = [("bigg", bigg_reaction_id(rxn))]
            ann = getattr(rxn, "annotation", {}) or {}
            keys += [("metanetx", m.strip()) for m in _values(ann.get("metanetx.reaction")) if m.strip()]
            for key in keys:
                by_key[key][";".join(sorted(ecs))] += 1
                n_models[key] += 1
    rows = []
    for (kind, key), counts in sorted(by_key.items()):
        top = max(counts.values())
        ecs = sorted({e for combo, c in counts.items() if c == top for e in combo.split(";")})
        rows.append((kind, key, ";".join(ecs), int(n_models[(kind, key)])))
    return rows


def write_xref_table(rows: list[tuple[str, str, str, int]], path: str | Path) -> None:
    """Write :func:`build_xref_table` rows as a gzipped TSV (fixed mtime, so rebuilds are byte-identical)."""
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(b"key_type\tkey\tecs\tn_models\n")
        for r in rows:
            gz.write(f"{r[0]}\t{r[1]}\t{r[2]}\t{r[3]}\n".encode())
