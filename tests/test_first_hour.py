"""What a newcomer meets first: a CLI that starts at once, docs whose commands exist, quiet output, the no-data path."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kingems_ray.cli import COMMANDS, build_parser, main
from kingems_ray.errors import DataNotFoundError, KingemsError

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "cobra", "matplotlib", "ray", "pandas", "highspy", "scipy", "rdkit", "pyarrow")


def _modules_after(argv: list[str]) -> set[str]:
    """Top-level modules imported by ``kingems-ray ARGV`` (run in a fresh interpreter)."""
    code = (
        "import sys\n"
        "from kingems_ray.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.stdout.flush()\n"
        "print('\\nMODULES ' + ' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert res.returncode == 0, res.stderr[-2000:]
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("MODULES ")][-1]
    return set(line.split()[1:])


def test_help_imports_no_heavy_module():
    loaded = _modules_after(["--help"])
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_subcommand_help_imports_only_what_its_arguments_need():
    loaded = _modules_after(["fva", "--help"])
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_lazy_parser_matches_the_full_one():
    full = build_parser()
    sub = next(a for a in full._actions if isinstance(a, argparse._SubParsersAction))
    assert list(sub.choices) == list(COMMANDS)
    args = build_parser(["-v", "fva", "textbook", "--out", "x.parquet"]).parse_args(
        ["-v", "fva", "textbook", "--out", "x.parquet"])
    assert args.command == "fva" and args.verbose and args.out == "x.parquet" and callable(args._run)
    with pytest.raises(SystemExit):
        main(["fva", "--no-such-flag"])


# -- the docs name only subcommands and flags that exist ----------------------------------------------------------
def _doc_commands() -> list[tuple[str, str]]:
    """(file, command text after ``kingems-ray``) for every ``kingems-ray ...`` in the user-facing docs.

    In fenced code the whole line counts (a trailing ``\\`` joins the next line, a ``#`` starts a comment); in prose
    only the inline code span holding it.
    """
    files = [REPO / "README.md", REPO / "cluster" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    found = []
    for f in files:
        fenced = False
        lines = f.read_text().splitlines()
        i = 0
        while i < len(lines):
            line = lines[i]
            if line.lstrip().startswith("```"):
                fenced = not fenced
                i += 1
                continue
            if fenced:
                while line.rstrip().endswith("\\") and i + 1 < len(lines):
                    i += 1
                    line = line.rstrip()[:-1] + " " + lines[i]
                line = re.split(r"\s#\s", line)[0]
                spans = [line]
            else:
                spans = re.findall(r"`([^`]*)`", line)
            for span in spans:
                for m in re.finditer(r"(?<![\w/.-])kingems-ray((?:\s+[^\s|;&)]+)*)", span):
                    found.append((f.name, m.group(1).strip()))
            i += 1
    return found


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {o for a in parser._actions for o in a.option_strings}


def test_docs_name_existing_subcommands_and_flags():
    parser = build_parser()
    top = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    found = _doc_commands()
    assert len(found) > 20, "the doc scan found too little: check _doc_commands"
    problems = []
    for fname, text in found:
        words = text.split()
        flags_before = []
        while words and words[0].startswith("-"):
            flags_before.append(words.pop(0))
        for fl in flags_before:
            if fl.split("=")[0] not in _options(parser):
                problems.append(f"{fname}: kingems-ray {text}: no global option {fl}")
        if not words:
            continue
        cmd = words[0]
        if cmd.isupper() or cmd in ("CMD", "COMMAND", "...") or cmd.endswith(":"):
            continue  # a placeholder, or printed output ("kingems-ray demo: model ...")
        if cmd not in top.choices:
            problems.append(f"{fname}: kingems-ray {text}: no subcommand {cmd!r}")
            continue
        p = top.choices[cmd]
        allowed = _options(p) | _options(parser)
        nested = next((a for a in p._actions if isinstance(a, argparse._SubParsersAction)), None)
        if nested is not None:
            mode = next((w for w in words[1:] if not w.startswith("-")), None)
            if mode in nested.choices:
                allowed |= _options(nested.choices[mode])
            else:
                for sp in nested.choices.values():
                    allowed |= _options(sp)
        for fl in re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", " ".join(words[1:])):
            if fl not in allowed:
                problems.append(f"{fname}: kingems-ray {text}: {cmd} has no option {fl}")
    assert not problems, "\n".join(problems)


# -- sweep --models: a name filter or a path glob ------------------------------------------------------------------
def _model_folder(tmp_path: Path, names: list[str]) -> Path:
    for n in names:
        (tmp_path / n).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / n).write_text("<sbml/>")
    return tmp_path


def test_models_name_filter_and_path_glob(tmp_path, monkeypatch):
    from kingems_ray.distributed.config import list_models

    _model_folder(tmp_path, ["cfg/Bact_a.xml", "cfg/Esch_b.xml", "mine/one.xml", "mine/two.xml", "mine/notes.txt"])
    spec = {"folder": str(tmp_path / "cfg")}
    assert [Path(m).name for m in list_models(spec, None, "Bact*")] == ["Bact_a.xml"]
    assert [Path(m).name for m in list_models(spec, None, "Esch")] == ["Esch_b.xml"]
    # with a '/': a path glob (relative to the current folder) replaces the config's models
    monkeypatch.chdir(tmp_path)
    got = list_models(spec, None, "mine/*.xml")
    assert got == [str((tmp_path / "mine" / n).resolve()) for n in ("one.xml", "two.xml")]
    assert list_models(spec, None, "./mine/two.xml") == [str((tmp_path / "mine" / "two.xml").resolve())]
    assert list_models(spec, None, str(tmp_path / "mine" / "o*.xml")) == [str(tmp_path / "mine" / "one.xml")]
    with pytest.raises(KingemsError, match="no model file matches"):
        list_models(spec, None, "elsewhere/*.xml")


def test_sweep_path_glob_runs_and_prints_a_summary_table(tmp_path, monkeypatch, capsys):
    import cobra
    import yaml

    folder = tmp_path / "my_models"
    folder.mkdir()
    cobra.io.save_json_model(cobra.io.load_model("textbook"), str(folder / "core.json"))
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(yaml.safe_dump({"name": "glob_test", "models": {"list": ["mini"]}, "analyses": [{"name": "fba"}],
                                   "run": {"cache_dir": str(tmp_path / "cache")}}))
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    argv = ["sweep", str(cfg), "--out", str(out), "--serial", "--no-progress", "--models", "my_models/*.json"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "_summary.json").read_text())
    assert summary["n_planned"] == 1 and summary["n_ok"] == 1 and summary["n_failed"] == 0
    assert not printed.lstrip().startswith("{"), "the summary is a table, not raw JSON"
    for want in ("ok (this run)", "failed (this run)", "skipped (done before)", "time", str(out),
                 str(out / "_summary.json")):
        assert want in printed, (want, printed)
    # run again: the unit is skipped
    assert main(argv) == 0
    assert json.loads((out / "_summary.json").read_text())["n_skipped"] == 1


# -- reference data: where it is looked for ------------------------------------------------------------------------
def test_data_not_found_names_each_place_once(tmp_path, monkeypatch):
    from kingems_ray import paths

    repo = tmp_path / "checkout"
    repo.mkdir()
    monkeypatch.setattr(paths, "_REPO_ROOT", repo)
    monkeypatch.chdir(repo)  # the checkout's parent and the current folder's parent are one place
    monkeypatch.delenv("KINGEMS_DATA", raising=False)
    with pytest.raises(DataNotFoundError) as err:
        paths.data_root(required=True)
    msg = str(err.value)
    assert msg.count(str(tmp_path / "shared" / "data")) == 1, msg


def test_kingems_data_is_authoritative_and_an_empty_folder_is_no_data(tmp_path, monkeypatch):
    from kingems_ray import paths

    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("KINGEMS_DATA", str(empty))
    assert paths.data_root() is None  # even where ../shared/data exists beside the checkout
    (empty / "x").write_text("")
    assert paths.data_root() == empty


def test_ray_job_without_data_fails_early_naming_runtime_env(tmp_path, monkeypatch):
    from kingems_ray.distributed.config import expand

    monkeypatch.setenv("KINGEMS_DATA", str(tmp_path / "missing"))
    monkeypatch.delenv("RAY_JOB_CONFIG_JSON_ENV_VAR", raising=False)
    assert expand("${KINGEMS_DATA}/m", None) == str(tmp_path / "missing" / "m")  # set: used as given
    monkeypatch.delenv("KINGEMS_DATA")
    monkeypatch.setattr("kingems_ray.paths.data_root", lambda required=False: (_ for _ in ()).throw(
        DataNotFoundError("reference data not found")))
    with pytest.raises(DataNotFoundError) as plain:
        expand("${KINGEMS_DATA}/agora", None)
    assert "runtime-env-json" not in str(plain.value)
    monkeypatch.setenv("RAY_JOB_CONFIG_JSON_ENV_VAR", "{}")  # what `ray job submit` sets for its driver
    with pytest.raises(DataNotFoundError, match=r"--runtime-env-json .*KINGEMS_DATA"):
        expand("${KINGEMS_DATA}/agora", None)


# -- quiet output --------------------------------------------------------------------------------------------------
def test_fva_prints_no_solver_banner_and_reuses_the_compiled_model(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), KINGEMS_CACHE=str(tmp_path / "cache"))
    cmd = [sys.executable, "-m", "kingems_ray.cli", "fva", "textbook", "--out", str(tmp_path / "f.parquet")]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "HiGHS" not in first.stdout + first.stderr
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert "compiled model from cache" in again.stdout
    import pandas as pd

    a = pd.read_parquet(tmp_path / "f.parquet")
    assert len(a) == 95
    verbose = subprocess.run([sys.executable, "-m", "kingems_ray.cli", "-v", *cmd[3:]], capture_output=True,
                             text=True, timeout=300, env=dict(env, KINGEMS_CACHE="off"))
    assert "HiGHS" in verbose.stdout + verbose.stderr  # -v shows the solver's own output


# -- tuning says why it stopped ------------------------------------------------------------------------------------
def test_tune_explains_why_it_stopped(tmp_path, capsys):
    from kingems_ray.paths import package_data

    kcats = package_data("kcat_default", "textbook_kcats_predicted.parquet")
    if not kcats.exists():
        pytest.skip(f"shipped kcat table not present ({kcats})")
    rc = main(["tune", "textbook", "--kcats", str(kcats), "--target-growth", "0.87", "--iterations", "15",
               "--out", str(tmp_path / "t.parquet")])
    assert rc == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("tuning stopped: "))
    assert any(w in line for w in ("target reached", "steps exhausted", "stalled", "cooled down")), line
    assert re.search(r"\d+ of the \d+ tuned kcats sit at their upper bound", out), out


def test_stop_explanation_cases():
    import pandas as pd

    from kingems_ray.analysis.tuning import AnnealingSettings
    from kingems_ray.commands.tune import stop_explanation

    s = AnnealingSettings(max_iterations=60, n_top=4)
    table = pd.DataFrame({"kcat": [100.0, 100.0, 100.0, 2.0], "kcat_original": [1.0, 1.0, 1.0, 1.0],
                          "tuned": [True, True, True, True]})

    def traj(n, best):
        return pd.DataFrame({"iteration": range(n + 1), "chain": 0, "temperature": [100 * 0.95 ** i for i in
                             range(n + 1)], "accepted": [True] + [i == 1 for i in range(1, n + 1)],
                             "best_growth": best})

    text = stop_explanation(table, traj(60, 0.33), 0.87, s, reached=False)
    assert "steps exhausted: all 60 steps used (1 accepted, 0 raised the best)" in text
    assert "3 of the 4 tuned kcats sit at their upper bound (100x" in text
    assert "--reselect-every" in text and "wider bound" in text
    text = stop_explanation(table, traj(30, 0.33), 0.87, s, reached=False)
    assert "stalled" in text and "30 of 60 steps" in text
    text = stop_explanation(table, traj(12, 0.9), 0.87, s, reached=True)
    assert text.startswith("tuning stopped: target reached") and "to get closer" not in text
    demo = stop_explanation(table, traj(60, 0.33), 0.87, s, reached=False, flags=False)
    assert "kingems-ray tune --reselect-every 10" in demo


# -- the demo as a newcomer without the reference data runs it -----------------------------------------------------
@pytest.mark.slow
@pytest.mark.ray
def test_demo_without_reference_data(tmp_path):
    """`make demo` in a clone with no ../shared: KINGEMS_DATA names an empty folder, and neither the checkout's nor
    the current folder's parent holds shared/data for this run (the checkout's is hidden by KINGEMS_DATA, which is
    the only place looked at when set). Run as a subprocess, as `make demo` does."""
    from kingems_ray.kcat.predict import default_checkpoint_path

    if not default_checkpoint_path().exists():
        pytest.skip(f"shipped kcat checkpoint not present ({default_checkpoint_path()})")
    empty = tmp_path / "no_data"
    empty.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    assert not (tmp_path / "shared").exists()
    env = dict(os.environ, KINGEMS_DATA=str(empty), PYTHONPATH=str(REPO), RAY_USAGE_STATS_ENABLED="0")
    env.pop("RAY_ADDRESS", None)
    res = subprocess.run([sys.executable, "-m", "kingems_ray.cli", "demo", "--out", "demo_out", "--iterations", "20",
                          "--num-cpus", "2", "--no-progress"], cwd=work, env=env, capture_output=True, text=True,
                         timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    out, err = res.stdout, res.stderr
    assert "no protein sequences here" in err and "textbook_kcats_predicted.parquet" in err
    assert "no measured essentiality (reference data absent)" in out
    assert "tuning stopped: " in out and "demo finished" in out
    assert "HiGHS" not in out + err and "Token authentication" not in out + err
    assert (work / "demo_out" / "report" / "report.html").exists()


def test_local_ray_start_is_retried_after_rays_startup_timeout(monkeypatch, capsys):
    import ray

    from kingems_ray.distributed import cluster

    calls = []

    def fake_init(**kw):
        calls.append(kw)
        if len(calls) < 3:
            raise Exception("The current node timed out during startup. This could happen because ...")

    monkeypatch.setattr(ray, "init", fake_init)
    monkeypatch.setattr(ray, "shutdown", lambda: None)
    cluster._start_local(1, True)
    assert len(calls) == 3 and "trying again (3/3)" in capsys.readouterr().err
    calls.clear()
    monkeypatch.setattr(ray, "init", lambda **kw: (_ for _ in ()).throw(ValueError("other")))
    with pytest.raises(ValueError):
        cluster._start_local(1, True)  # any other error is not retried


@pytest.mark.parametrize("name", ["textbook", "iJO1366"])
def test_streaming_sbml_reader_compiles_exactly_what_cobra_reads(name):
    """``fva``'s cold path reads SBML without cobra: the compiled LP must be the one cobrapy's reader gives."""
    import numpy as np

    from kingems_ray.ec.build import build
    from kingems_ray.gem.sbml_fast import LightModel

    light, ref = build(name, light=True), build(name)
    assert isinstance(light.model, LightModel)
    a, b = light.compiled.to_arrays(), ref.compiled.to_arrays()
    assert a.keys() == b.keys()
    for k in b:
        assert np.array_equal(a[k], b[k]), k


def test_light_loading_falls_back_to_cobra_where_it_cannot_read(tmp_path):
    """JSON models and SBML without fbc v2 go through cobra; kcats always do (matching needs cobra objects)."""
    import cobra

    from kingems_ray.gem.io import load_model, load_model_fast

    p = tmp_path / "m.json"
    cobra.io.save_json_model(load_model("textbook"), str(p))
    assert isinstance(load_model_fast(p), cobra.Model)
    old = tmp_path / "old.xml"
    cobra.io.write_sbml_model(load_model("textbook"), str(old))
    # no fbc bounds: the streaming reader refuses it, cobra reads it (with its default bounds)
    old.write_text(old.read_text().replace("fbc:lowerFluxBound", "fbc:lowerFluxBoundX"))
    assert isinstance(load_model_fast(old), cobra.Model)


def test_streaming_reader_on_agora_gives_cobras_compiled_model(data_dir):
    """AGORA SBML (plain sweeps compile it without cobra): same LP, same model id (cobra keeps ``M_``)."""
    import numpy as np

    from kingems_ray.ec.build import build

    path = sorted((data_dir / "agora" / "models").glob("*.xml.gz"))[0]
    light, ref = build(path, light=True), build(path)
    assert light.compiled.model_id == ref.compiled.model_id
    a, b = light.compiled.to_arrays(), ref.compiled.to_arrays()
    for k in b:
        assert np.array_equal(a[k], b[k]), k
