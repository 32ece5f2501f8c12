"""(reaction, substrate, gene) pairs of a GEM and the protein sequences of its genes.

One pair per reaction with a GPR × direction it can run in × substrate of that direction × gene of the GPR.
The forward direction's substrates are the reactants; a reversible reaction also gets reverse rows whose
substrates are the products (``direction="reverse"``).

Currency metabolites (protons, water, inorganic ions and gases) are dropped from the substrates: their kcat
"for water" means nothing and they would dominate an aggregate such as the max over substrates. Organic
cofactors (ATP, NAD(P)H, CoA, quinones) are *kept* by default because for kinases and dehydrogenases they are
true substrates and the reference pipeline predicts for them too; ``exclude_cofactors=True`` drops them as
DLKcat does. When a direction has only currency substrates (water / ammonium / CO2 transport), those are
kept (protons last), so every reaction–gene pair has at least one row.

Nothing here imports Ray.
"""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..gem.gpr import parse_gpr
from .ec_annotations import EcCrossReference, annotation_ecs, reaction_ecs_with_source
from .structures import StructureResolver, check_smiles, metabolite_base_id

#: Always excluded as substrates (compartment-free BiGG/VMH ids).
CURRENCY_METABOLITES: frozenset[str] = frozenset(
    {
        "h", "h2o", "pi", "ppi", "pppi", "co2", "hco3", "o2", "h2o2", "nh4", "nh3", "h2", "h2s", "so4",
        "so3", "no2", "no3", "na1", "k", "cl", "ca2", "mg2", "mn2", "fe2", "fe3", "zn2", "cu", "cu2",
        "cobalt2", "ni2", "mobd", "cd2", "hg2", "tungs", "sel", "slnt", "o2s", "co", "photon", "proton",
        "water",
    }
)

#: Organic cofactors / energy carriers, excluded only with ``exclude_cofactors=True``.
COFACTOR_METABOLITES: frozenset[str] = frozenset(
    {
        "atp", "adp", "amp", "gtp", "gdp", "gmp", "ctp", "cdp", "cmp", "utp", "udp", "ump", "itp", "idp",
        "nad", "nadh", "nadp", "nadph", "fad", "fadh2", "fmn", "fmnh2", "coa", "accoa", "q8", "q8h2", "mqn8",
        "mql8", "2dmmq8", "2dmmql8", "thf", "10fthf", "mlthf", "methf", "5mthf", "gthrd", "gthox", "trdrd",
        "trdox", "fdxrd", "fdxox", "flxr", "flxso", "pqq", "pqqh2",
    }
)

#: Gene ids that stand for "no enzyme" in some models; rows are kept but get no sequence.
SPONTANEOUS_GENES: frozenset[str] = frozenset({"s0001", "spontaneous", "SPONTANEOUS", "Unknown", "unknown"})

PAIR_COLUMNS = ["reaction_id", "direction", "substrate", "substrate_base", "gene_id", "ec", "ec_source", "gpr"]

_XREF_CACHE: list[EcCrossReference] = []


def packaged_ec_xref() -> EcCrossReference:
    """The packaged reaction-id -> EC table (loaded once per process; read-only)."""
    if not _XREF_CACHE:
        _XREF_CACHE.append(EcCrossReference.packaged())
    return _XREF_CACHE[0]


@dataclass
class PairOptions:
    """How pairs are chosen.

    Attributes
    ----------
    currency : frozenset of str
        Compartment-free metabolite ids never used as substrates.
    cofactors : frozenset of str
        Compartment-free ids dropped when ``exclude_cofactors`` is true.
    exclude_cofactors : bool
        Drop organic cofactors too (DLKcat style). Default False (kinGEMs style).
    reverse : bool
        Add ``direction="reverse"`` rows for reactions that can run backwards.
    ec_map : dict, optional
        Reaction id -> EC numbers used for reactions whose own annotation and notes have none (e.g. borrowed
        from another model with the same BiGG ids through :func:`reaction_ec_map`).
    ec_xref : bool or EcCrossReference
        Look up ECs of still unannotated reactions by BiGG / MetaNetX reaction id (``True``: the packaged
        table, see :mod:`kingems_ray.kcat.ec_annotations`; ``False``: no cross-references).
    ec_notes : bool
        Read ECs from legacy ``notes`` (``EC Number: ...``) of reactions whose annotation has none.
    """

    currency: frozenset[str] = field(default_factory=lambda: CURRENCY_METABOLITES)
    cofactors: frozenset[str] = field(default_factory=lambda: COFACTOR_METABOLITES)
    exclude_cofactors: bool = False
    reverse: bool = True
    ec_map: dict[str, list[str]] | None = None
    ec_xref: bool | EcCrossReference = True
    ec_notes: bool = True

    def xref(self) -> EcCrossReference | None:
        """The cross-reference table in use (``None`` when turned off)."""
        if isinstance(self.ec_xref, EcCrossReference):
            return self.ec_xref
        return packaged_ec_xref() if self.ec_xref else None

    def excluded(self) -> frozenset[str]:
        """The set of compartment-free ids removed from the substrates."""
        return self.currency | self.cofactors if self.exclude_cofactors else self.currency


