"""Connecting to Ray: a given address, the cluster of a ``ray job submit`` job, or an embedded local instance."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from typing import Any

log = logging.getLogger(__name__)


class _ToLog(logging.Handler):
    """Re-emit a Ray log record on this module's logger: notices at DEBUG (shown with ``-v``), errors as they are."""

    def emit(self, record: logging.LogRecord) -> None:
        level = record.levelno if record.levelno >= logging.ERROR else logging.DEBUG
        log.log(level, "ray: %s", record.getMessage())


@contextlib.contextmanager
def ray_notices_to_log() -> Iterator[None]:
    """Route what Ray's own ``ray`` logger prints while it starts (the token-authentication notice, start-up
    messages) to this package's log instead of the terminal; its errors still reach the terminal through it."""
    # ``ray._private`` (worker, node, services, authentication set-up): ``ray.init(configure_logging=False)`` clears
    # the handlers of the ``ray`` logger itself, after which its records would reach Python's last-resort stderr.
    rl = logging.getLogger("ray._private")
    saved = rl.handlers[:], rl.propagate
    rl.handlers[:] = [_ToLog()]
    rl.propagate = False
    try:
        yield
    finally:
        rl.handlers[:], rl.propagate = saved


#: Attempts at starting a local Ray. Ray gives its raylet a fixed 30 s to register; on a loaded machine (or the first
#: start from a fresh virtual environment, compiling every module) that can run out while a second try succeeds.
LOCAL_START_ATTEMPTS = 3


def _start_local(num_cpus: int | None, quiet: bool) -> None:
    import ray

    for attempt in range(1, LOCAL_START_ATTEMPTS + 1):
        try:
            ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=not quiet, configure_logging=False,
                     _node_ip_address="127.0.0.1")
            return
        except Exception as exc:
            if "timed out during startup" not in str(exc) or attempt == LOCAL_START_ATTEMPTS:
                raise
            with contextlib.suppress(Exception):
                ray.shutdown()
            print(f"ray: the local Ray did not start within Ray's 30 s (a busy machine?); trying again "
                  f"({attempt + 1}/{LOCAL_START_ATTEMPTS})", file=sys.stderr, flush=True)


def connect(address: str | None = None, num_cpus: int | None = None, quiet: bool = True) -> dict[str, Any]:
    """Initialise Ray once for this process.

    Parameters
    ----------
    address : str, optional
        ``host:port`` of a running cluster's GCS, ``auto``, or ``ray://...``. Without it, ``$RAY_ADDRESS`` is used
        when set (``ray job submit`` sets it for the job's driver); otherwise a local Ray is started inside this
        process (no dashboard, nothing listening beyond 127.0.0.1).
    num_cpus : int, optional
        CPUs of the local instance (default: all).
    quiet : bool
        Do not forward worker logs to the driver's terminal.

    Returns
    -------
    dict
        ``{"address": ..., "local": bool, "resources": ray.cluster_resources()}``.

    Notes
    -----
    With token authentication (``RAY_AUTH_MODE=token``, the default in Ray 2.60) the token comes from
    ``$RAY_AUTH_TOKEN`` or ``~/.ray/auth_token``; it is never printed or logged here.
    """
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if ray.is_initialized():
        return {"address": None, "local": False, "resources": ray.cluster_resources()}
    addr = address or os.environ.get("RAY_ADDRESS")
    with ray_notices_to_log():
        if addr:
            ray.init(address=addr, log_to_driver=not quiet, configure_logging=False)
            local = False
        else:
            _start_local(num_cpus, quiet)
            local = True
    res = ray.cluster_resources()
    log.info("ray: %s cluster, %s CPUs", "local" if local else "remote", res.get("CPU"))
    return {"address": addr, "local": local, "resources": res}
