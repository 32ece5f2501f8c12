"""SBML export: the written ecGEM loads back with cobra and gives our growth, with kcats annotated."""

from __future__ import annotations

import cobra
import pytest

from kingems_ray.cli import main
from kingems_ray.ec.build import build
from kingems_ray.ec.compile import LEVELS, compile_model
from kingems_ray.ec.export import export_sbml, to_cobra
from kingems_ray.ec.kcats import match_to_model, read_kcat_table
from kingems_ray.ec.problem import Problem


@pytest.fixture(scope="module")
def ref_table(data_dir):
    return data_dir / "kingems/e_coli_core_fva_ablation/tuned_data.csv"


@pytest.mark.parametrize("level", list(LEVELS))
def test_export_growth_equals_highs(tmp_path, ref_table, level):
    b = build("textbook", ref_table, level=level)
    expected = Problem(b.compiled).growth()
    got = export_sbml(b, tmp_path / f"core_{level}.xml")
    assert got == pytest.approx(expected, abs=1e-6)


def test_export_annotations(tmp_path, ref_table):
    b = build("textbook", ref_table, level="L4")
    export_sbml(b, tmp_path / "core.xml")
    m = cobra.io.read_sbml_model(str(tmp_path / "core.xml"))
    assert m.notes["kingems_level"] == "L4" and float(m.notes["kingems_pool_g_per_gDW"]) == 0.25
    pgi = m.reactions.get_by_id("PGI")
    expected = b.kcats.query("reaction_id == 'PGI' and gene_id == 'b4025' and direction == 'forward'")["kcat"]
    assert float(pgi.notes["kcat_b4025"]) == pytest.approx(float(expected.iloc[0]))
    assert "PGI_reverse" in m.reactions and m.reactions.PGI_reverse.lower_bound == 0
    assert m.reactions.prot_pool_exchange.upper_bound == pytest.approx(0.25)
    assert any(r.id.startswith("prot_b") for r in m.reactions)


def test_export_kingems_formulation(tmp_path, ref_table):
    m = cobra.io.load_model("textbook")
    table, _ = match_to_model(read_kcat_table(ref_table), m, aggregate="all")
    cm = compile_model(m, table, level="L4", formulation="kingems")

    class B:  # the exporter needs only .model and .compiled
        model, compiled = m, cm

    out = to_cobra(B)
    assert out.slim_optimize() == pytest.approx(Problem(cm).growth(), abs=1e-6)
    assert out.notes["kingems_formulation"] == "kingems"


def test_cli_build(tmp_path, ref_table, capsys):
    out = tmp_path / "x.xml"
    assert main(["build", "textbook", "--kcats", str(ref_table), "--level", "L4", "--out", str(out)]) == 0
    line = capsys.readouterr().out
    g = cobra.io.read_sbml_model(str(out)).slim_optimize()
    assert f"growth {g:.6g}" in line
