"""Featurisers for the kcat predictor, chosen by name from a registry.

Two families:

* substrate featurisers turn SMILES (or InChI) strings into fixed-length vectors (RDKit Morgan *count*
  fingerprints, optionally with a few whole-molecule descriptors);
* protein featurisers turn amino-acid sequences into fixed-length vectors: an offline composition encoder that
  needs no weights (amino-acid / dipeptide composition, hashed k-mer counts, physico-chemical properties) lives
  here, the ESM-2 encoder lives in :mod:`kingems_ray.kcat.esm_encoder` and registers itself as ``"esm2"``.

Every featuriser returns a :class:`FeatureBatch`: a float32 matrix plus one status string per row.
A row that cannot be featurised (invalid SMILES, empty or non-protein sequence) gets a reason instead of
``"ok"`` and a row of zeros, so one bad input never stops a batch of thousands.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

OK = "ok"

# ----------------------------------------------------------------------------------------------------------
# registry
# ----------------------------------------------------------------------------------------------------------

_REGISTRY: dict[str, type[Featuriser]] = {}


def register_featuriser(name: str) -> Callable[[type[Featuriser]], type[Featuriser]]:
    """Class decorator adding a featuriser class to the registry under ``name``."""

    def deco(cls: type[Featuriser]) -> type[Featuriser]:
        _REGISTRY[name] = cls
        cls.name = name
        return cls

    return deco


def list_featurisers() -> list[str]:
    """Return the registered featuriser names (the ESM-2 encoder included)."""
    _import_optional()
    return sorted(_REGISTRY)


def get_featuriser(name: str, **params: Any) -> Featuriser:
    """Build a featuriser by registry name.

    Parameters
    ----------
    name : str
        ``"morgan"`` (substrate), ``"composition"`` (offline protein encoder) or ``"esm2"`` (ESM-2 protein
        language model, needs weights on disk).
    **params
        Passed to the featuriser's constructor, e.g. ``radius=2, n_bits=1024``.

    Returns
    -------
    Featuriser
    """
    if name not in _REGISTRY:
        _import_optional()
    if name not in _REGISTRY:
        raise KeyError(f"unknown featuriser {name!r}; known: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name](**params)


def featuriser_from_config(config: dict[str, Any]) -> Featuriser:
    """Rebuild a featuriser from ``{"name": ..., "params": {...}}`` (the form stored in checkpoints)."""
    return get_featuriser(config["name"], **dict(config.get("params", {})))


def _import_optional() -> None:
    # The ESM-2 encoder imports fair-esm; load it only when someone asks for it by name.
    from . import esm_encoder  # noqa: F401


@dataclass
class FeatureBatch:
    """Feature matrix plus a per-row status.

    Attributes
    ----------
    values : numpy.ndarray
        ``(n, dim)`` float32; rows whose status is not ``"ok"`` are zeros.
    status : numpy.ndarray
        ``(n,)`` object array of strings: ``"ok"`` or the reason the row failed.
    """

    values: np.ndarray
    status: np.ndarray

    @property
    def ok(self) -> np.ndarray:
        """Boolean mask of rows featurised successfully."""
        return self.status == OK


class Featuriser(ABC):
    """Base class: a named, parameterised map from strings to fixed-length vectors."""

    name: str = "featuriser"
    kind: str = "generic"  # "substrate" or "protein"

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """Constructor parameters (JSON-serialisable) that rebuild this featuriser."""

    @property
    @abstractmethod
    def dim(self) -> int:
        """Length of each feature vector."""

    @abstractmethod
    def featurise(self, items: Sequence[str]) -> FeatureBatch:
        """Featurise a list of strings; never raises on a bad item."""

    def config(self) -> dict[str, Any]:
        """``{"name", "params"}``: what a checkpoint stores to rebuild the featuriser."""
        return {"name": self.name, "params": self.params()}

    def cache_key(self) -> str:
        """Short stable hash of name + parameters, used to key embedding caches."""
        blob = json.dumps(self.config(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


# ----------------------------------------------------------------------------------------------------------
# substrates
# ----------------------------------------------------------------------------------------------------------

# Small set of whole-molecule descriptors: cheap, and they carry size/polarity that folded fingerprints blur.
_DESCRIPTOR_NAMES = (
    "MolWt",
    "MolLogP",
    "TPSA",
    "NumHDonors",
    "NumHAcceptors",
    "NumRotatableBonds",
    "RingCount",
    "NumAromaticRings",
    "HeavyAtomCount",
    "FractionCSP3",
)


def parse_molecule(text: str | None) -> tuple[Any, str]:
    """Parse a SMILES or InChI string with RDKit.

    Parameters
    ----------
    text : str or None
        SMILES, or an InChI starting with ``"InChI="``.

    Returns
    -------
    (rdkit.Chem.Mol or None, str)
        The molecule and ``"ok"``, or ``None`` and ``"empty_smiles"`` / ``"invalid_smiles"`` /
        ``"invalid_inchi"``.
    """
    from rdkit import Chem, rdBase

    if text is None or (isinstance(text, float) and np.isnan(text)):
        return None, "empty_smiles"
    text = str(text).strip()
    if not text:
        return None, "empty_smiles"
    with rdBase.BlockLogs():  # RDKit prints a line per bad molecule: keep batch logs readable
        if text.startswith("InChI="):
            mol = Chem.MolFromInchi(text)
            return (mol, OK) if mol is not None else (None, "invalid_inchi")
        mol = Chem.MolFromSmiles(text)
    return (mol, OK) if mol is not None else (None, "invalid_smiles")


@register_featuriser("morgan")
class MorganCountFeaturiser(Featuriser):
    """RDKit Morgan count fingerprint (optionally plus RDKit descriptors) of a substrate.

    Parameters
    ----------
    radius : int
        Morgan radius (2 = ECFP4-like).
    n_bits : int
        Folded fingerprint length.
    descriptors : bool
        Append the descriptors listed in ``_DESCRIPTOR_NAMES``.
    """

    kind = "substrate"

    def __init__(self, radius: int = 2, n_bits: int = 1024, descriptors: bool = False) -> None:
        from rdkit.Chem import rdFingerprintGenerator

        self.radius = int(radius)
        self.n_bits = int(n_bits)
        self.descriptors = bool(descriptors)
        self._gen = rdFingerprintGenerator.GetMorganGenerator(radius=self.radius, fpSize=self.n_bits)

    def params(self) -> dict[str, Any]:
        return {"radius": self.radius, "n_bits": self.n_bits, "descriptors": self.descriptors}

    @property
    def dim(self) -> int:
        return self.n_bits + (len(_DESCRIPTOR_NAMES) if self.descriptors else 0)

    def featurise(self, items: Sequence[str]) -> FeatureBatch:
        from rdkit.Chem import Descriptors

        out = np.zeros((len(items), self.dim), dtype=np.float32)
        status = np.full(len(items), OK, dtype=object)
        for i, text in enumerate(items):
            mol, st = parse_molecule(text)
            status[i] = st
            if mol is None:
                continue
            out[i, : self.n_bits] = self._gen.GetCountFingerprintAsNumPy(mol)
            if self.descriptors:
                out[i, self.n_bits :] = [getattr(Descriptors, d)(mol) for d in _DESCRIPTOR_NAMES]
        return FeatureBatch(out, status)


# ----------------------------------------------------------------------------------------------------------
# proteins
# ----------------------------------------------------------------------------------------------------------

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
_AA_INDEX = np.full(256, -1, dtype=np.int64)
for _i, _a in enumerate(AMINO_ACIDS):
    _AA_INDEX[ord(_a)] = _i
# Ambiguous / rare residue letters are valid protein but carry no composition signal.
_EXTRA_PROTEIN_LETTERS = set("BZXUOJ")
_VALID_LETTERS = set(AMINO_ACIDS) | _EXTRA_PROTEIN_LETTERS
_NUCLEOTIDES = set("ACGTUN")

# Kyte-Doolittle hydropathy and average residue masses (Da, residue = amino acid - water).
_KD = dict(zip(AMINO_ACIDS, [1.8, 2.5, -3.5, -3.5, 2.8, -0.4, -3.2, 4.5, -3.9, 3.8, 1.9, -3.5, -1.6, -3.5,
                             -4.5, -0.8, -0.7, 4.2, -0.9, -1.3]))
_RESIDUE_MASS = dict(zip(AMINO_ACIDS, [71.08, 103.14, 115.09, 129.12, 147.18, 57.05, 137.14, 113.16, 128.17,
                                       113.16, 131.19, 114.10, 97.12, 128.13, 156.19, 87.08, 101.10, 99.13,
                                       186.21, 163.18]))
_KD_VEC = np.array([_KD[a] for a in AMINO_ACIDS])
_MASS_VEC = np.array([_RESIDUE_MASS[a] for a in AMINO_ACIDS])


def clean_sequence(seq: str | None) -> tuple[str, str]:
    """Normalise a protein sequence and say whether it is usable.

    Parameters
    ----------
    seq : str or None
        One-letter amino-acid sequence; whitespace, lower case and a trailing stop ``*`` are tolerated.

    Returns
    -------
    (str, str)
        The cleaned upper-case sequence and ``"ok"``, ``"empty_sequence"`` or ``"invalid_sequence"`` (letters
        that are not amino acids, or a nucleotide sequence).
    """
    if seq is None or (isinstance(seq, float) and np.isnan(seq)):
        return "", "empty_sequence"
    s = "".join(str(seq).split()).upper().rstrip("*")
    if not s:
        return "", "empty_sequence"
    if not set(s) <= _VALID_LETTERS:
        return s, "invalid_sequence"
    # A string of only A/C/G/T/U/N is DNA/RNA pasted by mistake, not a protein.
    if len(s) >= 10 and set(s) <= _NUCLEOTIDES:
        return s, "invalid_sequence"
    if not any(c in AMINO_ACIDS for c in s):
        return s, "invalid_sequence"
    return s, OK


def _encode_residues(seq: str) -> np.ndarray:
    """Map residues to 0..19, -1 for non-standard letters."""
    return _AA_INDEX[np.frombuffer(seq.encode("ascii"), dtype=np.uint8)]


def amino_acid_composition(idx: np.ndarray) -> np.ndarray:
    """Fraction of each of the 20 standard residues (sums to 1 when any standard residue exists)."""
    std = idx[idx >= 0]
    counts = np.bincount(std, minlength=20).astype(np.float64)
    return counts / max(counts.sum(), 1.0)


def dipeptide_composition(idx: np.ndarray) -> np.ndarray:
    """Fraction of each of the 400 ordered pairs of adjacent standard residues."""
    a, b = idx[:-1], idx[1:]
    m = (a >= 0) & (b >= 0)
    counts = np.bincount(a[m] * 20 + b[m], minlength=400).astype(np.float64)
    return counts / max(counts.sum(), 1.0)


def hashed_kmer_counts(idx: np.ndarray, k: int, n_bins: int) -> np.ndarray:
    """Frequencies of standard-residue k-mers hashed into ``n_bins`` buckets."""
    n = len(idx) - k + 1
    if n <= 0:
        return np.zeros(n_bins)
    code = np.zeros(n, dtype=np.int64)
    valid = np.ones(n, dtype=bool)
    for j in range(k):
        part = idx[j : j + n]
        valid &= part >= 0
        code = code * 20 + np.maximum(part, 0)
    # Multiplicative (Knuth) hashing spreads neighbouring codes over the buckets.
    bucket = ((code[valid] * 2654435761) % (1 << 32)) % n_bins
    counts = np.bincount(bucket, minlength=n_bins).astype(np.float64)
    return counts / max(counts.sum(), 1.0)


def physicochemical_properties(idx: np.ndarray) -> np.ndarray:
    """Length, log length, mass [kDa], net charge at pH 7, charge density, GRAVY, aromaticity, polar fraction."""
    std = idx[idx >= 0]
    counts = np.bincount(std, minlength=20).astype(np.float64)
    n = max(len(std), 1)
    c = dict(zip(AMINO_ACIDS, counts))
    charge = c["K"] + c["R"] + 0.1 * c["H"] - c["D"] - c["E"]
    mass = (counts @ _MASS_VEC + 18.02) / 1000.0
    gravy = counts @ _KD_VEC / n
    aromatic = (c["F"] + c["W"] + c["Y"]) / n
    polar = sum(c[a] for a in "STNQCY") / n
    return np.array([len(idx), np.log(len(idx) + 1.0), mass, charge, charge / n, gravy, aromatic, polar])


_PHYSCHEM_DIM = 8


@register_featuriser("composition")
class CompositionFeaturiser(Featuriser):
    """Offline protein encoder needing no weights.

    Concatenates, in this order, the parts named in ``parts``: ``"aac"`` (20 amino-acid fractions),
    ``"dpc"`` (400 dipeptide fractions), ``"kmer"`` (``kmer_bins`` hashed ``k``-mer frequencies) and
    ``"physchem"`` (8 physico-chemical properties).

    Parameters
    ----------
    parts : sequence of str
        Which blocks to include.
    k : int
        k-mer length of the hashed block.
    kmer_bins : int
        Number of hash buckets for the k-mer block.
    """

    kind = "protein"
    _ORDER = ("aac", "dpc", "kmer", "physchem")

    def __init__(self, parts: Sequence[str] = ("aac", "dpc", "kmer", "physchem"), k: int = 3,
                 kmer_bins: int = 512) -> None:
        unknown = set(parts) - set(self._ORDER)
        if unknown:
            raise ValueError(f"unknown composition parts {sorted(unknown)}; choose from {self._ORDER}")
        self.parts = [p for p in self._ORDER if p in parts]
        self.k = int(k)
        self.kmer_bins = int(kmer_bins)

    def params(self) -> dict[str, Any]:
        return {"parts": list(self.parts), "k": self.k, "kmer_bins": self.kmer_bins}

    @property
    def dim(self) -> int:
        sizes = {"aac": 20, "dpc": 400, "kmer": self.kmer_bins, "physchem": _PHYSCHEM_DIM}
        return sum(sizes[p] for p in self.parts)

    def encode_one(self, seq: str) -> np.ndarray:
        """Feature vector of one already-cleaned sequence."""
        idx = _encode_residues(seq)
        blocks = []
        for p in self.parts:
            if p == "aac":
                blocks.append(amino_acid_composition(idx))
            elif p == "dpc":
                blocks.append(dipeptide_composition(idx))
            elif p == "kmer":
                blocks.append(hashed_kmer_counts(idx, self.k, self.kmer_bins))
            else:
                blocks.append(physicochemical_properties(idx))
        return np.concatenate(blocks).astype(np.float32)

    def featurise(self, items: Sequence[str]) -> FeatureBatch:
        out = np.zeros((len(items), self.dim), dtype=np.float32)
        status = np.full(len(items), OK, dtype=object)
        for i, seq in enumerate(items):
            clean, st = clean_sequence(seq)
            status[i] = st
            if st == OK:
                out[i] = self.encode_one(clean)
        return FeatureBatch(out, status)
