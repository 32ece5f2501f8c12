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
from .errors import KingemsError

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
    "cohort": "cohort",
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
    """Run the CLI; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    if not getattr(args, "_run", None):
        parser.print_help()
        return 1
    try:
        return int(args._run(args) or 0)
    except KingemsError as exc:
        if args.verbose:
            raise
        print(f"kingems-ray {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        if args.verbose:
            raise
        print(f"kingems-ray {args.command}: error: file not found: {exc.filename or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"kingems-ray {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
