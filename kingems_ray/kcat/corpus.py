"""One labelled kcat corpus from every public source in ``<data_root>/kcat/`` (``kingems-ray kcat-corpus``).

Sources read (see ``<data_root>/kcat/SOURCES.md``):

* ``kcatnet`` — KcatNet's 11,757 (sequence, SMILES, log10 kcat, EC, UniProt) rows;
* ``dltkcat`` — DLTKcat's labelled subsets (Primary_AFN, Primary_CE, Intermediate, Secondary, highT, lowT,
  multiT): sequence, SMILES, kcat [1/s], temperature, EC, UniProt, wild type / mutant;
* ``dltkcat_test`` — DLTKcat's test set (same columns);
* ``catpred_val`` — CatPred's random-split validation set (sequence, SMILES, EC, organism, kcat [1/s]);
* ``prokcat_sabio`` — ProKcat's raw SABIO-RK export (kcat rows: substrate names, organism, UniProt, EC,
  temperature). Substrate names go through ECMpy's BiGG name map to SMILES; wild-type rows get the sequence of
  their UniProt id when another source carries it;
* ``ecmpy_brenda`` / ``ecmpy_sabio`` — ECMpy's BRENDA and SABIO-RK databases (EC → BiGG substrate(s) →
  organism → values in 1/s; no sequences). BiGG ids go to SMILES through ``sequences/derived_bigg_metabolite_smiles
  .tsv`` and the iJN1463 / iJB785 metabolite tables; a SABIO substrate *set* keeps its largest non-cofactor
  molecule as the substrate and all of them as the reaction's left side (``substrates_smiles``);
* ``wholecell`` — the WholeCell E. coli kinetics table (EcoCyc reaction / compound ids; EC from reaction ids of
  the form ``<EC>-RXN``; compounds mapped by lower-cased id or name through the BiGG name map).

DLKcat's files are not usable here: its test table and promiscuity table hold log10 kcat with neither sequence nor
substrate, so they add no row (reported with a count of 0 and the reason).

Normalisation: kcat in 1/s (non-positive and non-finite values dropped) and ``log10_kcat``; SMILES canonicalised
by RDKit (rows whose substrate does not parse are dropped); EC numbers cleaned (``"1.1.1.1"``, partial
``"1.1.1.-"`` kept as is); organism names stripped; sequences upper-cased (stop ``*`` removed).

Deduplication: rows measuring the same thing are merged into one row carrying the mean of their log10 kcat,
``n_measurements``, ``log10_kcat_std`` (ddof 0; 0 for a single value) and ``sources`` (every source merged in).
The key is (sequence, substrate) for rows with a sequence and (EC, substrate, organism) for rows without.

Schema of the Parquet file (:data:`SCHEMA`): one row per measured (enzyme or EC, substrate) pair.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..paths import data_root

# column -> description; the order is the Parquet column order.
SCHEMA: dict[str, str] = {
    "sequence": "enzyme amino-acid sequence, '' when unknown",
    "uniprot": "UniProt accession when the source gives one, else ''",
    "smiles": "canonical RDKit SMILES of the substrate",
    "substrates_smiles": "every substrate of the measured reaction, '.'-joined canonical SMILES ('' = only `smiles`)",
    "reaction_smiles": "'substrates>>products' (canonical SMILES, '.'-joined) or ''",
    "reaction_origin": "'source', 'bigg_model_ec_match' (a BiGG model reaction with the row's EC consuming or "
                       "producing its substrate, oriented to consume it) or ''",
    "ec": "EC number ('' when unknown; partial '1.1.1.-' allowed)",
    "organism": "organism name ('' when unknown)",
    "temperature": "assay temperature in deg C (NaN when unknown; mean over merged rows)",
    "ph": "assay pH (NaN when unknown)",
    "log10_kcat": "mean log10 kcat [1/s] over merged measurements",
    "log10_kcat_std": "standard deviation (ddof 0) of the merged log10 kcats; 0 for one measurement",
    "n_measurements": "number of source rows merged into this row",
    "kcat": "10 ** log10_kcat [1/s]",
    "mutant": "True when the enzyme is a mutant",
    "source": "primary source (the first of SOURCE_PRIORITY among `sources`)",
    "sources": "';'-joined sources of every merged row",
    "external": "True for rows of the external check set (never used in training)",
}

SOURCE_PRIORITY = ["kcatnet", "dltkcat", "dltkcat_test", "catpred_val", "prokcat_sabio", "ecmpy_sabio",
                   "ecmpy_brenda", "wholecell"]
DEFAULT_EXTERNAL = "catpred_val"

# BiGG ids of currency metabolites: never chosen as "the" substrate of a multi-substrate entry.
COFACTOR_BIGG = {
    "h", "h2o", "atp", "adp", "amp", "nad", "nadh", "nadp", "nadph", "fad", "fadh2", "coa", "pi", "ppi", "co2",
    "o2", "nh4", "nh3", "gtp", "gdp", "ctp", "utp", "udp", "q8", "q8h2", "mqn8", "mql8", "fmn", "fmnh2", "h2o2",
    "accoa", "sam", "amet", "ahcys", "thf", "na1", "k", "mg2", "zn2", "fe2", "fe3", "cl", "so4", "hco3",
}
_COFACTOR_NAMES = {"nad+", "nadh", "nadp+", "nadph", "atp", "adp", "amp", "h2o", "h+", "co2", "o2", "coa",
                   "coenzyme a", "fad", "fadh2", "phosphate", "diphosphate", "nh3", "h2o2", "acetyl-coa",
                   "s-adenosyl-l-methionine", "gtp", "mg2+", "orthophosphate"}

_EC_RE = re.compile(r"^\d+(\.(\d+|-|n\d+)){0,3}$")


def _root(root: str | Path | None) -> Path:
    return Path(root) if root is not None else data_root(required=True)


def clean_ec(ec: object) -> str:
    """Normalise one EC number (first of a list); '' when it does not look like one.

    Parameters
    ----------
    ec : object
        e.g. ``"EC 1.1.1.1"``, ``"1.1.1.-"``, ``"1.1.1.1; 1.1.1.2"``.
    """
    if ec is None or (isinstance(ec, float) and np.isnan(ec)):
        return ""
    s = str(ec).replace("EC", "").replace(",", ";").split(";")[0].strip().strip(".")
    return s if _EC_RE.match(s) else ""


def canonical_smiles(items: list[str]) -> dict[str, str]:
    """Map each distinct SMILES / InChI to its canonical RDKit SMILES ('' when it does not parse)."""
    from rdkit import Chem, rdBase

    out: dict[str, str] = {}
    with rdBase.BlockLogs():
        for s in set(items):
            if not isinstance(s, str) or not s.strip() or s.strip().lower() == "nan":
                out[s] = ""
                continue
            t = s.strip()
            mol = Chem.MolFromInchi(t) if t.startswith("InChI=") else Chem.MolFromSmiles(t)
            out[s] = Chem.MolToSmiles(mol) if mol is not None else ""
    return out


def _clean_seq(s: object) -> str:
    if not isinstance(s, str):
        return ""
    s = "".join(s.split()).upper().rstrip("*")
    return "" if s in ("NAN", "NONE") else s


def _frame(**cols) -> pd.DataFrame:
    n = max(len(v) for v in cols.values() if not np.isscalar(v))
    base = {"sequence": "", "uniprot": "", "smiles": "", "substrates_smiles": "", "reaction_smiles": "",
            "reaction_origin": "",
            "ec": "", "organism": "", "temperature": np.nan, "ph": np.nan, "kcat": np.nan, "mutant": False}
    base.update(cols)
    return pd.DataFrame({k: (np.repeat(v, n) if np.isscalar(v) else np.asarray(v, dtype=object))
                         for k, v in base.items()})


# ----------------------------------------------------------------------------------------------------------
# loaders: each returns raw rows (kcat in 1/s, raw SMILES) with a `source` column
# ----------------------------------------------------------------------------------------------------------


def load_kcatnet_raw(root: Path) -> pd.DataFrame:
    raw = pd.read_csv(root / "kcat" / "kcatnet_splits.csv.gz")
    return _frame(sequence=raw["Pro_seq"].values, smiles=raw["Smile"].values,
                  kcat=10.0 ** raw["label"].astype(float).values, ec=raw["ECNumber"].values,
                  uniprot=raw["Uni_ID"].fillna("").values).assign(source="kcatnet")


def _dltkcat_file(path: Path, source: str) -> pd.DataFrame:
    raw = pd.read_csv(path)
    mutant = raw["EnzymeType"].astype(str).str.upper().ne("WT").values
    return _frame(sequence=raw["seq"].values, smiles=raw["smiles"].values,
                  kcat=pd.to_numeric(raw["kcat"], errors="coerce").values, ec=raw["EC"].values,
                  uniprot=raw["ProtID"].fillna("").values, temperature=pd.to_numeric(raw["Temp"], errors="coerce"
                                                                                     ).values,
                  mutant=mutant).assign(source=source)


def load_dltkcat_raw(root: Path) -> pd.DataFrame:
    folder = root / "kcat" / "dltkcat"
    parts = [_dltkcat_file(p, "dltkcat") for p in sorted(folder.glob("DLTKcat_*.csv.gz"))
             if "test" not in p.name]
    return pd.concat(parts, ignore_index=True)


def load_dltkcat_test_raw(root: Path) -> pd.DataFrame:
    return _dltkcat_file(root / "kcat" / "dltkcat" / "DLTKcat_test_data.csv.gz", "dltkcat_test")


def load_catpred_raw(root: Path) -> pd.DataFrame:
    with gzip.open(root / "kcat" / "catpred" / "catpred_kcat_random_val_dlkcatformat.json.gz", "rt") as fh:
        recs = json.load(fh)
    kc = pd.to_numeric(pd.Series([r.get("Value") for r in recs]), errors="coerce").values
    return _frame(sequence=[r.get("Sequence", "") for r in recs], smiles=[r.get("Smiles", "") for r in recs],
                  kcat=kc, ec=[r.get("ECNumber", "") for r in recs],
                  organism=[r.get("Organism", "") or "" for r in recs]).assign(source="catpred_val")


class _Metabolites:
    """BiGG id / metabolite name → SMILES from ``<data_root>/sequences``."""

    def __init__(self, root: Path) -> None:
        seq = root / "sequences"
        self.bigg: dict[str, str] = {}
        t = pd.read_csv(seq / "derived_bigg_metabolite_smiles.tsv", sep="\t")
        for b, s in zip(t["bigg_metabolite_id"], t["smiles"]):
            if isinstance(s, str) and s:
                self.bigg.setdefault(str(b), s)
        for f in ("iJN1463_metabolite_inchikey_smiles.csv", "iJB785_metabolite_inchikey_smiles.csv"):
            p = seq / f
            if p.is_file():
                t = pd.read_csv(p)
                for b, s in zip(t["metname"], t["Canonical_SMILES"]):
                    if isinstance(s, str) and s:
                        self.bigg.setdefault(str(b), s)
        with gzip.open(seq / "bigg_id_name_mapping.json.gz", "rt") as fh:
            names = json.load(fh)
        self.name_to_bigg = {str(k).lower(): str(v) for k, v in names.items()}

    def from_bigg(self, bid: str) -> str:
        bid = str(bid).strip()
        return self.bigg.get(bid) or self.bigg.get(re.sub(r"_[a-z]$", "", bid), "")

    def from_name(self, name: str) -> str:
        n = str(name).strip().lower()
        bid = self.name_to_bigg.get(n)
        if bid is None:
            bid = self.name_to_bigg.get(n.replace("-", "_"), n.replace("-", "_"))
        return self.from_bigg(bid)


def _main_substrate(smiles: list[str], skip: list[bool]) -> str:
    """The largest (heavy atoms) non-cofactor molecule; the largest of all when every one is a cofactor."""
    from rdkit import Chem, rdBase

    best, best_n = "", -1
    for pass_skip in (True, False):
        with rdBase.BlockLogs():
            for s, sk in zip(smiles, skip):
                if not s or (pass_skip and sk):
                    continue
                m = Chem.MolFromSmiles(s)
                n = m.GetNumHeavyAtoms() if m is not None else -1
                if n > best_n:
                    best, best_n = s, n
        if best:
            return best
    return best


def load_ecmpy_raw(root: Path, mets: _Metabolites, which: str) -> pd.DataFrame:
    """ECMpy's BRENDA (``which="brenda"``) or SABIO-RK (``"sabio_rk"``) database, one row per value."""
    with gzip.open(root / "kcat" / f"ecmpy_kcat_database_{which}.json.gz", "rt") as fh:
        db = json.load(fh)
    rows = []
    for ec, subs in db.items():
        if not isinstance(subs, dict):
            continue
        for sub_key, orgs in subs.items():
            if not isinstance(orgs, dict):
                continue
            ids = [s for s in str(sub_key).split(";") if s]
            smi = [mets.from_bigg(s) for s in ids]
            main = _main_substrate(smi, [s in COFACTOR_BIGG for s in ids])
            if not main:
                continue
            all_subs = ".".join(s for s in smi if s) if len(ids) > 1 else ""
            for org, vals in orgs.items():
                if not isinstance(vals, list):
                    continue
                for v in vals:
                    rows.append((main, all_subs, ec, org, v))
    df = pd.DataFrame(rows, columns=["smiles", "substrates_smiles", "ec", "organism", "kcat"])
    return _frame(smiles=df["smiles"].values, substrates_smiles=df["substrates_smiles"].values,
                  ec=df["ec"].values, organism=df["organism"].values,
                  kcat=pd.to_numeric(df["kcat"], errors="coerce").values).assign(
        source="ecmpy_brenda" if which == "brenda" else "ecmpy_sabio")


