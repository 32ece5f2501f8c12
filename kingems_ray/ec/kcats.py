"""The kcat table: one documented format, readers, validation against a model, and adapters.

Format (CSV or Parquet), one row per (reaction, gene, direction[, substrate]):

=============  ========  ====================================================================================
column         required  meaning
=============  ========  ====================================================================================
reaction_id    yes       reaction id of the model (a ``_reverse`` suffix is accepted and sets ``direction``)
gene_id        yes       gene id of the model (one subunit / isoenzyme of the reaction's GPR)
kcat           yes       turnover number [1/s], finite and > 0
kcat_std       no        spread of the prediction [1/s] (ensemble standard deviation); used by tuning
log10_kcat_std no        spread of the prediction in log10 units (calibrated when ``spread_kind`` says so);
                         preferred over ``kcat_std`` by the kcat sampler (:mod:`kingems_ray.analysis.uncertainty`)
spread_kind    no        what ``log10_kcat_std`` is: ``calibrated`` or ``ensemble`` (``""`` for none)
direction      no        ``forward``, ``reverse`` or ``both`` (default ``both``)
substrate      no        substrate metabolite id the prediction was made for
smiles         no        substrate structure
sequence       no        enzyme amino-acid sequence (used to compute ``mw`` when that is absent)
mw             no        enzyme (gene product) molecular weight [g/mol]
source         no        where the value came from (``prediction``, ``database``, ``ec_median``, ...)
=============  ========  ====================================================================================

Several rows for one (reaction, gene, direction), e.g. one per substrate, are aggregated (default: max, the
enzyme's fastest measured/predicted turnover for that reaction).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import KcatTableError

REQUIRED = ("reaction_id", "gene_id", "kcat")
OPTIONAL = ("kcat_std", "log10_kcat_std", "spread_kind", "direction", "substrate", "smiles", "sequence", "mw", "source")
DIRECTIONS = ("forward", "reverse", "both")

# Average residue mass [g/mol] for amino acids; a water is added back per chain.
_AA_MASS = {
    "A": 71.0788,
    "R": 156.1875,
    "N": 114.1038,
    "D": 115.0886,
    "C": 103.1388,
    "E": 129.1155,
    "Q": 128.1307,
    "G": 57.0519,
    "H": 137.1411,
    "I": 113.1594,
    "L": 113.1594,
    "K": 128.1741,
    "M": 131.1926,
    "F": 147.1766,
    "P": 97.1167,
    "S": 87.0782,
    "T": 101.1051,
    "W": 186.2132,
    "Y": 163.1760,
    "V": 99.1326,
    "U": 150.0388,
    "O": 237.3018,
}
_AA_MEAN = 110.0  # for ambiguous letters (X, B, Z)


def sequence_mw(seq: str) -> float:
    """Molecular weight [g/mol] of a protein sequence (average masses; ambiguous residues ~110 Da).

    Raises
    ------
    ValueError
        When the sequence is empty or contains characters that are not amino-acid letters.
    """
    s = re.sub(r"\s", "", str(seq)).upper().rstrip("*")
    if not s:
        raise ValueError("empty protein sequence")
    if not s.isalpha():
        raise ValueError(f"not a protein sequence: {s[:20]!r}...")
    return float(sum(_AA_MASS.get(a, _AA_MEAN) for a in s) + 18.015)


@dataclass
class KcatReport:
    """What happened to the rows of a kcat table when it was matched to a model.

    Attributes
    ----------
    n_rows : int
        Rows read.
    n_used : int
        Rows kept.
    skipped : dict
        Reason -> number of rows skipped for it.
    examples : dict
        Reason -> a few example ids.
    renamed : dict
        Table id -> model id for ids matched through an alias (e.g. BiGG ``FORt`` -> ``FORti``).
    info : dict
        Counts that are not skips (e.g. reaction-level rows expanded to genes, MWs split over subunits).
    """

    n_rows: int = 0
    n_used: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    renamed: dict[str, str] = field(default_factory=dict)
    info: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str, ids: list[str]) -> None:
        """Count rows skipped for ``reason``."""
        if not ids:
            return
        self.skipped[reason] = self.skipped.get(reason, 0) + len(ids)
        ex = self.examples.setdefault(reason, [])
        for i in ids:
            if len(ex) < 5 and i not in ex:
                ex.append(i)

    def summary(self) -> str:
        """One human-readable paragraph."""
        n_skipped = sum(self.skipped.values())
        parts = [f"kcat table: {self.n_rows - n_skipped}/{self.n_rows} rows used -> {self.n_used} kcats"]
        for reason, n in self.skipped.items():
            ex = self.examples.get(reason, [])
            parts.append(f"{n} skipped ({reason}" + (f": e.g. {', '.join(ex)})" if ex else ")"))
        if self.renamed:
            parts.append("ids matched through aliases: " + ", ".join(f"{a}->{b}" for a, b in self.renamed.items()))
        for what, n in self.info.items():
            parts.append(f"{what}: {n}")
        return "; ".join(parts)


def read_kcat_table(path: str | Path) -> pd.DataFrame:
    """Read a kcat table (``.csv``, ``.tsv``, ``.parquet``) and check its format.

    Adapters are picked automatically for the kinGEMs reference table (``Reactions, Single_gene, kcat_mean``)
    and ECMpy's reaction table (an unnamed id column, ``kcat, MW``); ECMpy's needs a model to expand reactions
    to genes, so it is returned un-expanded with ``gene_id`` empty (see :func:`from_ecmpy`).

    Raises
    ------
    KcatTableError
        Missing file, missing columns, NaN / non-positive / non-numeric kcats.
    """
    p = Path(path)
    if not p.exists():
        raise KcatTableError(f"{p}: kcat table not found")
    try:
        if p.suffix == ".parquet":
            df = pd.read_parquet(p)
        else:
            sep = "\t" if p.name.endswith((".tsv", ".tsv.gz")) else ","
            df = pd.read_csv(p, sep=sep)
    except Exception as exc:  # pandas/pyarrow raise many types on malformed files
        raise KcatTableError(f"{p}: cannot read kcat table ({type(exc).__name__}: {exc})") from exc
    if {"Reactions", "Single_gene"} <= set(df.columns):
        df = from_kingems_reference(df)
    elif "kcat_MW" in df.columns and "MW" in df.columns:
        df = from_ecmpy_raw(df)
    return validate_table(df, name=str(p))


def validate_table(df: pd.DataFrame, name: str = "kcat table") -> pd.DataFrame:
    """Check columns and values, normalise ``direction`` and return a clean copy.

    Raises
    ------
    KcatTableError
        Missing required columns, or any NaN / non-numeric / non-positive kcat (the error lists offending rows).
    """
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise KcatTableError(
            f"{name}: missing required column(s) {', '.join(missing)} (has: {', '.join(map(str, df.columns))})"
        )
    out = df.copy()
    out.attrs = dict(df.attrs)
    out["reaction_id"] = out["reaction_id"].astype(str)
    out["gene_id"] = out["gene_id"].fillna("").astype(str)
    kc = pd.to_numeric(out["kcat"], errors="coerce")
    bad = ~np.isfinite(kc) | (kc <= 0)
    if bad.any():
        rows = out.loc[bad, ["reaction_id", "gene_id"]].astype(str).agg("/".join, axis=1).tolist()[:5]
        raise KcatTableError(
            f"{name}: {int(bad.sum())} row(s) with a missing, non-numeric or non-positive kcat "
            f"(e.g. {', '.join(rows)}); kcat must be a finite number > 0 [1/s]"
        )
    out["kcat"] = kc.astype(float)
    if "kcat_std" in out.columns:
        std = pd.to_numeric(out["kcat_std"], errors="coerce")
        if (std < 0).any():
            raise KcatTableError(f"{name}: negative kcat_std")
        out["kcat_std"] = std.astype(float)
    if "log10_kcat_std" in out.columns:
        lstd = pd.to_numeric(out["log10_kcat_std"], errors="coerce")
        if (lstd < 0).any():
            raise KcatTableError(f"{name}: negative log10_kcat_std")
        out["log10_kcat_std"] = lstd.astype(float)
    if "direction" not in out.columns:
        out["direction"] = "both"
    out["direction"] = out["direction"].fillna("both").astype(str).str.lower()
    rev = out["reaction_id"].str.endswith("_reverse")
    out.loc[rev, "direction"] = "reverse"
    out.loc[rev, "reaction_id"] = out.loc[rev, "reaction_id"].str[: -len("_reverse")]
    bad_dir = ~out["direction"].isin(DIRECTIONS)
    if bad_dir.any():
        raise KcatTableError(
            f"{name}: direction must be one of {DIRECTIONS}, got {sorted(out.loc[bad_dir, 'direction'].unique())}"
        )
    from ..validate import check_kcat_table

    check_kcat_table(out, name)  # mw > 0 where given (error); kcats outside [1e-6, 1e7] warn per row
    if "mw" in out.columns:
        out["mw"] = pd.to_numeric(out["mw"], errors="coerce")
    return out.reset_index(drop=True)


def from_kingems_reference(df: pd.DataFrame, column: str = "kcat_mean") -> pd.DataFrame:
    """Adapt the kinGEMs pipeline's CPI-Pred table (``tuned_data.csv``).

    Parameters
    ----------
    df : DataFrame
        Columns ``Reactions, Single_gene, kcat_mean, kcat_std, SEQ, Reaction_partners, CMPD_SMILES, ...``.
    column : str
        Which kcat column to use: ``kcat_mean`` (the ensemble mean) or ``kcat_updated`` (after tuning).
    """
    if column not in df.columns:
        raise KcatTableError(f"kinGEMs table has no column {column!r}")
    out = pd.DataFrame(
        {
            "reaction_id": df["Reactions"].astype(str),
            "gene_id": df["Single_gene"].astype(str),
            "kcat": df[column],
            "kcat_std": df["kcat_std"] if "kcat_std" in df.columns else np.nan,
            "direction": "forward",
            "substrate": df.get("Reaction_partners"),
            "smiles": df.get("CMPD_SMILES"),
            "sequence": df.get("SEQ"),
            "source": "kingems_cpipred" if column == "kcat_mean" else f"kingems_{column}",
        }
    )
    # kinGEMs writes the reverse direction as a separate id with a "_reverse" suffix; validate_table maps it.
    # Rows without a gene or a prediction (spontaneous reactions, exchanges) are part of that format: drop them,
    # but count them so the report says so.
    kc = pd.to_numeric(out["kcat"], errors="coerce")
    bad = kc.isna() | out["gene_id"].isin(["nan", "", "None"])
    # The reference's annealing can push a kcat below zero (tuned_data.csv: ATPS4r_reverse/b3735 = -0.027 1/s);
    # a negative turnover is meaningless (in the reference it even frees enzyme), so such rows are dropped.
    nonpos = ~bad & (kc <= 0)
    out = out[~bad & ~nonpos].reset_index(drop=True)
    out.attrs["skipped"] = {"no gene or no kcat in the kinGEMs table": int(bad.sum())}
    if nonpos.any():
        out.attrs["skipped"]["non-positive kcat in the kinGEMs table"] = int(nonpos.sum())
    return out


def from_ecmpy_raw(df: pd.DataFrame) -> pd.DataFrame:
    """Rename ECMpy's ``reaction_kcat_MW.csv`` columns; genes are filled later by :func:`expand_reaction_level`."""
    idcol = df.columns[0]
    out = pd.DataFrame(
        {
            "reaction_id": df[idcol].astype(str),
            "gene_id": "",
            "kcat": df["kcat"],
            "direction": "both",
            "enzyme_mw": df["MW"],
            "source": "ecmpy_" + df["data_type"].astype(str) if "data_type" in df.columns else "ecmpy",
        }
    )
    return out


