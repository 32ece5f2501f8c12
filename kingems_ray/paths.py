"""Where reference data lives: ``$KINGEMS_DATA`` or ``../shared/data`` beside the checkout."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import DataNotFoundError

_REPO_ROOT = Path(__file__).resolve().parent.parent


def data_root(required: bool = False) -> Path | None:
    """Return the reference-data folder, or ``None`` when it is absent.

    Parameters
    ----------
    required : bool
        Raise :class:`DataNotFoundError` instead of returning ``None``.
    """
    env = os.environ.get("KINGEMS_DATA")
    candidates = [Path(env)] if env else []
    candidates += [_REPO_ROOT.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    # Run from the checkout, the last two are one folder: look (and report) it once.
    unique: dict[Path, Path] = {}
    for c in candidates:
        unique.setdefault(c.resolve(), c)
    candidates = list(unique.values())
    for cand in candidates:
        if cand.is_dir():
            return cand
    if required:
        raise DataNotFoundError(
            "reference data not found: set KINGEMS_DATA or place shared/data beside the checkout "
            f"(looked in {', '.join(str(c) for c in candidates)})"
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
