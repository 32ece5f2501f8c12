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


# ----------------------------------------------------------------------------------------------------------
# row context: reaction, EC hierarchy, organism, cofactors (the reaction-aware, sequence-optional predictor)
# ----------------------------------------------------------------------------------------------------------

# Currency metabolites flagged as cofactors, by group. Matched on the first InChIKey block (the skeleton), so
# protonation states and charges written differently by different sources still match.
COFACTOR_GROUPS: dict[str, tuple[str, ...]] = {
    "nad": ("NC(=O)c1ccc[n+](c1)C1OC(COP(=O)(O)OP(=O)(O)OCC2OC(n3cnc4c(N)ncnc43)C(O)C2O)C(O)C1O",
            "NC(=O)C1=CN(C=CC1)C1OC(COP(=O)(O)OP(=O)(O)OCC2OC(n3cnc4c(N)ncnc43)C(O)C2O)C(O)C1O"),
    "nadp": ("NC(=O)c1ccc[n+](c1)C1OC(COP(=O)(O)OP(=O)(O)OCC2OC(n3cnc4c(N)ncnc43)C(OP(=O)(O)O)C2O)C(O)C1O",
             "NC(=O)C1=CN(C=CC1)C1OC(COP(=O)(O)OP(=O)(O)OCC2OC(n3cnc4c(N)ncnc43)C(OP(=O)(O)O)C2O)C(O)C1O"),
    "atp": ("Nc1ncnc2c1ncn2C1OC(COP(=O)(O)OP(=O)(O)OP(=O)(O)O)C(O)C1O",
            "Nc1ncnc2c1ncn2C1OC(COP(=O)(O)OP(=O)(O)O)C(O)C1O", "Nc1ncnc2c1ncn2C1OC(COP(=O)(O)O)C(O)C1O"),
    "gtp": ("Nc1nc2c(ncn2C2OC(COP(=O)(O)OP(=O)(O)OP(=O)(O)O)C(O)C2O)c(=O)[nH]1",
            "Nc1nc2c(ncn2C2OC(COP(=O)(O)OP(=O)(O)O)C(O)C2O)c(=O)[nH]1"),
    "coa": ("CC(C)(COP(=O)(O)OP(=O)(O)OCC1OC(n2cnc3c(N)ncnc32)C(O)C1OP(=O)(O)O)C(O)C(=O)NCCC(=O)NCCS",
            "CC(=O)SCCNC(=O)CCNC(=O)C(O)C(C)(C)COP(=O)(O)OP(=O)(O)OCC1OC(n2cnc3c(N)ncnc32)C(O)C1OP(=O)(O)O"),
    "flavin": ("Cc1cc2nc3c(=O)[nH]c(=O)nc-3n(CC(O)C(O)C(O)COP(=O)(O)O)c2cc1C",
               "Cc1cc2nc3c(=O)[nH]c(=O)nc-3n(CC(O)C(O)C(O)COP(=O)(O)OP(=O)(O)OCC3OC(n4cnc5c(N)ncnc54)C(O)C3O)c2cc1C"),
    "sam": ("C[S+](CCC(N)C(=O)O)CC1OC(n2cnc3c(N)ncnc32)C(O)C1O",),
    "o2": ("O=O",),
    "h2o2": ("OO",),
    "phosphate": ("OP(=O)(O)O", "OP(=O)(O)OP(=O)(O)O"),
    "glutathione": ("NC(CCC(=O)NC(CS)C(=O)NCC(=O)O)C(=O)O",),
    "quinone": ("COC1=C(OC)C(=O)C(CC=C(C)C)=C(C)C1=O", "CC1=C(CC=C(C)C)C(=O)c2ccccc2C1=O"),
}
COFACTOR_NAMES = tuple(COFACTOR_GROUPS)
_COFACTOR_KEYS: dict[str, str] | None = None
# Skeleton keys of molecules too small or too common to be "the" substrate.
_CURRENCY_EXTRA = ("O", "[H+]", "O=C=O", "N", "[NH4+]", "OP(=O)(O)O")


def _skeleton_key(mol: Any) -> str:
    from rdkit import Chem, rdBase

    if mol is None or any(a.GetAtomicNum() == 0 for a in mol.GetAtoms()):
        return ""  # R groups ("*") have no InChI
    try:
        with rdBase.BlockLogs():
            return Chem.MolToInchiKey(mol).split("-")[0]
    except Exception:  # noqa: BLE001 - an exotic molecule without an InChI is simply not a cofactor
        return ""


