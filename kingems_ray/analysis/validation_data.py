"""Loaders for the measured phenotypes in the reference data (``essentiality/``), as tidy truth tables.

Every knockout truth table has the columns ``gene_id`` (the model's gene id), ``condition``, ``grows`` (bool: the mutant
grows) and, where the source has it, ``fitness``, plus ``exchange`` (the condition's carbon-source exchange reaction)
for carbon-source screens. :func:`join_knockouts` puts such a table next to a knockout screen.

Sources (see ``essentiality/SOURCES.md`` and ``essentiality/fitness/SOURCES.md``):

* E. coli Keio RB-TnSeq fitness on 10 carbon sources + LB (Fitness Browser, averaged per condition). Genes whose fitness
  is 0.0 in every condition have no data and are dropped. Carbon source names map to BiGG exchanges through the
  Fitness Browser experiment metadata of Bernstein et al. 2023 (``exp_organism_Keio_Mapped.txt``).
* E. coli genes essential on glucose M9 (Baba 2006 / Joyce 2006, curated by the WholeCell project), b-numbers.
* P. putida KT2440: the iJN1463 paper's 54 measured mutants (auxotrophy on minimal medium), Nogales et al. 2020
  Table S4 gene sets (its essential-gene lists are in silico predictions, see :func:`putida_essential_nogales2020`),
  and RB-TnSeq *specific phenotypes* per carbon source (long format, only genes with a strong condition-specific
  effect are listed).
* S. elongatus PCC 7942 RB-TnSeq fitness in BG-11 (Synpcc7942 ids; iJB785 genes carry them as the
  ``refseq_old_locus_tag`` annotation).
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import pandas as pd

from ..errors import DataNotFoundError, KingemsError
from ..paths import data_file
from .metrics import FITNESS_THRESHOLD

KEIO_CONDITIONS = (
    "Glucose",
    "Glucosamine",
    "Glycerol",
    "Xylose",
    "Succinate",
    "Mannose",
    "Galactose",
    "Fructose",
    "Acetate",
    "Pyruvate",
)


def _read(path: Path, **kw) -> pd.DataFrame:
    try:
        return pd.read_csv(path, **kw)
    except UnicodeDecodeError:
        # The Fitness Browser metadata has Latin-1 bytes (a non-breaking space in one BiGG column).
        return pd.read_csv(path, encoding="latin-1", **kw)


# -- E. coli -------------------------------------------------------------------------------------------------------
def keio_carbon_exchanges() -> dict[str, str]:
    """Carbon source name of the Keio fitness table -> BiGG exchange id (``EX_<bigg>_e``).

    Built from the Fitness Browser experiment metadata mapped to BiGG by Bernstein et al. 2023: among the M9
    carbon-source experiments with a BiGG component, the shortest ``condition_1`` containing the name as a word
    (``Glucose`` -> ``D-Glucose`` rather than ``D-Glucose-6-Phosphate``).
    """
    meta = _read(data_file("essentiality", "ecoli_bernstein2023", "exp_organism_Keio_Mapped.txt"), sep="\t")
    meta = meta[(meta["expGroup"] == "carbon source") & meta["BiGG Component"].notna()]
    meta = meta[meta["media"].astype(str).str.startswith("M9")]
    out: dict[str, str] = {}
    for name in KEIO_CONDITIONS:
        best = None
        for cond, bigg in zip(meta["condition_1"].astype(str), meta["BiGG Component"].astype(str)):
            words = [w for w in re.split(r"[\s\-,]+", cond.lower()) if w]
            if name.lower() in words and (best is None or len(words) < best[0]):
                best = (len(words), bigg.strip())
        if best is None:
            raise DataNotFoundError(f"no BiGG mapping for Keio carbon source {name!r} in the Bernstein 2023 metadata")
        out[name] = f"EX_{best[1]}_e"
    return out


def ecoli_m9_base_medium(uptake: float = 1000.0) -> dict[str, float]:
    """M9 minimal medium without carbon (Bernstein 2023's BiGG mapping): ``{EX_<met>_e: uptake}``."""
    df = _read(data_file("essentiality", "ecoli_bernstein2023", "exp_organism_Keio_Mapped_Media.txt"), sep="\t",
               index_col=0)
    mets = [m.strip() for m in str(df.loc["BiGG iML1515", "M9 minimal media_noCarbon"]).split(";") if m.strip()]
    return {f"EX_{m}_e": float(uptake) for m in mets}


def ecoli_keio_fitness(conditions: tuple[str, ...] | None = KEIO_CONDITIONS, drop_missing: bool = True) -> pd.DataFrame:
    """E. coli Keio RB-TnSeq fitness per carbon source, long format.

    Parameters
    ----------
    conditions : tuple of str, optional
        Which columns to keep (default: the 10 carbon sources; ``None``: also ``LB``).
    drop_missing : bool
        Drop genes whose fitness is 0.0 in every condition of the file (no data, not "grows").

    Returns
    -------
    DataFrame
        ``gene_id`` (b-number), ``gene_name``, ``condition``, ``fitness``, ``grows`` (fitness > -2), ``exchange``
        (BiGG carbon exchange; empty for LB). Rows with a NaN fitness are dropped.
    """
    raw = _read(data_file("essentiality", "fitness", "ecoli_keio_fitness_by_carbon_source.csv"))
    fit_cols = [c for c in raw.columns if c.endswith("_fit") and c != "gen_fit"]
    if drop_missing:
        # A gene without data is 0.0 everywhere; missing values elsewhere count as zero for this test.
        allzero = (raw[fit_cols].fillna(0.0) == 0.0).all(axis=1)
        raw = raw[~allzero]
    names = [c[: -len("_fit")] for c in fit_cols]
    keep = names if conditions is None else [n for n in names if n in conditions]
    missing = [c for c in (conditions or ()) if c not in names]
    if missing:
        raise KingemsError(f"Keio fitness table has no condition(s) {missing}; it has {names}")
    long = raw.melt(id_vars=["bnum", "gene"], value_vars=[f"{n}_fit" for n in keep], var_name="condition",
                    value_name="fitness")
    long["condition"] = long["condition"].str[: -len("_fit")]
    long = long.dropna(subset=["fitness"]).rename(columns={"bnum": "gene_id", "gene": "gene_name"})
    ex = keio_carbon_exchanges()
    long["exchange"] = long["condition"].map(ex).fillna("")
    long["grows"] = long["fitness"] > FITNESS_THRESHOLD
    return long[["gene_id", "gene_name", "condition", "fitness", "grows", "exchange"]].reset_index(drop=True)


def ecoli_glucose_essential() -> set[str]:
    """b-numbers of the genes essential on glucose M9 (Baba 2006 + Joyce 2006, WholeCell curation; 406 genes)."""
    df = _read(data_file("essentiality", "ecoli_wholecell", "derived_essential_genes_glcM9_bnumbers.tsv"), sep="\t")
    return set(df["bnumber"].dropna().astype(str))


def essentiality_truth(model_genes, essential: set[str], condition: str) -> pd.DataFrame:
    """Truth table from an essential-gene list: every model gene, ``grows = gene not essential``.

    Genes of the model that are absent from the list are taken as non-essential (the list covers the genome).
    """
    genes = [g if isinstance(g, str) else g.id for g in model_genes]
    return pd.DataFrame(
        {"gene_id": genes, "condition": condition, "grows": [g not in essential for g in genes]}
    )


# -- xlsx without openpyxl (the project does not depend on it) -----------------------------------------------------
def _col_index(ref: str) -> int:
    letters = re.match(r"[A-Z]+", ref).group(0)
    n = 0
    for ch in letters:
        n = n * 26 + ord(ch) - 64
    return n - 1


def read_xlsx_sheet(path: str | Path, sheet: int = 1) -> pd.DataFrame:
    """Read one sheet of an ``.xlsx`` file as strings/numbers (first row = header), with the standard library only."""
    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
    with zipfile.ZipFile(path) as z:
        strings: list[str] = []
        if "xl/sharedStrings.xml" in z.namelist():
            root = ElementTree.fromstring(z.read("xl/sharedStrings.xml"))
            for si in root.findall("m:si", ns):
                strings.append("".join(t.text or "" for t in si.iter(f"{{{ns['m']}}}t")))
        root = ElementTree.fromstring(z.read(f"xl/worksheets/sheet{sheet}.xml"))
    rows: list[dict[int, object]] = []
    for row in root.iter(f"{{{ns['m']}}}row"):
        cells: dict[int, object] = {}
        for c in row.findall("m:c", ns):
            v = c.find("m:v", ns)
            if v is None:
                is_ = c.find("m:is", ns)
                if is_ is not None:
                    cells[_col_index(c.get("r"))] = "".join(t.text or "" for t in is_.iter(f"{{{ns['m']}}}t"))
                continue
            kind = c.get("t")
            val: object = strings[int(v.text)] if kind == "s" else v.text
            if kind not in ("s", "str", "inlineStr"):
                try:
                    val = float(v.text)
                except (TypeError, ValueError):
                    pass
            cells[_col_index(c.get("r"))] = val
        rows.append(cells)
    if not rows:
        return pd.DataFrame()
    width = max((max(r) + 1 for r in rows if r), default=0)
    grid = [[r.get(i) for i in range(width)] for r in rows]
    header = [str(h) if h is not None else f"col{i}" for i, h in enumerate(grid[0])]
    return pd.DataFrame(grid[1:], columns=header)


# -- P. putida -----------------------------------------------------------------------------------------------------
def putida_essential_nogales2020() -> dict[str, set[str]]:
    """Gene sets of Nogales et al. 2020 Table S4 (PP_ locus tags).

    Careful: ``"LB"`` ("iLB Essential Genes", 114) and ``"glucose"`` ("Glucose Essential Genes", 78) are the
    *in silico* essential genes of iJN1463 (the paper compares them with the PRCC mutant collection), not
    measurements. ``"prcc"`` holds the genes with a transposon mutant in the PRCC collection (measured: viable on
    the collection's medium), ``"prcc_in_model"`` those of them in iJN1463, ``"model_genes"`` the model's genes.
    """
    df = read_xlsx_sheet(data_file("essentiality", "putida", "emi14843-sup-0007-tables4.xlsx"))

    def col(name: str) -> set[str]:
        if name not in df.columns:
            raise DataNotFoundError(f"Nogales 2020 Table S4 has no column {name!r} (has {list(df.columns)[:8]})")
        return {str(v).strip() for v in df[name].dropna() if str(v).strip().startswith("PP_")}

    return {
        "LB": col("iLB Essential Genes"),
        "glucose": col("Glucose Essential Genes"),
        "model_genes": col("Model Genes"),
        "prcc": col("PRCC Genes"),
        "prcc_in_model": col("PRCC Genes in Model"),
    }


def putida_knockouts_lb() -> pd.DataFrame:
    """The iJN1463 paper's 54-gene mutant growth table: ``gene_id, gene_name, condition, model_grows, grows``.

    The file is named ``knockouts_LB_...`` but its mutants are auxotrophs (trpA, argH, hisB, leuA, ...) measured as
    *not* growing, which only holds on a minimal medium: the condition is taken as the model's glucose minimal
    medium (``condition = "glucose"``). ``model_grows`` is the paper's iJN1463 prediction.
    """
    df = _read(data_file("essentiality", "putida", "knockouts_LB_iJN1463paper.tsv"), sep="\t")
    return pd.DataFrame(
        {
            "gene_id": df["Gene ID"].astype(str),
            "gene_name": df["Gene Name"],
            "condition": "glucose",
            "model_grows": df["Model"].astype(float) > 0,
            "grows": df["Experiment"].astype(float) > 0,
        }
    )


def putida_growth_rates() -> pd.DataFrame:
    """Measured growth rates of P. putida KT2440 (Nogales 2020 Table 2 and later papers).

    Returns
    -------
    DataFrame
        ``source`` (carbon source), ``uptake`` [mmol/gDW/h], ``growth`` (in vivo [1/h]), ``iJN1462`` (the paper's
        model prediction [1/h]), ``reference``.
    """
    df = _read(data_file("essentiality", "putida", "putida_growth_rates_Nogales2020_Table2.csv"), comment="#")
    df = df.dropna(subset=["Source"])

    def first(v) -> float:
        try:
            return float(str(v).split("/")[0])
        except ValueError:
            return float("nan")

    return pd.DataFrame(
        {
            "source": df["Source"].astype(str),
            "uptake": pd.to_numeric(df["uptake"], errors="coerce"),
            "growth": df["In vivo"].map(first),
            "iJN1462": df["iJN1462"].map(first),
            "reference": df["Reference"],
        }
    ).reset_index(drop=True)


def putida_specific_phenotypes(group: str = "carbon source") -> pd.DataFrame:
    """P. putida RB-TnSeq specific phenotypes, averaged per (gene, condition).

    Only genes with a strong, condition-specific fitness effect are listed (Fitness Browser "specific phenotypes"):
    a gene absent for a condition had no specific phenotype there, which is *not* the same as a measured fitness
    near 0 (genes needed in every minimal medium are absent everywhere). Use it for the listed points only, or
    state the assumption when filling the rest with "grows".

    Returns
    -------
    DataFrame
        ``gene_id`` (PP_ locus tag), ``condition`` (``condition_1``), ``fitness`` (mean over experiments),
        ``grows`` (fitness > -2), ``n_experiments``.
    """
    df = _read(data_file("essentiality", "fitness", "putida_specific_phenotypes.txt"), sep="\t")
    if group is not None:
        df = df[df["expGroup"] == group]
    agg = (
        df.groupby(["sysName", "condition_1"], sort=False)["fit"]
        .agg(["mean", "size"])
        .reset_index()
        .rename(columns={"sysName": "gene_id", "condition_1": "condition", "mean": "fitness", "size": "n_experiments"})
    )
    agg["grows"] = agg["fitness"] > FITNESS_THRESHOLD
    return agg


# -- S. elongatus --------------------------------------------------------------------------------------------------
def selongatus_locus_map(model) -> dict[str, str]:
    """Synpcc7942_XXXX -> model gene id, from each gene's ``refseq_old_locus_tag`` annotation (iJB785).

    In a model without that annotation (iMS837, whose ids are ``Synpcc7942_...``) ids map to themselves. In iJB785
    the 9 genes that lack the annotation are *not* mapped by id: this reproduces the reference evaluation
    (339 genes with fitness data, not 343).
    """
    out: dict[str, str] = {}
    annotated = any("refseq_old_locus_tag" in g.annotation for g in model.genes)
    for g in model.genes:
        if not annotated and g.id.startswith("Synpcc7942_"):
            out[g.id] = g.id
            continue
        tags = g.annotation.get("refseq_old_locus_tag", [])
        for t in [tags] if isinstance(tags, str) else tags:
            out[str(t)] = g.id
    return out


def selongatus_fitness_bg11(model=None) -> pd.DataFrame:
    """S. elongatus PCC 7942 RB-TnSeq fitness in BG-11 (photoautotrophic).

    Parameters
    ----------
    model : cobra.Model, optional
        When given, ``gene_id`` is the model's gene id (via :func:`selongatus_locus_map`) and genes the model lacks
        are dropped; otherwise ``gene_id`` is the Synpcc7942 id.

    Returns
    -------
    DataFrame
        ``gene_id, locus_tag, synpcc_id, condition`` (``BG11``), ``fitness``, ``grows`` (fitness > -2).
    """
    df = _read(data_file("essentiality", "fitness", "selongatus_fitness_BG11.tsv"), sep="\t")
    out = pd.DataFrame(
        {
            "locus_tag": df["locus_tag"].astype(str),
            "synpcc_id": df["source_gene_id"].astype(str),
            "condition": "BG11",
            "fitness": pd.to_numeric(df["abundance"], errors="coerce"),
        }
    ).dropna(subset=["fitness"])
    if model is not None:
        m = selongatus_locus_map(model)
        out["gene_id"] = out["synpcc_id"].map(m)
        out = out.dropna(subset=["gene_id"])
        # One measurement per model gene (a locus could in principle appear twice).
        out = out.drop_duplicates("gene_id")
    else:
        out["gene_id"] = out["synpcc_id"]
    out["grows"] = out["fitness"] > FITNESS_THRESHOLD
    return out[["gene_id", "locus_tag", "synpcc_id", "condition", "fitness", "grows"]].reset_index(drop=True)


# -- joining -------------------------------------------------------------------------------------------------------
TRUTH_SETS = ("ecoli-keio-fitness", "ecoli-glc-essential", "selongatus-bg11", "putida-mutants")


def load_truth(name: str, model=None) -> pd.DataFrame:
    """A named truth table (the ``--truth`` choices of ``kingems-ray evaluate knockouts``).

    ``ecoli-keio-fitness`` (conditions = carbon source names), ``ecoli-glc-essential`` (condition ``glucose``; needs
    the model: its genes define the non-essential set), ``selongatus-bg11`` (``BG11``; with the model, ids mapped to
    its genes), ``putida-mutants`` (the 54 measured P. putida mutants, ``glucose``).
    """
    if name == "ecoli-keio-fitness":
        return ecoli_keio_fitness()
    if name == "selongatus-bg11":
        return selongatus_fitness_bg11(model)
    if name == "putida-mutants":
        return putida_knockouts_lb()
    if name == "ecoli-glc-essential":
        if model is None:
            raise KingemsError(f"truth set {name!r} needs the model (its genes define the non-essential set)")
        genes = [g.id for g in model.genes] if hasattr(model, "genes") else list(model)
        return essentiality_truth(genes, ecoli_glucose_essential(), "glucose")
    raise KingemsError(f"unknown truth set {name!r}; choose one of {', '.join(TRUTH_SETS)}")


def read_truth(truth: str | Path, model=None) -> pd.DataFrame:
    """A truth set by name (:data:`TRUTH_SETS`, see :func:`load_truth`) or from a CSV/TSV file.

    A file needs ``gene_id`` and ``grows`` (bool) or ``fitness`` (grows = fitness > -2); without a ``condition``
    column every row gets condition ``all``.

    Raises
    ------
    KingemsError
        Neither a known name nor an existing file; a file without ``grows`` / ``fitness``.
    """
    name = str(truth)
    if name in TRUTH_SETS:
        return load_truth(name, model)
    p = Path(name)
    if not p.is_file():
        raise KingemsError(f"unknown truth set {name!r}: not one of {', '.join(TRUTH_SETS)} and not a file")
    try:
        df = pd.read_csv(p, sep="\t" if p.suffix in (".tsv", ".txt") else ",")
    except (OSError, ValueError, pd.errors.EmptyDataError) as exc:  # UnicodeDecodeError / ParserError: ValueErrors
        raise KingemsError(f"{p}: cannot read the truth table ({type(exc).__name__}: "
                           f"{' '.join(str(exc).split())[:200]})") from exc
    if "gene_id" not in df.columns:
        raise KingemsError(f"{p}: needs a 'gene_id' column")
    if "grows" not in df.columns:
        if "fitness" not in df.columns:
            raise KingemsError(f"{p}: needs a 'grows' or a 'fitness' column")
        df["grows"] = df["fitness"] > -2.0
    if "condition" not in df.columns:
        df["condition"] = "all"
    return df


def parse_condition_map(arg: str | Path | None, truth: pd.DataFrame) -> dict[str, str] | None:
    """Knockout condition -> truth condition from inline JSON or a JSON file; automatic for exchange-id screens.

    With ``arg`` None and a truth that names each condition's carbon exchange (``ecoli-keio-fitness``), screens
    made with ``--carbon-sources`` (conditions named by exchange id) are mapped back to the truth's names.
    """
    if arg:
        text = str(arg).strip()
        if not text.startswith("{"):
            # A path: inline JSON is tried first, so long JSON is never handed to the file system.
            p = Path(text)
            if not p.is_file():
                raise KingemsError(f"condition map: {text!r} is neither a JSON object nor a file")
            text = p.read_text()
        try:
            out = json.loads(text)
        except json.JSONDecodeError as exc:
            raise KingemsError(f"condition map: not a JSON object ({exc})") from exc
        if not isinstance(out, dict):
            raise KingemsError("condition map: not a JSON object")
        return {str(k): str(v) for k, v in out.items()}
    if "exchange" in truth.columns:
        return {ex: name for name, ex in keio_carbon_exchanges().items()}
    return None


def join_knockouts(knockouts: pd.DataFrame, truth: pd.DataFrame, condition_map: dict[str, str] | None = None
                   ) -> pd.DataFrame:
    """Inner join of a knockout screen with a truth table on ``(gene_id, condition)``.

    Parameters
    ----------
    knockouts : DataFrame
        Output of :func:`kingems_ray.analysis.knockout.knockout_screen`.
    truth : DataFrame
        ``gene_id, condition, grows`` (+ ``fitness``).
    condition_map : dict, optional
        Knockout condition name -> truth condition name, when they differ. When the truth has a single condition
        and the screen a single condition, they are matched whatever their names.

    Returns
    -------
    DataFrame
        Knockout columns + ``grows`` and the truth's other columns (``fitness``, ...).
    """
    ko = knockouts.copy()
    tr = truth.copy()
    if condition_map:
        ko["condition"] = ko["condition"].map(lambda c: condition_map.get(c, c))
    if ko["condition"].nunique() == 1 and tr["condition"].nunique() == 1:
        ko["condition"] = tr["condition"].iloc[0]
    # Keep the truth's own columns (fitness, names, published predictions) unless the screen has one of that name.
    cols = ["gene_id", "condition", "grows"] + [c for c in tr.columns if c not in ko.columns and c != "grows"]
    out = ko.merge(tr[cols], on=["gene_id", "condition"], how="inner")
    if out.empty:
        raise KingemsError(
            "knockouts and truth share no (gene_id, condition) pair: conditions "
            f"{sorted(ko['condition'].unique())[:5]} vs {sorted(tr['condition'].unique())[:5]}"
        )
    return out