def reaction_ecs(reaction) -> list[str]:
    """EC numbers of a reaction from its annotation (``ec-code``, ``brenda``, ``ec`` / ``EC Number``).

    Legacy notes and cross-references are not read here; see
    :func:`kingems_ray.kcat.ec_annotations.reaction_ecs_with_source` for the full order.

    Returns
    -------
    list of str
        Normalised EC strings such as ``"2.7.1.11"`` or ``"2.3.1.-"`` (no ``EC:`` prefix), de-duplicated.
    """
    return annotation_ecs(reaction)


def reaction_ec_map(models: Iterable) -> dict[str, list[str]]:
    """Reaction id -> EC numbers over one or more annotated models (first model wins for an id).

    BiGG reaction ids are shared between BiGG models, so e.g. iML1515's annotations can fill the ECs that
    the e_coli_core / textbook model lacks.
    """
    out: dict[str, list[str]] = {}
    for model in models:
        for rxn in model.reactions:
            ecs = reaction_ecs(rxn)
            if ecs and rxn.id not in out:
                out[rxn.id] = ecs
    return out


def _direction_substrates(reaction, sign: int, excluded: frozenset[str]) -> list:
    mets = [m for m, c in reaction.metabolites.items() if c * sign < 0]
    kept = [m for m in mets if metabolite_base_id(m) not in excluded]
    if kept:
        return kept
    # Only currency metabolites (e.g. H2O or CO2 transport): keep them, protons only as a last resort.
    no_h = [m for m in mets if metabolite_base_id(m) != "h"]
    return no_h or mets


def model_pairs(model, options: PairOptions | None = None) -> pd.DataFrame:
    """All (reaction, direction, substrate, gene) rows of a model.

    Parameters
    ----------
    model : cobra.Model
    options : PairOptions, optional

    Returns
    -------
    DataFrame
        Columns ``reaction_id, direction, substrate, substrate_base, gene_id, ec, ec_source, gpr``;
        ``substrate`` is the model metabolite id, ``substrate_base`` its compartment-free id, ``ec`` the
        reaction's ECs joined by ``;`` (empty when none is known) and ``ec_source`` where they came from
        (``annotation``, ``notes``, ``ec_map``, ``xref_bigg``, ``xref_metanetx`` or ``none``). Reactions without
        a GPR give no rows.
    """
    options = options or PairOptions()
    excluded = options.excluded()
    xref = options.xref()
    rows: list[tuple] = []
    for rxn in model.reactions:
        rule = rxn.gene_reaction_rule
        if not rule or not rule.strip():
            continue
        try:
            clauses = parse_gpr(rule)
        except ValueError:
            # A malformed rule still names genes: fall back to the model's own gene list for the reaction.
            clauses = [frozenset(g.id for g in rxn.genes)]
        genes = list(dict.fromkeys(g for c in clauses for g in sorted(c)))
        if not genes:
            continue
        ecs, ec_source = reaction_ecs_with_source(rxn, options.ec_map, xref, notes=options.ec_notes)
        ec = ";".join(ecs)
        directions = []
        if rxn.upper_bound > 0 or (rxn.upper_bound == 0 and rxn.lower_bound == 0):
            directions.append(("forward", 1))
        if options.reverse and rxn.lower_bound < 0:
            directions.append(("reverse", -1))
        for direction, sign in directions:
            for met in _direction_substrates(rxn, sign, excluded):
                base = metabolite_base_id(met)
                for g in genes:
                    rows.append((rxn.id, direction, met.id, base, g, ec, ec_source, rule))
    return pd.DataFrame(rows, columns=PAIR_COLUMNS)