def load_prokcat_raw(root: Path, mets: _Metabolites) -> pd.DataFrame:
    raw = pd.read_csv(root / "kcat" / "dltkcat" / "ProKcat_raw_sabio_data.tsv.gz", sep="\t")
    raw = raw[raw["parameter.type"].astype(str) == "kcat"]
    unit = raw["parameter.unit"].astype(str).str.strip()
    raw = raw[unit.isin(["s^(-1)", "1/s", "s^-1"])]
    rows = []
    for _, r in raw.iterrows():
        names = [s for s in str(r["Substrate"]).split(";") if s]
        smi = [mets.from_name(s) for s in names]
        assoc = r["parameter.associatedSpecies"]
        main = mets.from_name(assoc) if isinstance(assoc, str) and assoc.strip() else ""
        if not main:
            main = _main_substrate(smi, [s.strip().lower() in _COFACTOR_NAMES for s in names])
        if not main:
            continue
        mutant = "wildtype" not in str(r["EnzymeType"]).lower()
        rows.append((main, ".".join(s for s in smi if s) if len(names) > 1 else "", r["ECNumber"], r["Organism"],
                     r["UniprotID"] if isinstance(r["UniprotID"], str) else "", r["parameter.startValue"],
                     pd.to_numeric(r["Temperature"], errors="coerce"), mutant))
    df = pd.DataFrame(rows, columns=["smiles", "substrates_smiles", "ec", "organism", "uniprot", "kcat", "temp",
                                     "mutant"])
    return _frame(smiles=df["smiles"].values, substrates_smiles=df["substrates_smiles"].values,
                  ec=df["ec"].values, organism=df["organism"].values, uniprot=df["uniprot"].values,
                  kcat=pd.to_numeric(df["kcat"], errors="coerce").values, temperature=df["temp"].values,
                  mutant=df["mutant"].values.astype(bool)).assign(source="prokcat_sabio")


