"""Bad inputs give one clear error (naming the file and the problem) or a clear status; the CLI exits 2."""

from __future__ import annotations

import gzip

import cobra
import pandas as pd
import pytest

from kingems_ray.analysis.fva import flux_variability
from kingems_ray.cli import main
from kingems_ray.ec.build import build
from kingems_ray.ec.kcats import match_to_model, read_kcat_table
from kingems_ray.ec.problem import Problem
from kingems_ray.errors import Infeasible, KcatTableError, ModelLoadError
from kingems_ray.gem.io import load_model


@pytest.fixture(scope="module")
def sbml_text(tmp_path_factory):
    p = tmp_path_factory.mktemp("m") / "core.xml"
    cobra.io.write_sbml_model(cobra.io.load_model("textbook"), str(p))
    return p.read_text()


def test_truncated_sbml(tmp_path, sbml_text):
    p = tmp_path / "truncated.xml"
    p.write_text(sbml_text[: len(sbml_text) // 2])
    with pytest.raises(ModelLoadError) as e:
        load_model(p)
    assert str(p) in str(e.value) and "invalid model" in str(e.value)


def test_corrupt_gzip_and_missing_and_unknown_format(tmp_path):
    gz = tmp_path / "bad.xml.gz"
    gz.write_bytes(b"not gzip at all")
    with pytest.raises(ModelLoadError, match="bad.xml.gz"):
        load_model(gz)
    with pytest.raises(ModelLoadError, match="not found"):
        load_model(tmp_path / "nope.xml")
    odd = tmp_path / "model.txt"
    odd.write_text("x")
    with pytest.raises(ModelLoadError, match="unknown model format"):
        load_model(odd)
    empty = tmp_path / "empty.xml.gz"
    with gzip.open(empty, "wt") as fh:
        fh.write("")
    with pytest.raises(ModelLoadError, match="empty.xml.gz"):
        load_model(empty)


def test_model_without_objective(tmp_path):
    m = cobra.io.load_model("textbook")
    m.objective = {}
    p = tmp_path / "noobj.xml"
    cobra.io.write_sbml_model(m, str(p))
    with pytest.raises(ModelLoadError, match="no objective"):
        build(p)


def test_kcat_table_missing_columns(tmp_path):
    p = tmp_path / "k.csv"
    pd.DataFrame({"reaction_id": ["PGI"], "kcat": [1.0]}).to_csv(p, index=False)
    with pytest.raises(KcatTableError) as e:
        read_kcat_table(p)
    assert str(p) in str(e.value) and "gene_id" in str(e.value)


@pytest.mark.parametrize("bad", [-1.0, 0.0, "fast", None])
def test_kcat_table_bad_values(tmp_path, bad):
    p = tmp_path / "k.csv"
    pd.DataFrame({"reaction_id": ["PGI", "PGK"], "gene_id": ["b4025", "b2926"], "kcat": [1.0, bad]}).to_csv(
        p, index=False
    )
    with pytest.raises(KcatTableError, match="PGK/b2926"):
        read_kcat_table(p)


def test_kcat_table_unknown_ids_are_skipped_and_counted(tmp_path):
    p = tmp_path / "k.csv"
    pd.DataFrame(
        {"reaction_id": ["PGI", "XYZ", "PGI"], "gene_id": ["b4025", "b4025", "zzz"], "kcat": [1.0, 2.0, 3.0]}
    ).to_csv(p, index=False)
    t, rep = match_to_model(read_kcat_table(p), cobra.io.load_model("textbook"))
    assert len(t) == 1
    assert rep.skipped == {"reaction not in model": 1, "gene not in model": 1}
    assert "XYZ" in rep.summary() and "PGI/zzz" in rep.summary()


def test_unreadable_kcat_table(tmp_path):
    p = tmp_path / "k.parquet"
    p.write_bytes(b"PAR1 garbage")
    with pytest.raises(KcatTableError, match="cannot read"):
        read_kcat_table(p)
    with pytest.raises(KcatTableError, match="not found"):
        read_kcat_table(tmp_path / "none.csv")


def test_infeasible_medium():
    m = cobra.io.load_model("textbook")
    m.reactions.EX_glc__D_e.lower_bound = 0  # no carbon source, but ATP maintenance is forced
    p = Problem(build(m).compiled)
    assert p.optimize().status == "infeasible"
    assert p.growth() == 0.0
    with pytest.raises(Infeasible, match="infeasible"):
        p.growth(raise_on_fail=True)
    assert flux_variability(p).attrs["status"] == "infeasible"


def _cli(capsys, argv):
    rc = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    return rc, err


def test_cli_exit_status_and_one_line(tmp_path, capsys, sbml_text):
    trunc = tmp_path / "t.xml"
    trunc.write_text(sbml_text[:5000])
    badk = tmp_path / "k.csv"
    pd.DataFrame({"reaction_id": ["PGI"], "gene_id": ["b4025"], "kcat": [-3]}).to_csv(badk, index=False)
    cases = [
        (["fva", str(trunc), "--out", str(tmp_path / "o.parquet")], "t.xml"),
        (["fva", str(tmp_path / "missing.xml"), "--out", str(tmp_path / "o.parquet")], "not found"),
        (["build", "textbook", "--kcats", str(badk), "--out", str(tmp_path / "o.xml")], "non-positive"),
        (["build", "textbook", "--kcats", str(tmp_path / "nok.csv"), "--out", str(tmp_path / "o.xml")], "not found"),
    ]
    for argv, needle in cases:
        rc, err = _cli(capsys, argv)
        assert rc == 2, argv
        assert len(err) == 1 and err[0].startswith(f"kingems-ray {argv[0]}: error:") and needle in err[0], err
