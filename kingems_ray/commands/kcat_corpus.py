"""``kingems-ray kcat-corpus``: build the labelled kcat corpus (see ``docs/kcat_predictor.md``)."""

from __future__ import annotations

from ..kcat.corpus import HELP, add_arguments, run

__all__ = ["HELP", "add_arguments", "run"]
