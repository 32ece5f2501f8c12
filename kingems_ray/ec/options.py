"""The model flags every command shares, without importing the compiler.

``kingems-ray CMD --help`` builds its parser from here, so it must not pull in numpy, pandas, scipy or HiGHS (see
``tests/test_first_hour.py``). :class:`kingems_ray.ec.spec.EcSpec` reads the flags back and validates them against
the compiler's own tables (``tests/test_redesign.py`` checks that the names here match them).
"""

from __future__ import annotations

import argparse

#: Ablation levels, in order (the compiler's ``ec.compile.LEVELS`` holds what each one switches on).
LEVEL_NAMES = ("L1", "L2", "L3a", "L3b", "L3c", "L4")
#: Enzyme-constraint row formulations (``ec.compile.FORMULATIONS``).
FORMULATION_NAMES = ("gecko", "kingems")
#: Ways to combine several kcats of one reaction / gene / direction.
AGGREGATES = ("max", "mean", "min", "first", "geomean", "all")


def add_model_arguments(p: argparse.ArgumentParser, kcats_required: bool = False) -> None:
    """The flags every command that compiles a model takes (read back with :meth:`EcSpec.from_args`).

    Parameters
    ----------
    p : argparse.ArgumentParser
    kcats_required : bool
        Make ``--kcats`` mandatory (commands that only make sense for an ecGEM).
    """
    p.add_argument("model", help="SBML (.xml/.xml.gz), COBRA JSON, or a cobra builtin name (textbook, iJO1366)")
    p.add_argument("--kcats", required=kcats_required, help="kcat table (CSV/Parquet, see docs); none = plain GEM")
    p.add_argument("--level", default="L4", choices=list(LEVEL_NAMES), help="ablation level")
    p.add_argument("--pool", type=float, default=0.25, help="total enzyme pool [g/gDW] (default 0.25)")
    p.add_argument("--aggregate", default="max", choices=list(AGGREGATES),
                   help="combine several kcats per reaction/gene/direction (default max; 'all' keeps every "
                   "substrate's row, as the kinGEMs formulation uses them)")
    p.add_argument("--formulation", default="gecko", choices=list(FORMULATION_NAMES),
                   help="enzyme-constraint rows: gecko (default) or exactly as the published kinGEMs pipeline")