def load_wholecell_raw(root: Path, mets: _Metabolites) -> pd.DataFrame:
    raw = pd.read_csv(root / "kcat" / "wholecell_ecoli_metabolism_kinetics.tsv", sep="\t", comment="#")
    rows = []
    for _, r in raw.iterrows():
        try:
            vals = json.loads(r["kcat (1/units.s)"])
            subs = json.loads(r["substrateIDs"])
        except (TypeError, ValueError):
            continue
        if not vals or not subs:
            continue
        smi = [mets.from_name(s) for s in subs]
        main = _main_substrate(smi, [s.lower() in COFACTOR_BIGG for s in subs])
        if not main:
            continue
        m = re.match(r"^(\d+\.\d+\.\d+\.\d+)-RXN", str(r["reactionID"]))
        for v in vals:
            rows.append((main, ".".join(s for s in smi if s) if len(subs) > 1 else "", m.group(1) if m else "",
                         v, pd.to_numeric(r["Temp"], errors="coerce")))
    df = pd.DataFrame(rows, columns=["smiles", "substrates_smiles", "ec", "kcat", "temp"])
    return _frame(smiles=df["smiles"].values, substrates_smiles=df["substrates_smiles"].values,
                  ec=df["ec"].values, organism="Escherichia coli",
                  kcat=pd.to_numeric(df["kcat"], errors="coerce").values, temperature=df["temp"].values
                  ).assign(source="wholecell")


