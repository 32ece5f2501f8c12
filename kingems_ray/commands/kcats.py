"""``kingems-ray kcats``: the kcat table of a model (predictions with database / EC fallbacks)."""

from __future__ import annotations

from ..kcat.build_table import HELP, add_arguments, run

__all__ = ["HELP", "add_arguments", "run"]