def cofactor_keys() -> dict[str, str]:
    """InChIKey skeleton block → cofactor group (built once)."""
    global _COFACTOR_KEYS
    if _COFACTOR_KEYS is None:
        from rdkit import Chem, rdBase

        keys: dict[str, str] = {}
        with rdBase.BlockLogs():
            for group, smis in COFACTOR_GROUPS.items():
                for s in smis:
                    m = Chem.MolFromSmiles(s)
                    if m is not None:
                        keys[_skeleton_key(m)] = group
            for s in _CURRENCY_EXTRA:
                m = Chem.MolFromSmiles(s)
                if m is not None:
                    keys.setdefault(_skeleton_key(m), "currency")
        _COFACTOR_KEYS = keys
    return _COFACTOR_KEYS


def parse_reaction(text: object) -> tuple[list[Any], list[Any], str]:
    """Parse ``"A.B>>C.D"`` (RDKit reaction SMILES; agents between ``>`` are ignored).

    Returns
    -------
    (list, list, str)
        Substrate molecules, product molecules and ``"ok"``, ``"empty_reaction"`` or ``"invalid_reaction"``
        (no ``>>``, an empty side, or a molecule RDKit cannot parse).
    """
    from rdkit import Chem, rdBase

    if text is None or (isinstance(text, float) and np.isnan(text)) or not str(text).strip():
        return [], [], "empty_reaction"
    parts = str(text).strip().split(">")
    if len(parts) != 3:
        return [], [], "invalid_reaction"
    sides = []
    with rdBase.BlockLogs():
        for side in (parts[0], parts[2]):
            mols = []
            for s in side.split("."):
                if not s.strip():
                    continue
                m = Chem.MolFromSmiles(s.strip())
                if m is None:
                    return [], [], "invalid_reaction"
                mols.append(m)
            sides.append(mols)
    if not sides[0] or not sides[1]:
        return [], [], "invalid_reaction"
    return sides[0], sides[1], OK


def main_substrate(mols: Sequence[Any]) -> Any:
    """The largest molecule (heavy atoms) that is not a cofactor; the largest of all when all are."""
    if not mols:
        return None
    keys = cofactor_keys()
    non_cof = [m for m in mols if _skeleton_key(m) not in keys]
    pool = non_cof or list(mols)
    return max(pool, key=lambda m: m.GetNumHeavyAtoms())


def cofactor_flags(mols: Sequence[Any]) -> np.ndarray:
    """One flag per :data:`COFACTOR_NAMES` group: 1 when a molecule of that group takes part."""
    keys = cofactor_keys()
    out = np.zeros(len(COFACTOR_NAMES), dtype=np.float32)
    for m in mols:
        g = keys.get(_skeleton_key(m))
        if g in COFACTOR_NAMES:
            out[COFACTOR_NAMES.index(g)] = 1.0
    return out


def ec_levels(ec: object) -> tuple[list[str], str]:
    """The four EC level prefixes of the most specific EC in ``ec`` (``""`` for unknown levels).

    Parameters
    ----------
    ec : object
        ``"1.1.1.1"``, ``"1.1.1.-"``, ``"1.1.1.1;2.7.1.1"`` (the most specific, then first, is used), NaN/empty.

    Returns
    -------
    (list of str, str)
        e.g. ``["1", "1.1", "1.1.1", "1.1.1.1"]`` and ``"ok"``, ``"empty_ec"`` or ``"invalid_ec"``.
    """
    if ec is None or (isinstance(ec, float) and np.isnan(ec)) or not str(ec).strip():
        return ["", "", "", ""], "empty_ec"
    best: list[str] = []
    for part in str(ec).replace(",", ";").split(";"):
        p = part.strip().removeprefix("EC").strip().strip(".")
        if not p:
            continue
        fields = p.split(".")
        known = []
        for f in fields[:4]:
            if f.isdigit() or (f.startswith("n") and f[1:].isdigit()):
                known.append(f)
            else:
                break
        if len(known) > len(best) and (len(fields) <= 4):
            best = known
    if not best:
        return ["", "", "", ""], "invalid_ec"
    return [".".join(best[: i + 1]) if i < len(best) else "" for i in range(4)], OK


def organism_tokens(organism: object, lineage: object) -> list[str]:
    """Genus, genus + species, and every lineage rank, lower-cased (the organism's taxonomic context)."""
    toks: list[str] = []
    if isinstance(organism, str) and organism.strip():
        words = organism.strip().lower().replace("[", "").replace("]", "").split()
        toks.append("g:" + words[0])
        if len(words) > 1:
            toks.append("s:" + " ".join(words[:2]))
    if isinstance(lineage, str) and lineage.strip():
        ranks = [r.strip().lower() for r in lineage.replace("|", ";").split(";") if r.strip()]
        toks += ["t:" + r for r in ranks]
        if not toks or not any(t.startswith("g:") for t in toks):
            # The most specific rank doubles as the genus when no organism name is given.
            toks.append("g:" + ranks[-1].split()[0])
    return toks


