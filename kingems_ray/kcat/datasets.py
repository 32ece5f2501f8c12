"""Labelled kcat data sets and the splits used to train and evaluate the predictor.

Every loader returns a DataFrame with the same columns: ``sequence``, ``smiles``, ``log10_kcat`` (log10 of kcat
in 1/s), ``ec`` (may be empty) and ``source``; KcatNet rows also carry ``uniprot`` and ``split``.

Sequence-dissimilar split
-------------------------
Random splits of kcat data put the same enzyme (with another substrate, or a point mutant) on both sides, so
they mostly measure memorisation. :func:`sequence_clusters` links two sequences when they share at least
``min_shared`` of the distinct 5-mers of the shorter one (by chance two unrelated proteins share almost none;
~5 % shared 5-mers corresponds to roughly 50-60 % identity over the shorter sequence), links rows with the same
UniProt id, and takes connected components (single linkage: a chain of similar sequences ends up in one
cluster). Whole clusters are then assigned to test / CV folds, so no test enzyme shares a cluster with a
training enzyme.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from ..paths import data_root

COLUMNS = ["sequence", "smiles", "log10_kcat", "ec", "source"]


def _root(root: str | Path | None) -> Path:
    return Path(root) if root is not None else data_root(required=True)


def load_kcatnet(root: str | Path | None = None) -> pd.DataFrame:
    """KcatNet's 11,757 rows with its own ``train`` / ``valid`` / ``test`` split.

    Parameters
    ----------
    root : str or Path, optional
        Data root (default :func:`kingems_ray.paths.data_root`).
    """
    raw = pd.read_csv(_root(root) / "kcat" / "kcatnet_splits.csv.gz")
    df = pd.DataFrame({
        "sequence": raw["Pro_seq"].astype(str),
        "smiles": raw["Smile"].astype(str),
        "log10_kcat": raw["label"].astype(float),
        "ec": raw["ECNumber"].fillna("").astype(str),
        "source": "kcatnet",
        "uniprot": raw["Uni_ID"].fillna("").astype(str),
        "split": raw["split"].astype(str),
    })
    return df


def load_dltkcat_test(root: str | Path | None = None) -> pd.DataFrame:
    """DLTKcat's test set (wild types and mutants, various temperatures); rows with kcat <= 0 dropped."""
    raw = pd.read_csv(_root(root) / "kcat" / "dltkcat" / "DLTKcat_test_data.csv.gz")
    raw = raw[pd.to_numeric(raw["kcat"], errors="coerce") > 0]
    return pd.DataFrame({
        "sequence": raw["seq"].astype(str).values,
        "smiles": raw["smiles"].astype(str).values,
        "log10_kcat": np.log10(raw["kcat"].astype(float).values),
        "ec": raw["EC"].fillna("").astype(str).values,
        "source": "dltkcat_test",
    })


def load_catpred_val(root: str | Path | None = None) -> pd.DataFrame:
    """CatPred's random-split validation set (DLKcat JSON format, values in 1/s); kcat <= 0 dropped."""
    path = _root(root) / "kcat" / "catpred" / "catpred_kcat_random_val_dlkcatformat.json.gz"
    with gzip.open(path, "rt") as fh:
        recs = json.load(fh)
    rows = []
    for r in recs:
        try:
            v = float(r["Value"])
        except (TypeError, ValueError):
            continue
        if v > 0:
            rows.append((r["Sequence"], r["Smiles"], np.log10(v), r.get("ECNumber", "") or "", "catpred_val"))
    return pd.DataFrame(rows, columns=COLUMNS)


# ----------------------------------------------------------------------------------------------------------
# sequence clustering
# ----------------------------------------------------------------------------------------------------------


def _kmer_codes(seq: str, k: int) -> np.ndarray:
    a = np.frombuffer(seq.encode("ascii", "replace"), dtype=np.uint8).astype(np.int64) - 64  # 'A'->1 ... 'Z'->26
    a = np.clip(a, 0, 31)
    n = len(a) - k + 1
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    code = np.zeros(n, dtype=np.int64)
    for j in range(k):
        code = code * 32 + a[j : j + n]
    return np.unique(code)


