"""``kingems-ray train-kcat``: train and evaluate the kcat predictor (see ``docs/kcat_predictor.md``)."""

from __future__ import annotations

from ..kcat.train import HELP, add_arguments, run

__all__ = ["HELP", "add_arguments", "run"]