def hash_tokens(tokens: Sequence[str], n_bins: int) -> np.ndarray:
    """Multi-hot vector of tokens hashed (crc32, stable across runs) into ``n_bins`` buckets."""
    import zlib

    out = np.zeros(n_bins, dtype=np.float32)
    for t in tokens:
        out[zlib.crc32(t.encode()) % n_bins] = 1.0
    return out


def reaction_difference(subs: Sequence[Any], prods: Sequence[Any], gen: Any, n_bits: int) -> np.ndarray:
    """Morgan count fingerprint of the products minus that of the substrates (what the reaction changes)."""
    v = np.zeros(n_bits, dtype=np.float32)
    for m in prods:
        v += gen.GetCountFingerprintAsNumPy(m)[:n_bits]
    for m in subs:
        v -= gen.GetCountFingerprintAsNumPy(m)[:n_bits]
    return v


@dataclass
class RowFeatures:
    """Feature blocks of rows that may lack some inputs (``has_*`` masks say which are present).

    Attributes
    ----------
    prot, sub, rxn, org, cof : numpy.ndarray
        Dense blocks (zeros where absent): protein, substrate, reaction difference, organism tokens, cofactors.
    has_prot, has_sub, has_rxn, has_org : numpy.ndarray
        Boolean masks.
    ec : list of list of str
        Four EC level prefixes per row.
    status : numpy.ndarray
        ``"ok"`` or why the row cannot be predicted.
    warnings : numpy.ndarray
        ``";"``-joined inputs that were present but unusable (``""`` when none).
    keys : numpy.ndarray, optional
        Hashed retrieval keys per row (:func:`kingems_ray.kcat.retrieval.row_keys`).
    ret : numpy.ndarray, optional
        Retrieval features set by the trainer (out-of-fold); ``None`` means "look them up in the checkpoint's
        index".
    """

    prot: np.ndarray
    sub: np.ndarray
    rxn: np.ndarray
    org: np.ndarray
    cof: np.ndarray
    has_prot: np.ndarray
    has_sub: np.ndarray
    has_rxn: np.ndarray
    has_org: np.ndarray
    ec: list[list[str]]
    status: np.ndarray
    warnings: np.ndarray
    keys: np.ndarray | None = None
    ret: np.ndarray | None = None

    def take(self, idx: np.ndarray) -> RowFeatures:
        """Rows ``idx`` (integer or boolean index)."""
        idx = np.asarray(idx)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        return RowFeatures(*(getattr(self, f)[idx] for f in ("prot", "sub", "rxn", "org", "cof", "has_prot",
                                                             "has_sub", "has_rxn", "has_org")),
                           [self.ec[i] for i in idx], self.status[idx], self.warnings[idx],
                           None if self.keys is None else self.keys[idx],
                           None if self.ret is None else self.ret[idx])


def _col(rows: Any, name: str, n: int) -> list:
    if name not in rows:
        return [None] * n
    return [None if (v is None or (isinstance(v, float) and np.isnan(v))) else v for v in rows[name].tolist()]


