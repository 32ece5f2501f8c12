"""Substrate structures (SMILES) for model metabolites.

A metabolite's SMILES is looked up, in this order:

1. a SMILES in its annotation (``smiles`` / ``SMILES``),
2. its BiGG id (annotation ``bigg.metabolite``, else the id without compartment) in
   ``sequences/derived_bigg_metabolite_smiles.tsv``,
3. its MetaNetX id (annotation ``metanetx.chemical``) in ``sequences/deepenzyme_MetaNetX_SMILES.csv.gz``
   (and the MetaNetX column of the BiGG table),
4. an InChI in its annotation (``inchi``; AGORA models carry these), converted with RDKit,
5. an InChIKey in its annotation (``inchi_key`` / ``inchikey``) in the ECMpy InChIKey -> SMILES tables.

Why id tables before the model's own InChI: the tables hold the charged (pH 7) forms used by the reference
pipeline and the training data, and they give one SMILES per compound across models, which lets predictions be
shared between models. The InChI of an AGORA model is the fallback for ids the tables do not know.

Nothing here imports Ray.
"""

from __future__ import annotations

import csv
import gzip
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..paths import data_root

# Compartment suffixes: BiGG "_c", "_e", "_p", "_c0"; AGORA/VMH "[c]", "[e]"; old COBRA "(e)".
_COMPARTMENT = re.compile(r"(\[[A-Za-z0-9_]{1,4}\]|\([A-Za-z0-9_]{1,4}\)|_[A-Za-z]{1,2}[0-9]?)$")


def strip_compartment(met_id: str) -> str:
    """Remove a compartment suffix from a metabolite id.

    Examples
    --------
    >>> strip_compartment("glc__D_e"), strip_compartment("atp[c]"), strip_compartment("ac(e)")
    ('glc__D', 'atp', 'ac')
    """
    mid = str(met_id)
    if mid.startswith("M_"):
        mid = mid[2:]
    return _COMPARTMENT.sub("", mid) or mid


# Placeholders some tables hold instead of a structure ("noinchikey_inpubchem" in ECMpy's tables).
_PLACEHOLDER = re.compile(r"^(noinchikey\w*|nan|none|null|n/?a|-+|\?)$", re.IGNORECASE)


def is_placeholder(smiles: str | None) -> bool:
    """Whether a table entry means "no structure" rather than being a (possibly broken) SMILES."""
    return smiles is None or not str(smiles).strip() or bool(_PLACEHOLDER.match(str(smiles).strip()))


def clean_smiles(smiles: str) -> str:
    """Undo an escaping artefact of some tables: SMILES never holds a doubled backslash."""
    return re.sub(r"\\{2,}", r"\\", str(smiles).strip())


def _first(value: Any) -> str | None:
    """First string of an annotation value (cobra stores str or list of str)."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return str(value[0]) if value else None
    s = str(value).strip()
    return s or None


def _all(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value if str(v).strip()]
    return [str(value)] if str(value).strip() else []


def metabolite_base_id(met) -> str:
    """BiGG-style id of a metabolite without compartment (annotation ``bigg.metabolite`` preferred)."""
    ann = getattr(met, "annotation", {}) or {}
    bigg = _first(ann.get("bigg.metabolite"))
    return bigg if bigg else strip_compartment(met.id)


_SMILES_CACHE: dict[str, bool] = {}


def check_smiles(smiles: str | None) -> str:
    """Check a SMILES with RDKit.

    Returns
    -------
    str
        ``"ok"``, ``"no_structure"`` (empty / missing) or ``"invalid_smiles"`` (RDKit cannot parse it).
    """
    if is_placeholder(smiles):
        return "no_structure"
    s = str(smiles).strip()
    if s not in _SMILES_CACHE:
        from rdkit import Chem, RDLogger

        RDLogger.DisableLog("rdApp.*")  # RDKit prints parse errors to stderr; the status column carries them
        _SMILES_CACHE[s] = Chem.MolFromSmiles(s) is not None
    return "ok" if _SMILES_CACHE[s] else "invalid_smiles"


def inchi_to_smiles(inchi: str) -> str | None:
    """Convert an InChI to a canonical SMILES with RDKit; ``None`` when RDKit cannot read it."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    try:
        mol = Chem.MolFromInchi(str(inchi), sanitize=True, treatWarningAsError=False)
    except Exception:  # RDKit raises assorted C++ errors on malformed InChI; treat as "no structure"
        mol = None
    return Chem.MolToSmiles(mol) if mol is not None else None


