"""How the CLI turns an exception into one line: user errors (exit 2) vs unexpected ones (exit 1, log file).

A user error is anything the user can fix by changing an input or the environment: a :class:`KingemsError`,
an ``OSError`` (missing file, read-only or full file system, permissions), and the parse errors of the formats
we read (undecodable text, empty / malformed CSV, a damaged Parquet or gzip file, invalid JSON / YAML). Anything
else is unexpected: its traceback goes to a log file (``$KINGEMS_LOG_DIR``, else ``~/.cache/kingems-ray/logs``,
else the temporary folder) and the one line says where.
"""

from __future__ import annotations

import errno
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from .errors import KingemsError

_MAX = 600


def _one_line(text: str) -> str:
    s = " ".join(str(text).split())
    return s if len(s) <= _MAX else s[: _MAX - 3] + "..."


def _os_message(exc: OSError) -> str:
    name = exc.filename if exc.filename is not None else None
    where = f"{name}: " if name else ""
    why = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        return (f"{where}no space left on device; free some space and run the same command again (finished "
                "results are kept)")
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"{where}cannot write or read here: {why}"
    if exc.errno == errno.ENOENT:
        return f"file not found: {name}" if name else _one_line(str(exc))
    return f"{where}{_one_line(why) if name else _one_line(str(exc))}"


def _is(exc: BaseException, module: str, *names: str) -> bool:
    mod = sys.modules.get(module)
    if mod is None:
        return False
    for n in names:
        obj: Any = mod
        for part in n.split("."):
            obj = getattr(obj, part, None)
        if isinstance(obj, type) and isinstance(exc, obj):
            return True
    return False


def classify(exc: BaseException) -> tuple[bool, str]:
    """``(is a user error, one-line message)`` for an exception that reached the CLI."""
    if isinstance(exc, KingemsError):
        return True, _one_line(str(exc))
    if isinstance(exc, UnicodeDecodeError):
        return True, (f"an input is not UTF-8 text ({exc.reason} at byte {exc.start}); expected a text table "
                      "(CSV/TSV), JSON or FASTA")
    if isinstance(exc, UnicodeEncodeError):
        from .validate import safe_text

        return True, (f"a name is not valid UTF-8: {safe_text(str(exc.object))[:200]!r} ({exc.reason}); "
                      "rename it")
    if isinstance(exc, OSError):  # gzip.BadGzipFile is an OSError too
        if type(exc).__name__ == "BadGzipFile":
            return True, f"not a valid gzip file ({_one_line(str(exc))})"
        return True, _os_message(exc)
    if isinstance(exc, EOFError):
        return True, f"a compressed input ends too early (truncated?): {_one_line(str(exc))}"
    if _is(exc, "zlib", "error"):
        return True, f"a compressed input is damaged: {_one_line(str(exc))}"
    if _is(exc, "pickle", "UnpicklingError"):
        return True, (f"not a loadable weights-only checkpoint ({_one_line(str(exc))[:200]}); checkpoints are "
                      "read with torch.load(weights_only=True)")
    if _is(exc, "json", "JSONDecodeError"):
        return True, f"invalid JSON: {_one_line(str(exc))}"
    if _is(exc, "yaml", "YAMLError"):
        return True, f"invalid YAML: {_one_line(str(exc))}"
    if _is(exc, "pandas.errors", "EmptyDataError"):
        return True, "an input table is empty (no columns to parse)"
    if _is(exc, "pandas.errors", "ParserError"):
        return True, f"an input table cannot be parsed: {_one_line(str(exc))}"
    if _is(exc, "pyarrow.lib", "ArrowInvalid", "ArrowIOError"):
        return True, f"not a readable Parquet/Arrow file (damaged or truncated?): {_one_line(str(exc))}"
    return False, f"{type(exc).__name__}: {_one_line(str(exc)) or '(no message)'}"


def log_dir() -> Path:
    """Folder for the logs of unexpected errors."""
    env = os.environ.get("KINGEMS_LOG_DIR")
    if env:
        return Path(env)
    return Path.home() / ".cache" / "kingems-ray" / "logs"


def write_log(exc: BaseException, argv: list[str] | None) -> Path | None:
    """Write the traceback of an unexpected error; returns the file (``None`` when nowhere is writable)."""
    from . import __version__

    text = (f"kingems-ray {__version__}\nargv: {argv if argv is not None else sys.argv[1:]}\n"
            f"time: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\npython: {sys.version.split()[0]}\n\n"
            + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    name = f"kingems-ray-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    for d in (log_dir(), Path(tempfile.gettempdir())):
        try:
            d.mkdir(parents=True, exist_ok=True)
            p = d / name
            p.write_text(text, errors="backslashreplace")
            return p
        except OSError:
            continue
    return None


def preflight(args: Any, argv: list[str]) -> None:
    """Checks of the command line that need no input read: ``--level`` without ``--kcats``, an unwritable ``--out``.

    Raises
    ------
    KingemsError
    """
    from .validate import check_level_needs_kcats, check_output_path

    argv = [str(a) for a in argv]
    if hasattr(args, "level") and hasattr(args, "kcats"):
        given = any(a == "--level" or a.startswith("--level=") for a in argv)
        check_level_needs_kcats(args.level, args.kcats, level_given=given)
    out = getattr(args, "out", None)
    if isinstance(out, str) and out:
        check_output_path(out)
