"""A table of bad-input and fault probes for every subcommand, run in-process through ``kingems_ray.cli.main``.

Used by ``tests/test_bad_inputs_cli.py`` (asserts every probe is a clear error or a recorded status) and by
``scripts/grade_probes.py`` (prints the grade of each probe: ``clear``, ``status``, ``silent``, ``unclear`` (exit
2 but several error lines, no cause named, or exit 1), ``partial`` (a clear error that left partial output),
``traceback``). Each probe names the subcommand, builds its argv from the fixture folder and says what a good
answer is: ``error`` (exit 2, one line on stderr, no traceback, nothing written to ``out``) or a ``check`` callable
that tells whether a run that went on recorded the problem (a warning per row, a per-row status).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import logging
import os
import shutil
import subprocess
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass
class Probe:
    """One bad input: ``argv(fx)`` builds the command line from the fixtures."""

    id: str
    argv: Callable[[Fixtures], list[str]]
    expect: str = "error"  # "error" or "status"
    check: Callable[[Fixtures, int, str, str], bool] | None = None
    out: Callable[[Fixtures], Path] | None = None  # must not exist after an error
    needle: str | None = None  # must appear in the error line


@dataclass
class Fixtures:
    """Files shared by the probes (built once)."""

    root: Path
    files: dict[str, Path] = field(default_factory=dict)
    full: Path | None = None  # a full file system (tmpfs), when this machine allows mounting one
    readonly: Path | None = None

    def __getitem__(self, k: str) -> str:
        return str(self.files[k])

    def new(self, name: str) -> str:
        """A path under a fresh folder (nothing there yet)."""
        d = self.root / "outs"
        d.mkdir(exist_ok=True)
        i = len(list(d.iterdir()))
        return str(d / f"{i:03d}-{name}")


def _mount_full_tmpfs(root: Path) -> Path | None:
    """A 64 KiB tmpfs filled to the brim (root only); ``None`` where mounting is not allowed."""
    d = root / "full"
    d.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return None
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(d)], capture_output=True)
    if r.returncode != 0:
        return None
    with contextlib.suppress(OSError), open(d / "filler", "wb") as fh:
        while True:
            fh.write(b"\0" * 4096)
            fh.flush()
    return d


def unmount(fx: Fixtures) -> None:
    """Undo :func:`_mount_full_tmpfs`."""
    if fx.full is not None:
        subprocess.run(["umount", "-l", str(fx.full)], capture_output=True)


def make_fixtures(root: Path) -> Fixtures:
    """Write every input file the probes use into ``root``."""
    import cobra

    from kingems_ray.paths import package_data

    fx = Fixtures(root)
    f = fx.files
    model = cobra.io.load_model("textbook")
    f["tb"] = root / "tb.xml"
    cobra.io.write_sbml_model(model, str(f["tb"]))
    text = f["tb"].read_text()
    (root / "a").mkdir()
    (root / "b").mkdir()
    f["tb_a"] = root / "a" / "m.xml"
    f["tb_b"] = root / "b" / "m.xml"
    shutil.copy(f["tb"], f["tb_a"])
    shutil.copy(f["tb"], f["tb_b"])
    f["tb2"] = root / "tb2.xml"
    shutil.copy(f["tb"], f["tb2"])
    f["empty"] = root / "empty.xml"
    f["empty"].write_text("")
    f["garbage"] = root / "garbage.xml"
    f["garbage"].write_bytes(os.urandom(2000))
    f["trunc_gz"] = root / "trunc.xml.gz"
    f["trunc_gz"].write_bytes(gzip.compress(text.encode())[:3000])
    # SBML with one reaction written twice (same id)
    start = text.index("<reaction ")
    end = text.index("</reaction>", start) + len("</reaction>")
    f["dup_rxn"] = root / "duprxn.xml"
    f["dup_rxn"].write_text(text[:end] + text[start:end] + text[end:])
    f["nonutf8"] = Path(os.fsdecode(bytes(root) + b"/m\xff\xfe.xml"))
    f["nonutf8"].write_bytes(b"not a model")
    # the iYO844-style model: ATP maintenance fixed above what the enzyme pool allows
    atpm = model.copy()
    atpm.reactions.ATPM.lower_bound = atpm.reactions.ATPM.upper_bound = 60.0
    f["atpm"] = root / "atpm60.xml"
    cobra.io.write_sbml_model(atpm, str(f["atpm"]))
    # kcat tables
    f["kcats"] = package_data("kcat_default", "textbook_kcats_predicted.parquet")
    kc = pd.read_parquet(f["kcats"])
    f["kc_nomatch"] = root / "kc_nomatch.csv"
    kc.assign(gene_id="zz" + kc["gene_id"]).to_csv(f["kc_nomatch"], index=False)
    f["kc_huge"] = root / "kc_huge.csv"
    kc.assign(kcat=kc["kcat"].where(kc.index != 0, 1e30)).to_csv(f["kc_huge"], index=False)
    f["kc_negmw"] = root / "kc_negmw.csv"
    kc.assign(mw=kc["mw"].where(kc.index != 1, -1.0)).to_csv(f["kc_negmw"], index=False)
    f["kc_types"] = root / "kc_types.csv"
    kc.assign(kcat="fast").to_csv(f["kc_types"], index=False)
    f["kc_garbage"] = root / "kc.parquet"
    f["kc_garbage"].write_bytes(b"PAR1" + os.urandom(300))
    f["empty_csv"] = root / "empty.csv"
    f["empty_csv"].write_text("")
    f["garbage_csv"] = root / "garbage.csv"
    f["garbage_csv"].write_bytes(b"\xff\xfe\x00garbage\x00\n\x01,\x02\n" + os.urandom(64))
    # media
    f["media_nocarbon"] = root / "nocarbon.csv"
    pd.DataFrame({"condition": ["nocarbon"] * 4, "reaction_id": ["EX_o2_e", "EX_nh4_e", "EX_pi_e", "EX_h2o_e"],
                  "lower_bound": [-20, -10, -10, -100]}).to_csv(f["media_nocarbon"], index=False)
    # knockout / FVA tables
    ko = pd.DataFrame({"gene_id": ["b0001", "b0002"], "condition": ["model"] * 2, "growth": [0.1, 0.0],
                       "wild_type_growth": [0.87, 0.87], "relative_growth": [0.1, 0.0]})
    f["ko"] = root / "ko.parquet"
    ko.to_parquet(f["ko"])
    f["ko_trunc"] = root / "ko_trunc.parquet"
    f["ko_trunc"].write_bytes(f["ko"].read_bytes()[:-40])
    f["ko_nogrowth"] = root / "ko_nogrowth.parquet"
    ko.drop(columns=["growth"]).to_parquet(f["ko_nogrowth"])
    f["truth_csv"] = root / "truth.csv"
    pd.DataFrame({"gene_id": ["b0001", "b0002"], "condition": ["model"] * 2, "grows": [1, 0]}).to_csv(
        f["truth_csv"], index=False)
    f["garbage_parquet"] = root / "garbage.parquet"
    f["garbage_parquet"].write_bytes(os.urandom(500))
    # JSON configs
    f["garbage_json"] = root / "garbage.json"
    f["garbage_json"].write_text("{not json")
    f["tune_typo"] = root / "tune_typo.json"
    f["tune_typo"].write_text(json.dumps({"simulated_annealing": {"temprature": 5, "biomass_goal": 0.5}}))
    f["tune_types"] = root / "tune_types.json"
    f["tune_types"].write_text(json.dumps({"simulated_annealing": {"temperature": "hot", "biomass_goal": 0.5}}))
    f["maint_typo"] = root / "maint_typo.json"
    f["maint_typo"].write_text(json.dumps({"maintenance_sweep": {"ngam_rnge": [0, 1], "gam_range": [50]}}))
    f["maint_types"] = root / "maint_types.json"
    f["maint_types"].write_text(json.dumps({"maintenance_sweep": {"ngam_range": "lots", "gam_range": [50]}}))
    # diets and abundances
    f["diet_miss"] = root / "diet_miss.csv"
    pd.DataFrame({"reaction": ["EX_zzz1(e)", "EX_zzz2(e)"], "uptake": [1.0, 2.0]}).to_csv(f["diet_miss"], index=False)
    f["diet_nan"] = root / "diet_nan.csv"
    pd.DataFrame({"reaction": ["EX_glc__D_e", "EX_o2_e", "EX_nh4_e", "EX_pi_e"],
                  "uptake": [10.0, float("nan"), float("inf"), 10.0]}).to_csv(f["diet_nan"], index=False)
    f["diet_poslb"] = root / "diet_poslb.csv"
    pd.DataFrame({"reaction": ["EX_glc__D_e", "EX_o2_e", "EX_nh4_e"],
                  "lower_bound": [-10.0, -20.0, 5.0]}).to_csv(f["diet_poslb"], index=False)
    f["diet_ok"] = root / "diet_ok.csv"
    pd.DataFrame({"reaction": ["EX_glc__D_e", "EX_o2_e", "EX_nh4_e", "EX_pi_e", "EX_h2o_e", "EX_h_e", "EX_co2_e"],
                  "uptake": [10.0, 20.0, 10.0, 10.0, 100.0, 100.0, 100.0]}).to_csv(f["diet_ok"], index=False)
    f["ab_unknown"] = root / "ab_unknown.csv"
    pd.DataFrame({"model": ["tb", "tb2", "ghost"], "abundance": [0.5, 0.3, 0.2]}).to_csv(f["ab_unknown"], index=False)
    f["ab_neg"] = root / "ab_neg.csv"
    pd.DataFrame({"model": ["tb", "tb2"], "abundance": [0.5, -0.3]}).to_csv(f["ab_neg"], index=False)
    # sweep configs
    def sweep(name: str, cfg: dict | str) -> None:
        f[name] = root / f"{name}.yaml"
        f[name].write_text(cfg if isinstance(cfg, str) else json.dumps(cfg))

    base = {"models": {"list": [str(f["tb"])]}, "analyses": ["fba"]}
    sweep("sw_empty", "")
    sweep("sw_garbage", "models: [a\n  - : :\n\tx")
    sweep("sw_levle", {**base, "ec": {"kcats": str(f["kcats"]), "levle": "L2"}})
    sweep("sw_parmas", {**base, "analyses": [{"name": "fva_summary", "parmas": {"fraction": 0.5}}]})
    sweep("sw_retries", {**base, "run": {"retries": "two"}})
    sweep("sw_toplevel", {**base, "analysis": ["fba"]})
    sweep("sw_range", {**base, "analyses": [{"name": "fva_summary", "params": {"fraction": 7}}]})
    sweep("sw_secret", {**base, "models": {"list": ["${AWS_SECRET_ACCESS_KEY}/m.xml"]}})
    sweep("sw_types", {**base, "ec": {"kcats": str(f["kcats"]), "pool": "lots"}})
    f["ro"] = root / "ro"
    fx.full = _mount_full_tmpfs(root)
    fx.readonly = _readonly_dir(root)
    return fx


def _readonly_dir(root: Path) -> Path:
    """A folder nobody can write to, not even root (a read-only bind mount; else a file in the way)."""
    d = root / "ro"
    d.mkdir()
    if os.geteuid() == 0 and shutil.which("mount"):
        r = subprocess.run(["mount", "--bind", "-o", "ro", str(d), str(d)], capture_output=True)
        if r.returncode == 0:
            subprocess.run(["mount", "-o", "remount,ro,bind", str(d)], capture_output=True)
            probe = d / ".w"
            try:
                probe.write_text("x")
                probe.unlink()
            except OSError:
                return d
            subprocess.run(["umount", "-l", str(d)], capture_output=True)
    # not root (or no bind mounts): a path below a regular file cannot be created by anyone
    blocker = root / "ro_file"
    blocker.write_text("a file, not a folder")
    return blocker


def unmount_all(fx: Fixtures) -> None:
    """Undo every mount the fixtures made."""
    unmount(fx)
    if fx.readonly is not None and fx.readonly.is_dir():
        subprocess.run(["umount", "-l", str(fx.readonly)], capture_output=True)


def _ro(fx: Fixtures, name: str) -> str:
    return str(fx.readonly / name)


def _full(fx: Fixtures, name: str) -> str:
    return str((fx.full or fx.readonly) / name)


def _warns(word: str) -> Callable:
    return lambda fx, rc, out, err: rc == 0 and word in err


M = "textbook"
PROBES: list[Probe] = [
    # -- fva ---------------------------------------------------------------------------------------------------------
    Probe("fva-empty-model", lambda fx: ["fva", fx["empty"], "--out", fx.new("o.parquet")]),
    Probe("fva-garbage-model", lambda fx: ["fva", fx["garbage"], "--out", fx.new("o.parquet")]),
    Probe("fva-truncated-gzip", lambda fx: ["fva", fx["trunc_gz"], "--out", fx.new("o.parquet")]),
    Probe("fva-nonutf8-name", lambda fx: ["fva", fx["nonutf8"], "--out", fx.new("o.parquet")]),
    Probe("fva-out-nonutf8-name", lambda fx: ["fva", M, "--out", fx.new("o\udcff.parquet")], needle="UTF-8"),
    Probe("fva-level-without-kcats", lambda fx: ["fva", M, "--level", "L3a", "--out", fx.new("o.parquet")],
          needle="--kcats"),
    Probe("fva-kcats-match-no-gene", lambda fx: ["fva", M, "--kcats", fx["kc_nomatch"], "--out", fx.new("o.parquet")],
          needle="no gene"),
    Probe("fva-kcat-1e30", lambda fx: ["fva", M, "--kcats", fx["kc_huge"], "--out", fx.new("o.parquet")],
          expect="status", check=_warns("1e+30")),
    Probe("fva-mw-negative", lambda fx: ["fva", M, "--kcats", fx["kc_negmw"], "--out", fx.new("o.parquet")],
          needle="mw"),
    Probe("fva-kcats-wrong-type", lambda fx: ["fva", M, "--kcats", fx["kc_types"], "--out", fx.new("o.parquet")]),
    Probe("fva-kcats-garbage", lambda fx: ["fva", M, "--kcats", fx["kc_garbage"], "--out", fx.new("o.parquet")]),
    Probe("fva-kcats-empty", lambda fx: ["fva", M, "--kcats", fx["empty_csv"], "--out", fx.new("o.parquet")]),
    Probe("fva-out-readonly", lambda fx: ["fva", M, "--out", _ro(fx, "o.parquet")]),
    Probe("fva-out-full", lambda fx: ["fva", M, "--out", _full(fx, "o.parquet")]),
    Probe("fva-infeasible-wild-type", lambda fx: ["fva", fx["atpm"], "--kcats", fx["kcats"], "--out",
                                                  fx.new("o.parquet")], needle="ATPM"),
    # -- build -------------------------------------------------------------------------------------------------------
    Probe("build-out-readonly", lambda fx: ["build", M, "--kcats", fx["kcats"], "--out", _ro(fx, "o.xml")],
          needle="cannot"),
    Probe("build-out-full", lambda fx: ["build", M, "--kcats", fx["kcats"], "--out", _full(fx, "o.xml")]),
    Probe("build-kcats-garbage-csv", lambda fx: ["build", M, "--kcats", fx["garbage_csv"], "--out", fx.new("o.xml")]),
    Probe("build-dup-reaction-ids", lambda fx: ["build", fx["dup_rxn"], "--kcats", fx["kcats"], "--out",
                                                fx.new("o.xml")]),
    # -- knockout ----------------------------------------------------------------------------------------------------
    Probe("knockout-atpm-above-pool", lambda fx: ["knockout", fx["atpm"], "--kcats", fx["kcats"], "--out",
                                                  fx.new("o.parquet")], needle="ATPM"),
    Probe("knockout-pool-too-small", lambda fx: ["knockout", M, "--kcats", fx["kcats"], "--pool", "0.001",
                                                 "--level", "L3b", "--out", fx.new("o.parquet")], needle="pool"),
    Probe("knockout-medium-no-carbon", lambda fx: ["knockout", M, "--media", fx["media_nocarbon"], "--out",
                                                   fx.new("o.parquet")], needle="carbon"),
    Probe("knockout-media-garbage", lambda fx: ["knockout", M, "--media", fx["garbage_csv"], "--out",
                                                fx.new("o.parquet")]),
    Probe("knockout-media-empty", lambda fx: ["knockout", M, "--media", fx["empty_csv"], "--out", fx.new("o.parquet")]),
    Probe("knockout-genes-file-missing", lambda fx: ["knockout", M, "--genes", "@" + fx.new("none.txt"), "--out",
                                                     fx.new("o.parquet")]),
    Probe("knockout-out-full", lambda fx: ["knockout", M, "--genes", "b0351", "--out", _full(fx, "o.parquet")]),
    # -- maintenance -------------------------------------------------------------------------------------------------
    Probe("maintenance-config-garbage", lambda fx: ["maintenance", M, "--config", fx["garbage_json"], "--out",
                                                    fx.new("o.parquet")]),
    Probe("maintenance-config-typo", lambda fx: ["maintenance", M, "--config", fx["maint_typo"], "--out",
                                                 fx.new("o.parquet")], needle="ngam_range"),
    Probe("maintenance-config-types", lambda fx: ["maintenance", M, "--config", fx["maint_types"], "--out",
                                                  fx.new("o.parquet")]),
    Probe("maintenance-out-readonly", lambda fx: ["maintenance", M, "--ngam", "0", "--gam", "50", "--out",
                                                  _ro(fx, "o.parquet")]),
    # -- tune --------------------------------------------------------------------------------------------------------
    Probe("tune-config-garbage", lambda fx: ["tune", M, "--kcats", fx["kcats"], "--config", fx["garbage_json"],
                                             "--out", fx.new("o.parquet")]),
    Probe("tune-config-typo", lambda fx: ["tune", M, "--kcats", fx["kcats"], "--config", fx["tune_typo"],
                                          "--out", fx.new("o.parquet")], needle="temperature"),
    Probe("tune-config-types", lambda fx: ["tune", M, "--kcats", fx["kcats"], "--config", fx["tune_types"],
                                           "--out", fx.new("o.parquet")]),
    Probe("tune-conditions-garbage", lambda fx: ["tune", M, "--kcats", fx["kcats"], "--conditions",
                                                 fx["garbage_csv"], "--out", fx.new("o.parquet")]),
    Probe("tune-conditions-empty", lambda fx: ["tune", M, "--kcats", fx["kcats"], "--conditions", fx["empty_csv"],
                                               "--out", fx.new("o.parquet")]),
    # -- evaluate ----------------------------------------------------------------------------------------------------
    Probe("evaluate-truncated-parquet", lambda fx: ["evaluate", "knockouts", fx["ko_trunc"], "--truth",
                                                    fx["garbage_csv"]]),
    Probe("evaluate-garbage-parquet", lambda fx: ["evaluate", "knockouts", fx["garbage_parquet"], "--truth",
                                                  fx["garbage_csv"]]),
    Probe("evaluate-no-growth-column", lambda fx: ["evaluate", "fva", fx["ko_nogrowth"], fx["ko_nogrowth"]]),
    Probe("evaluate-compare-garbage", lambda fx: ["evaluate", "compare", fx["garbage_parquet"], fx["ko"],
                                                  "--truth", fx["garbage_csv"]]),
    Probe("evaluate-truth-garbage", lambda fx: ["evaluate", "knockouts", fx["ko"], "--truth", fx["garbage_csv"]]),
    Probe("evaluate-truth-empty", lambda fx: ["evaluate", "knockouts", fx["ko"], "--truth", fx["empty_csv"]]),
    Probe("evaluate-condition-map-garbage", lambda fx: ["evaluate", "knockouts", fx["ko"], "--truth", fx["truth_csv"],
                                                        "--condition-map", fx["garbage_json"]]),
    Probe("evaluate-fva-empty", lambda fx: ["evaluate", "fva", fx["empty_csv"], fx["empty_csv"]]),
    # -- report ------------------------------------------------------------------------------------------------------
    Probe("report-kcats-garbage", lambda fx: ["report", M, "--kcats", fx["kc_garbage"], "--out", fx.new("rep")]),
    Probe("report-maintenance-garbage", lambda fx: ["report", M, "--kcats", fx["kcats"], "--levels", "L1",
                                                    "--maintenance", fx["garbage_parquet"], "--out", fx.new("rep")]),
    Probe("report-out-readonly", lambda fx: ["report", M, "--levels", "L1", "--out", _ro(fx, "rep")]),
    # -- kcats -------------------------------------------------------------------------------------------------------
    Probe("kcats-sequences-garbage", lambda fx: ["kcats", M, "--sequences", fx["garbage_csv"], "--out",
                                                 fx.new("k.parquet")]),
    Probe("kcats-checkpoint-garbage", lambda fx: ["kcats", M, "--checkpoint", fx["garbage_parquet"], "--sequences",
                                                  fx["garbage_csv"], "--out", fx.new("k.parquet")]),
    Probe("kcats-model-garbage", lambda fx: ["kcats", fx["garbage"], "--no-predict", "--out", fx.new("k.parquet")]),
    # -- train-kcat --------------------------------------------------------------------------------------------------
    Probe("train-kcat-params-garbage", lambda fx: ["train-kcat", "--protein-params", "{oops", "--data-root",
                                                   str(fx.root / "nodata"), "--out", fx.new("run")]),
    Probe("train-kcat-no-data", lambda fx: ["train-kcat", "--data-root", str(fx.root / "nodata"), "--out",
                                            fx.new("run")]),
    # -- sweep -------------------------------------------------------------------------------------------------------
    Probe("sweep-config-empty", lambda fx: ["sweep", fx["sw_empty"], "--serial", "--out", fx.new("sw")]),
    Probe("sweep-config-garbage", lambda fx: ["sweep", fx["sw_garbage"], "--serial", "--out", fx.new("sw")]),
    Probe("sweep-typo-levle", lambda fx: ["sweep", fx["sw_levle"], "--serial", "--no-progress", "--out",
                                          fx.new("sw")], needle="level"),
    Probe("sweep-typo-parmas", lambda fx: ["sweep", fx["sw_parmas"], "--serial", "--no-progress", "--out",
                                           fx.new("sw")], needle="params"),
    Probe("sweep-retries-two", lambda fx: ["sweep", fx["sw_retries"], "--serial", "--no-progress", "--out",
                                           fx.new("sw")], needle="retries"),
    Probe("sweep-unknown-top-key", lambda fx: ["sweep", fx["sw_toplevel"], "--serial", "--no-progress", "--out",
                                               fx.new("sw")], needle="analyses"),
    Probe("sweep-param-out-of-range", lambda fx: ["sweep", fx["sw_range"], "--serial", "--no-progress", "--out",
                                                  fx.new("sw")], needle="fraction"),
    Probe("sweep-undocumented-variable", lambda fx: ["sweep", fx["sw_secret"], "--serial", "--no-progress", "--out",
                                                     fx.new("sw")], needle="AWS_SECRET_ACCESS_KEY"),
    Probe("sweep-wrong-type", lambda fx: ["sweep", fx["sw_types"], "--serial", "--no-progress", "--out",
                                          fx.new("sw")], needle="pool"),
    Probe("sweep-out-readonly", lambda fx: ["sweep", fx["sw_parmas"].replace("parmas", "range"), "--serial",
                                            "--no-progress", "--out", _ro(fx, "sw")]),
    # -- pairwise ----------------------------------------------------------------------------------------------------
    Probe("pairwise-duplicate-names", lambda fx: ["pairwise", fx["tb_a"], fx["tb_b"], "--diet", fx["diet_ok"],
                                                  "--out", fx.new("p.parquet")], needle="m.xml"),
    Probe("pairwise-diet-all-miss", lambda fx: ["pairwise", fx["tb"], fx["tb2"], "--diet", fx["diet_miss"],
                                                "--out", fx.new("p.parquet")], needle="diet"),
    Probe("pairwise-diet-nan", lambda fx: ["pairwise", fx["tb"], fx["tb2"], "--diet", fx["diet_nan"],
                                           "--out", fx.new("p.parquet")], needle="EX_o2_e"),
    Probe("pairwise-diet-positive-lb", lambda fx: ["pairwise", fx["tb"], fx["tb2"], "--diet", fx["diet_poslb"],
                                                   "--out", fx.new("p.parquet")], needle="EX_nh4_e"),
    Probe("pairwise-diet-garbage", lambda fx: ["pairwise", fx["tb"], fx["tb2"], "--diet", fx["garbage_csv"],
                                               "--out", fx.new("p.parquet")]),
    Probe("pairwise-dup-reaction-ids", lambda fx: ["pairwise", fx["dup_rxn"], fx["tb2"], "--diet", fx["diet_ok"],
                                                   "--out", fx.new("p.parquet")], needle="duprxn.xml"),
    Probe("pairwise-out-readonly", lambda fx: ["pairwise", fx["tb"], fx["tb2"], "--diet", fx["diet_ok"],
                                               "--out", _ro(fx, "p.parquet")]),
    # -- community ---------------------------------------------------------------------------------------------------
    Probe("community-abundance-unknown-model", lambda fx: ["community", fx["tb"], fx["tb2"], "--diet", fx["diet_ok"],
                                                           "--abundances", fx["ab_unknown"], "--out",
                                                           fx.new("c")], needle="ghost"),
    Probe("community-abundance-negative", lambda fx: ["community", fx["tb"], fx["tb2"], "--diet", fx["diet_ok"],
                                                      "--abundances", fx["ab_neg"], "--out", fx.new("c")],
          needle="tb2"),
    Probe("community-abundances-garbage", lambda fx: ["community", fx["tb"], fx["tb2"], "--diet", fx["diet_ok"],
                                                      "--abundances", fx["garbage_csv"], "--out", fx.new("c")]),
    Probe("community-duplicate-names", lambda fx: ["community", fx["tb_a"], fx["tb_b"], "--diet", fx["diet_ok"],
                                                   "--out", fx.new("c")], needle="m.xml"),
    Probe("community-diet-empty", lambda fx: ["community", fx["tb"], fx["tb2"], "--diet", fx["empty_csv"],
                                              "--out", fx.new("c")]),
    # -- demo (checks run before Ray starts) ---------------------------------------------------------------------------
    Probe("demo-sequences-garbage", lambda fx: ["demo", "--sequences", fx["garbage_parquet"], "--no-progress",
                                                "--out", fx.new("demo")]),
    Probe("demo-checkpoint-garbage", lambda fx: ["demo", "--checkpoint", fx["garbage_parquet"], "--no-progress",
                                                 "--out", fx.new("demo")]),
    Probe("demo-out-readonly", lambda fx: ["demo", "--no-progress", "--out", _ro(fx, "demo")]),
    # kcat-corpus: a source name that does not exist, a data folder without the kcat sources
    Probe("kcat-corpus-unknown-source", lambda fx: ["kcat-corpus", "--sources", "nosuch", "--out",
                                                    fx.new("c.parquet")], needle="unknown kcat source"),
    Probe("kcat-corpus-no-data", lambda fx: ["kcat-corpus", "--data-root", str(fx.root), "--out",
                                             fx.new("c.parquet")]),
    # cohort: a taxonomy table that is garbage or empty (the whole cohort is bad input, not one sample)
    Probe("cohort-taxonomy-garbage", lambda fx: ["cohort", fx["garbage_csv"], "--models", str(fx.root), "--out",
                                                 fx.new("cohort"), "--serial", "--no-report"], needle="taxonomy"),
    Probe("cohort-taxonomy-empty", lambda fx: ["cohort", fx["empty_csv"], "--models", str(fx.root), "--out",
                                               fx.new("cohort"), "--serial", "--no-report"]),
]


@dataclass
class Outcome:
    """What a probe did."""

    probe: Probe
    rc: int | None
    stdout: str
    stderr: str
    exc: str | None
    grade: str
    partial: bool


def _is_out(p: Probe, argv: list[str]) -> Path | None:
    if "--out" in argv:
        return Path(argv[argv.index("--out") + 1])
    return None


def run_probe(p: Probe, fx: Fixtures) -> Outcome:
    """Run one probe in-process and grade it."""
    from kingems_ray.cli import main

    argv = p.argv(fx)
    out_path = _is_out(p, argv)
    existed = out_path is not None and os.path.lexists(out_path)
    # like a terminal: stdout strict UTF-8, stderr with Python's backslashreplace
    so = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict", write_through=True)
    se = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="backslashreplace", write_through=True)
    exc = None
    rc: int | None = None
    root = logging.getLogger()
    handlers = list(root.handlers)
    handler = logging.StreamHandler(se)  # what basicConfig gives a real run: warnings on stderr
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.setLevel(logging.WARNING)
    root.addHandler(handler)
    try:
        with contextlib.redirect_stdout(so), contextlib.redirect_stderr(se):
            try:
                rc = main(argv)
            except SystemExit as e:  # argparse
                rc = e.code if isinstance(e.code, int) else 2
            except BaseException:  # noqa: BLE001 - a probe must never stop the table
                exc = traceback.format_exc()
    finally:
        root.handlers = handlers
    err = se.buffer.getvalue().decode("utf-8", "replace")
    stdout = so.buffer.getvalue().decode("utf-8", "replace")
    lines = [ln for ln in err.splitlines() if ln.strip()]
    partial = bool(out_path is not None and not existed and os.path.lexists(out_path)
                   and rc not in (0, None) and _has_files(out_path))
    if exc is not None or "Traceback (most recent call last)" in err:
        grade = "traceback"
    elif rc == 0:
        grade = "status" if p.check is not None and p.check(fx, rc, stdout, err) else "silent"
    elif rc == 2 and lines and _error_lines(lines) == 1 and "error:" in lines[-1] and (
            p.needle is None or p.needle in lines[-1]):
        grade = "clear"
    else:
        grade = "unclear"
    if partial and grade == "clear":
        grade = "partial"  # an error that left a partial output behind
    return Outcome(p, rc, stdout, err, exc, grade, partial)


def _error_lines(lines: list[str]) -> int:
    """Lines that report an error (``kingems-ray CMD: error: ...`` or argparse's ``PROG: error: ...``)."""
    return sum(1 for ln in lines if ": error:" in ln)


def _has_files(path: Path) -> bool:
    if path.is_file():
        return True
    return any(q.is_file() for q in path.rglob("*")) if path.is_dir() else False
