"""The kcat table of a model: pairs -> predictions -> fallbacks -> one validated table.

Library use::

    from kingems_ray.kcat.build_table import build_kcat_table
    table = build_kcat_table("textbook", sequences="ecoli_gp.faa.gz")   # default checkpoint

CLI (``kingems-ray kcats MODEL [--sequences FASTA_OR_TABLE] [--checkpoint CKPT] --out TABLE.parquet``) goes
through :func:`main`. The work is split in :func:`prepare_rows` (no predictor), the predictions for the unique
``(sequence, smiles)`` keys, and :func:`finish_table`, so that the Ray path (:mod:`kingems_ray.kcat.actor`)
can predict many models' keys at once and still produce exactly the same table. Nothing here imports Ray.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import math
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from ..ec.kcats import sequence_mw, validate_table, write_kcat_table
from ..errors import KingemsError
from .fallback import FallbackValue, KcatDatabase
from .pairs import (
    PairOptions,
    attach_structures,
    check_sequence,
    gene_sequences,
    model_pairs,
    reaction_ec_map,
    read_sequences,
)
from .structures import StructureResolver, check_smiles

log = logging.getLogger(__name__)

#: Columns of the output table, in order (the kcat table format of :mod:`kingems_ray.ec.kcats` + extras).
TABLE_COLUMNS = [
    "reaction_id", "gene_id", "direction", "kcat", "kcat_std", "substrate", "smiles", "sequence", "mw",
    "source", "status", "ec",
]

Key = tuple[str, str]  # (sequence, smiles)


class Predictor(Protocol):
    """Anything with the ``KcatPredictor.predict`` signature."""

    def predict(self, sequences: list[str], smiles: list[str]) -> pd.DataFrame:  # pragma: no cover - protocol
        """Return one row per pair with ``kcat, kcat_std, status`` (and log10 columns)."""
        ...


class HashPredictor:
    """Deterministic stand-in for ``KcatPredictor``: log10 kcat in [-1, 3) from a hash of each pair.

    For plumbing checks (tests, ``--fake`` in the benchmark scripts) without a checkpoint: same signature and
    columns as the real predictor, an ``empty_sequence`` status for a missing sequence, no learning.

    Parameters
    ----------
    log10_std : float
        The spread reported for every pair [log10 units].
    """

    def __init__(self, log10_std: float = 0.3) -> None:
        self.log10_std = log10_std

    def predict(self, sequences: list[str], smiles: list[str]) -> pd.DataFrame:
        """One row per pair: ``log10_kcat_mean, log10_kcat_std, kcat, kcat_std, status``."""
        sd = self.log10_std
        rows = []
        for seq, smi in zip(sequences, smiles):
            if not seq:
                rows.append((math.nan, math.nan, math.nan, math.nan, "empty_sequence"))
                continue
            h = int(hashlib.md5(f"{seq}|{smi}".encode()).hexdigest()[:8], 16) / 2**32
            lg = -1.0 + 4.0 * h
            rows.append((lg, sd, 10**lg, 10**lg * math.log(10) * sd, "ok"))
        return pd.DataFrame(rows, columns=["log10_kcat_mean", "log10_kcat_std", "kcat", "kcat_std", "status"])


@dataclass
class PreparedRows:
    """Rows of a model before prediction.

    Attributes
    ----------
    rows : DataFrame
        One row per (reaction, direction, substrate, gene) with ``sequence, smiles, status`` (``"ok"`` when
        the pair can be predicted, else the reason) and pair columns.
    keys : list of (str, str)
        Unique ``(sequence, smiles)`` keys of the ``ok`` rows, in first-appearance order.
    model_id : str
    """

    rows: pd.DataFrame
    keys: list[Key]
    model_id: str = ""


def load_default_predictor(checkpoint: str | Path | None = None, device: str | None = None) -> Predictor:
    """Load ``KcatPredictor`` from a checkpoint (the package default when ``checkpoint`` is None).

    Imported lazily: the predictor pulls in torch and the protein language model.
    """
    from .predict import KcatPredictor  # heavy (torch, ESM): only when predictions are wanted

    return KcatPredictor.from_checkpoint(path=checkpoint, device=device)


def _as_model(model: Any):
    if isinstance(model, (str, Path)):
        from ..gem.io import load_model

        return load_model(model)
    return model


def _as_sequences(model, sequences: Any) -> dict[str, str]:
    if sequences is None:
        return {}
    if isinstance(sequences, (str, Path)):
        sequences = read_sequences(sequences)
    return gene_sequences(model, dict(sequences))


def prepare_rows(
    model: Any,
    sequences: Any = None,
    options: PairOptions | None = None,
    resolver: StructureResolver | None = None,
) -> PreparedRows:
    """Pairs of a model with their sequence, structure and a per-row status, ready to predict.

    Parameters
    ----------
    model : cobra.Model or str or Path
        A model or anything :func:`kingems_ray.gem.io.load_model` accepts.
    sequences : dict or str or Path, optional
        Gene id -> sequence, or a FASTA / table file (see :func:`read_sequences`). Model genes are matched by
        id and by annotation aliases (see :func:`gene_sequences`).
    options : PairOptions, optional
    resolver : StructureResolver, optional

    Returns
    -------
    PreparedRows
    """
    model = _as_model(model)
    seqs = _as_sequences(model, sequences)
    rows = attach_structures(model_pairs(model, options), model, resolver)
    rows["sequence"] = rows["gene_id"].map(seqs)
    seq_status = {g: check_sequence(s) for g, s in zip(rows["gene_id"], rows["sequence"])}
    smi_status = {m: check_smiles(s) for m, s in zip(rows["substrate"], rows["smiles"])}
    # First failing reason wins: sequence problems, then structure problems.
    status = [
        seq_status[g] if seq_status[g] != "ok" else smi_status[m]
        for g, m in zip(rows["gene_id"], rows["substrate"])
    ]
    rows["status"] = status
    ok = rows["status"] == "ok"
    keys = list(dict.fromkeys(zip(rows.loc[ok, "sequence"], rows.loc[ok, "smiles"])))
    return PreparedRows(rows=rows, keys=keys, model_id=str(getattr(model, "id", "") or ""))


def predict_keys(
    predictor: Predictor, keys: list[Key], batch_size: int = 2048
) -> dict[Key, tuple[float, float, str]]:
    """Run a predictor over unique keys in chunks.

    Returns
    -------
    dict
        ``(sequence, smiles) -> (kcat, kcat_std, status)``.
    """
    out: dict[Key, tuple[float, float, str]] = {}
    # Batches of one enzyme's pairs: the predictor featurises each distinct sequence once per call.
    keys = sorted(keys)
    for start in range(0, len(keys), batch_size):
        chunk = keys[start : start + batch_size]
        res = predictor.predict([k[0] for k in chunk], [k[1] for k in chunk])
        out.update(zip(chunk, result_tuples(res, len(chunk))))
    return out


def result_tuples(res: pd.DataFrame, n: int) -> list[tuple[float, float, str]]:
    """Turn a predictor's DataFrame into ``(kcat, kcat_std, status)`` tuples, checking its length."""
    if len(res) != n:
        raise KingemsError(f"predictor returned {len(res)} rows for {n} inputs")
    kc = pd.to_numeric(res["kcat"], errors="coerce").to_numpy(dtype=float)
    sd = (pd.to_numeric(res["kcat_std"], errors="coerce").to_numpy(dtype=float) if "kcat_std" in res
          else np.full(n, np.nan))
    st = res["status"].astype(str).tolist() if "status" in res else ["ok"] * n
    return [(float(a), float(b), str(c)) for a, b, c in zip(kc, sd, st)]


