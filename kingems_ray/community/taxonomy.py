"""Taxonomy tables -> community members: MICOM-style matching of taxa to a model database, pooled rank models.

A cohort is a taxonomy table: one row per (sample, taxon) with an abundance and taxonomic ranks (MICOM's
``sample_id, id, abundance, genus, species, ..., [file]``), or a wide samples x taxa table. This module

* reads both layouts, with the spellings other tools write (``SampleID``, ``#SampleID``, ``sample-id``,
  ``relative_abundance``, ``Genus``, lineage strings ``k__Bacteria;...;g__Bacteroides;s__...``);
* builds a model database from a folder of AGORA models (rank columns parsed from the file names:
  ``Bacteroides_caccae_ATCC_43185`` -> genus ``Bacteroides``, species ``Bacteroides caccae``) or reads a MICOM
  manifest (``file`` plus rank columns);
* matches each taxon to the database at a requested rank (taxon names and rank prefixes such as ``g__`` are
  normalised as MICOM's ``unify_rank_prefixes`` does; the ranks above the requested one are matched too when both
  tables have them);
* pools all models of one rank group into one model the way MICOM's ``build_database`` / ``join_models`` does
  (union of reactions by id, the first model's version of a shared reaction, a new objective that is the mean of
  the members' biomass reactions), compiled and kept in a content-keyed cache;
* per sample: drops taxa below the abundance cutoff (relative, as MICOM's ``rel_threshold``), reports the abundance
  that matched no model, and renormalises the matched abundances.

Bad input is reported per sample, never raised for the cohort (a taxon with no model, a sample whose taxa all miss,
abundances summing to zero).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import KingemsError

log = logging.getLogger(__name__)

RANKS = ["kingdom", "phylum", "class", "order", "family", "genus", "species", "strain"]

_SAMPLE_ALIASES = ("sample_id", "sampleid", "#sampleid", "sample-id", "sample", "sample_name", "samples")
_ID_ALIASES = ("id", "taxon", "taxa", "name", "feature", "feature_id", "featureid", "#otu id", "otu", "taxonomy")
_ABUNDANCE_ALIASES = ("abundance", "relative_abundance", "rel_abundance", "count", "counts", "reads",
                      "frequency")
_RANK_PREFIX = re.compile(r"^[a-z]__", re.IGNORECASE)
_PREFIX_RANK = {"k": "kingdom", "d": "kingdom", "p": "phylum", "c": "class", "o": "order", "f": "family",
                "g": "genus", "s": "species", "t": "strain"}


def normalise_name(name) -> str:
    """Comparable taxon name: rank prefix dropped, lower case, runs of non-alphanumerics -> one space.

    ``g__Bacteroides``, ``Bacteroides`` and ``bacteroides`` all give ``bacteroides``; ``s__Bacteroides_caccae``
    and ``Bacteroides caccae`` give ``bacteroides caccae``. Missing values give ``""``.
    """
    if name is None or (isinstance(name, float) and not np.isfinite(name)):
        return ""
    s = _RANK_PREFIX.sub("", str(name).strip())
    s = re.sub(r"[^0-9a-zA-Z]+", " ", s).strip().lower()
    return "" if s in ("nan", "none", "unclassified", "unknown") else s


def _canon_columns(df: pd.DataFrame) -> pd.DataFrame:
    ren = {}
    for c in df.columns:
        k = str(c).strip().lower()
        if k in _SAMPLE_ALIASES:
            ren[c] = "sample_id"
        elif k in _ABUNDANCE_ALIASES:
            ren[c] = "abundance"
        elif k in RANKS:
            ren[c] = k
        elif k in _ID_ALIASES:
            ren[c] = "id"
        elif k in ("file", "model", "model_file", "path"):
            ren[c] = "file"
    out = df.rename(columns=ren)
    return out.loc[:, ~out.columns.duplicated()]


def parse_lineage(text: str) -> dict[str, str]:
    """Ranks of a lineage string (``k__Bacteria; p__...; g__Bacteroides; s__caccae``); empty for plain names."""
    out: dict[str, str] = {}
    if not isinstance(text, str) or "__" not in text:
        return out
    for part in re.split(r"[;|]", text):
        part = part.strip()
        m = re.match(r"^([a-zA-Z])__(.*)$", part)
        if m and m.group(2).strip():
            rank = _PREFIX_RANK.get(m.group(1).lower())
            if rank:
                out[rank] = m.group(2).strip()
    # GTDB/SILVA species are often just the epithet: prefix the genus
    sp = out.get("species")
    if sp and "genus" in out and len(sp.replace("_", " ").split()) == 1:
        out["species"] = f"{out['genus']} {sp}"
    return out


def read_taxonomy(table: str | Path | pd.DataFrame, rank: str | None = None) -> pd.DataFrame:
    """Read a cohort's taxonomy as a long table ``sample_id, id, abundance, <ranks...>[, file]``.

    Parameters
    ----------
    table : path or DataFrame
        Long (MICOM) layout with ``sample_id`` and ``abundance`` columns, or a wide samples x taxa table (first
        column the sample ids; if it is named like a taxon column, e.g. ``#OTU ID``, the table is taxa x samples).
        Taxon names may be lineage strings (``k__...;g__X;s__y``), which fill the rank columns.
    rank : str, optional
        Rank that plain taxon names (without a lineage) are at, e.g. ``genus``; default ``species``.

    Raises
    ------
    KingemsError
        Unreadable file, or a table without sample or taxon information.
    """
    if isinstance(table, pd.DataFrame):
        df = table.copy()
    else:
        p = Path(table)
        if not p.is_file():
            raise KingemsError(f"taxonomy table not found: {p}")
        sep = "," if ".csv" in p.name.lower() else "\t"
        try:
            df = pd.read_parquet(p) if p.suffix.lower() == ".parquet" else pd.read_csv(p, sep=sep)
        except Exception as exc:  # noqa: BLE001 - any parse error is bad input
            raise KingemsError(f"{p}: cannot read taxonomy table ({exc})") from exc
    df = _canon_columns(df)
    plain_rank = rank or "species"
    if "sample_id" not in df.columns or "abundance" not in df.columns:
        df = _from_wide(df)
    if "id" not in df.columns:
        for r in reversed(RANKS):
            if r in df.columns:
                df["id"] = df[r]
                break
        else:
            raise KingemsError("taxonomy table has no taxon column (id / taxon / a rank such as genus)")
    df["sample_id"] = df["sample_id"].astype(str)
    df["id"] = df["id"].astype(str)
    df["abundance"] = pd.to_numeric(df["abundance"], errors="coerce").fillna(0.0).clip(lower=0.0)
    # One sample at 0 is reported per sample; a whole table without abundances is bad input.
    if df.empty or not (df["abundance"] > 0).any():
        src = "the taxonomy table" if isinstance(table, pd.DataFrame) else str(table)
        raise KingemsError(f"{src}: no taxon has a numeric abundance > 0 (expected a MICOM long table with sample_id, "
                           "id, abundance, or a wide samples x taxa table of numbers)")
    # ranks from lineage strings; plain names fill the stated rank
    lineages = [parse_lineage(t) for t in df["id"]]
    for r in RANKS:
        vals = [lin.get(r) for lin in lineages]
        if any(v is not None for v in vals):
            col = df[r] if r in df.columns else pd.Series([None] * len(df), index=df.index)
            df[r] = [v if v is not None else c for v, c in zip(vals, col)]
    if plain_rank not in df.columns:
        df[plain_rank] = [None] * len(df)
    no_lineage = np.array([not lin for lin in lineages])
    missing = df[plain_rank].isna().to_numpy() & no_lineage
    df.loc[missing, plain_rank] = df.loc[missing, "id"]
    if "genus" not in df.columns and "species" in df.columns:
        df["genus"] = [normalise_name(s).split(" ")[0] if normalise_name(s) else None for s in df["species"]]
    first = ["sample_id", "id", "abundance"]
    return df[first + [c for c in df.columns if c not in first]].reset_index(drop=True)


def _from_wide(df: pd.DataFrame) -> pd.DataFrame:
    if df.shape[1] < 2:
        raise KingemsError("taxonomy table needs sample_id + abundance columns (long) or samples x taxa (wide)")
    first = df.columns[0]
    if first == "id":  # taxa x samples (QIIME / biom-like export): transpose
        wide = df.set_index(first).T
    else:
        wide = df.set_index(first)
    wide.index = wide.index.astype(str)
    wide = wide.apply(pd.to_numeric, errors="coerce")
    long = wide.rename_axis("sample_id").reset_index().melt(id_vars="sample_id", var_name="id",
                                                            value_name="abundance")
    long = long[long["abundance"].fillna(0) > 0]
    return long


# -- model databases ---------------------------------------------------------------------------------------------
_MODEL_SUFFIXES = (".xml.gz", ".xml", ".sbml.gz", ".sbml", ".json.gz", ".json")


def _stem(path: Path) -> str:
    n = path.name
    for s in _MODEL_SUFFIXES:
        if n.lower().endswith(s):
            return n[: -len(s)]
    return n


def agora_ranks(stem: str) -> dict[str, str]:
    """Genus and species of an AGORA file name (``Bacteroides_caccae_ATCC_43185``).

    AGORA names put the genus first and the species epithet second; ``sp``/``nov``/numbers are not epithets
    (``Desulfovibrio_sp_6_1_46AFAA`` has genus only). ``uncultured_Blautia_sp`` has genus Blautia.
    """
    parts = [p for p in stem.split("_") if p]
    if parts and parts[0].lower() in ("uncultured", "candidatus") and len(parts) > 1:
        parts = parts[1:]
    out = {"genus": parts[0] if parts else stem, "strain": stem}
    if len(parts) > 1 and parts[1].isalpha() and parts[1].islower() and parts[1] not in ("sp", "nov", "bacterium"):
        out["species"] = f"{parts[0]} {parts[1]}"
    return out


@dataclass
class ModelDB:
    """A model database: one row per model file with its taxonomic ranks.

    Attributes
    ----------
    manifest : DataFrame
        ``file, id`` and rank columns (raw names; matching normalises them).
    root : Path or None
        Folder of the database.
    """

    manifest: pd.DataFrame
    root: Path | None = None

    @classmethod
    def open(cls, source: str | Path | pd.DataFrame) -> ModelDB:
        """A database from a folder of models (ranks from AGORA names), a manifest CSV, or a DataFrame.

        A folder may hold a ``manifest.csv`` (MICOM layout: ``file`` + rank columns; files relative to it),
        which is then used instead of the file names.

        Raises
        ------
        KingemsError
            No such folder/file, no models, or a manifest without ``file``.
        """
        if isinstance(source, pd.DataFrame):
            man, root = _canon_columns(source.copy()), None
        else:
            p = Path(source)
            if p.is_dir() and (p / "manifest.csv").is_file():
                p = p / "manifest.csv"
            if p.is_dir():
                files = sorted(q for q in p.iterdir() if q.name.lower().endswith(_MODEL_SUFFIXES))
                if not files:
                    raise KingemsError(f"model database {p}: no model files")
                rows = []
                for f in files:
                    r = agora_ranks(_stem(f))
                    rows.append({"file": str(f), "id": _stem(f), **r})
                return cls(pd.DataFrame(rows), p)
            if not p.is_file():
                raise KingemsError(f"model database not found: {p} (a folder of models or a manifest CSV)")
            sep = "," if p.suffix.lower() == ".csv" else "\t"
            man, root = _canon_columns(pd.read_csv(p, sep=sep)), p.parent
        if "file" not in man.columns:
            raise KingemsError("model database manifest needs a 'file' column")
        if root is not None:
            man["file"] = [str(f) if Path(str(f)).is_absolute() else str(root / str(f)) for f in man["file"]]
        if "id" not in man.columns:
            man["id"] = [_stem(Path(str(f))) for f in man["file"]]
        if "species" in man.columns and "genus" not in man.columns:
            man["genus"] = [normalise_name(s).split(" ")[0] for s in man["species"]]
        return cls(man.reset_index(drop=True), root)

    def groups(self, rank: str) -> dict[str, list[str]]:
        """Normalised rank name -> model files of that group (the pooled model's inputs)."""
        if rank not in self.manifest.columns:
            raise KingemsError(f"model database has no rank {rank!r} (columns: {', '.join(self.manifest.columns)})")
        out: dict[str, list[str]] = {}
        for name, f in zip(self.manifest[rank], self.manifest["file"]):
            k = normalise_name(name)
            if k:
                out.setdefault(k, []).append(str(f))
        return out


@dataclass
class TaxonModel:
    """The model behind one taxon of a sample: one file, or several pooled (MICOM ``join_models``)."""

    name: str
    files: list[str]
    rank: str

    @property
    def pooled(self) -> bool:
        """Whether several models are pooled into this one."""
        return len(self.files) > 1

    def spec(self) -> dict:
        """JSON-able description (what a sweep unit carries)."""
        return {"name": self.name, "files": list(self.files), "rank": self.rank}


@dataclass
class SampleSpec:
    """One sample after matching: the taxa that found a model, with renormalised abundances, and what was lost."""

    sample_id: str
    taxa: list[TaxonModel]
    abundances: list[float]
    total_abundance: float = 0.0
    found_abundance_fraction: float = 0.0
    n_taxa: int = 0
    n_below_cutoff: int = 0
    unmatched: list[str] = field(default_factory=list)
    error: str | None = None

    def to_params(self) -> dict:
        """JSON-able form for a sweep unit."""
        return {"sample_id": self.sample_id, "taxa": [t.spec() for t in self.taxa],
                "abundances": [float(a) for a in self.abundances], "error": self.error,
                "found_abundance_fraction": self.found_abundance_fraction, "unmatched": list(self.unmatched)}

    @classmethod
    def from_params(cls, p: dict) -> SampleSpec:
        """Inverse of :meth:`to_params`."""
        taxa = [TaxonModel(t["name"], list(t["files"]), t.get("rank", "")) for t in p.get("taxa") or []]
        return cls(str(p["sample_id"]), taxa, [float(a) for a in p.get("abundances") or []],
                   found_abundance_fraction=float(p.get("found_abundance_fraction", 0.0)),
                   unmatched=list(p.get("unmatched") or []), error=p.get("error"))


def match_taxonomy(tax: pd.DataFrame, db: ModelDB, rank: str = "species", cutoff: float = 1e-4
                   ) -> tuple[list[SampleSpec], pd.DataFrame]:
    """Match every sample's taxa to the database at ``rank`` (MICOM ``Community(taxonomy, model_db)`` + ``build``).

    Per sample: abundances are normalised to sum 1, taxa at or below ``cutoff`` are dropped (MICOM
    ``rel_threshold``), the rest are matched on ``rank`` (and on the ranks above it that both tables have), the
    abundance that matched no model is reported and the matched abundances are renormalised. Taxa that share a
    model group are summed into one taxon.

    Returns
    -------
    samples : list of SampleSpec
        One per sample (``error`` set, no taxa, when nothing usable is left: never raised).
    report : DataFrame
        Per sample and taxon: ``sample_id, id, abundance, matched, model, reason``.
    """
    if rank not in RANKS:
        raise KingemsError(f"rank must be one of {', '.join(RANKS)}, got {rank!r}")
    tax = read_taxonomy(tax, None) if not isinstance(tax, pd.DataFrame) or "sample_id" not in tax else tax
    if rank not in tax.columns:
        raise KingemsError(f"taxonomy has no {rank!r} column (columns: {', '.join(map(str, tax.columns))})")
    groups = db.groups(rank)
    # higher ranks in both tables must agree too (MICOM matches on all of them)
    upper = [r for r in RANKS[: RANKS.index(rank)] if r in tax.columns and r in db.manifest.columns]
    upper_of: dict[str, dict[str, set[str]]] = {}
    for _, row in db.manifest.iterrows():
        k = normalise_name(row.get(rank))
        if k:
            d = upper_of.setdefault(k, {})
            for r in upper:
                d.setdefault(r, set()).add(normalise_name(row.get(r)))
    samples: list[SampleSpec] = []
    rep_rows = []
    for sid, grp in tax.groupby("sample_id", sort=False):
        total = float(grp["abundance"].sum())
        spec = SampleSpec(str(sid), [], [], total_abundance=total, n_taxa=len(grp))
        if not np.isfinite(total) or total <= 0:
            spec.error = "abundances sum to 0"
            samples.append(spec)
            rep_rows += [(sid, t, 0.0, False, "", "sample abundances sum to 0") for t in grp["id"]]
            continue
        rel = grp["abundance"].to_numpy(float) / total
        found: dict[str, float] = {}
        for (_, row), a in zip(grp.iterrows(), rel):
            key = normalise_name(row.get(rank))
            if a <= cutoff:
                spec.n_below_cutoff += 1
                rep_rows.append((sid, row["id"], a, False, "", f"below cutoff {cutoff:g}"))
                continue
            ok = key in groups
            if ok:
                for r in upper:
                    v = normalise_name(row.get(r))
                    if v and v not in upper_of.get(key, {}).get(r, {v}):
                        ok = False
            if not ok:
                spec.unmatched.append(str(row["id"]))
                rep_rows.append((sid, row["id"], a, False, "", f"no model at rank {rank}"))
                continue
            found[key] = found.get(key, 0.0) + a
            rep_rows.append((sid, row["id"], a, True, key, ""))
        kept = sum(found.values())
        spec.found_abundance_fraction = float(kept)
        if not found:
            spec.error = "no taxon of the sample matched a model"
        else:
            for key, a in found.items():
                files = groups[key]
                name = re.sub(r"[^0-9A-Za-z]+", "_", key).strip("_")
                if len(files) == 1:
                    name = _stem(Path(files[0])) if rank in ("strain",) else name
                spec.taxa.append(TaxonModel(name, files, rank))
                spec.abundances.append(a / kept)
        samples.append(spec)
    report = pd.DataFrame(rep_rows, columns=["sample_id", "id", "abundance", "matched", "model", "reason"])
    report["sample_id"] = report["sample_id"].astype(str)
    return samples, report


def samples_table(samples: list[SampleSpec]) -> pd.DataFrame:
    """Per sample: taxa matched, abundance matched / unmatched, taxa below the cutoff, error."""
    return pd.DataFrame([{
        "sample_id": s.sample_id, "n_taxa_input": s.n_taxa, "n_taxa_matched": len(s.taxa),
        "n_below_cutoff": s.n_below_cutoff, "found_abundance_fraction": s.found_abundance_fraction,
        "unmatched_abundance_fraction": (1.0 - s.found_abundance_fraction) if s.error != "abundances sum to 0"
        else float("nan"), "unmatched_taxa": ";".join(s.unmatched), "error": s.error or ""} for s in samples])


# -- pooled models (MICOM join_models) ---------------------------------------------------------------------------
POOL_VERSION = 1


def pooled_key(files: list[str]) -> str:
    """Content key of a pooled model: hash of the member files' contents (order kept: the first model wins)."""
    from ..store.cache import model_content_id

    text = "|".join(model_content_id(f) for f in files) + f"|pool-v{POOL_VERSION}"
    return "pooled:" + hashlib.sha256(text.encode()).hexdigest()[:32]


def join_light_models(models: list, model_id: str):
    """Join light models as MICOM's ``join_models``: union of reactions by id, mean biomass as the objective.

    The first model's copy of a reaction (and metabolite) is kept when ids repeat; the new objective reaction
    ``micom_combined_biomass`` has, for each model, its objective reaction's stoichiometry times
    ``coefficient / n`` (shared objective ids use the joined model's copy, as MICOM does). The member biomass
    reactions stay in the model with objective 0.
    """
    from ..gem.sbml_fast import LightModel, _Gene, _Met, _Rxn

    n = len(models)
    joined = LightModel(id=model_id)
    mets: dict[str, _Met] = {}
    rxns: dict[str, _Rxn] = {}
    genes: dict[str, _Gene] = {}
    bio: dict[str, float] = {}
    for m in models:
        for g in m.genes:
            genes.setdefault(g.id, _Gene(g.id))
        for r in m.reactions:
            if r.id in rxns:
                continue
            st = {}
            for met, v in r.metabolites.items():
                if met.id not in mets:
                    mets[met.id] = _Met(met.id, met.compartment)
                st[mets[met.id]] = v
            rxns[r.id] = _Rxn(r.id, r.lower_bound, r.upper_bound, st, r.gene_reaction_rule, 0.0)
        for r in m.reactions:
            if r.objective_coefficient:
                for met, v in rxns[r.id].metabolites.items():
                    bio[met.id] = bio.get(met.id, 0.0) + v * r.objective_coefficient / n
    joined.metabolites = list(mets.values())
    joined.genes = list(genes.values())
    joined.reactions = list(rxns.values())
    joined.reactions.append(_Rxn("micom_combined_biomass", 0.0, 1000.0,
                                 {mets[k]: v for k, v in bio.items() if v != 0.0}, "", 1.0))
    return joined


def build_pooled(files: list[str], name: str):
    """Read (fast SBML reader) and join several model files; returns the compiled plain model."""
    from ..ec.compile import compile_model
    from ..gem.sbml_fast import read_sbml_light
    from .models import strip_complex_gprs

    models = [read_sbml_light(f) for f in files]
    joined = join_light_models(models, name)
    strip_complex_gprs(joined)
    return compile_model(joined, None, level="L1")
