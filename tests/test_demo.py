"""The demo: loud failure on a missing piece; end to end (through Ray) when the shipped checkpoint is present."""

from __future__ import annotations

import pandas as pd
import pyarrow.dataset as ds
import pytest

from kingems_ray.cli import main


def test_demo_fails_loudly_without_checkpoint(tmp_path, capsys):
    rc = main(["demo", "--out", str(tmp_path / "o"), "--checkpoint", str(tmp_path / "missing.pt")])
    assert rc == 2
    assert "kcat checkpoint not found" in capsys.readouterr().err


def test_demo_fails_loudly_without_sequences(tmp_path, monkeypatch):
    from kingems_ray.commands import demo

    with pytest.raises(Exception, match="sequences file not found"):
        demo.find_sequences(str(tmp_path / "nope.faa"))


@pytest.mark.slow
@pytest.mark.ray
def test_demo_end_to_end_and_resume(ray_session, tmp_path, capsys):
    from kingems_ray.commands.demo import find_sequences
    from kingems_ray.errors import DataNotFoundError
    from kingems_ray.kcat.predict import default_checkpoint_path

    if not default_checkpoint_path().exists():
        pytest.skip(f"shipped kcat checkpoint not present yet ({default_checkpoint_path()})")
    try:
        find_sequences()
    except DataNotFoundError as exc:
        pytest.skip(str(exc))
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--iterations", "30", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "demo finished" in printed
    summary = pd.read_csv(out / "summary.csv").set_index("model")
    assert list(summary.index) == ["GEM", "ecGEM", "ecGEM_tuned"]
    import cobra

    assert summary.loc["GEM", "growth"] == pytest.approx(cobra.io.load_model("textbook").slim_optimize(), rel=1e-6)
    # enzyme constraints can only narrow the solution space
    assert summary.loc["ecGEM", "growth"] <= summary.loc["GEM", "growth"] + 1e-9
    assert summary.loc["ecGEM", "median_variability"] <= summary.loc["GEM", "median_variability"] + 1e-9
    t = ds.dataset(out / "results", format="parquet", partitioning="hive").to_table(columns=["unit_id", "status"])
    df = t.to_pandas()
    assert len(df) == 14 and df["unit_id"].is_unique and (df["status"] == "ok").all()
    for f in ("report.md", "report.html", "flux_variability.png"):
        assert (out / "report" / f).exists(), f
    from kingems_ray.paths import data_root

    if data_root() is not None:  # the knockout table of the report: one row per model, same points for each
        km = pd.read_parquet(out / "report" / "knockout_metrics.parquet").set_index("model")
        assert sorted(km.index) == ["GEM", "ecGEM", "ecGEM_tuned"]
        assert km["n"].nunique() == 1 and km["accuracy"].between(0, 1).all()
    # rerun: every unit is skipped, results unchanged
    assert main(["demo", "--out", str(out), "--iterations", "30", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "(1 already done)" in err and "(6 already done)" in err
    assert len(ds.dataset(out / "results", format="parquet", partitioning="hive").files) == 14
