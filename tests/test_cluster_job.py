"""A real two-node Ray cluster on this machine (token auth), a sweep submitted as a Ray job, a node killed mid-way.

Head: ``ray start --head --node-ip-address=127.0.0.1 --dashboard-host=127.0.0.1`` with ``RAY_AUTH_MODE=token`` and a
per-test token in ``RAY_AUTH_TOKEN`` (never printed), every port chosen free, a private temp dir. A second node
joins with ``ray start --address``. The sweep goes in with ``ray job submit --working-dir``; when a few units are
done the second node is killed (SIGKILL to its process group) and the sweep must still finish with every unit
present exactly once. Teardown kills only the process groups this test started (and any stray process naming its
private temp dir), never ``ray stop`` (that would stop every Ray on the machine).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.dataset as ds
import pytest
import yaml

from kingems_ray.distributed.config import load_config, plan_units

pytestmark = [pytest.mark.slow, pytest.mark.ray]

RAY = str(Path(sys.executable).with_name("ray"))
N_SLOW = 30


def _free_ports(n: int) -> list[int]:
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def _node_ports(ports: list[int]) -> list[str]:
    names = ["--node-manager-port", "--object-manager-port", "--metrics-export-port", "--runtime-env-agent-port",
             "--dashboard-agent-listen-port", "--dashboard-agent-grpc-port"]
    return [f"{n}={p}" for n, p in zip(names, ports)]


def _kill_group(proc: subprocess.Popen | None) -> None:
    if proc is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=20)


def _kill_naming(marker: str) -> None:
    """SIGKILL processes whose command line contains ``marker`` (our temp dir or our ports: ours), by pid."""
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmd:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(d.name), signal.SIGKILL)


def _pids_of_node(node_manager_port: int) -> set[int]:
    """Pids of the processes under the raylet listening on ``node_manager_port`` (its workers: Ray retitles
    worker processes, so they are found as the raylet's descendants, not by their command line)."""
    parent: dict[int, int] = {}
    roots = set()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        parent[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        if f"--node_manager_port={node_manager_port}" in cmd:
            roots.add(int(d.name))
    found, grew = set(roots), True
    while grew:
        new = {pid for pid, pp in parent.items() if pp in found and pid not in found}
        found |= new
        grew = bool(new)
    return found


def _stored_workers(out: Path) -> set[int]:
    """Pids of the workers (``host:pid``) that wrote the units stored so far (files being written are skipped)."""
    pids = set()
    for f in out.glob("analysis=*/*.parquet"):
        with contextlib.suppress(Exception):
            for w in ds.dataset(f, format="parquet").to_table(columns=["worker"]).column("worker").to_pylist():
                if w and ":" in w:
                    pids.add(int(w.rsplit(":", 1)[1]))
    return pids


def _wait_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


def _job_status(env: dict, dash: int, sid: str) -> str:
    r = subprocess.run([RAY, "job", "status", "--address", f"http://127.0.0.1:{dash}", sid], env=env,
                       capture_output=True, text=True, timeout=60)
    text = (r.stdout + r.stderr).lower()  # "Job 'x' succeeded" / "... is currently running" / "Status ...: FAILED"
    for word in ("SUCCEEDED", "FAILED", "STOPPED", "RUNNING", "PENDING"):
        if word.lower() in text:
            return word
    return "UNKNOWN: " + (r.stdout + r.stderr)[-500:]


def test_job_submit_survives_losing_a_node(tmp_path):
    tmp = Path(tempfile.mkdtemp(prefix="krc", dir="/tmp"))  # short: Ray socket paths have a length limit
    gcs, dash, client, *rest = _free_ports(3 + 12)
    env = dict(os.environ, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(16),
               RAY_USAGE_STATS_ENABLED="0", RAY_health_check_period_ms="1000",
               RAY_health_check_failure_threshold="3", RAY_health_check_timeout_ms="1000")
    env.pop("RAY_ADDRESS", None)
    workdir = tmp / "job"
    workdir.mkdir()
    out = tmp / "out"
    cfg = {
        "name": "cluster_job_test",
        "models": {"list": ["textbook"]},
        "analyses": [{"name": "fba"}]
        + [{"name": "selftest", "label": f"s{i}", "params": {"sleep": 1.0, "i": i}} for i in range(N_SLOW)],
        "run": {"retries": 1, "cache_dir": str(tmp / "cache"), "max_in_flight_per_worker": 1},
    }
    (workdir / "sweep.yaml").write_text(yaml.safe_dump(cfg))
    planned = {u.unit_id for u in plan_units(load_config(workdir / "sweep.yaml"))}
    head = worker = None
    try:
        head = subprocess.Popen(
            [RAY, "start", "--head", "--block", "--node-ip-address=127.0.0.1", "--dashboard-host=127.0.0.1",
             f"--port={gcs}", f"--dashboard-port={dash}", f"--ray-client-server-port={client}", "--num-cpus=1",
             "--include-dashboard=true", f"--temp-dir={tmp / 'ray'}", *_node_ports(rest[:6])],
            env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(dash, 90)
        worker = subprocess.Popen(
            [RAY, "start", "--block", f"--address=127.0.0.1:{gcs}", "--node-ip-address=127.0.0.1", "--num-cpus=2",
             *_node_ports(rest[6:12])],
            env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(rest[6], 60)  # the worker node's raylet (node manager port)
        sid = f"kr-{secrets.token_hex(4)}"
        sub = subprocess.run(
            [RAY, "job", "submit", "--address", f"http://127.0.0.1:{dash}", "--submission-id", sid,
             "--working-dir", str(workdir), "--no-wait", "--", sys.executable, "-m", "kingems_ray.cli", "sweep",
             "sweep.yaml", "--out", str(out), "--workers", "3", "--no-progress"],
            env=env, capture_output=True, text=True, timeout=120)
        assert sub.returncode == 0, sub.stdout[-2000:] + sub.stderr[-2000:]
        assert env["RAY_AUTH_TOKEN"] not in sub.stdout + sub.stderr

        # Kill the worker node only once its actors are doing units (one of them stored a result): under load
        # they can start late, and a node whose actors never ran anything tests no recovery.
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and (len(list(out.glob("analysis=*/*.parquet"))) < 5
                                               or not _stored_workers(out) & _pids_of_node(rest[6])):
            assert not _job_status(env, dash, sid).startswith(("FAILED", "STOPPED")), "job died early"
            time.sleep(0.5)
        n_before = len(list(out.glob("analysis=*/*.parquet")))
        assert 5 <= n_before < len(planned), n_before
        _kill_group(worker)  # the second node dies: its raylet, its workers, their actors
        _kill_naming(f"--node_manager_port={rest[6]}")
        worker = None

        deadline = time.monotonic() + 200
        status = "PENDING"
        while time.monotonic() < deadline:
            status = _job_status(env, dash, sid)
            if status in ("SUCCEEDED", "FAILED", "STOPPED"):
                break
            time.sleep(1.0)
        logs = subprocess.run([RAY, "job", "logs", "--address", f"http://127.0.0.1:{dash}", sid], env=env,
                              capture_output=True, text=True, timeout=60).stdout
        assert status == "SUCCEEDED", logs[-3000:]
        summary = json.loads((out / "_summary.json").read_text())
        assert summary["n_worker_restarts"] >= 1 or summary["n_requeued"] >= 1, summary

        t = ds.dataset(out, format="parquet", partitioning="hive").to_table(columns=["unit_id", "status"])
        df = t.to_pandas()
        assert df["unit_id"].is_unique, "a unit was written twice"
        assert set(df["unit_id"]) == planned, "a unit is missing"
        assert (df["status"] == "ok").all(), df[df["status"] != "ok"]
    finally:
        _kill_group(worker)
        _kill_group(head)
        _kill_naming(str(tmp))
        for p in rest[:12]:
            _kill_naming(f"_port={p}")
        shutil.rmtree(tmp, ignore_errors=True)


def _recipe_block() -> str:
    """The bash block of cluster/README.md's "Local and single-machine runs" section, as written."""
    text = (Path(__file__).resolve().parent.parent / "cluster" / "README.md").read_text()
    section = text[text.index("## Local and single-machine runs"):]
    return section.split("```bash\n", 1)[1].split("```", 1)[0]


def _free_base(span: int = 100) -> int:
    """A base port with ``span`` free ports above it (the recipe's port layout)."""
    for _ in range(50):
        base = 20000 + secrets.randbelow(400) * 100
        socks = []
        try:
            for p in range(base, base + span):
                s = socket.socket()
                s.bind(("127.0.0.1", p))
                socks.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no block of 100 free ports found")


def test_cluster_readme_local_recipe_runs_as_written(data_dir, tmp_path):
    """cluster/README.md's local recipe, run by bash as written: only the port base, the output folder and the
    venv activation (this test's interpreter is already the venv) differ. The job finds the data through
    runtime_env, every planned unit is written, and `stop` leaves no process of this cluster behind."""
    repo = Path(__file__).resolve().parent.parent
    block = _recipe_block()
    base = _free_base()
    out = tmp_path / "agora_bact"
    session = f"/tmp/kr-{base}"
    script = (block.replace("make venv && . .venv/bin/activate", ":")
              .replace("export KR_PORT=6380", f"export KR_PORT={base}")
              .replace("--out /tmp/agora_bact", f"--out {out}"))
    assert script.count(str(base)) == 1 and str(out) in script, "the README recipe changed: update this test"
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}", KINGEMS_DATA=str(data_dir),
               RAY_AUTH_TOKEN=secrets.token_hex(16), PYTHONPATH=str(repo))
    env.pop("RAY_ADDRESS", None)
    try:
        res = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=repo, env=env, capture_output=True,
                             text=True, timeout=900, start_new_session=True)
        text = res.stdout + res.stderr
        assert res.returncode == 0, text[-4000:]
        assert env["RAY_AUTH_TOKEN"] not in text
        assert "local-ray: stopped" in text
        planned = {u.unit_id for u in plan_units(load_config(repo / "configs" / "agora_ecgem_sweep.yaml",
                                                             "Bacteroides*"))}
        df = ds.dataset(out, format="parquet", partitioning="hive").to_table(columns=["unit_id", "status"]).to_pandas()
        assert set(df["unit_id"]) == planned and df["unit_id"].is_unique
        summary = json.loads((out / "_summary.json").read_text())
        assert summary["n_ok"] + summary["n_failed"] == len(planned)
        time.sleep(1)
        left = [d.name for d in Path("/proc").iterdir() if d.name.isdigit() and session.encode()
                in _cmdline(d)]
        assert not left, f"processes of the stopped cluster still running: {left}"
    finally:
        subprocess.run(["bash", str(repo / "cluster" / "local-ray.sh"), "stop"], env=dict(env, KR_PORT=str(base)),
                       capture_output=True, timeout=120)
        _kill_naming(session)
        shutil.rmtree(session, ignore_errors=True)


def _cmdline(d: Path) -> bytes:
    try:
        return (d / "cmdline").read_bytes()
    except OSError:
        return b""
