"""The kcat table of a model: pairs -> predictions -> fallbacks -> one validated table.

Library use::

    from kingems_ray.kcat.build_table import build_kcat_table
    table = build_kcat_table("textbook", sequences="ecoli_gp.faa.gz")   # default checkpoint

CLI (``kingems-ray kcats MODEL [--sequences FASTA_OR_TABLE] [--checkpoint CKPT] --out TABLE.parquet``) goes
through :func:`main`. The work is split in :func:`prepare_rows` (no predictor), the predictions for the unique
row keys (:data:`KEY_FIELDS`: sequence, substrate SMILES, reaction SMILES, EC, organism, lineage), and
:func:`finish_table`, so that the Ray path (:mod:`kingems_ray.kcat.actor`) can predict many models' keys at
once and still produce exactly the same table. Nothing here imports Ray.

Predictors with ``predict_rows(rows)`` (the reaction-aware ``KcatPredictor``) get every row that has anything
to score, with or without a sequence; a row without a sequence is scored in the predictor's sequence-free mode
(``source = "prediction_sequence_free"``). Predictors with only ``predict(sequences, smiles)`` get the rows
that have both, as before. Whatever the predictor cannot score falls back (:mod:`.fallback`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import re
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
from .mw_stats import EcMwStats
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
    "source", "status", "ec", "mw_source", "ec_source", "reaction_smiles", "input_status",
    "log10_kcat_std", "spread_kind",
]
#: ``spread_kind`` of a prediction row: its ``log10_kcat_std`` is the checkpoint's calibrated spread, or the raw
#: ensemble disagreement (a checkpoint without a calibration); "" on fallback rows (their spread is ``kcat_std``).
SPREAD_KINDS = ("calibrated", "ensemble", "")
#: kcat sources, best first (a reaction-gene pair counts by its best row).
KCAT_SOURCES = ["prediction", "prediction_sequence_free", "database_substrate", "database_ec",
                "ec_class_median", "global_median"]
#: Fields of a row key, in order: what a ``predict_rows`` predictor is given ("" when unknown).
KEY_FIELDS = ("sequence", "smiles", "reaction_smiles", "ec", "organism", "lineage")

Key = tuple[str, ...]  # one value per KEY_FIELDS; key[0] is the sequence and key[1] the substrate SMILES
#: A prediction for a key: (kcat, kcat_std, status, mode[, log10_kcat_std]); mode "sequence" / "sequence_free"
#: / "".
Prediction = tuple


class Predictor(Protocol):
    """Anything with the ``KcatPredictor.predict`` signature (``predict_rows`` is optional)."""

    def predict(self, sequences: list[str], smiles: list[str]) -> pd.DataFrame:  # pragma: no cover - protocol
        """Return one row per pair with ``kcat, kcat_std, status`` (and log10 columns)."""
        ...


_EC_VALID = re.compile(r"^[1-7](\.(\d+|-|n\d*)){0,3}$")


def _hash01(text: str) -> float:
    return int(hashlib.md5(text.encode()).hexdigest()[:8], 16) / 2**32


class HashPredictor:
    """Deterministic stand-in for ``KcatPredictor``: log10 kcat in [-1, 3) from a hash of each pair.

    For plumbing checks (tests, ``--fake`` in the benchmark scripts) without a checkpoint: same signatures and
    columns as the real predictor (``predict`` and ``predict_rows``), no learning.

    Parameters
    ----------
    log10_std : float
        The spread reported for every sequence-mode pair [log10 units]; sequence-free rows report twice it.
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
            lg = -1.0 + 4.0 * _hash01(f"{seq}|{smi}")
            rows.append((lg, sd, 10**lg, 10**lg * math.log(10) * sd, "ok"))
        return pd.DataFrame(rows, columns=["log10_kcat_mean", "log10_kcat_std", "kcat", "kcat_std", "status"])

    def predict_rows(self, rows: pd.DataFrame, batch_size: int = 4096) -> pd.DataFrame:
        """The ``KcatPredictor.predict_rows`` contract: rows with any of ``sequence, smiles, reaction_smiles,
        ec, organism, lineage`` -> ``log10_kcat_mean, log10_kcat_std, kcat, kcat_std, mode, status``.

        ``mode`` is ``sequence`` for a valid protein sequence, ``sequence_free`` when there is none but a
        valid substrate SMILES, reaction SMILES or EC (class 1-7); otherwise the row is not scored and its
        status says why (``invalid_reaction_smiles``, ``unknown_ec``, ``no_features``).
        """
        n = len(rows)

        def col(name: str) -> list[str]:
            if name not in rows.columns:
                return [""] * n
            return ["" if not isinstance(v, str) else v.strip() for v in rows[name].tolist()]

        seqs, smis, rxns, ecs = col("sequence"), col("smiles"), col("reaction_smiles"), col("ec")
        out = []
        for seq, smi, rxn, ec in zip(seqs, smis, rxns, ecs):
            smi_ok = bool(smi) and check_smiles(smi) == "ok"
            rxn_ok = _reaction_ok(rxn)
            ec_ok = [e for e in ec.split(";") if _EC_VALID.match(e.strip())]
            if seq and check_sequence(seq) == "ok":
                mode, sd = "sequence", self.log10_std
                text = f"{seq}|{smi if smi_ok else ''}|{rxn if rxn_ok else ''}"
            elif smi_ok or rxn_ok or ec_ok:
                mode, sd = "sequence_free", 2 * self.log10_std
                text = f"|{smi if smi_ok else ''}|{rxn if rxn_ok else ''}|{';'.join(ec_ok)}"
            else:
                reason = ("invalid_reaction_smiles" if rxn else "unknown_ec" if ec else
                          "invalid_smiles" if smi else "no_features")
                out.append((math.nan, math.nan, math.nan, math.nan, "", reason))
                continue
            lg = -1.0 + 4.0 * _hash01(text)
            out.append((lg, sd, 10**lg, 10**lg * math.log(10) * sd, mode, "ok"))
        return pd.DataFrame(out, columns=["log10_kcat_mean", "log10_kcat_std", "kcat", "kcat_std", "mode",
                                          "status"])


