#!/usr/bin/env python
"""Train and evaluate the kcat predictor (same as ``kingems-ray train-kcat``).

Example::

    .venv/bin/python scripts/train_kcat.py --out runs/kcat --threads 2
"""

from __future__ import annotations

import sys

from kingems_ray.kcat.train import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