def attach_structures(pairs: pd.DataFrame, model, resolver: StructureResolver | None = None) -> pd.DataFrame:
    """Add ``smiles``, ``structure_source``, ``reaction_smiles`` and ``reaction_structure`` to a pairs table.

    Parameters
    ----------
    pairs : DataFrame
        From :func:`model_pairs`.
    model : cobra.Model
        The model the pairs come from (for metabolite annotations).
    resolver : StructureResolver, optional
        Default: one loaded from the reference data.

    Notes
    -----
    ``reaction_smiles`` is the (reaction, direction) as RDKit reaction SMILES ``"subs>>prods"`` (molecules
    joined by ``.``, each once; reverse rows swap the sides), built from the metabolites that have a structure.
    ``reaction_structure`` says how complete it is: ``complete``, ``partial`` (some metabolites have no
    structure; they are left out) or ``none`` (a side has no structure at all; ``reaction_smiles`` is empty).
    """
    resolver = resolver or StructureResolver()
    found = {}
    for mid in pairs["substrate"].unique():
        met = model.metabolites.get_by_id(mid)
        found[mid] = resolver.resolve(met)
    out = pairs.copy()
    out["smiles"] = out["substrate"].map(lambda m: found[m][0])
    out["structure_source"] = out["substrate"].map(lambda m: found[m][1])
    rxn_smiles: dict[tuple[str, str], tuple[str, str]] = {}
    for rid, direction in pairs[["reaction_id", "direction"]].drop_duplicates().itertuples(index=False):
        rxn_smiles[(rid, direction)] = reaction_smiles(model.reactions.get_by_id(rid), direction, resolver)
    keys = list(zip(out["reaction_id"], out["direction"]))
    out["reaction_smiles"] = [rxn_smiles[k][0] for k in keys]
    out["reaction_structure"] = [rxn_smiles[k][1] for k in keys]
    return out


def reaction_smiles(reaction, direction: str, resolver: StructureResolver) -> tuple[str, str]:
    """One direction of a reaction as reaction SMILES, and how complete it is.

    Parameters
    ----------
    reaction : cobra.Reaction
    direction : {"forward", "reverse"}
    resolver : StructureResolver

    Returns
    -------
    (str, str)
        ``("subs>>prods", "complete" | "partial")``, or ``("", "none")`` when either side has no structure.
    """
    sign = -1 if direction == "reverse" else 1
    sides: tuple[list[str], list[str]] = ([], [])
    missing = 0
    for met, coef in sorted(reaction.metabolites.items(), key=lambda mc: mc[0].id):
        smi, _ = resolver.resolve(met)
        if smi is None or check_smiles(smi) != "ok":
            missing += 1
            continue
        side = sides[0] if coef * sign < 0 else sides[1]
        if smi not in side:
            side.append(smi)
    if not sides[0] or not sides[1]:
        return "", "none"
    return ".".join(sides[0]) + ">>" + ".".join(sides[1]), "partial" if missing else "complete"



# ---------------------------------------------------------------------------------------------------------
# Protein sequences

_SEQ_COLUMNS = ("sequence", "aaseq", "seq", "Sequence", "SEQ", "protein_sequence", "Pro_seq")
_ID_COLUMNS = ("gene_id", "geneid", "gene", "locus_tag", "id", "Gene", "m_gene")
_ALIAS_COLUMNS = ("pro", "uniprot", "UniProt", "UniProt ID", "seq_uniprot", "protein_id")


def _open_text(path: Path):
    return gzip.open(path, "rt", newline="") if path.suffix == ".gz" else open(path, newline="")


def parse_fasta(handle: io.TextIOBase) -> dict[str, str]:
    """Parse FASTA text into ``{first word of header: sequence}`` (first record wins for a repeated id).

    Header ids of the form ``sp|P0A796|PFKA_ECOLI`` also map their accession and entry name.
    """
    seqs: dict[str, str] = {}
    name: str | None = None
    aliases: list[str] = []
    chunks: list[str] = []

    def flush() -> None:
        if name is not None:
            seq = "".join(chunks)
            for key in [name, *aliases]:
                seqs.setdefault(key, seq)

    for line in handle:
        line = line.strip()
        if not line:
            continue
        if line.startswith(">"):
            flush()
            head = line[1:].split()
            name = head[0] if head else ""
            aliases = [p for p in name.split("|")[1:] if p] if "|" in name else []
            chunks = []
        else:
            chunks.append(line)
    flush()
    return seqs