def _reaction_ok(rxn: str) -> bool:
    """Whether a reaction SMILES has two non-empty sides whose molecules all parse."""
    if not rxn or rxn.count(">>") != 1:
        return False
    left, right = rxn.split(">>")
    mols = [m for side in (left, right) for m in side.split(".")]
    return bool(left) and bool(right) and all(m and check_smiles(m) == "ok" for m in mols)


@dataclass
class PreparedRows:
    """Rows of a model before prediction.

    Attributes
    ----------
    rows : DataFrame
        One row per (reaction, direction, substrate, gene) with ``sequence, smiles, reaction_smiles, ec``,
        ``input_status`` (``"ok"`` when sequence and substrate structure are both usable, else the reason:
        ``no_sequence``, ``invalid_sequence``, ``no_structure``, ``invalid_smiles``), ``status`` (a copy of
        it), ``key_id`` (index into ``keys``; -1 for a row with nothing to score) and pair columns.
    keys : list of tuple
        Unique row keys (:data:`KEY_FIELDS`; ``""`` for an unknown field; an unusable sequence or SMILES is
        blanked), in first-appearance order.
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


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def prepare_rows(
    model: Any,
    sequences: Any = None,
    options: PairOptions | None = None,
    resolver: StructureResolver | None = None,
    organism: str | None = None,
    lineage: str | None = None,
) -> PreparedRows:
    """Pairs of a model with their sequence, structures, ECs, a per-row status and row keys, ready to predict.

    Parameters
    ----------
    model : cobra.Model or str or Path
        A model or anything :func:`kingems_ray.gem.io.load_model` accepts.
    sequences : dict or str or Path, optional
        Gene id -> sequence, or a FASTA / table file (see :func:`read_sequences`). Model genes are matched by
        id and by annotation aliases (see :func:`gene_sequences`).
    options : PairOptions, optional
    resolver : StructureResolver, optional
    organism, lineage : str, optional
        Passed to ``predict_rows`` predictors (lineage: taxonomy joined by ``;``).

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
    rows["input_status"] = status
    rows["status"] = status
    org, lin = _text(organism), _text(lineage)
    keys: dict[Key, int] = {}
    key_ids = []
    for g, m, seq, smi, rxn, ec in zip(rows["gene_id"], rows["substrate"], rows["sequence"], rows["smiles"],
                                       rows["reaction_smiles"], rows["ec"]):
        key = (
            _text(seq) if seq_status[g] == "ok" else "",
            _text(smi) if smi_status[m] == "ok" else "",
            _text(rxn), _text(ec), org, lin,
        )
        if not any(key[:4]):
            key_ids.append(-1)
            continue
        key_ids.append(keys.setdefault(key, len(keys)))
    rows["key_id"] = key_ids
    return PreparedRows(rows=rows, keys=list(keys), model_id=str(getattr(model, "id", "") or ""))


