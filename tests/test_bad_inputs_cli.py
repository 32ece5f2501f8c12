"""Every subcommand against a table of bad inputs (``tests/bad_input_probes.py``), in-process through ``cli.main``.

Each probe must be a clear error (exit 2, one error line naming the problem, no traceback, nothing written to
``--out``) or, where the run rightly goes on, a recorded status (e.g. a warning naming an implausible kcat row).
Read-only and full ``--out`` use a read-only bind mount and a full 64 KiB tmpfs when this machine lets root mount
them; otherwise a path below a regular file (cannot be created by anyone) stands in for both.
"""

from __future__ import annotations

import collections
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bad_input_probes import PROBES, make_fixtures, run_probe, unmount_all  # noqa: E402

_GRADES: collections.Counter = collections.Counter()


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    f = make_fixtures(tmp_path_factory.mktemp("probes"))
    yield f
    unmount_all(f)


@pytest.mark.parametrize("probe", PROBES, ids=[p.id for p in PROBES])
def test_probe(fx, probe):
    o = run_probe(probe, fx)
    _GRADES[o.grade] += 1
    detail = (o.exc or o.stderr)[-2000:]
    if probe.expect == "error":
        assert o.grade == "clear", f"{probe.id}: graded {o.grade} (rc {o.rc}):\n{detail}"
        assert not o.partial, f"{probe.id}: left partial output"
        assert "Traceback" not in o.stderr
    else:
        assert o.grade == "status", f"{probe.id}: graded {o.grade} (rc {o.rc}):\n{detail}"


def test_probe_table_covers_every_subcommand():
    from kingems_ray.cli import COMMANDS

    covered = {p.argv.__code__.co_consts for p in PROBES}
    assert covered  # the lambdas hold the subcommand names as constants
    names = {c for consts in covered for c in consts if isinstance(c, str)}
    missing = [c for c in COMMANDS if c not in names]
    assert not missing, f"no bad-input probe for {missing}"
    assert len(PROBES) >= 70


def test_unexpected_error_is_one_line_with_a_log(tmp_path, capsys, monkeypatch):
    """An internal error (not a user error) gives exit 1, one line naming the log file, and the log holds the
    traceback; -v shows the traceback instead."""
    from kingems_ray import cli
    from kingems_ray.commands import fva

    def boom(args):
        raise ZeroDivisionError("a bug")

    monkeypatch.setenv("KINGEMS_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setattr(fva, "run", boom)
    rc = cli.main(["fva", "textbook", "--out", str(tmp_path / "o.parquet")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and "internal error: ZeroDivisionError: a bug" in err[0]
    logs = list((tmp_path / "logs").glob("kingems-ray-*.log"))
    assert len(logs) == 1 and str(logs[0]) in err[0]
    assert "Traceback" in logs[0].read_text() and "ZeroDivisionError" in logs[0].read_text()
    with pytest.raises(ZeroDivisionError):
        cli.main(["-v", "fva", "textbook", "--out", str(tmp_path / "o.parquet")])