# ----------------------------------------------------------------------------------------------------------
# reactions: BiGG model reactions matched to corpus rows by EC and substrate
# ----------------------------------------------------------------------------------------------------------

_SPECIES_RE = re.compile(r'species="M_([^"]+?)_([a-z0-9]{1,3})"')
_EC_URI_RE = re.compile(r"ec-code/([0-9.\-n]+)")


def bigg_model_reactions(root: Path, mets: _Metabolites) -> list[tuple[list[str], list[str], list[str]]]:
    """``(ECs, substrate SMILES, product SMILES)`` of every EC-annotated reaction of the BiGG SBML models.

    A streaming read of ``<data_root>/bigg/*.xml.gz`` (no cobrapy: only ids, ECs and species references are
    needed). Reactions with a metabolite that has no SMILES are skipped; exchange-like reactions (one side
    empty) too.
    """
    out = []
    seen = set()
    for path in sorted((root / "bigg").glob("*.xml.gz")):
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
            text = fh.read()
        for block in text.split("<reaction ")[1:]:
            block = block.split("</reaction>")[0]
            ecs = sorted(set(_EC_URI_RE.findall(block)))
            if not ecs:
                continue
            sides = []
            for tag in ("listOfReactants", "listOfProducts"):
                part = block.split(f"<{tag}>")[1].split(f"</{tag}>")[0] if f"<{tag}>" in block else ""
                sides.append([m for m, _ in _SPECIES_RE.findall(part)])
            if not sides[0] or not sides[1]:
                continue
            smi = [[mets.from_bigg(m) for m in side] for side in sides]
            if any(not s for side in smi for s in side):
                continue
            key = (tuple(ecs), tuple(sorted(sides[0])), tuple(sorted(sides[1])))
            if key in seen:
                continue
            seen.add(key)
            out.append((ecs, smi[0], smi[1]))
    return out


