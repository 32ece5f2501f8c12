"""Resumable pairwise screens over many models on one machine (multiprocessing, no Ray).

Results go to ``<out>.parts/part-*.parquet`` as each chunk of pairs finishes (written atomically), so a rerun
skips every pair already in a part; at the end the parts are merged into ``<out>`` (Parquet). Growth alone is
computed once per model (``<out>.singles.parquet``).

Reuse is keyed by content, never by name: every row carries a ``pair_key`` (singles: ``single_key``), the hash of
both members' compiled LPs (so the model file, kcats, level and pool), the diet's uptakes, the coupling and the
protocol's constants. A rerun with another diet, coupling or model recomputes; rows of other settings stay in
the parts folder and are not returned. Workers are forked after the members are loaded, so the
compiled models are shared, never re-sent per task.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import multiprocessing as mp
import os
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

from .diets import Diet, read_diet
from .models import Member
from .pairwise import PAIR_COLUMNS, SingleGrowth, run_pair, single_growth

#: Bumped when the protocol changes the numbers (old rows are then recomputed).
SCREEN_FORMAT = 1


def member_key(member: Member) -> str:
    """Hash of everything in a member that changes a screen's numbers: its LP, exchanges and biomass."""
    import scipy.sparse as sp

    cm = member.compiled
    lp = cm.lp
    A = sp.csc_matrix(lp.A)
    h = hashlib.sha256()
    for arr, dt in ((A.data, float), (A.indices, np.int64), (A.indptr, np.int64), (lp.col_lb, float),
                    (lp.col_ub, float), (lp.row_lb, float), (lp.row_ub, float), (lp.cost, float),
                    (member.ex_rxn, np.int64), (member.ex_sign, float)):
        h.update(np.ascontiguousarray(np.asarray(arr, dtype=dt)).tobytes())
        h.update(b"|")
    h.update("\0".join(map(str, cm.rxn_ids)).encode())
    h.update("\0".join(member.ex_key).encode())
    h.update(f"|{member.biomass}|{member.name}|{bool(lp.maximize)}".encode())
    return h.hexdigest()[:32]


