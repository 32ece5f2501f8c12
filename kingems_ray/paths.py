"""Where reference data lives: ``$KINGEMS_DATA`` if set, else ``../shared/data`` beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import DataNotFoundError

_REPO_ROOT = Path(__file__).resolve().parent.parent


def data_root(required: bool = False) -> Path | None:
    """Return the reference-data folder, or ``None`` when it is absent.

    ``$KINGEMS_DATA``, when set, is the only place looked at (an explicit choice is never overridden by a
    ``shared/data`` that happens to be near); otherwise ``shared/data`` beside the checkout, then beside the current
    folder. An empty folder counts as absent, so ``KINGEMS_DATA=$(mktemp -d)`` runs everything as without data.

    Parameters
    ----------
    required : bool
        Raise :class:`DataNotFoundError` instead of returning ``None``.
    """
    env = os.environ.get("KINGEMS_DATA")
    if env:
        candidates = [Path(env)]
    else:
        candidates = [_REPO_ROOT.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    # Run from the checkout, both defaults are one folder: look (and report) it once.
    unique: dict[Path, Path] = {}
    for c in candidates:
        unique.setdefault(c.resolve(), c)
    candidates = list(unique.values())
    for cand in candidates:
        if cand.is_dir() and any(cand.iterdir()):
            return cand
    if required:
        where = ", ".join(str(c) for c in candidates)
        raise DataNotFoundError(
            f"reference data not found in {where} (empty or missing): "
            + ("point KINGEMS_DATA at the data folder" if env else
               "set KINGEMS_DATA or place shared/data beside the checkout")
        )
    return None


def data_file(*parts: str) -> Path:
    """Return a file inside the reference data, raising a clear error when it is missing."""
    root = data_root(required=True)
    path = root.joinpath(*parts)
    if not path.exists():
        raise DataNotFoundError(f"reference data file not found: {path}")
    return path


def package_data(*parts: str) -> Path:
    """Return a path inside the package's own shipped data folder."""
    return Path(__file__).resolve().parent.joinpath("data", *parts)
