"""Resumable pairwise screens over many models on one machine (multiprocessing, no Ray).

Results go to ``<out>.parts/part-*.parquet`` as each chunk of pairs finishes (written atomically), so a rerun
skips every pair already in a part; at the end the parts are merged into ``<out>`` (Parquet). Growth alone is
computed once per model (``<out>.singles.parquet``). Workers are forked after the members are loaded, so the
compiled models are shared, never re-sent per task.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing as mp
import os
import time
import uuid
from pathlib import Path

import pandas as pd

from .diets import Diet, read_diet
from .models import Member
from .pairwise import PAIR_COLUMNS, SingleGrowth, run_pair, single_growth

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


def done_pairs(out: str | Path) -> pd.DataFrame:
    """All rows already written for ``out`` (parts folder, then the merged file)."""
    out = Path(out)
    parts = Path(str(out) + ".parts")
    frames = []
    if parts.is_dir():
        frames += [pd.read_parquet(p) for p in sorted(parts.glob("part-*.parquet"))]
    if not frames and out.exists():
        frames.append(pd.read_parquet(out))
    if not frames:
        return pd.DataFrame(columns=PAIR_COLUMNS)
    return pd.concat(frames, ignore_index=True).drop_duplicates(["model_a", "model_b"], keep="last")


def compute_singles(members: list[Member], diet: Diet, processes: int = 1, coupling: float | None = 400.0,
                    cache: str | Path | None = None) -> pd.DataFrame:
    """Growth alone of every model (coupled, diet on the lumen), reusing ``cache`` rows when present."""
    diet = read_diet(diet)
    have = pd.DataFrame()
    if cache is not None and Path(cache).exists():
        have = pd.read_parquet(cache)
        have = have[have["model"].isin([m.name for m in members])]
    known = set(have["model"]) if len(have) else set()
    todo = [i for i, m in enumerate(members) if m.name not in known]
    _STATE.update(members=members, diet=diet, coupling=coupling)
    rows = list(_run(_single_task, todo, processes))
    df = pd.concat([have, pd.DataFrame(rows)], ignore_index=True) if rows else have
    if cache is not None and rows:
        df.to_parquet(cache, index=False)
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
    before = done_pairs(out)
    done = set(zip(before["model_a"], before["model_b"]))
    todo = [(i, j) for i, j in pairs if (names[i], names[j]) not in done]
    t0 = time.perf_counter()
    singles_df = compute_singles(members, diet, processes, coupling, cache=Path(str(out) + ".singles.parquet"))
    by_name = {r.model: SingleGrowth(r.model, r.growth, r.status) for r in singles_df.itertuples()}
    t_single = time.perf_counter() - t0
    _STATE.update(members=members, diet=diet, coupling=coupling, parts=str(parts),
                  singles=[by_name[n] for n in names])
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
    table = done_pairs(out)
    wanted = {(names[i], names[j]) for i, j in pairs}
    table = table[[x in wanted for x in zip(table["model_a"], table["model_b"])]].reset_index(drop=True)
    table.to_parquet(out, index=False)
    stats = {
        "n_pairs": len(pairs), "n_done_before": len(pairs) - len(todo), "n_run": n_run, "wall_s": wall,
        "singles_s": t_single, "pairs_per_s": n_run / wall if wall > 0 and n_run else float("nan"),
        "s_per_pair": wall / n_run if n_run else float("nan"), "processes": processes,
    }
    return table, stats