_NUM = re.compile(r"^(.*)_num(\d+)$")


def expand_reaction_level(
    table: pd.DataFrame, model, gene_mw: dict[str, float] | None = None, report: KcatReport | None = None
) -> pd.DataFrame:
    """Turn reaction-level rows (empty ``gene_id``) into gene rows using the model's GPRs.

    ECMpy ids carry the isoenzyme index (``R_num2`` = the 2nd OR-clause of R's rule) and a ``_reverse`` suffix.
    Each gene of the clause gets the clause's kcat. Gene molecular weights come from ``gene_mw`` when given;
    otherwise the enzyme MW of the row is shared equally between the clause's subunits (and counted in
    the report).
    """
    from ..gem.gpr import parse_gpr

    report = report or KcatReport()
    gene_rows = table[table["gene_id"] != ""]
    react_rows = table[table["gene_id"] == ""]
    if react_rows.empty:
        return table
    rxns = {r.id: r for r in model.reactions}
    out = []
    missing_rxn, no_gpr, split_mw = [], [], []
    for row in react_rows.itertuples(index=False):
        rid = row.reaction_id
        m = _NUM.match(rid)
        idx = int(m.group(2)) - 1 if m else None
        base = m.group(1) if m else rid
        direction = row.direction
        if base.endswith("_reverse"):  # ECMpy writes "R_reverse_num2"
            base, direction = base[: -len("_reverse")], "reverse"
        if base not in rxns:
            missing_rxn.append(rid)
            continue
        clauses = parse_gpr(rxns[base].gene_reaction_rule)
        if not clauses:
            no_gpr.append(rid)
            continue
        chosen = [clauses[idx]] if idx is not None and idx < len(clauses) else clauses
        for clause in chosen:
            for g in sorted(clause):
                mw = (gene_mw or {}).get(g)
                if mw is None and hasattr(row, "enzyme_mw") and np.isfinite(getattr(row, "enzyme_mw", np.nan)):
                    mw = float(row.enzyme_mw) / len(clause)
                    split_mw.append(g)
                out.append(
                    {
                        "reaction_id": base,
                        "gene_id": g,
                        "kcat": row.kcat,
                        "direction": direction,
                        "mw": mw,
                        "source": getattr(row, "source", "reaction_level"),
                    }
                )
    report.skip("reaction not in model", missing_rxn)
    report.skip("reaction has no GPR", no_gpr)
    report.info["reaction-level rows expanded to gene rows"] = len(react_rows) - len(missing_rxn) - len(no_gpr)
    if split_mw:
        report.info["genes with MW = enzyme MW / subunits"] = len(set(split_mw))
    expanded = pd.DataFrame(out)
    return pd.concat([gene_rows.drop(columns=["enzyme_mw"], errors="ignore"), expanded], ignore_index=True)