def keys_frame(keys: list[Key]) -> pd.DataFrame:
    """Row keys as the input DataFrame of ``predict_rows`` (columns :data:`KEY_FIELDS`)."""
    return pd.DataFrame(list(keys), columns=list(KEY_FIELDS)) if keys else pd.DataFrame(columns=list(KEY_FIELDS))


def predict_keys(predictor: Predictor, keys: list[Key], batch_size: int = 2048) -> dict[Key, Prediction]:
    """Run a predictor over unique row keys in chunks.

    A predictor with ``predict_rows`` gets every key; one with only ``predict`` gets the keys that have both a
    sequence and a substrate SMILES (the others get an empty status and stay unscored).

    Returns
    -------
    dict
        key -> ``(kcat, kcat_std, status, mode)``.
    """
    out: dict[Key, Prediction] = {}
    # Batches of one enzyme's pairs: the predictor featurises each distinct sequence once per call.
    keys = sorted(keys)
    if hasattr(predictor, "predict_rows"):
        for start in range(0, len(keys), batch_size):
            chunk = keys[start : start + batch_size]
            res = predictor.predict_rows(keys_frame(chunk), batch_size=batch_size)
            out.update(zip(chunk, result_tuples(res, len(chunk), chunk)))
        return out
    scorable = [k for k in keys if k[0] and k[1]]
    for k in keys:
        if not (k[0] and k[1]):
            out[k] = (math.nan, math.nan, "", "")
    pairs = list(dict.fromkeys((k[0], k[1]) for k in scorable))
    by_pair: dict[tuple[str, str], Prediction] = {}
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        res = predictor.predict([k[0] for k in chunk], [k[1] for k in chunk])
        by_pair.update(zip(chunk, result_tuples(res, len(chunk))))
    for k in scorable:
        out[k] = by_pair[(k[0], k[1])]
    return out


def predictor_spread_kind(predictor) -> str:
    """``"calibrated"`` when the predictor's ensemble carries a std calibration (its ``log10_kcat_std`` is then
    the calibrated spread), ``"ensemble"`` for an ensemble without one, ``""`` when unknown (no ensemble). A
    predictor that serves from elsewhere (Ray actors) says so itself in a ``spread_kind`` attribute."""
    told = getattr(predictor, "spread_kind", None)
    if isinstance(told, str):
        return told
    ens = getattr(predictor, "ensemble", None)
    if ens is None:
        return ""
    return "calibrated" if getattr(ens, "calibration", None) else "ensemble"