def attach_reactions(df: pd.DataFrame, reactions: list[tuple[list[str], list[str], list[str]]]) -> pd.DataFrame:
    """Fill ``reaction_smiles`` of rows whose (EC, substrate) matches a model reaction.

    A reaction matches when it carries the row's full EC and the row's substrate (same InChIKey skeleton) is
    on its left side, or on its right side (then the reaction is written reversed). The first match in model
    order wins. ``reaction_origin`` says ``"bigg_model_ec_match"`` for such rows.
    """
    from rdkit import Chem, rdBase

    from .features import _skeleton_key

    canon: dict[str, str] = {}
    keys: dict[str, str] = {}

    def key_of(s: str) -> str:
        if s not in keys:
            with rdBase.BlockLogs():
                m = Chem.MolFromSmiles(s)
            keys[s] = _skeleton_key(m) if m is not None else ""
            canon[s] = Chem.MolToSmiles(m) if m is not None else ""
        return keys[s]

    by_ec: dict[tuple[str, str], str] = {}
    for ecs, subs, prods in reactions:
        sk = [key_of(s) for s in subs]
        pk = [key_of(s) for s in prods]
        left = ".".join(canon[s] for s in subs)
        right = ".".join(canon[s] for s in prods)
        for ec in ecs:
            for k in sk:
                by_ec.setdefault((ec, k), f"{left}>>{right}")
            for k in pk:
                by_ec.setdefault((ec, k), f"{right}>>{left}")
    df = df.copy()
    need = (df["reaction_smiles"] == "") & (df["ec"] != "")
    rxn = [by_ec.get((e, key_of(s)), "") if n else r
           for e, s, n, r in zip(df["ec"], df["smiles"], need, df["reaction_smiles"])]
    df["reaction_origin"] = np.where(df["reaction_smiles"] != "", "source",
                                     np.where(np.asarray(rxn) != "", "bigg_model_ec_match", ""))
    df["reaction_smiles"] = rxn
    return df