def _alias_candidates(rid: str) -> list[str]:
    # BiGG / cobra id variants: "FORt" <-> "FORti", "R_" prefixes, reaction-direction suffixes.
    cands = [rid + "i", rid[:-1] if rid.endswith("i") else None, rid.removeprefix("R_"), rid + "pp"]
    return [c for c in cands if c and c != rid]


def match_to_model(
    table: pd.DataFrame,
    model,
    gene_mw: dict[str, float] | None = None,
    aggregate: str = "max",
    aliases: dict[str, str] | None = None,
) -> tuple[pd.DataFrame, KcatReport]:
    """Keep the rows that name a reaction and a gene of ``model``; count and report every skip.

    Parameters
    ----------
    table : DataFrame
        A validated kcat table.
    model : cobra.Model
    gene_mw : dict, optional
        Gene id -> molecular weight [g/mol]; overrides ``mw`` / ``sequence`` columns.
    aggregate : {"max", "mean", "min", "first", "geomean", "all"}
        How several rows for one (reaction, gene, direction) are combined; ``"all"`` keeps every row
        (e.g. one per substrate, as the kinGEMs reference formulation uses them).
    aliases : dict, optional
        Explicit table id -> model id renames.

    Returns
    -------
    (DataFrame, KcatReport)
        Columns ``reaction_id, gene_id, direction, kcat, kcat_std, mw, source``; one row per key.
    """
    report = KcatReport(n_rows=len(table) + sum(table.attrs.get("skipped", {}).values()))
    for reason, n in table.attrs.get("skipped", {}).items():
        if n:
            report.skipped[reason] = n
    table = expand_reaction_level(table, model, gene_mw=gene_mw, report=report)
    rxn_ids = {r.id for r in model.reactions}
    gene_ids = {g.id for g in model.genes}
    rmap = dict(aliases or {})
    for rid in table["reaction_id"].unique():
        if rid in rxn_ids or rid in rmap:
            continue
        for cand in _alias_candidates(rid):
            if cand in rxn_ids:
                rmap[rid] = cand
                break
    if rmap:
        report.renamed.update({k: v for k, v in rmap.items() if k != v})
        table = table.assign(reaction_id=table["reaction_id"].map(lambda r: rmap.get(r, r)))
    unknown_r = ~table["reaction_id"].isin(rxn_ids)
    report.skip("reaction not in model", table.loc[unknown_r, "reaction_id"].tolist())
    table = table[~unknown_r]
    unknown_g = ~table["gene_id"].isin(gene_ids)
    report.skip(
        "gene not in model", (table.loc[unknown_g, "reaction_id"] + "/" + table.loc[unknown_g, "gene_id"]).tolist()
    )
    table = table[~unknown_g]
    # A gene that is not in the reaction's GPR would add a meaningless constraint.
    rgenes = {r.id: {g.id for g in r.genes} for r in model.reactions}
    in_gpr = np.array([g in rgenes[r] for r, g in zip(table["reaction_id"], table["gene_id"])], dtype=bool)
    report.skip(
        "gene not in the reaction's GPR",
        (table.loc[~in_gpr, "reaction_id"] + "/" + table.loc[~in_gpr, "gene_id"]).tolist(),
    )
    table = table[in_gpr].copy()

    # Molecular weights: explicit map > mw column > sequence.
    mw = table["mw"] if "mw" in table.columns else pd.Series(np.nan, index=table.index)
    mw = pd.to_numeric(mw, errors="coerce")
    if "sequence" in table.columns:
        need = mw.isna() & table["sequence"].notna()
        for i in table.index[need]:
            try:
                mw.at[i] = sequence_mw(table.at[i, "sequence"])
            except ValueError:
                pass
    if gene_mw:
        mapped = table["gene_id"].map(gene_mw)
        mw = mapped.where(mapped.notna(), mw)
    table["mw"] = mw
    if "kcat_std" not in table.columns:
        table["kcat_std"] = np.nan
    if "source" not in table.columns:
        table["source"] = "table"
    # The log10 spread travels with its row (it is preferred by the kcat sampler); absent columns stay absent.
    spread_cols = [c for c in ("log10_kcat_std", "spread_kind") if c in table.columns]

    funcs = {
        "max": "max",
        "mean": "mean",
        "min": "min",
        "first": "first",
        "geomean": lambda s: float(np.exp(np.log(s).mean())),
    }
    if aggregate not in funcs and aggregate != "all":
        raise KcatTableError(f"aggregate must be one of {sorted(funcs) + ['all']}, got {aggregate!r}")
    keys = ["reaction_id", "gene_id", "direction"]
    if aggregate == "all":
        agg = table
    elif aggregate == "max":
        # Keep the whole row of the fastest entry so its std and source stay consistent.
        idx = table.groupby(keys, sort=False)["kcat"].idxmax()
        agg = table.loc[idx.values]
    else:
        agg = (
            table.groupby(keys, sort=False)
            .agg(
                kcat=("kcat", funcs[aggregate]),
                kcat_std=("kcat_std", "mean"),
                mw=("mw", "first"),
                source=("source", "first"),
                **{c: (c, "mean" if c == "log10_kcat_std" else "first") for c in spread_cols},
            )
            .reset_index()
        )
    # A gene's MW is a property of the gene: take the first known value for every row of that gene.
    gmw = agg.dropna(subset=["mw"]).groupby("gene_id")["mw"].first()
    agg = agg.assign(mw=agg["gene_id"].map(gmw))
    report.n_used = len(agg)
    cols = ["reaction_id", "gene_id", "direction", "kcat", "kcat_std", "mw", "source"] + spread_cols
    return agg[cols].reset_index(drop=True), report


def write_kcat_table(df: pd.DataFrame, path: str | Path) -> None:
    """Write a kcat table as Parquet (``.parquet``) or CSV (anything else), after validation."""
    df = validate_table(df, name=str(path))
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.suffix == ".parquet":
        df.to_parquet(p, index=False)
    else:
        df.to_csv(p, index=False)