def result_tuples(res: pd.DataFrame, n: int, keys: list[Key] | None = None) -> list[Prediction]:
    """Turn a predictor's DataFrame into ``(kcat, kcat_std, status, mode, log10_kcat_std)`` tuples, checking its
    length (``log10_kcat_std`` NaN when the predictor gives none).

    ``mode`` comes from the predictor's ``mode`` column; without one it is ``sequence`` for a key with a
    sequence and ``sequence_free`` for one without (``sequence`` when no keys are given).
    """
    if len(res) != n:
        raise KingemsError(f"predictor returned {len(res)} rows for {n} inputs")
    kc = pd.to_numeric(res["kcat"], errors="coerce").to_numpy(dtype=float)
    sd = (pd.to_numeric(res["kcat_std"], errors="coerce").to_numpy(dtype=float) if "kcat_std" in res
          else np.full(n, np.nan))
    ls = (pd.to_numeric(res["log10_kcat_std"], errors="coerce").to_numpy(dtype=float) if "log10_kcat_std" in res
          else np.full(n, np.nan))
    st = res["status"].fillna("").astype(str).tolist() if "status" in res else ["ok"] * n
    if "mode" in res:
        modes = res["mode"].fillna("").astype(str).tolist()
    elif keys is not None:
        modes = ["sequence" if k[0] else "sequence_free" for k in keys]
    else:
        modes = ["sequence"] * n
    return [(float(a), float(b), str(c), str(m), float(e)) for a, b, c, m, e in zip(kc, sd, st, modes, ls)]


def _combine_status(input_status: str, predictor_status: str) -> str:
    parts = [s for s in (input_status, predictor_status) if s and s != "ok"]
    return ";".join(dict.fromkeys(parts)) or "prediction_not_finite"