def settings_key(diet: Diet, coupling: float | None) -> str:
    """Hash of the screen settings: the diet's uptakes, the coupling and the protocol constants."""
    from . import pairwise as pw

    consts = {k: getattr(pw, k) for k in ("COUPLING_C", "COUPLING_U", "MIN_GROWTH", "SIG_DEFAULT") if hasattr(pw, k)}
    text = json.dumps({"diet": sorted((k, float(v)) for k, v in diet.uptake.items()), "coupling": coupling,
                       "constants": consts, "format": SCREEN_FORMAT}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _key(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]

log = logging.getLogger(__name__)

_STATE: dict = {}


def _single_task(i: int) -> dict:
    st = _STATE
    return single_growth(st["members"][i], st["diet"], st["coupling"]).as_dict()


def _pair_chunk(chunk: list[tuple[int, int]]) -> tuple[int, float]:
    st = _STATE
    t0 = time.perf_counter()
    rows = []
    mem, singles = st["members"], st["singles"]
    for i, j in chunk:
        rows.append(run_pair(mem[i], mem[j], st["diet"], singles[i], singles[j], coupling=st["coupling"]))
    df = pd.DataFrame(rows, columns=PAIR_COLUMNS)
    df["pair_key"] = [st["pair_keys"][(i, j)] for i, j in chunk]
    parts = Path(st["parts"])
    tmp = parts / f".tmp-{uuid.uuid4().hex}.parquet"
    df.to_parquet(tmp, index=False)
    os.replace(tmp, parts / f"part-{uuid.uuid4().hex}.parquet")  # atomic publish
    return len(rows), time.perf_counter() - t0


def _run(func, items, processes: int):
    if processes <= 1 or len(items) <= 1:
        for it in items:
            yield func(it)
        return
    with mp.get_context("fork").Pool(processes) as pool:
        yield from pool.imap_unordered(func, items, chunksize=1)


def done_pairs(out: str | Path, keys: set[str] | None = None) -> pd.DataFrame:
    """Rows already written for ``out`` (parts folder, then the merged file); with ``keys``, only rows whose
    ``pair_key`` is one of them (rows without a key, from before keys existed, are never reused)."""
    out = Path(out)
    parts = Path(str(out) + ".parts")
    frames = []
    if parts.is_dir():
        frames += [pd.read_parquet(p) for p in sorted(parts.glob("part-*.parquet"))]
    if not frames and out.exists():
        frames.append(pd.read_parquet(out))
    if not frames:
        return pd.DataFrame(columns=[*PAIR_COLUMNS, "pair_key"])
    df = pd.concat(frames, ignore_index=True)
    if keys is not None:
        if "pair_key" not in df.columns:
            return pd.DataFrame(columns=[*PAIR_COLUMNS, "pair_key"])
        df = df[df["pair_key"].isin(keys)]
        return df.drop_duplicates(["pair_key"], keep="last")
    return df.drop_duplicates(["model_a", "model_b"], keep="last")


def compute_singles(members: list[Member], diet: Diet, processes: int = 1, coupling: float | None = 400.0,
                    cache: str | Path | None = None) -> pd.DataFrame:
    """Growth alone of every model (coupled, diet on the lumen), reusing ``cache`` rows of the same content key
    (member LP, diet, coupling: :func:`member_key`, :func:`settings_key`) when present."""
    diet = read_diet(diet)
    skey = settings_key(diet, coupling)
    keys = {m.name: _key(skey, member_key(m)) for m in members}
    have = pd.DataFrame()
    old = pd.DataFrame()
    if cache is not None and Path(cache).exists():
        old = pd.read_parquet(cache)
        if "single_key" in old.columns:
            have = old[old["single_key"].isin(set(keys.values()))].drop_duplicates("single_key", keep="last")
    known = set(have["single_key"]) if len(have) else set()
    todo = [i for i, m in enumerate(members) if keys[m.name] not in known]
    _STATE.update(members=members, diet=diet, coupling=coupling)
    rows = list(_run(_single_task, todo, processes))
    new = pd.DataFrame(rows)
    if len(new):
        new["single_key"] = new["model"].map(keys)
    df = pd.concat([have, new], ignore_index=True) if len(new) else have
    if cache is not None and len(new):
        # keep other settings' rows too (a later run with them reuses them), newest last
        pd.concat([old, new], ignore_index=True).to_parquet(cache, index=False)
    return df


def screen_pairs(
    members: list[Member],
    diet: Diet | str,
    out: str | Path,
    processes: int = 1,
    pairs: list[tuple[int, int]] | None = None,
    chunk: int = 200,
    coupling: float | None = 400.0,
    progress: bool = True,
) -> tuple[pd.DataFrame, dict]:
    """Run (or resume) a pairwise screen and merge the results into ``out``.

    Parameters
    ----------
    members : list of Member
    diet : Diet or str
    out : path
        Parquet file of the merged results; ``<out>.parts/`` holds per-chunk files while running.
    processes : int
        Worker processes (forked).
    pairs : list of (i, j), optional
        Member index pairs (default: all ``i < j``).
    chunk : int
        Pairs per work unit (one Parquet part each).

    Returns
    -------
    table : DataFrame
        One row per pair (:data:`~kingems_ray.community.pairwise.PAIR_COLUMNS`).
    stats : dict
        ``n_pairs, n_done_before, n_run, wall_s, pairs_per_s, s_per_pair, singles_s``.
    """
    diet = read_diet(diet)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    parts = Path(str(out) + ".parts")
    parts.mkdir(exist_ok=True)
    names = [m.name for m in members]
    if len(set(names)) != len(names):
        raise ValueError("model names must be unique")
    if pairs is None:
        pairs = list(itertools.combinations(range(len(members)), 2))
    skey = settings_key(diet, coupling)
    mkeys = [member_key(m) for m in members]
    pair_keys = {(i, j): _key(skey, mkeys[i], mkeys[j]) for i, j in pairs}
    before = done_pairs(out, set(pair_keys.values()))
    done = set(before["pair_key"])
    todo = [(i, j) for i, j in pairs if pair_keys[(i, j)] not in done]
    t0 = time.perf_counter()
    singles_df = compute_singles(members, diet, processes, coupling, cache=Path(str(out) + ".singles.parquet"))
    by_name = {r.model: SingleGrowth(r.model, r.growth, r.status) for r in singles_df.itertuples()}
    t_single = time.perf_counter() - t0
    _STATE.update(members=members, diet=diet, coupling=coupling, parts=str(parts),
                  singles=[by_name[n] for n in names], pair_keys=pair_keys)
    chunks = [todo[k:k + chunk] for k in range(0, len(todo), chunk)]
    n_run = 0
    t1 = time.perf_counter()
    for n, _dt in _run(_pair_chunk, chunks, processes):
        n_run += n
        if progress:
            el = time.perf_counter() - t1
            log.info("pairs %d/%d  %.1f pairs/s", n_run, len(todo), n_run / max(el, 1e-9))
            print(f"  {n_run}/{len(todo)} pairs, {el:.0f} s, {n_run / max(el, 1e-9):.1f} pairs/s", flush=True)
    wall = time.perf_counter() - t0
    table = done_pairs(out, set(pair_keys.values())).reset_index(drop=True)
    table.to_parquet(out, index=False)
    stats = {
        "n_pairs": len(pairs), "n_done_before": len(pairs) - len(todo), "n_run": n_run, "wall_s": wall,
        "singles_s": t_single, "pairs_per_s": n_run / wall if wall > 0 and n_run else float("nan"),
        "s_per_pair": wall / n_run if n_run else float("nan"), "processes": processes,
    }
    return table, stats