# ----------------------------------------------------------------------------------------------------------
# normalise, deduplicate, build
# ----------------------------------------------------------------------------------------------------------


def normalise(df: pd.DataFrame) -> pd.DataFrame:
    """Clean units, SMILES, EC, organism and sequence; drop rows without a positive kcat or a parsable substrate."""
    df = df.copy()
    df["kcat"] = pd.to_numeric(df["kcat"], errors="coerce")
    df = df[np.isfinite(df["kcat"]) & (df["kcat"] > 0)].copy()
    canon = canonical_smiles(df["smiles"].tolist())
    df["smiles"] = df["smiles"].map(canon)
    df = df[df["smiles"] != ""].copy()
    multi = [s for s in df["substrates_smiles"].unique() if s]
    parts = {p for s in multi for p in s.split(".")}
    canon_p = canonical_smiles(sorted(parts))
    df["substrates_smiles"] = df["substrates_smiles"].map(
        lambda s: ".".join(sorted({canon_p.get(p, "") for p in s.split(".")} - {""})) if s else "")
    df["ec"] = df["ec"].map(clean_ec)
    df["organism"] = df["organism"].map(lambda o: " ".join(str(o).split()) if isinstance(o, str) else "")
    df["sequence"] = df["sequence"].map(_clean_seq)
    df["uniprot"] = df["uniprot"].map(lambda u: str(u).strip() if isinstance(u, str) and u != "nan" else "")
    df["log10_kcat"] = np.log10(df["kcat"].astype(float))
    df["mutant"] = df["mutant"].astype(bool)
    return df.reset_index(drop=True)


def _fill_from_uniprot(df: pd.DataFrame) -> pd.DataFrame:
    """Give wild-type rows without a sequence the sequence other sources carry for their UniProt id."""
    have = df[(df["sequence"] != "") & (df["uniprot"] != "") & ~df["mutant"]]
    seq_of = have.groupby("uniprot")["sequence"].agg(lambda s: s.value_counts().index[0]).to_dict()
    m = (df["sequence"] == "") & (df["uniprot"] != "") & ~df["mutant"]
    df.loc[m, "sequence"] = df.loc[m, "uniprot"].map(seq_of).fillna("")
    org = df[(df["organism"] != "") & (df["uniprot"] != "")].groupby("uniprot")["organism"].first().to_dict()
    m = (df["organism"] == "") & (df["uniprot"] != "")
    df.loc[m, "organism"] = df.loc[m, "uniprot"].map(org).fillna("")
    return df