def finish_table(
    prepared: PreparedRows,
    predictions: dict[Key, tuple[float, float, str]] | None,
    database: KcatDatabase | None = None,
    organism: str | None = None,
    keep_shadowed: bool = False,
) -> pd.DataFrame:
    """Combine predictions and fallbacks into the kcat table.

    Parameters
    ----------
    prepared : PreparedRows
    predictions : dict or None
        ``(sequence, smiles) -> (kcat, kcat_std, status)``; ``None`` means no predictor (status
        ``no_predictor`` on rows that could have been predicted).
    database : KcatDatabase, optional
        Default: :meth:`KcatDatabase.default`.
    organism : str, optional
        Preferred organism for database values.
    keep_shadowed : bool
        Keep fallback rows of substrates whose (reaction, gene, direction) has a predicted row (dropped by
        default; their number is in ``table.attrs["dropped_shadowed_rows"]``).

    Returns
    -------
    DataFrame
        Columns :data:`TABLE_COLUMNS`; ``source`` is ``prediction`` or the fallback used, ``status`` is ``ok``
        for predictions and the reason for every fallback row.
    """
    database = database if database is not None else KcatDatabase.default()
    rows = prepared.rows
    n = len(rows)
    kcat = np.full(n, np.nan)
    kstd = np.full(n, np.nan)
    source = np.empty(n, dtype=object)
    status = rows["status"].to_numpy(dtype=object).copy()
    cache: dict[tuple[str, str], FallbackValue] = {}
    for i, (seq, smi, st, ec, sub) in enumerate(
        zip(rows["sequence"], rows["smiles"], status, rows["ec"], rows["substrate_base"])
    ):
        if st == "ok":
            if predictions is None:
                status[i] = "no_predictor"
            else:
                k, s, pst = predictions.get((seq, smi), (math.nan, math.nan, "not_predicted"))
                if pst == "ok" and math.isfinite(k) and k > 0:
                    kcat[i], kstd[i], source[i] = k, s, "prediction"
                    continue
                status[i] = pst if pst != "ok" else "prediction_not_finite"
        fkey = (ec, sub)
        if fkey not in cache:
            cache[fkey] = database.lookup([e for e in ec.split(";") if e], sub, organism)
        fb = cache[fkey]
        kcat[i], kstd[i], source[i] = fb.kcat, fb.kcat_std, fb.source
    mw_by_seq: dict[str, float] = {}
    mws = np.full(n, np.nan)
    for i, seq in enumerate(rows["sequence"]):
        if isinstance(seq, str) and seq:
            if seq not in mw_by_seq:
                try:
                    mw_by_seq[seq] = sequence_mw(seq)
                except ValueError:
                    mw_by_seq[seq] = math.nan
            mws[i] = mw_by_seq[seq]
    table = pd.DataFrame(
        {
            "reaction_id": rows["reaction_id"].to_numpy(),
            "gene_id": rows["gene_id"].to_numpy(),
            "direction": rows["direction"].to_numpy(),
            "kcat": kcat,
            "kcat_std": kstd,
            "substrate": rows["substrate"].to_numpy(),
            "smiles": rows["smiles"].to_numpy(dtype=object),
            "sequence": rows["sequence"].to_numpy(dtype=object),
            "mw": mws,
            "source": source,
            "status": status,
            "ec": rows["ec"].to_numpy(),
        }
    )
    dropped = 0
    if not keep_shadowed:
        # A substrate row that fell back while another substrate of the same (reaction, gene, direction) was
        # predicted would mix a database/median value into the per-pair aggregate (max over substrates):
        # drop it, as the reference pipeline has no row for a substrate without a structure.
        pred = table["source"] == "prediction"
        keys = ["reaction_id", "gene_id", "direction"]
        has_pred = pred.groupby([table[k] for k in keys]).transform("any")
        shadow = has_pred & ~pred
        dropped = int(shadow.sum())
        table = table[~shadow]
    out = validate_table(table, name=f"kcat table of {prepared.model_id or 'model'}")[TABLE_COLUMNS]
    out.attrs["dropped_shadowed_rows"] = dropped
    return out


