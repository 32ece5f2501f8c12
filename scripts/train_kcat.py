#!/usr/bin/env python
"""Train and evaluate the kcat predictor (same as ``kingems-ray train-kcat``).

Examples::

    # the reaction-aware, sequence-optional ensemble on the corpus (the shipped checkpoint; see
    # docs/kcat_predictor.md for the exact command that made it)
    .venv/bin/python -m kingems_ray.cli kcat-corpus --out runs/kcat/corpus.parquet
    .venv/bin/python scripts/train_kcat.py --corpus runs/kcat/corpus.parquet --out runs/kcat_corpus --threads 2
    # the version-1 KcatNet-only ensemble
    .venv/bin/python scripts/train_kcat.py --out runs/kcat --threads 2
"""

from __future__ import annotations

import sys

from kingems_ray.kcat.train import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