def deduplicate(df: pd.DataFrame) -> pd.DataFrame:
    """Merge rows measuring the same pair, keeping the mean, spread, count and every source.

    Key: (sequence, substrate SMILES) when a sequence is known, else (EC, substrate SMILES, organism). The
    external flag survives a merge (a pair seen in the external set stays external).
    """
    df = df.copy()
    has_seq = df["sequence"] != ""
    df["_key"] = np.where(has_seq, "S|" + df["sequence"] + "|" + df["smiles"],
                          "E|" + df["ec"] + "|" + df["smiles"] + "|" + df["organism"])
    rank = {s: i for i, s in enumerate(SOURCE_PRIORITY)}
    df["_rank"] = df["source"].map(rank).fillna(len(rank))
    df = df.sort_values(["_key", "_rank"], kind="stable")
    # groupby.first() skips nulls: '' -> NaN gives "first non-empty value in source priority order".
    text_cols = ["uniprot", "substrates_smiles", "reaction_smiles", "reaction_origin", "ec", "organism"]
    tmp = df[["_key", "sequence", "smiles", *text_cols]].copy()
    for c in text_cols:
        tmp[c] = tmp[c].mask(tmp[c] == "")
    g = df.groupby("_key", sort=False)
    firsts = tmp.groupby("_key", sort=False).first()
    src = (df[["_key", "source", "_rank"]].drop_duplicates(["_key", "source"])
           .groupby("_key", sort=False)["source"].agg(";".join))
    out = pd.DataFrame({
        "sequence": firsts["sequence"],
        "uniprot": firsts["uniprot"],
        "smiles": firsts["smiles"],
        "substrates_smiles": firsts["substrates_smiles"],
        "reaction_smiles": firsts["reaction_smiles"],
        "reaction_origin": firsts["reaction_origin"],
        "ec": firsts["ec"],
        "organism": firsts["organism"],
        "temperature": g["temperature"].mean(),
        "ph": g["ph"].mean(),
        "log10_kcat": g["log10_kcat"].mean(),
        "log10_kcat_std": g["log10_kcat"].std(ddof=0).fillna(0.0),
        "n_measurements": g.size(),
        "mutant": g["mutant"].any(),
        "source": g["source"].first(),
        "sources": src,
        "external": g["external"].any(),
    }).reset_index(drop=True)
    for c in text_cols:
        out[c] = out[c].fillna("")
    out["kcat"] = 10.0 ** out["log10_kcat"]
    return out[list(SCHEMA)]


def build_corpus(root: str | Path | None = None, external: str = DEFAULT_EXTERNAL,
                 sources: list[str] | None = None, log: bool = True) -> tuple[pd.DataFrame, dict]:
    """Read, normalise and deduplicate every source.

    Parameters
    ----------
    root : str or Path, optional
        Data root (default :func:`kingems_ray.paths.data_root`).
    external : str
        Source kept out of training as the outside check (its rows get ``external=True``).
    sources : list of str, optional
        Subset of :data:`SOURCE_PRIORITY` to read (default all).
    log : bool
        Print progress.

    Returns
    -------
    (pandas.DataFrame, dict)
        The corpus (columns :data:`SCHEMA`) and a report: raw and deduplicated counts per source.
    """
    want = set(sources or SOURCE_PRIORITY)
    unknown = sorted(want - set(SOURCE_PRIORITY))
    if unknown:  # a bad argument is reported before looking for the data
        from ..errors import KingemsError

        raise KingemsError(f"unknown kcat source(s) {', '.join(unknown)}; choose from {', '.join(SOURCE_PRIORITY)}")
    root = _root(root)
    mets = _Metabolites(root)
    loaders = {
        "kcatnet": lambda: load_kcatnet_raw(root),
        "dltkcat": lambda: load_dltkcat_raw(root),
        "dltkcat_test": lambda: load_dltkcat_test_raw(root),
        "catpred_val": lambda: load_catpred_raw(root),
        "prokcat_sabio": lambda: load_prokcat_raw(root, mets),
        "ecmpy_brenda": lambda: load_ecmpy_raw(root, mets, "brenda"),
        "ecmpy_sabio": lambda: load_ecmpy_raw(root, mets, "sabio_rk"),
        "wholecell": lambda: load_wholecell_raw(root, mets),
    }
    report: dict = {"raw_rows": {}, "normalised_rows": {}, "external": external,
                    "not_used": {"dlkcat": "DLKcat's test and promiscuity tables carry log10 kcat without sequence "
                                           "or substrate: 0 usable rows"}}
    parts = []
    for name in SOURCE_PRIORITY:
        if name not in want:
            continue
        t0 = time.time()
        raw = loaders[name]()
        report["raw_rows"][name] = len(raw)
        norm = normalise(raw)
        report["normalised_rows"][name] = len(norm)
        parts.append(norm)
        if log:
            print(f"  {name}: {len(raw)} raw rows, {len(norm)} after normalisation ({time.time() - t0:.1f} s)",
                  flush=True)
    df = pd.concat(parts, ignore_index=True)
    df = _fill_from_uniprot(df)
    t0 = time.time()
    reactions = bigg_model_reactions(root, mets)
    df = attach_reactions(df, reactions)
    report["model_reactions"] = len(reactions)
    if log:
        print(f"  {len(reactions)} EC-annotated BiGG model reactions; reactions attached to "
              f"{int((df['reaction_smiles'] != '').sum())} rows ({time.time() - t0:.1f} s)", flush=True)
    # The external set is kept whole: its rows are merged among themselves only, never into training rows.
    df["external"] = df["source"] == external
    ext = deduplicate(df[df["external"]])
    train = deduplicate(df[~df["external"]])
    corpus = pd.concat([train, ext], ignore_index=True)
    report["dedup_rows"] = {s: int((corpus["source"] == s).sum()) for s in SOURCE_PRIORITY if s in want}
    report["rows_contributed"] = {s: int(corpus["sources"].str.split(";").map(lambda x, s=s: s in x).sum())
                                  for s in SOURCE_PRIORITY if s in want}
    report["total_rows"] = len(corpus)
    report["with_sequence"] = int((corpus["sequence"] != "").sum())
    report["with_ec"] = int((corpus["ec"] != "").sum())
    report["with_organism"] = int((corpus["organism"] != "").sum())
    report["with_substrate_set"] = int((corpus["substrates_smiles"] != "").sum())
    report["with_reaction"] = int((corpus["reaction_smiles"] != "").sum())
    report["external_rows"] = int(corpus["external"].sum())
    return corpus, report