@dataclass
class StructureTables:
    """Id -> SMILES maps used by :class:`StructureResolver`.

    Attributes
    ----------
    bigg : dict
        Compartment-free BiGG id -> SMILES.
    metanetx : dict
        MetaNetX id (``MNXM...``) -> SMILES.
    inchikey : dict
        InChIKey -> SMILES.
    """

    bigg: dict[str, str] = field(default_factory=dict)
    metanetx: dict[str, str] = field(default_factory=dict)
    inchikey: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_data_dir(cls, folder: str | Path | None = None) -> StructureTables:
        """Load the tables from ``<data>/sequences`` (empty tables when the data folder is absent).

        Parameters
        ----------
        folder : str or Path, optional
            The ``sequences`` folder; default ``data_root()/sequences``.
        """
        if folder is None:
            root = data_root()
            if root is None:
                return cls()
            folder = root / "sequences"
        folder = Path(folder)
        tables = cls()
        bigg_tsv = folder / "derived_bigg_metabolite_smiles.tsv"
        if bigg_tsv.exists():
            with open(bigg_tsv, newline="") as fh:
                for row in csv.DictReader(fh, delimiter="\t"):
                    smi = (row.get("smiles") or "").strip()
                    if not smi:
                        continue
                    tables.bigg.setdefault(row["bigg_metabolite_id"].strip(), smi)
                    mnx = (row.get("metanetx_id") or "").strip()
                    if mnx:
                        tables.metanetx.setdefault(mnx, smi)
        mnx_csv = folder / "deepenzyme_MetaNetX_SMILES.csv.gz"
        if mnx_csv.exists():
            with gzip.open(mnx_csv, "rt", newline="") as fh:
                for row in csv.DictReader(fh):
                    mnx, smi = (row.get("MetaNetX ID") or "").strip(), (row.get("SMILES") or "").strip()
                    if mnx.startswith("MNXM") and smi:
                        tables.metanetx.setdefault(mnx, smi)
        for path in sorted(folder.glob("*_metabolite_inchikey_smiles.csv")):
            with open(path, newline="") as fh:
                for row in csv.DictReader(fh):
                    key = (row.get("inchikey") or "").strip()
                    smi = (row.get("Canonical_SMILES") or "").strip()
                    if key and smi:
                        tables.inchikey.setdefault(key, smi)
                    name = (row.get("metname") or "").strip()
                    if name and smi:
                        # ECMpy names are compartment-free BiGG ids too; they fill gaps of the main table.
                        tables.bigg.setdefault(name, smi)
        return tables


class StructureResolver:
    """Find a SMILES for model metabolites, caching by metabolite id.

    Parameters
    ----------
    tables : StructureTables, optional
        Id maps; default: loaded from the reference data (empty when it is absent).
    extra : dict, optional
        User overrides, compartment-free id (or full id) -> SMILES; checked first.
    """

    def __init__(self, tables: StructureTables | None = None, extra: dict[str, str] | None = None) -> None:
        self.tables = tables if tables is not None else StructureTables.from_data_dir()
        self.extra = dict(extra or {})
        self._cache: dict[str, tuple[str | None, str]] = {}

    def resolve(self, met) -> tuple[str | None, str]:
        """Return ``(smiles, how)`` for a cobra metabolite.

        ``how`` is one of ``user``, ``annotation_smiles``, ``bigg``, ``metanetx``, ``annotation_inchi``,
        ``inchikey`` or ``none`` (then ``smiles`` is ``None``).
        """
        if met.id in self._cache:
            return self._cache[met.id]
        result = self._resolve(met)
        self._cache[met.id] = result
        return result

    def _resolve(self, met) -> tuple[str | None, str]:
        # Candidates in priority order; the first that RDKit parses wins. Tables hold placeholders such as
        # "noinchikey_inpubchem", so an unparsable entry must not hide a good one further down.
        first_bad: tuple[str | None, str] | None = None
        for smi, how in self._candidates(met):
            if is_placeholder(smi):
                continue
            smi = clean_smiles(smi)
            if check_smiles(smi) == "ok":
                return smi, how
            first_bad = first_bad or (smi, how)
        return first_bad if first_bad else (None, "none")

    def _candidates(self, met) -> Iterator[tuple[str | None, str]]:
        ann = getattr(met, "annotation", {}) or {}
        base = metabolite_base_id(met)
        for key in (met.id, base, strip_compartment(met.id)):
            if key in self.extra:
                yield self.extra[key], "user"
        for key in ("smiles", "SMILES"):
            yield _first(ann.get(key)), "annotation_smiles"
        for key in dict.fromkeys([base, strip_compartment(met.id)]):
            yield self.tables.bigg.get(key), "bigg"
        for mnx in _all(ann.get("metanetx.chemical")):
            yield self.tables.metanetx.get(mnx), "metanetx"
        inchi = _first(ann.get("inchi"))
        if inchi:
            full = inchi if inchi.startswith("InChI=") else "InChI=" + inchi
            yield inchi_to_smiles(full), "annotation_inchi"
        for key in ("inchi_key", "inchikey", "InChIKey"):
            for ik in _all(ann.get(key)):
                yield self.tables.inchikey.get(ik.removeprefix("InChIKey=")), "inchikey"
