"""FVA/FBA parity with cobrapy (GLPK) and the parallel path against the serial one."""

from __future__ import annotations

import cobra
import numpy as np
import pytest
from cobra.flux_analysis import flux_variability_analysis

from kingems_ray.analysis.fva import flux_variability
from kingems_ray.ec.build import build
from kingems_ray.ec.compile import compile_model
from kingems_ray.ec.problem import Problem
from kingems_ray.gem.io import load_model


@pytest.fixture(scope="module")
def core():
    m = cobra.io.load_model("textbook")
    m.solver = "glpk"
    return m


@pytest.mark.parametrize("fraction", [0.9, 1.0])
def test_fva_matches_cobrapy_glpk(core, fraction):
    ref = flux_variability_analysis(core, fraction_of_optimum=fraction, processes=1)
    ours = flux_variability(compile_model(core), fraction=fraction).set_index("reaction_id")
    assert (ours["status"] == "optimal").all()
    assert np.allclose(ours.loc[ref.index, "minimum"], ref["minimum"], atol=1e-6)
    assert np.allclose(ours.loc[ref.index, "maximum"], ref["maximum"], atol=1e-6)


def test_fba_matches_cobrapy_on_bigg_models(data_dir):
    for name in ("iLJ478.xml.gz", "iMS837.json.gz"):  # one SBML, one JSON; all 21: scripts/check_parity.py
        m = load_model(data_dir / "bigg" / name)
        m.solver = "glpk"
        expected = m.slim_optimize()
        assert Problem(compile_model(m)).growth() == pytest.approx(expected, abs=1e-6), name


def test_parallel_fva_equals_serial(data_dir):
    b = build("textbook", data_dir / "kingems/e_coli_core_fva_ablation/tuned_data.csv", level="L4")
    serial = flux_variability(b.compiled, fraction=0.9, processes=1)
    parallel = flux_variability(b.compiled, fraction=0.9, processes=2, chunk_size=20)
    assert list(serial["reaction_id"]) == list(parallel["reaction_id"])
    assert np.allclose(serial["minimum"], parallel["minimum"], atol=1e-7)
    assert np.allclose(serial["maximum"], parallel["maximum"], atol=1e-7)
    assert serial.attrs["growth"] == pytest.approx(parallel.attrs["growth"])


def test_fva_infeasible_model_reports_status(core):
    m = core.copy()
    m.reactions.ATPM.bounds = (500, 1000)  # maintenance no medium can pay
    df = flux_variability(compile_model(m), fraction=0.9)
    assert df.attrs["status"] == "infeasible"
    assert df["minimum"].isna().all()


def test_capped_solve_time_budget_is_per_call_and_falls_back_cold(monkeypatch):
    """``solve_capped(max_seconds=)``: HiGHS's time_limit counts the instance's whole run time, so the budget must
    be relative to the current run time; an exhausted budget ends in a cold solve with the same optimum."""
    import scipy.sparse as sp

    from kingems_ray.solver.highs import LinearProblem, PersistentLP

    rng = np.random.default_rng(0)
    n, m = 300, 200
    A = sp.random(m, n, density=0.05, random_state=1, format="csc") + sp.eye(m, n, format="csc")
    lp = LinearProblem(A=A.tocsc(), col_lb=np.zeros(n), col_ub=np.full(n, 10.0), row_lb=np.full(m, -np.inf),
                       row_ub=rng.uniform(1, 5, m), cost=rng.uniform(0, 1, n), col_names=[], row_names=[])
    ref = PersistentLP(lp).solve(need_x=False)
    s = PersistentLP(lp)
    cold_calls = []
    real_cold = s.solve_cold
    monkeypatch.setattr(s, "solve_cold", lambda need_x=True: cold_calls.append(1) or real_cold(need_x))
    for _ in range(3):  # run time accumulates on the instance; a 60 s budget must still hold each time
        s.cold_start()
        res = s.solve_capped(100000, need_x=False, retry_on=("time_limit",), max_seconds=60.0)
        assert res.status == "optimal" and not cold_calls
    assert np.isinf(s.option_value("time_limit"))  # restored
    s.cold_start()
    res = s.solve_capped(100000, need_x=False, retry_on=("time_limit",), max_seconds=0.0)
    assert cold_calls == [1] and res.status == "optimal"
    assert res.objective == pytest.approx(ref.objective, rel=1e-9)
