"""The ``kingems-ray`` command line: one entry point, one module per subcommand.

Each subcommand lives in ``kingems_ray/commands/<name>.py`` and defines ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. Errors raised on purpose (:class:`KingemsError`)
print one readable line and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from . import __version__

# name -> module; listed in the order ``--help`` shows them.
COMMANDS = {
    "demo": "demo",
    "fva": "fva",
    "build": "build",
    "kcats": "kcats",
    "train-kcat": "train_kcat",
    "tune": "tune",
    "maintenance": "maintenance",
    "knockout": "knockout",
    "evaluate": "evaluate",
    "report": "report",
    "sweep": "sweep",
    "pairwise": "pairwise",
    "community": "community",
}


def _load(name: str):
    mod = f"{__package__}.commands.{COMMANDS[name]}"
    try:
        return importlib.import_module(mod)
    except ModuleNotFoundError as exc:
        if exc.name == mod:
            return None  # subcommand not shipped in this build
        raise


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available subcommand."""
    parser = argparse.ArgumentParser(
        prog="kingems-ray",
        description="Enzyme-constrained GEMs with machine-learned kcats, at microbiome scale on Ray.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging and full tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        mod = _load(name)
        if mod is None:
            continue
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit status.

    Exit status 2 with one line on stderr for every error the user can fix (a bad input, an unwritable or full
    ``--out``, a held lock); 1 with one line and the path of a log file holding the traceback for anything
    unexpected; ``-v`` shows the traceback instead.
    """
    for stream in (sys.stdout, sys.stderr):  # file names that are not UTF-8 print as \xff, never crash a run
        if hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="backslashreplace")
            except (ValueError, OSError):
                pass
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    if not getattr(args, "_run", None):
        parser.print_help()
        return 1
    from .errors_cli import classify, preflight, write_log

    try:
        preflight(args, sys.argv[1:] if argv is None else argv)
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print(f"kingems-ray {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - every error ends as one line (see errors_cli)
        if args.verbose:
            raise
        user, msg = classify(exc)
        if user:
            _say(f"kingems-ray {args.command}: error: {msg}")
            return 2
        log = write_log(exc, argv)
        _say(f"kingems-ray {args.command}: internal error: {msg}" + (f" (full log: {log})" if log else "")
             + "; rerun with -v for the traceback")
        return 1


def _say(line: str) -> None:
    from .validate import safe_text

    print(safe_text(line), file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
