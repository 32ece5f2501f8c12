"""Compiled-model cache: every field round-trips, keys follow content and parameters, corrupt entries are misses."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kingems_ray.analysis.fva import flux_variability
from kingems_ray.ec.build import build
from kingems_ray.ec.problem import Problem
from kingems_ray.gem.io import load_model
from kingems_ray.kcat.build_table import build_kcat_table
from kingems_ray.store.cache import CompiledCache, cache_key, load_compiled, model_content_id, save_compiled


@pytest.fixture(scope="module")
def textbook():
    return load_model("textbook")


@pytest.fixture(scope="module")
def ec_compiled(textbook):
    # Fallback kcats need no predictor; without reference data they are the global default.
    table = build_kcat_table(textbook, predictor=None)
    return build(textbook, kcats=table, level="L4").compiled


def _assert_same(a, b):
    assert (a.lp.A != b.lp.A).nnz == 0 and a.lp.A.shape == b.lp.A.shape
    for f in ("col_lb", "col_ub", "row_lb", "row_ub", "cost"):
        np.testing.assert_array_equal(getattr(a.lp, f), getattr(b.lp, f))
    assert a.lp.col_names == b.lp.col_names and a.lp.row_names == b.lp.row_names
    assert a.lp.maximize == b.lp.maximize
    for f in ("model_id", "rxn_ids", "objective_rxn", "gene_ids", "rxn_clauses", "met_ids", "enzyme_col",
              "pool_row", "pool", "level", "report"):
        assert getattr(a, f) == getattr(b, f), f
    for f in ("fwd_col", "rev_col", "rxn_lb", "rxn_ub"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    for f in ("pairs", "coef_entries"):
        x, y = getattr(a, f), getattr(b, f)
        assert (x is None) == (y is None)
        if x is not None:
            pd.testing.assert_frame_equal(x, y)


def test_plain_roundtrip_same_fields_and_fva(tmp_path, textbook):
    cm = build(textbook).compiled
    save_compiled(cm, tmp_path / "m.npz")
    back = load_compiled(tmp_path / "m.npz")
    _assert_same(cm, back)
    a = flux_variability(cm, fraction=0.9)
    b = flux_variability(back, fraction=0.9)
    np.testing.assert_allclose(a[["minimum", "maximum"]], b[["minimum", "maximum"]], atol=1e-9)


def test_ecgem_roundtrip_same_fields_growth_and_kcat_edits(tmp_path, ec_compiled):
    save_compiled(ec_compiled, tmp_path / "ec.npz")
    back = load_compiled(tmp_path / "ec.npz")
    _assert_same(ec_compiled, back)
    assert back.level == "L4" and back.pool_row is not None and len(back.enzyme_col) > 0
    p1, p2 = Problem(ec_compiled), Problem(back)
    assert p1.growth() == pytest.approx(p2.growth(), rel=1e-9)
    # kcat edits go through coef_entries: the reloaded model must edit the same matrix entries.
    for p in (p1, p2):
        p.set_kcats(range(len(back.pairs)), back.pairs["kcat"].to_numpy() * 0.5)
    assert p1.growth() == pytest.approx(p2.growth(), rel=1e-9)


def test_cache_keys_follow_content_and_params(tmp_path):
    a = tmp_path / "a.xml"
    a.write_text("<sbml/>")
    ida = model_content_id(a)
    assert ida.startswith("sha256:")
    assert cache_key(ida, {"level": "L1"}) == cache_key(ida, {"level": "L1"})
    assert cache_key(ida, {"level": "L1"}) != cache_key(ida, {"level": "L4", "pool": 0.25})
    a.write_text("<sbml></sbml>")
    assert model_content_id(a) != ida
    assert model_content_id("textbook").startswith("builtin:textbook@cobra-")
    assert model_content_id(tmp_path / "nope.xml").startswith("missing:")


def test_get_or_compile_once_then_hits_and_corrupt_entry_is_a_miss(tmp_path, textbook):
    cache = CompiledCache(tmp_path / "c")
    calls = []

    def compile_fn():
        calls.append(1)
        return build(textbook).compiled

    key = cache_key(model_content_id("textbook"), {"level": "L1"})
    _, hit1 = cache.get_or_compile(key, compile_fn)
    cm, hit2 = cache.get_or_compile(key, compile_fn)
    assert (hit1, hit2, len(calls)) == (False, True, 1)
    assert Problem(cm).growth() == pytest.approx(textbook.slim_optimize(), rel=1e-7)
    assert not list(cache.path(key).parent.glob(".*.tmp"))
    cache.path(key).write_bytes(b"truncated")
    _, hit3 = cache.get_or_compile(key, compile_fn)
    assert hit3 is False and len(calls) == 2
