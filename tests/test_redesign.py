"""Issue 11: one model spec, one solver boundary.

* ``--formulation kingems`` reaches every command that compiles (knockout, tune, maintenance) and the sweep worker,
  whose cache key now includes it;
* problems sharing one cached compiled model keep their own pool;
* ``Problem.snapshot()`` / ``restore()`` bring back the exact LP of a freshly built problem;
* no raw HiGHS handle outside ``solver/``, and ``solver/`` imports nothing from ``ec/`` (no cycle).

The kinGEMs and gecko rows give different growth on textbook at L3b with the shipped predicted kcat table
(0.486 vs 0.320), which is what tells the formulations apart below.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kingems_ray.analysis.maintenance import maintenance_sweep
from kingems_ray.cli import main as cli_main
from kingems_ray.distributed.worker import SolverWorker
from kingems_ray.ec.problem import Problem
from kingems_ray.ec.spec import EcSpec
from kingems_ray.store.cache import CompiledCache, model_content_id

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "kingems_ray"
KCATS = PKG / "data" / "kcat_default" / "textbook_kcats_predicted.parquet"
LEVEL = "L3b"


@pytest.fixture(scope="module")
def growth():
    """Growth of textbook at L3b in each formulation, built directly (the figures the commands must reproduce)."""
    out = {f: Problem(EcSpec(level=LEVEL, formulation=f, kcats=str(KCATS)).build("textbook").compiled).growth()
           for f in ("gecko", "kingems")}
    assert abs(out["gecko"] - out["kingems"]) > 0.05  # the test below can tell them apart
    return out


def _cli(*argv: str) -> None:
    assert cli_main(list(argv)) == 0


@pytest.mark.parametrize("formulation", ["gecko", "kingems"])
def test_knockout_command_honours_formulation(tmp_path, growth, formulation):
    out = tmp_path / "ko.parquet"
    _cli("knockout", "textbook", "--kcats", str(KCATS), "--level", LEVEL, "--formulation", formulation,
         "--genes", "b0008", "--out", str(out))
    assert pd.read_parquet(out)["wild_type_growth"].iloc[0] == pytest.approx(growth[formulation], rel=1e-9)


@pytest.mark.parametrize("formulation", ["gecko", "kingems"])
def test_tune_command_honours_formulation(tmp_path, growth, formulation):
    out = tmp_path / "tuned.parquet"
    _cli("tune", "textbook", "--kcats", str(KCATS), "--level", LEVEL, "--formulation", formulation,
         "--target-growth", "5", "--iterations", "1", "--out", str(out))
    traj = pd.read_parquet(tmp_path / "tuned_trajectory.parquet")
    assert traj.loc[traj["iteration"] == 0, "current_growth"].iloc[0] == pytest.approx(growth[formulation], rel=1e-9)


def test_maintenance_command_honours_formulation(tmp_path):
    got = {}
    for f in ("gecko", "kingems"):
        out = tmp_path / f"{f}.parquet"
        _cli("maintenance", "textbook", "--kcats", str(KCATS), "--level", LEVEL, "--formulation", f,
             "--ngam", "3", "--gam", "50", "--out", str(out))
        got[f] = float(pd.read_parquet(out)["growth"].iloc[0])
        cm = EcSpec(level=LEVEL, formulation=f, kcats=str(KCATS)).build("textbook").compiled
        assert got[f] == pytest.approx(float(maintenance_sweep(cm, [3.0], [50.0])["growth"].iloc[0]), rel=1e-9)
    assert abs(got["gecko"] - got["kingems"]) > 1e-3


def test_sweep_worker_honours_formulation_and_keys_it(tmp_path, growth):
    w = SolverWorker(cache_dir=tmp_path / "cache")
    mid = model_content_id("textbook")
    keys = {}
    for f in ("gecko", "kingems"):
        ec = {"kcats": str(KCATS), "level": LEVEL, "formulation": f}
        key, cm, where = w.compiled("textbook", mid, ec)
        keys[f] = key
        assert where == "compiled"
        assert Problem(cm).growth() == pytest.approx(growth[f], rel=1e-9)
    assert keys["gecko"] != keys["kingems"]
    # the key is EcSpec's: the same spec gives the same key anywhere
    assert EcSpec(level=LEVEL, kcats=str(KCATS)).cache_key(mid) == EcSpec(level=LEVEL, kcats=str(KCATS)).cache_key(mid)
    assert EcSpec(level=LEVEL).cache_key(mid) != EcSpec(level=LEVEL, formulation="kingems").cache_key(mid)


def test_spec_is_frozen_hashable_and_reads_args():
    import argparse

    from kingems_ray.ec.spec import add_model_arguments

    p = argparse.ArgumentParser()
    add_model_arguments(p)
    spec = EcSpec.from_args(p.parse_args(["textbook", "--formulation", "kingems", "--pool", "0.3"]))
    assert spec == EcSpec(pool=0.3, formulation="kingems") and hash(spec) == hash(EcSpec(pool=0.3,
                                                                                        formulation="kingems"))
    with pytest.raises(AttributeError):
        spec.level = "L2"  # type: ignore[misc]


def test_problems_sharing_a_cached_model_keep_their_own_pool(tmp_path):
    spec = EcSpec(level="L4", kcats=str(KCATS))
    cache = CompiledCache(tmp_path)
    key = spec.cache_key(model_content_id("textbook"))
    cache.put(key, spec.build("textbook").compiled)
    shared = cache.get(key)
    a, b = Problem(shared), Problem(shared)
    a.set_pool(0.05)
    b.set_pool(0.5)
    ga, gb = a.growth(), b.growth()
    assert shared.pool == 0.25 and a.pool == 0.05 and b.pool == 0.5
    for pool, g in ((0.05, ga), (0.5, gb)):
        assert g == pytest.approx(Problem(spec.with_(pool=pool).build("textbook").compiled).growth(), rel=1e-9)
    assert ga < gb
    with pytest.raises(ValueError):
        shared.fwd_col[0] = 1  # read-only arrays


def _lp_arrays(p: Problem) -> dict:
    lp = p.solver._h.getLp()  # the test reads HiGHS itself, not the wrapper's view
    A = lp.a_matrix_
    return {"col_lower": np.asarray(lp.col_lower_), "col_upper": np.asarray(lp.col_upper_),
            "row_lower": np.asarray(lp.row_lower_), "row_upper": np.asarray(lp.row_upper_),
            "cost": np.asarray(lp.col_cost_), "start": np.asarray(A.start_), "index": np.asarray(A.index_),
            "value": np.asarray(A.value_), "sense": str(lp.sense_)}


def _assert_same_lp(p: Problem, q: Problem) -> None:
    a, b = _lp_arrays(p), _lp_arrays(q)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    np.testing.assert_array_equal(p.kcats, q.kcats)
    assert p.pool == q.pool


def _restored(cm, state) -> Problem:
    q = Problem(cm)
    q.restore(state)
    return q


def test_snapshot_restore_round_trip_is_exact():
    cm = EcSpec(level="L4", kcats=str(KCATS)).build("textbook").compiled
    p = Problem(cm)
    p.optimize()
    s0 = p.snapshot()
    g0 = p.growth()
    pairs = np.arange(min(15, len(cm.pairs)))
    p.set_kcats(pairs, p.kcats[pairs] * 3.0)
    p.set_pool(0.1)
    p.set_reaction_bounds("EX_glc__D_e", -4.0, 0.0)
    p.set_objective_reaction("ATPM")
    with p.genes_knocked_out(["b0008"]):
        s1 = p.snapshot()
        g1 = p.growth()
    p.restore(s0)
    _assert_same_lp(p, Problem(cm))
    assert p.growth() == pytest.approx(g0, rel=1e-9)
    # a snapshot replays on another problem of the same compiled model (how workers get their start state)
    q = Problem(cm)
    q.restore(s1)
    assert q.growth() == pytest.approx(g1, rel=1e-9)
    p.restore(s1)
    _assert_same_lp(p, _restored(cm, s1))
    p.restore(s0)
    _assert_same_lp(p, Problem(cm))


def test_no_raw_highs_handle_outside_solver():
    bad = []
    for path in PKG.rglob("*.py"):
        if path.parent.name == "solver":
            continue
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\.(h|_h)\.[A-Za-z]", line) or re.search(r"\bsolver\.(h|_h)\b", line):
                bad.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not bad, "\n".join(bad)


def test_solver_is_a_leaf_and_no_import_cycles():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import import_graph
    finally:
        sys.path.pop(0)
    g = import_graph.graph(PKG)
    assert g["solver"] <= {"errors"}, g["solver"]
    assert "solver" not in g["ec"] or "ec" not in g["solver"]
    assert import_graph.cycles(g) == []
    # Layers, lowest first: no module imports one of a higher layer.
    layers = [{"errors", "hashing", "parallel", "paths", "validate", "actor_pool"}, {"gem"}, {"solver"}, {"ec"},
              {"kcat", "store"}, {"analysis"}, {"community"}, {"distributed", "config_schema"}, {"commands"},
              {"cli", "errors_cli"}]
    rank = {u: i for i, layer in enumerate(layers) for u in layer}
    for src, dsts in g.items():
        for dst in dsts:
            assert rank[dst] <= rank[src], f"{src} (layer {rank[src]}) imports {dst} (layer {rank[dst]})"
    # The only name in solver/ that mentions ec/ is the lazy alias kept for old imports (community/diets.py).
    for path in (PKG / "solver").glob("*.py"):
        text = path.read_text()
        if "kingems_ray.ec" in text:
            assert path.name == "problem.py" and "__getattr__" in text
    assert ast.parse((PKG / "solver" / "highs.py").read_text())  # parses


def test_cli_flag_names_match_the_compiler():
    """``ec.options`` (light, for ``--help``) names exactly the levels and formulations the compiler knows."""
    from kingems_ray.ec.compile import FORMULATIONS, LEVELS
    from kingems_ray.ec.options import FORMULATION_NAMES, LEVEL_NAMES

    assert tuple(LEVELS) == LEVEL_NAMES
    assert tuple(FORMULATIONS) == FORMULATION_NAMES