def finish_table(
    prepared: PreparedRows,
    predictions: dict[Key, tuple] | None,
    database: KcatDatabase | None = None,
    organism: str | None = None,
    keep_shadowed: bool = False,
    mw_stats: EcMwStats | None = None,
    spread_kind: str = "",
) -> pd.DataFrame:
    """Combine predictions and fallbacks into the kcat table.

    Parameters
    ----------
    prepared : PreparedRows
    predictions : dict or None
        key -> ``(kcat, kcat_std, status[, mode])``; ``None`` means no predictor (status ``no_predictor`` on
        rows that could have been predicted). Without ``mode`` a key with a sequence counts as ``sequence``.
    database : KcatDatabase, optional
        Default: :meth:`KcatDatabase.default`.
    organism : str, optional
        Preferred organism for database values.
    keep_shadowed : bool
        Keep fallback rows of substrates whose (reaction, gene, direction) has a predicted row (dropped by
        default; their number is in ``table.attrs["dropped_shadowed_rows"]``).
    mw_stats : EcMwStats, optional
        MW by EC class for genes without a sequence; default :meth:`EcMwStats.packaged`.
    spread_kind : str
        What the predictor's ``log10_kcat_std`` is (:data:`SPREAD_KINDS`: ``"calibrated"`` or ``"ensemble"``;
        ``""`` unknown), written to the ``spread_kind`` column of every prediction row that has one.

    Returns
    -------
    DataFrame
        Columns :data:`TABLE_COLUMNS`; ``source`` is ``prediction`` / ``prediction_sequence_free`` or the
        fallback used; ``status`` is ``ok`` for predictions and the reason(s) for every fallback row (the
        row's ``input_status`` and the predictor's own reason, joined by ``;``); ``mw_source`` is
        ``sequence``, ``ec4_median`` ... ``global_median`` (or ``default`` without statistics).
        ``table.attrs["source_breakdown"]`` holds :func:`summarize`.
    """
    database = database if database is not None else KcatDatabase.default()
    mw_stats = mw_stats if mw_stats is not None else EcMwStats.packaged()
    rows = prepared.rows
    n = len(rows)
    kcat = np.full(n, np.nan)
    kstd = np.full(n, np.nan)
    lstd = np.full(n, np.nan)
    source = np.empty(n, dtype=object)
    input_status = rows["input_status"].to_numpy(dtype=object)
    status = input_status.copy()
    key_ids = rows["key_id"].to_numpy() if "key_id" in rows else np.full(n, -1)
    keys = prepared.keys
    cache: dict[tuple[str, str], FallbackValue] = {}
    for i, (kid, ist, ec, sub) in enumerate(zip(key_ids, input_status, rows["ec"], rows["substrate_base"])):
        if predictions is None:
            if ist == "ok":
                status[i] = "no_predictor"
        elif kid >= 0:
            key = keys[kid]
            # A key the predictor did not answer: "not_predicted" unless the row's inputs already say why.
            pred = predictions.get(key, (math.nan, math.nan, "not_predicted" if ist == "ok" else ""))
            k, s, pst = pred[0], pred[1], pred[2]
            mode = pred[3] if len(pred) > 3 and pred[3] else ("sequence" if key[0] else "sequence_free")
            if pst == "ok" and math.isfinite(k) and k > 0:
                kcat[i], kstd[i], status[i] = k, s, "ok"
                lstd[i] = pred[4] if len(pred) > 4 else math.nan
                source[i] = "prediction" if mode == "sequence" else "prediction_sequence_free"
                continue
            status[i] = _combine_status(ist, pst)
        fkey = (ec, sub)
        if fkey not in cache:
            cache[fkey] = database.lookup([e for e in ec.split(";") if e], sub, organism)
        fb = cache[fkey]
        kcat[i], kstd[i], source[i] = fb.kcat, fb.kcat_std, fb.source
    mws, mw_src = _molecular_weights(rows, mw_stats)
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
            "mw_source": mw_src,
            "ec_source": (rows["ec_source"] if "ec_source" in rows else pd.Series("", index=rows.index)).to_numpy(),
            "reaction_smiles": (rows["reaction_smiles"] if "reaction_smiles" in rows
                                else pd.Series("", index=rows.index)).to_numpy(dtype=object),
            "input_status": input_status,
            "log10_kcat_std": lstd,
            "spread_kind": np.where(np.isfinite(lstd), spread_kind, "").astype(object),
        }
    )
    dropped = 0
    if not keep_shadowed:
        # A substrate row that fell back while another substrate of the same (reaction, gene, direction) was
        # predicted would mix a database/median value into the per-pair aggregate (max over substrates):
        # drop it, as the reference pipeline has no row for a substrate without a structure.
        pred = table["source"].str.startswith("prediction")
        group = ["reaction_id", "gene_id", "direction"]
        has_pred = pred.groupby([table[k] for k in group]).transform("any")
        shadow = has_pred & ~pred
        dropped = int(shadow.sum())
        table = table[~shadow]
    out = validate_table(table, name=f"kcat table of {prepared.model_id or 'model'}")[TABLE_COLUMNS]
    out.attrs["dropped_shadowed_rows"] = dropped
    out.attrs["source_breakdown"] = summarize(out)
    return out


def _molecular_weights(rows: pd.DataFrame, mw_stats: EcMwStats) -> tuple[np.ndarray, np.ndarray]:
    """MW and its source per row: the gene's sequence, else the EC-class statistics of the reaction's ECs."""
    n = len(rows)
    mws = np.full(n, np.nan)
    src = np.empty(n, dtype=object)
    mw_by_seq: dict[str, float] = {}
    by_ec: dict[str, tuple[float, str]] = {}
    for i, (seq, ec) in enumerate(zip(rows["sequence"], rows["ec"])):
        if isinstance(seq, str) and seq:
            if seq not in mw_by_seq:
                try:
                    mw_by_seq[seq] = sequence_mw(seq)
                except ValueError:
                    mw_by_seq[seq] = math.nan
            if math.isfinite(mw_by_seq[seq]):
                mws[i], src[i] = mw_by_seq[seq], "sequence"
                continue
        if ec not in by_ec:
            by_ec[ec] = mw_stats.lookup(ec.split(";"))
        mws[i], src[i] = by_ec[ec]
    return mws, src


