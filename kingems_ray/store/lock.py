"""One writer per results folder: a lock file naming the holder's host and pid, and writer-tagged temporaries.

``OUT/_writer.lock`` holds ``{"host", "pid", "started", "token"}``. It is created with ``os.link`` from a complete
temporary file, so it either exists with its whole content or not at all. A second writer finds it and stops
with :class:`LockHeld` (exit 2 from the CLI) naming the holder. A lock whose pid is dead on this host is stale
(the writer was killed) and is taken over; a lock from another host is never taken over (its pid cannot be
checked from here): the message says how to remove it.

Temporaries written by :func:`kingems_ray.store.cache.atomic_write_bytes` carry the writer's tag
(``.<name>.w<pid>@<host>.<random>.tmp``), so a writer removes only its own leftovers and those of dead
writers on its host, never a live writer's.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import time
import uuid
from pathlib import Path

from ..errors import KingemsError

LOCK_NAME = "_writer.lock"
#: Untagged temporaries, or ones from another host, older than this are removed by a lock holder [s].
FOREIGN_TMP_AGE = 24 * 3600.0
_TAG_RE = re.compile(r"\.w(\d+)@([A-Za-z0-9_-]+)\.[^.]*\.tmp$")


class LockHeld(KingemsError):
    """Another writer holds the results folder."""


def host_name() -> str:
    """This host's name, safe inside a file name."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname() or "localhost")


def writer_tag() -> str:
    """Tag of temporaries written by this process (pid changes after a fork, so it is read each time)."""
    return f"w{os.getpid()}@{host_name()}"


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def temp_owner(name: str) -> tuple[int, str] | None:
    """``(pid, host)`` of a tagged temporary's writer, or ``None`` for an untagged one."""
    m = _TAG_RE.search(name)
    return (int(m.group(1)), m.group(2)) if m else None


def removable_temp(path: Path, now: float | None = None) -> bool:
    """Whether this process may delete a temporary: its own, a dead writer's on this host, or an old foreign one."""
    owner = temp_owner(path.name)
    host = host_name()
    if owner is not None and owner[1] == host:
        return owner[0] == os.getpid() or not pid_alive(owner[0])
    try:
        age = (now or time.time()) - path.stat().st_mtime
    except OSError:
        return False
    return age > FOREIGN_TMP_AGE


class WriterLock:
    """The lock of one results folder (a context manager).

    Parameters
    ----------
    root : str or Path
        The results folder (created when missing).
    what : str
        What is written, for messages (e.g. ``"sweep"``).
    """

    def __init__(self, root: str | Path, what: str = "writer") -> None:
        self.root = Path(root)
        self.path = self.root / LOCK_NAME
        self.what = what
        self.token = uuid.uuid4().hex
        self.took_over: dict | None = None
        self.held = False

    def _info(self) -> dict:
        return {"host": host_name(), "pid": os.getpid(), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                   time.gmtime()),
                "token": self.token, "what": self.what}

    def read(self) -> dict | None:
        """The holder's record, ``{}`` when the file is unreadable, ``None`` when there is no lock."""
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}

    def acquire(self) -> WriterLock:
        """Take the lock or raise :class:`LockHeld` naming the holder (a stale lock is taken over)."""
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{LOCK_NAME}.{writer_tag()}.{self.token[:8]}.tmp"
        tmp.write_text(json.dumps(self._info()))
        try:
            for _ in range(3):
                try:
                    os.link(tmp, self.path)
                    self.held = True
                    return self
                except FileExistsError:
                    pass
                holder = self.read()
                if holder is None:
                    continue  # released in the meantime: try again
                if not self._stale(holder):
                    raise LockHeld(self._held_message(holder))
                # a dead writer's lock on this host: take it over (rename is atomic; a racing taker retries)
                self.took_over = holder
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path)
            raise LockHeld(f"{self.path}: could not take the lock (another writer keeps taking it)")
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()

    def _stale(self, holder: dict) -> bool:
        if not holder:  # unreadable lock: stale once it is old (a writer killed while writing it)
            try:
                return time.time() - self.path.stat().st_mtime > 60
            except OSError:
                return True
        if holder.get("host") != host_name():
            return False
        pid = int(holder.get("pid") or 0)
        return not pid_alive(pid) or (pid == os.getpid() and holder.get("token") == self.token)

    def _held_message(self, holder: dict) -> str:
        if not holder:
            return f"{self.root} is locked by another writer ({self.path} is unreadable; remove it if none runs)"
        other_host = holder.get("host") != host_name()
        return (f"{self.root} is being written by another {holder.get('what', 'writer')}: pid {holder.get('pid')} on "
                f"host {holder.get('host')} since {holder.get('started')}; wait for it to finish"
                + (f", or remove {self.path} if that process is gone" if other_host else
                   " (stop it first, or use another --out)"))

    def release(self) -> None:
        """Remove the lock if it is still ours."""
        if not self.held:
            return
        holder = self.read()
        if holder and holder.get("token") == self.token:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        self.held = False

    def __enter__(self) -> WriterLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