def featurise_rows(rows: Any, protein_featuriser: Featuriser, substrate_featuriser: Featuriser,
                   rxn_bits: int = 1024, org_bins: int = 128, cache_dir: Any = None) -> RowFeatures:
    """Featurise rows with optional ``sequence``, ``smiles``, ``reaction_smiles``, ``ec``, ``organism``,
    ``lineage`` (and, for corpus rows, ``substrates_smiles``: the other substrates, used for cofactor flags).

    The substrate is ``smiles`` when it parses, else the main substrate (largest non-cofactor molecule) of the
    reaction's left side. A row needs at least a substrate or an EC number (status ``"no_substrate_or_reaction"``
    otherwise, meaning: no usable substrate, reaction or EC). Bad inputs never raise; they are listed in
    ``warnings`` and their block counts as absent.

    Parameters
    ----------
    rows : pandas.DataFrame
    protein_featuriser, substrate_featuriser : Featuriser
    rxn_bits : int
        Width of the reaction difference fingerprint (first ``rxn_bits`` Morgan count bits, radius of the
        substrate featuriser).
    org_bins : int
        Hash buckets for organism / lineage tokens.
    cache_dir : str or Path, optional
        Protein embedding cache folder.
    """
    from rdkit import Chem
    from rdkit.Chem import rdFingerprintGenerator

    from .cache import cached_featurise

    n = len(rows)
    seqs = _col(rows, "sequence", n)
    smis = _col(rows, "smiles", n)
    rxns = _col(rows, "reaction_smiles", n)
    ecs = _col(rows, "ec", n)
    orgs = _col(rows, "organism", n)
    lins = _col(rows, "lineage", n)
    others = _col(rows, "substrates_smiles", n)
    warn: list[list[str]] = [[] for _ in range(n)]

    # proteins: distinct sequences once
    seq_keys = ["" if not isinstance(s, str) else s for s in seqs]
    useq, inv_p = np.unique(np.asarray(seq_keys, dtype=object), return_inverse=True)
    pb = cached_featurise(protein_featuriser, list(useq), cache_dir)
    has_prot = pb.status[inv_p] == OK
    prot = pb.values[inv_p] * has_prot[:, None]
    for i in np.flatnonzero(~has_prot):
        if pb.status[inv_p[i]] != "empty_sequence":
            warn[i].append(str(pb.status[inv_p[i]]))

    radius = int(substrate_featuriser.params().get("radius", 2))
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=max(rxn_bits, 64))
    rxn = np.zeros((n, rxn_bits), dtype=np.float32)
    cof = np.zeros((n, len(COFACTOR_NAMES)), dtype=np.float32)
    has_rxn = np.zeros(n, dtype=bool)
    sub_text: list[str] = []
    rxn_cache: dict[str, tuple] = {}
    mol_cache: dict[str, Any] = {}

    flag_cache: dict[str, np.ndarray] = {}

    def flag_of(key: str, mols: list) -> np.ndarray:
        if key not in flag_cache:
            flag_cache[key] = cofactor_flags(mols)
        return flag_cache[key]

    def mol_of(s: str) -> Any:
        if s not in mol_cache:
            mol_cache[s] = parse_molecule(s)[0]
        return mol_cache[s]

    for i in range(n):
        subs: list[Any] = []
        prods: list[Any] = []
        r = rxns[i]
        if r is not None and str(r).strip():
            key = str(r)
            if key not in rxn_cache:
                s_m, p_m, st = parse_reaction(key)
                rxn_cache[key] = (s_m, p_m, st, reaction_difference(s_m, p_m, gen, rxn_bits) if st == OK else None)
            subs, prods, st, diff = rxn_cache[key]
            if st == OK:
                has_rxn[i] = True
                rxn[i] = diff
            else:
                warn[i].append(st)
        s = smis[i]
        mol = mol_of(str(s)) if isinstance(s, str) and s.strip() else None
        if isinstance(s, str) and s.strip() and mol is None:
            warn[i].append("invalid_smiles")
        if mol is not None:
            sub_text.append(str(s))
        elif has_rxn[i]:
            sub_text.append(Chem.MolToSmiles(main_substrate(subs)))
        else:
            sub_text.append("")
        # Cofactor flags: OR over the reaction, the other substrates and the substrate, each cached by string.
        flags = np.zeros(len(COFACTOR_NAMES), dtype=np.float32)
        if has_rxn[i]:
            flags = np.maximum(flags, flag_of("R|" + str(r), list(subs) + list(prods)))
        o = others[i]
        if isinstance(o, str) and o:
            for x in o.split("."):
                m = mol_of(x)
                if m is not None:
                    flags = np.maximum(flags, flag_of(x, [m]))
        if mol is not None:
            flags = np.maximum(flags, flag_of(str(s), [mol]))
        cof[i] = flags

    usmi, inv_s = np.unique(np.asarray(sub_text, dtype=object), return_inverse=True)
    sb = substrate_featuriser.featurise(list(usmi))
    has_sub = sb.status[inv_s] == OK
    sub = sb.values[inv_s] * has_sub[:, None]

    ec_out, has_ec = [], np.zeros(n, dtype=bool)
    for i in range(n):
        lv, st = ec_levels(ecs[i])
        ec_out.append(lv)
        has_ec[i] = st == OK
        if st == "invalid_ec":
            warn[i].append(st)
    org = np.zeros((n, org_bins), dtype=np.float32)
    has_org = np.zeros(n, dtype=bool)
    for i in range(n):
        toks = organism_tokens(orgs[i], lins[i])
        if toks:
            org[i] = hash_tokens(toks, org_bins)
            has_org[i] = True
    status = np.where(has_sub | has_ec, OK, "no_substrate_or_reaction").astype(object)
    warnings = np.array([";".join(dict.fromkeys(w)) for w in warn], dtype=object)
    # Retrieval keys: the cleaned sequence, the substrate actually used (canonical SMILES), EC levels, organism.
    from .retrieval import row_keys

    canon = {t: (Chem.MolToSmiles(mol_of(t)) if t and mol_of(t) is not None else "") for t in usmi}
    clean = {q: (clean_sequence(q)[0] if q else "") for q in useq}
    keys = row_keys([clean[q] if h else "" for q, h in zip(seq_keys, has_prot)],
                    [canon[t] if h else "" for t, h in zip(sub_text, has_sub)], ec_out, orgs, rxns)
    return RowFeatures(prot, sub, rxn, org, cof, has_prot, has_sub, has_rxn, has_org, ec_out, status, warnings,
                       keys)