def build_kcat_table(
    model: Any,
    sequences: Any = None,
    predictor: Predictor | str | None = "default",
    *,
    checkpoint: str | Path | None = None,
    device: str | None = None,
    organism: str | None = None,
    lineage: str | None = None,
    options: PairOptions | None = None,
    database: KcatDatabase | None = None,
    resolver: StructureResolver | None = None,
    mw_stats: EcMwStats | None = None,
    batch_size: int = 2048,
) -> pd.DataFrame:
    """The kcat table of one model, in-process.

    Parameters
    ----------
    model : cobra.Model or str or Path
    sequences : dict or str or Path, optional
        Gene sequences (see :func:`prepare_rows`); without them, a ``predict_rows`` predictor scores the rows
        in its sequence-free mode and other predictors leave them to the fallbacks.
    predictor : object with ``predict`` (and optionally ``predict_rows``), ``"default"`` or None
        ``"default"`` loads ``KcatPredictor.from_checkpoint(checkpoint, device)``; ``None`` skips predictions.
    checkpoint, device
        For the default predictor.
    organism : str, optional
        The model's organism (e.g. ``"Escherichia coli"``): preferred for database fallbacks and given to
        ``predict_rows``.
    lineage : str, optional
        Taxonomy joined by ``;``, given to ``predict_rows``.
    options : PairOptions, optional
    database : KcatDatabase, optional
    resolver : StructureResolver, optional
    mw_stats : EcMwStats, optional
    batch_size : int
        Rows per predictor call.

    Returns
    -------
    DataFrame
        See :func:`finish_table`.
    """
    prepared = prepare_rows(model, sequences, options, resolver, organism=organism, lineage=lineage)
    predictions = None
    if predictor is not None and prepared.keys:
        if isinstance(predictor, str):
            predictor = load_default_predictor(checkpoint, device)
        predictions = predict_keys(predictor, prepared.keys, batch_size=batch_size)
    elif predictor is not None:
        predictions = {}
    return finish_table(prepared, predictions, database, organism, mw_stats=mw_stats,
                        spread_kind=predictor_spread_kind(predictor))


def summarize(table: pd.DataFrame) -> dict[str, Any]:
    """Counts for reports: pairs per kcat source, genes per MW source, reactions per EC source, row statuses.

    A reaction–gene pair (per direction) counts by its best row: any prediction (sequence mode before
    sequence-free), then database before class / global medians.
    """
    order = KCAT_SOURCES
    rank = table["source"].map({s: i for i, s in enumerate(order)})
    best = rank.groupby([table["reaction_id"], table["gene_id"], table["direction"]]).min()
    pair_counts = best.map(dict(enumerate(order))).value_counts().reindex(order, fill_value=0)
    out: dict[str, Any] = {
        "rows": len(table),
        "pairs": int(len(best)),
        "pairs_by_source": {k: int(v) for k, v in pair_counts.items()},
        "rows_by_source": {k: int(v) for k, v in table["source"].value_counts().items()},
        "rows_by_status": {k: int(v) for k, v in table["status"].value_counts().items()},
    }
    if "mw_source" in table:
        genes = table.groupby("gene_id")["mw_source"].first()
        out["genes"] = int(len(genes))
        out["genes_by_mw_source"] = {k: int(v) for k, v in genes.value_counts().items()}
    if "ec_source" in table:
        rxns = table.groupby("reaction_id")["ec_source"].first()
        out["reactions"] = int(len(rxns))
        out["reactions_by_ec_source"] = {k: int(v) for k, v in rxns.value_counts().items()}
    return out


