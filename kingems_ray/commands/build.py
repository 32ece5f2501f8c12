"""``kingems-ray build``: compile an ecGEM and export it as SBML."""

from __future__ import annotations

import argparse
import sys

from ..ec.options import add_model_arguments

HELP = "build an enzyme-constrained model and write it as SBML"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``build``."""
    add_model_arguments(p, kcats_required=True)
    p.add_argument("--out", required=True, help="output SBML file (.xml)")


def run(args: argparse.Namespace) -> int:
    """Run ``build``."""
    from ..ec.export import export_sbml
    from ..ec.spec import EcSpec

    b = EcSpec.from_args(args).build(args.model)
    if b.kcat_report is not None:
        print(b.kcat_report.summary(), file=sys.stderr)
    growth = export_sbml(b, args.out)
    print(f"wrote {args.out}: level {b.compiled.level}, {b.compiled.report.get('n_enzymes', 0)} enzymes, "
          f"growth {growth:.6g} 1/h")
    return 0