def read_sequences(path: str | Path) -> dict[str, str]:
    """Read protein sequences keyed by gene id from a FASTA or a table.

    Parameters
    ----------
    path : str or Path
        FASTA (``.faa``, ``.fasta``, ``.fa``, optionally ``.gz``; the header's first word is the id, e.g.
        a b-number) or a CSV/TSV table (optionally ``.gz``) with an id column (``gene_id``, ``geneid``,
        ``gene``, ``locus_tag``, ``id``) and a sequence column (``sequence``, ``aaseq``, ``seq``, ...). A
        table's UniProt column (``pro``, ``uniprot``) is indexed too, so genes annotated with UniProt ids
        match.

    Returns
    -------
    dict
        id -> sequence (upper case, whitespace and trailing ``*`` removed).

    Raises
    ------
    FileNotFoundError, ValueError
        Missing file; a table without recognisable id / sequence columns.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: sequence file not found")
    name = p.name.lower().removesuffix(".gz")
    with _open_text(p) as fh:
        first = fh.read(1)
    if first == ">" or name.endswith((".faa", ".fasta", ".fa", ".fas")):
        with _open_text(p) as fh:
            raw = parse_fasta(fh)
    else:
        sep = "\t" if name.endswith((".tsv", ".tab", ".txt")) else ","
        df = pd.read_csv(p, sep=sep, dtype=str)
        seq_col = next((c for c in _SEQ_COLUMNS if c in df.columns), None)
        id_cols = [c for c in _ID_COLUMNS if c in df.columns][:1] + [c for c in _ALIAS_COLUMNS if c in df.columns]
        if seq_col is None or not id_cols:
            raise ValueError(
                f"{p}: need an id column ({', '.join(_ID_COLUMNS + _ALIAS_COLUMNS)}) and a sequence column "
                f"({', '.join(_SEQ_COLUMNS)}); has {', '.join(map(str, df.columns))}"
            )
        df = df.dropna(subset=[seq_col])
        raw = {}
        for col in id_cols:
            for key, seq in zip(df[col], df[seq_col]):
                if isinstance(key, str) and key.strip():
                    raw.setdefault(key.strip(), seq)
    return {k: clean_sequence(v) for k, v in raw.items()}


def clean_sequence(seq: str) -> str:
    """Upper-case a sequence and drop whitespace and a trailing stop ``*``."""
    return re.sub(r"\s", "", str(seq)).upper().rstrip("*")


_AA = re.compile(r"^[ACDEFGHIKLMNPQRSTVWYUOXBZJ]+$")


def check_sequence(seq: str | None) -> str:
    """``"ok"``, ``"no_sequence"`` (missing / empty) or ``"invalid_sequence"`` (not amino-acid letters)."""
    if seq is None or (isinstance(seq, float)) or not str(seq).strip():
        return "no_sequence"
    s = clean_sequence(seq)
    if not _AA.match(s):
        return "invalid_sequence"
    # A DNA/RNA string is made of amino-acid letters too; reject sequences that are almost only ACGTUN.
    if len(s) >= 20 and sum(s.count(c) for c in "ACGTUN") / len(s) > 0.9:
        return "invalid_sequence"
    return "ok"


# Gene annotation keys whose values are also tried as sequence keys (BiGG / AGORA conventions).
_GENE_ALIAS_KEYS = (
    "refseq_old_locus_tag", "refseq_locus_tag", "uniprot", "refseq_name", "ncbiprotein", "asap",
)


def gene_sequences(model, sequences: dict[str, str]) -> dict[str, str]:
    """Map every model gene to a sequence, trying the gene id, then its annotation aliases.

    iJB785 genes are ``SYNPCC7942_RS...`` while sequence tables use ``Synpcc7942_...`` (the
    ``refseq_old_locus_tag`` annotation); iML1515 genes are b-numbers like the E. coli FASTA headers.

    Returns
    -------
    dict
        gene id -> sequence, for the genes that were found.
    """
    if not sequences:
        return {}
    lower = {k.lower(): v for k, v in sequences.items()}
    out: dict[str, str] = {}
    for gene in model.genes:
        cands = [gene.id, gene.id.removeprefix("G_")]
        ann = getattr(gene, "annotation", {}) or {}
        for key in _GENE_ALIAS_KEYS:
            v = ann.get(key)
            cands += list(v) if isinstance(v, (list, tuple)) else ([str(v)] if v else [])
        for c in cands:
            seq = sequences.get(c) or lower.get(str(c).lower())
            if seq:
                out[gene.id] = seq
                break
    return out
