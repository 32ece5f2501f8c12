"""The ``kingems-ray`` command line: one entry point, one module per subcommand.

Each subcommand lives in ``kingems_ray/commands/<name>.py`` and defines ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. Errors raised on purpose (:class:`KingemsError`)
print one readable line and exit with status 2.

Start-up is lazy: ``kingems-ray --help`` imports no subcommand module (they pull in cobra, pandas, torch, Ray), and
``kingems-ray CMD ...`` imports only ``CMD``'s module. The one-line summaries ``--help`` lists live in
:data:`COMMANDS` for that reason.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from . import __version__

# name -> (module, summary for ``kingems-ray --help``); listed in the order ``--help`` shows them. A subcommand's
# own ``--help`` shows its module's ``HELP``.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("demo", "the whole pipeline on the textbook E. coli core model via Ray (predict, build, tune, FVA, "
                     "knockouts)"),
    "fva": ("fva", "flux variability analysis (plain or enzyme-constrained) -> Parquet"),
    "build": ("build", "build an enzyme-constrained model and write it as SBML"),
    "kcats": ("kcats", "the kcat table of a model (predictions, database and median fallbacks) -> Parquet"),
    "train-kcat": ("train_kcat", "train and evaluate the kcat predictor; save a checkpoint"),
    "kcat-corpus": ("kcat_corpus", "build the labelled kcat corpus (all sources, normalised, deduplicated) "
                                    "-> Parquet"),
    "tune": ("tune", "tune kcats by simulated annealing -> tuned kcat table + trajectory (Parquet)"),
    "maintenance": ("maintenance", "maintenance-energy sweep: growth over an NGAM x GAM grid -> Parquet"),
    "knockout": ("knockout", "single-gene knockout screen over media / carbon sources -> Parquet"),
    "evaluate": ("evaluate", "score knockouts against measured data, compare two models, or compare FVA"),
    "report": ("report", "report for a model: FVA per level, tuning, knockout accuracy -> Markdown/HTML/PNG"),
    "sweep": ("sweep", "run a sweep (models x analyses) from a YAML config on Ray; rerun to resume"),
    "pairwise": ("pairwise", "pairwise interaction screen of models on a diet (AGORA protocol), resumable"),
    "community": ("community", "community growth with MICOM's cooperative trade-off, exchanges, cross-feeding"),
    "cohort": ("cohort", "microbiome cohort screens: taxonomy -> per-sample communities, media, perturbations"),
}


def _load(name: str):
    mod = f"{__package__}.commands.{COMMANDS[name][0]}"
    try:
        return importlib.import_module(mod)
    except ModuleNotFoundError as exc:
        if exc.name == mod:
            return None  # subcommand not shipped in this build
        raise


def _chosen(argv: list[str]) -> str | None:
    """The subcommand named in ``argv`` (the first word that is one), or ``None``."""
    for a in argv:
        if a == "--":
            return None
        if not a.startswith("-"):
            return a if a in COMMANDS else None
    return None


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser.

    Parameters
    ----------
    argv : list of str, optional
        The command line about to be parsed: only the subcommand it names gets its module imported and its
        arguments defined (the others are listed by name and summary). ``None``: every subcommand in full, as the
        documentation checks need.
    """
    parser = argparse.ArgumentParser(
        prog="kingems-ray",
        description="Enzyme-constrained GEMs with machine-learned kcats, at microbiome scale on Ray.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging and full tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = set(COMMANDS) if argv is None else {_chosen(argv)}
    for name, (_, summary) in COMMANDS.items():
        if name not in wanted:
            sub.add_parser(name, help=summary)
            continue
        mod = _load(name)
        if mod is None:
            if argv is not None:
                parser.error(f"the {name!r} subcommand is not in this installation")
            continue
        p = sub.add_parser(name, help=summary, description=mod.HELP)
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
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
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
