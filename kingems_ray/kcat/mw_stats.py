"""Enzyme molecular weights by EC class, for genes without a protein sequence.

A gene with a sequence gets the MW of its sequence (``mw_source = "sequence"``). A gene without one gets the
median MW of the labelled enzymes of its reaction's EC, falling back along the EC hierarchy:
``ec4_median`` (e.g. 2.7.1.11) -> ``ec3_median`` (2.7.1) -> ``ec2_median`` (2.7) -> ``ec1_median`` (2) ->
``global_median`` (all enzymes). Never a silent default: the source is recorded in the table's ``mw_source``.

The statistics (``kingems_ray/data/kcat_stats/ec_mw_stats.tsv``) are built by
``python scripts/build_kcat_stats.py`` from the sequences + EC numbers of the labelled kcat sets in
``<data>/kcat`` (KcatNet, DLTKcat, CatPred): one MW per distinct (EC, sequence), computed with
:func:`kingems_ray.ec.kcats.sequence_mw` (average residue masses), median per EC prefix.
Nothing here imports Ray.
"""

from __future__ import annotations

import csv
import gzip
import json
import math
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..ec.kcats import sequence_mw
from ..paths import package_data

STATS_FILE = ("kcat_stats", "ec_mw_stats.tsv")
#: MW sources in the order tried; ``sequence`` comes from the gene itself.
MW_SOURCES = ("sequence", "ec4_median", "ec3_median", "ec2_median", "ec1_median", "global_median", "default")
#: Used only when no statistics are available at all (labelled ``default``): a typical bacterial enzyme.
DEFAULT_MW = 40000.0


def ec_prefix(ec: str, depth: int) -> str | None:
    """The first ``depth`` numeric levels of an EC (``None`` when the EC has fewer numeric levels)."""
    parts = str(ec).split(".")
    if len(parts) < depth or not all(p.isdigit() for p in parts[:depth]):
        return None
    return ".".join(parts[:depth])


class EcMwStats:
    """Median enzyme MW per EC prefix.

    Parameters
    ----------
    medians : dict
        EC prefix (``"2.7.1.11"``, ``"2.7.1"``, ``"2.7"``, ``"2"``) -> (median MW [g/mol], number of sequences).
    global_median : float, optional
        Median over all sequences; ``None`` -> :data:`DEFAULT_MW` labelled ``default``.
    """

    def __init__(self, medians: dict[str, tuple[float, int]], global_median: float | None = None) -> None:
        self.medians = dict(medians)
        self.global_median = global_median

    @classmethod
    def packaged(cls) -> EcMwStats:
        """The statistics shipped with the package (empty -> every lookup gives the labelled default)."""
        path = package_data(*STATS_FILE)
        return cls.from_file(path) if path.exists() else cls({})

    @classmethod
    def from_file(cls, path: str | Path) -> EcMwStats:
        """Read a ``level, ec, median_mw, n`` TSV (level ``global`` holds the global median)."""
        medians: dict[str, tuple[float, int]] = {}
        glob = None
        with open(path, newline="") as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                val, n = float(row["median_mw"]), int(row["n"])
                if row["level"] == "global":
                    glob = val
                else:
                    medians[row["ec"]] = (val, n)
        return cls(medians, glob)

    def lookup(self, ecs: Iterable[str]) -> tuple[float, str]:
        """MW and source for a reaction's ECs (median over its ECs at the deepest level any of them has).

        Returns
        -------
        (float, str)
            MW [g/mol] and one of ``ec4_median`` ... ``global_median``, or ``default`` without statistics.
        """
        ecs = [e for e in ecs if e]
        for depth in (4, 3, 2, 1):
            vals = []
            for e in ecs:
                p = ec_prefix(e, depth)
                if p is not None and p in self.medians:
                    vals.append(self.medians[p][0])
            if vals:
                return float(np.median(vals)), f"ec{depth}_median"
        if self.global_median is not None and math.isfinite(self.global_median):
            return float(self.global_median), "global_median"
        return DEFAULT_MW, "default"


# ---------------------------------------------------------------------------------------------------------
# Building the statistics from the labelled kcat sets


def labelled_sequences(kcat_dir: str | Path) -> list[tuple[str, str]]:
    """Distinct (EC, sequence) pairs of the labelled sets in ``<data>/kcat`` that carry both.

    Reads ``kcatnet_splits.csv.gz`` (``ECNumber``, ``Pro_seq``), the DLTKcat CSVs (``EC``, ``seq``) and the
    CatPred validation JSON (``ECNumber``, ``Sequence``); missing files are skipped.
    """
    import pandas as pd

    d = Path(kcat_dir)
    pairs: set[tuple[str, str]] = set()

    def add(ecs: Iterable, seqs: Iterable) -> None:
        for ec, seq in zip(ecs, seqs):
            if not isinstance(ec, str) or not isinstance(seq, str):
                continue
            ec, seq = ec.strip(), seq.strip().upper()
            if ec_prefix(ec, 1) and seq.isalpha():
                pairs.add((ec, seq))

    f = d / "kcatnet_splits.csv.gz"
    if f.exists():
        df = pd.read_csv(f, usecols=["ECNumber", "Pro_seq"])
        add(df["ECNumber"], df["Pro_seq"])
    for f in sorted((d / "dltkcat").glob("DLTKcat_*.csv.gz")):
        df = pd.read_csv(f)
        if {"EC", "seq"} <= set(df.columns):
            add(df["EC"], df["seq"])
    f = d / "catpred" / "catpred_kcat_random_val_dlkcatformat.json.gz"
    if f.exists():
        with gzip.open(f, "rt") as fh:
            rows = json.load(fh)
        add([r.get("ECNumber") for r in rows], [r.get("Sequence") for r in rows])
    return sorted(pairs)


def stats_rows(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str, float, int]]:
    """Rows ``(level, ec_prefix, median_mw, n)`` from (EC, sequence) pairs; one MW per distinct pair."""
    mw_cache: dict[str, float] = {}
    by_prefix: dict[str, list[float]] = defaultdict(list)
    all_mw: dict[str, float] = {}
    for ec, seq in pairs:
        if seq not in mw_cache:
            try:
                mw_cache[seq] = sequence_mw(seq)
            except ValueError:
                mw_cache[seq] = math.nan
        mw = mw_cache[seq]
        if not math.isfinite(mw):
            continue
        all_mw[seq] = mw
        for depth in (1, 2, 3, 4):
            p = ec_prefix(ec, depth)
            if p is not None:
                by_prefix[p].append(mw)
    rows = [("global", "", float(np.median(list(all_mw.values()))), len(all_mw))] if all_mw else []
    for p in sorted(by_prefix, key=lambda s: [int(x) for x in s.split(".")]):
        vals = by_prefix[p]
        rows.append((f"ec{p.count('.') + 1}", p, float(np.median(vals)), len(vals)))
    return rows


def write_stats(rows: list[tuple[str, str, float, int]], path: str | Path) -> None:
    """Write :func:`stats_rows` as a TSV (MW rounded to 0.1 g/mol)."""
    with open(path, "w", newline="") as fh:
        fh.write("level\tec\tmedian_mw\tn\n")
        for level, p, mw, n in rows:
            fh.write(f"{level}\t{p}\t{mw:.1f}\t{n}\n")