def sequence_clusters(sequences: list[str], k: int = 5, min_shared: float = 0.05,
                      groups: list[str] | None = None) -> np.ndarray:
    """Cluster sequences by shared k-mers (single linkage).

    Parameters
    ----------
    sequences : list of str
        One per row (duplicates fall into the same cluster).
    k : int
        k-mer length.
    min_shared : float
        Link two sequences when ``|A ∩ B| / min(|A|, |B|) >= min_shared`` over their sets of distinct k-mers.
    groups : list of str, optional
        Extra labels (e.g. UniProt ids); rows with the same non-empty label are linked too.

    Returns
    -------
    numpy.ndarray
        Integer cluster id per row.
    """
    uniq, inverse = np.unique(np.asarray(sequences, dtype=object), return_inverse=True)
    codes = [_kmer_codes(s, k) for s in uniq]
    sizes = np.array([max(len(c), 1) for c in codes], dtype=np.float64)
    indptr = np.cumsum([0] + [len(c) for c in codes])
    cols = np.concatenate(codes) if codes else np.zeros(0, dtype=np.int64)
    _, col_ids = np.unique(cols, return_inverse=True)
    x = sp.csr_matrix((np.ones(len(cols), dtype=np.float32), col_ids, indptr),
                      shape=(len(uniq), int(col_ids.max()) + 1 if len(cols) else 1))
    shared = (x @ x.T).tocoo()
    denom = np.minimum(sizes[shared.row], sizes[shared.col])
    keep = shared.data / denom >= min_shared
    n = len(uniq)
    adj = sp.coo_matrix((np.ones(keep.sum()), (shared.row[keep], shared.col[keep])), shape=(n, n))
    if groups is not None:
        # Link unique sequences that carry the same group label.
        g = pd.Series(np.asarray(groups, dtype=object))
        first = {}
        rows, cols2 = [], []
        for seq_id, label in zip(inverse, g):
            if not label or label == "nan":
                continue
            if label in first:
                rows.append(first[label])
                cols2.append(seq_id)
            else:
                first[label] = seq_id
        if rows:
            adj = adj + sp.coo_matrix((np.ones(len(rows)), (rows, cols2)), shape=(n, n))
    _, labels = connected_components(adj, directed=False)
    return labels[inverse]


def assign_group_folds(groups: np.ndarray, n_folds: int, seed: int = 0) -> np.ndarray:
    """Assign whole groups to ``n_folds`` folds with near-equal row counts (largest groups first).

    Returns
    -------
    numpy.ndarray
        Fold id (0..n_folds-1) per row.
    """
    rng = np.random.default_rng(seed)
    ids, counts = np.unique(groups, return_counts=True)
    # Shuffle before the stable sort so equal-size groups are placed in random order.
    perm = rng.permutation(len(ids))
    ids, counts = ids[perm], counts[perm]
    order = np.argsort(-counts, kind="stable")
    load = np.zeros(n_folds)
    fold_of = {}
    for i in order:
        f = int(np.argmin(load))
        fold_of[ids[i]] = f
        load[f] += counts[i]
    return np.array([fold_of[g] for g in groups])