def build_kcat_table(
    model: Any,
    sequences: Any = None,
    predictor: Predictor | str | None = "default",
    *,
    checkpoint: str | Path | None = None,
    device: str | None = None,
    organism: str | None = None,
    options: PairOptions | None = None,
    database: KcatDatabase | None = None,
    resolver: StructureResolver | None = None,
    batch_size: int = 2048,
) -> pd.DataFrame:
    """The kcat table of one model, in-process.

    Parameters
    ----------
    model : cobra.Model or str or Path
    sequences : dict or str or Path, optional
        Gene sequences (see :func:`prepare_rows`); without them every row falls back.
    predictor : object with ``predict``, ``"default"`` or None
        ``"default"`` loads ``KcatPredictor.from_checkpoint(checkpoint, device)``; ``None`` skips predictions.
    checkpoint, device
        For the default predictor.
    organism : str, optional
        Preferred organism for database fallbacks (e.g. ``"Escherichia coli"``).
    options : PairOptions, optional
    database : KcatDatabase, optional
    resolver : StructureResolver, optional
    batch_size : int
        Pairs per ``predict`` call.

    Returns
    -------
    DataFrame
        See :func:`finish_table`.
    """
    prepared = prepare_rows(model, sequences, options, resolver)
    predictions = None
    if predictor is not None and prepared.keys:
        if isinstance(predictor, str):
            predictor = load_default_predictor(checkpoint, device)
        predictions = predict_keys(predictor, prepared.keys, batch_size=batch_size)
    elif predictor is not None:
        predictions = {}
    return finish_table(prepared, predictions, database, organism)