HELP = "build the kcat table of a model (predictions, database and median fallbacks) as Parquet"


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """Arguments of ``kingems-ray kcats`` (for ``kingems_ray/commands/kcats.py`` and :func:`main`)."""
    ap.add_argument("model", help="SBML/JSON model file or a cobra built-in name (textbook, e_coli_core)")
    ap.add_argument("--sequences", help="protein FASTA or CSV/TSV table keyed by gene id")
    ap.add_argument("--checkpoint", help="predictor checkpoint (default: the package's kcat_default)")
    ap.add_argument("--device", help="torch device for the predictor (default: auto)")
    ap.add_argument("--organism", help="the model's organism, e.g. 'Escherichia coli' (database preference and "
                    "a predictor feature)")
    ap.add_argument("--lineage", help="the organism's taxonomy joined by ';' (a predictor feature)")
    ap.add_argument("--no-predict", action="store_true", help="database / median fallbacks only")
    ap.add_argument("--exclude-cofactors", action="store_true",
                    help="drop ATP, NAD(P)H, CoA, ... as substrates")
    ap.add_argument("--keep-shadowed", action="store_true",
                    help="keep fallback rows of substrates whose reaction-gene pair has a prediction")
    ap.add_argument("--ec-from", action="append", default=[], metavar="MODEL",
                    help="borrow EC annotations by reaction id from this model (repeatable) for reactions "
                    "without their own, e.g. iML1515 for e_coli_core")
    ap.add_argument("--no-ec-xref", action="store_true",
                    help="do not look up missing ECs in the packaged BiGG / MetaNetX reaction-id table")
    ap.add_argument("--batch-size", type=int, default=2048)
    ap.add_argument("--out", required=True, help="output table (.parquet, or .csv); the source breakdown goes "
                    "to OUT.sources.json beside it")


def format_breakdown(s: dict[str, Any]) -> str:
    """The source breakdown of :func:`summarize` as a few printable lines."""
    def pct(counts: dict[str, int], total: int) -> str:
        return ", ".join(f"{k} {v} ({100 * v / max(total, 1):.0f} %)" for k, v in counts.items() if v)

    lines = [f"kcat source (reaction-gene-direction pairs, {s['pairs']}): "
             f"{pct(s['pairs_by_source'], s['pairs'])}"]
    if "genes_by_mw_source" in s:
        lines.append(f"mw source (genes, {s['genes']}): {pct(s['genes_by_mw_source'], s['genes'])}")
    if "reactions_by_ec_source" in s:
        lines.append(f"ec source (reactions with a GPR, {s['reactions']}): "
                     f"{pct(s['reactions_by_ec_source'], s['reactions'])}")
    lines.append("row status: " + ", ".join(f"{k} {v}" for k, v in s["rows_by_status"].items()))
    return "\n".join(lines)


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
    options = PairOptions(exclude_cofactors=args.exclude_cofactors, ec_map=ec_map,
                          ec_xref=not getattr(args, "no_ec_xref", False))
    try:
        prepared = prepare_rows(args.model, args.sequences, options, organism=args.organism,
                                lineage=getattr(args, "lineage", None))
    except UnicodeDecodeError as exc:  # the model reader raises ModelLoadError: this is the sequences file
        raise KingemsError(f"{args.sequences}: cannot read protein sequences (not UTF-8 text: {exc.reason})") from exc
    predictions = None
    if predictor is not None:
        predictions = predict_keys(predictor, prepared.keys, batch_size=args.batch_size)
    table = finish_table(prepared, predictions, KcatDatabase.default(), args.organism,
                         keep_shadowed=args.keep_shadowed, spread_kind=predictor_spread_kind(predictor))
    write_kcat_table(table, args.out)
    s = summarize(table)
    s["dropped_shadowed_rows"] = table.attrs.get("dropped_shadowed_rows", 0)
    s["model"] = str(args.model)
    sidecar = Path(str(args.out) + ".sources.json")
    sidecar.write_text(json.dumps(s, indent=1) + "\n")
    print(f"{args.out}: {s['rows']} rows, {s['pairs']} reaction-gene-direction pairs "
          f"in {time.perf_counter() - t0:.1f} s (breakdown in {sidecar})")
    print(format_breakdown(s))
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