def dissimilar_split(df: pd.DataFrame, test_frac: float = 0.15, seed: int = 0, k: int = 5,
                     min_shared: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Sequence-dissimilar train/test split of a KcatNet-like frame.

    Parameters
    ----------
    df : pandas.DataFrame
        Needs ``sequence`` (and optionally ``uniprot``).
    test_frac : float
        Target fraction of rows in the test set.
    seed : int
    k, min_shared : see :func:`sequence_clusters`.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Boolean test mask per row, and the cluster id per row.
    """
    clusters = sequence_clusters(df["sequence"].tolist(), k=k, min_shared=min_shared,
                                 groups=df["uniprot"].tolist() if "uniprot" in df else None)
    rng = np.random.default_rng(seed)
    ids, counts = np.unique(clusters, return_counts=True)
    # Keep giant clusters (>2 % of rows) in training: one of them would make the test set one enzyme family.
    small = counts <= 0.02 * len(df)
    cand = rng.permutation(ids[small])
    count_of = dict(zip(ids, counts))
    test_ids, n_test = set(), 0
    for c in cand:
        if n_test >= test_frac * len(df):
            break
        test_ids.add(c)
        n_test += count_of[c]
    return np.isin(clusters, list(test_ids)), clusters


# ----------------------------------------------------------------------------------------------------------
# EC helpers
# ----------------------------------------------------------------------------------------------------------


def ec_prefixes(ec: str) -> list[str]:
    """Prefixes of an EC number from most to least specific, e.g. ``"1.1.1.1"`` → 4-, 3-, 2-, 1-level.

    Partial numbers (``"1.1.1.-"``) and lists (``"1.1.1.1; 1.1.1.2"``, first one used) are tolerated.
    """
    ec = str(ec or "").replace(",", ";").split(";")[0].strip()
    parts = [p for p in ec.split(".") if p and p != "-"]
    return [".".join(parts[:i]) for i in range(len(parts), 0, -1)]


class ECMedian:
    """Baseline: median log10 kcat of training rows with the same EC, falling back to broader EC levels."""

    def fit(self, ec: list[str], y: np.ndarray) -> ECMedian:
        """Collect per-prefix medians."""
        frame = pd.DataFrame({"ec": list(ec), "y": y})
        self.global_median = float(np.median(y))
        self.table: dict[str, float] = {}
        values: dict[str, list[float]] = {}
        for e, v in zip(frame["ec"], frame["y"]):
            for p in ec_prefixes(e):
                values.setdefault(p, []).append(v)
        self.table = {p: float(np.median(v)) for p, v in values.items()}
        return self

    def predict(self, ec: list[str]) -> np.ndarray:
        """Median of the most specific EC prefix seen in training (global median if none)."""
        out = np.full(len(ec), self.global_median)
        for i, e in enumerate(ec):
            for p in ec_prefixes(e):
                if p in self.table:
                    out[i] = self.table[p]
                    break
        return out


# ----------------------------------------------------------------------------------------------------------
# corpus splits: each holds out whole groups
# ----------------------------------------------------------------------------------------------------------


def group_holdout(groups: np.ndarray, frac: float, seed: int = 0, max_group_frac: float = 0.02,
                  never: object = None) -> np.ndarray:
    """Hold out whole groups, in random order, until ``frac`` of the rows are held out.

    Parameters
    ----------
    groups : numpy.ndarray
        Group label per row.
    frac : float
        Target held-out fraction of all rows.
    seed : int
    max_group_frac : float
        Groups larger than this fraction of the rows always stay in (one would dominate the held-out set).
    never : object, optional
        A label that is never held out (e.g. ``""`` for rows without a group).

    Returns
    -------
    numpy.ndarray
        Boolean held-out mask.
    """
    groups = np.asarray(groups, dtype=object)
    ids, counts = np.unique(groups.astype(str), return_counts=True)
    ok = counts <= max_group_frac * len(groups)
    if never is not None:
        ok &= ids != str(never)
    rng = np.random.default_rng(seed)
    cand = rng.permutation(np.flatnonzero(ok))
    chosen, n = [], 0
    for i in cand:
        if n >= frac * len(groups):
            break
        chosen.append(ids[i])
        n += counts[i]
    return np.isin(groups.astype(str), chosen)


def ec3_groups(ecs: list[str]) -> np.ndarray:
    """EC-3 class per row (``""`` when the EC has fewer than three levels)."""
    out = []
    for e in ecs:
        p = ec_prefixes(e)
        out.append(next((x for x in p if x.count(".") == 2), ""))
    return np.asarray(out, dtype=object)


def scaffold_groups(smiles: list[str]) -> np.ndarray:
    """Bemis-Murcko scaffold of each substrate; an acyclic substrate is its own group (``"acyclic:<smiles>"``)."""
    from rdkit import Chem, rdBase
    from rdkit.Chem.Scaffolds import MurckoScaffold

    cache: dict[str, str] = {}
    out = []
    with rdBase.BlockLogs():
        for s in smiles:
            if s not in cache:
                m = Chem.MolFromSmiles(s)
                sc = ""
                if m is not None:
                    try:
                        sc = Chem.MolToSmiles(MurckoScaffold.GetScaffoldForMol(m))
                    except Exception:  # noqa: BLE001 - odd valences: fall back to the molecule itself
                        sc = ""
                cache[s] = sc or f"acyclic:{s}"
            out.append(cache[s])
    return np.asarray(out, dtype=object)


def corpus_sequence_clusters(df: pd.DataFrame, k: int = 5, min_shared: float = 0.05) -> np.ndarray:
    """Sequence cluster per corpus row (``-1`` for rows without a sequence), as :func:`sequence_clusters`."""
    has = (df["sequence"] != "").to_numpy()
    out = np.full(len(df), -1, dtype=np.int64)
    if has.any():
        sub = df[has]
        out[has] = sequence_clusters(sub["sequence"].tolist(), k=k, min_shared=min_shared,
                                     groups=sub["uniprot"].tolist() if "uniprot" in sub else None)
    return out