def summarize(table: pd.DataFrame) -> dict[str, Any]:
    """Counts for reports: rows and reaction–gene pairs per source, rows per status.

    A reaction–gene pair (per direction) counts as ``prediction`` when any of its substrate rows was
    predicted, else by its best fallback (database before class / global medians).
    """
    order = ["prediction", "database_substrate", "database_ec", "ec_class_median", "global_median"]
    rank = table["source"].map({s: i for i, s in enumerate(order)})
    best = rank.groupby([table["reaction_id"], table["gene_id"], table["direction"]]).min()
    pair_counts = best.map(dict(enumerate(order))).value_counts().reindex(order, fill_value=0)
    return {
        "rows": len(table),
        "pairs": int(len(best)),
        "pairs_by_source": {k: int(v) for k, v in pair_counts.items()},
        "rows_by_source": {k: int(v) for k, v in table["source"].value_counts().items()},
        "rows_by_status": {k: int(v) for k, v in table["status"].value_counts().items()},
    }


HELP = "build the kcat table of a model (predictions, database and median fallbacks) as Parquet"


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """Arguments of ``kingems-ray kcats`` (for ``kingems_ray/commands/kcats.py`` and :func:`main`)."""
    ap.add_argument("model", help="SBML/JSON model file or a cobra built-in name (textbook, e_coli_core)")
    ap.add_argument("--sequences", help="protein FASTA or CSV/TSV table keyed by gene id")
    ap.add_argument("--checkpoint", help="predictor checkpoint (default: the package's kcat_default)")
    ap.add_argument("--device", help="torch device for the predictor (default: auto)")
    ap.add_argument("--organism", help="preferred organism for database fallbacks, e.g. 'Escherichia coli'")
    ap.add_argument("--no-predict", action="store_true", help="database / median fallbacks only")
    ap.add_argument("--exclude-cofactors", action="store_true",
                    help="drop ATP, NAD(P)H, CoA, ... as substrates")
    ap.add_argument("--keep-shadowed", action="store_true",
                    help="keep fallback rows of substrates whose reaction-gene pair has a prediction")
    ap.add_argument("--ec-from", action="append", default=[], metavar="MODEL",
                    help="borrow EC annotations by reaction id from this model (repeatable) for reactions "
                    "without their own, e.g. iML1515 for e_coli_core")
    ap.add_argument("--batch-size", type=int, default=2048)
    ap.add_argument("--out", required=True, help="output table (.parquet, or .csv)")


def run(args: argparse.Namespace, predictor_loader: Callable[..., Predictor] | None = None) -> int:
    """Run ``kcats`` with parsed arguments; user errors propagate as :class:`KingemsError` & co."""
    t0 = time.perf_counter()
    if args.no_predict:
        predictor: Any = None
    else:
        loader = predictor_loader or load_default_predictor
        try:
            predictor = loader(args.checkpoint, args.device)
        except (KingemsError, FileNotFoundError):
            raise
        except Exception as exc:  # torch raises several types for a file that is not a weights-only checkpoint
            raise KingemsError(f"{args.checkpoint or 'default checkpoint'}: not a loadable kcat checkpoint "
                               f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]})") from exc
    ec_map = None
    if args.ec_from:
        from ..gem.io import load_model

        ec_map = reaction_ec_map(load_model(m) for m in args.ec_from)
    options = PairOptions(exclude_cofactors=args.exclude_cofactors, ec_map=ec_map)
    try:
        prepared = prepare_rows(args.model, args.sequences, options)
    except UnicodeDecodeError as exc:  # the model reader raises ModelLoadError: this is the sequences file
        raise KingemsError(f"{args.sequences}: cannot read protein sequences (not UTF-8 text: {exc.reason})") from exc
    predictions = None
    if predictor is not None:
        predictions = predict_keys(predictor, prepared.keys, batch_size=args.batch_size)
    table = finish_table(prepared, predictions, KcatDatabase.default(), args.organism,
                         keep_shadowed=args.keep_shadowed)
    write_kcat_table(table, args.out)
    s = summarize(table)
    print(
        f"{args.out}: {s['rows']} rows, {s['pairs']} reaction-gene-direction pairs "
        f"({', '.join(f'{k} {v}' for k, v in s['pairs_by_source'].items())}) "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    return 0


def main(argv: Iterable[str] | None = None, predictor_loader: Callable[..., Predictor] | None = None) -> int:
    """CLI: ``kcats MODEL [--sequences F] [--checkpoint CKPT] [--organism ORG] --out TABLE.parquet``.

    Returns the exit status (0 ok, 2 for a user error, printed as one line).
    """
    ap = argparse.ArgumentParser(prog="kingems-ray kcats", description=HELP)
    add_arguments(ap)
    args = ap.parse_args(list(argv) if argv is not None else None)
    try:
        return run(args, predictor_loader)
    except (KingemsError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