def external_overlap(corpus: pd.DataFrame) -> dict[str, float]:
    """Share of the external rows whose sequence / (EC, substrate) / SMILES also occurs in the training rows."""
    ext, tr = corpus[corpus["external"]], corpus[~corpus["external"]]
    return split_overlap(tr, ext)


def split_overlap(train: pd.DataFrame, test: pd.DataFrame) -> dict[str, float]:
    """Fraction of test rows sharing a sequence, an (EC, substrate) pair or a substrate SMILES with ``train``.

    Rows without a sequence (or EC) are not counted in the corresponding denominator.
    """
    seqs = set(train.loc[train["sequence"] != "", "sequence"])
    pairs = set(zip(train.loc[train["ec"] != "", "ec"], train.loc[train["ec"] != "", "smiles"]))
    smi = set(train["smiles"])
    ts = test[test["sequence"] != ""]
    te = test[test["ec"] != ""]
    return {
        "n_test": len(test),
        "shared_sequence": float(ts["sequence"].isin(seqs).mean()) if len(ts) else float("nan"),
        "shared_ec_substrate": float(np.mean([p in pairs for p in zip(te["ec"], te["smiles"])])) if len(te)
        else float("nan"),
        "shared_smiles": float(test["smiles"].isin(smi).mean()) if len(test) else float("nan"),
    }


def load_corpus(path: str | Path) -> pd.DataFrame:
    """Read a corpus Parquet written by :func:`build_corpus` / ``kingems-ray kcat-corpus``."""
    df = pd.read_parquet(path)
    missing = set(SCHEMA) - set(df.columns)
    if missing:
        raise ValueError(f"{path} is not a kcat corpus (missing columns {sorted(missing)})")
    return df


HELP = "build the labelled kcat corpus (all public sources, normalised, deduplicated) as Parquet"


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """Options of ``kingems-ray kcat-corpus``."""
    ap.add_argument("--out", default="runs/kcat/corpus.parquet", help="output Parquet file")
    ap.add_argument("--data-root", default=None, help="reference data folder (default: $KINGEMS_DATA or "
                    "../shared/data)")
    ap.add_argument("--external", default=DEFAULT_EXTERNAL, choices=SOURCE_PRIORITY,
                    help="source kept out of training as the outside check")
    ap.add_argument("--sources", default=None, help="comma list of sources (default all)")


def run(args: argparse.Namespace) -> int:
    """Build the corpus, write it and a JSON report beside it, print counts."""
    t0 = time.time()
    corpus, report = build_corpus(args.data_root, args.external,
                                  [s.strip() for s in args.sources.split(",")] if args.sources else None)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    corpus.to_parquet(out, index=False)
    report["external_overlap_with_training"] = external_overlap(corpus)
    report["seconds"] = round(time.time() - t0, 1)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2, default=float))
    print(json.dumps(report, indent=2, default=float))
    print(f"wrote {out} ({len(corpus)} rows)")
    return 0
