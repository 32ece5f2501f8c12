"""Typed exceptions shared by the whole package.

Every error a user can cause carries a message that names the input and what is wrong, so the CLI can print it
as one readable line.
"""

from __future__ import annotations


class KingemsError(Exception):
    """Base class of every error raised on purpose by kingems-ray."""


class ModelLoadError(KingemsError):
    """A model file is missing, unreadable or not a valid SBML / COBRA JSON model."""


class KcatTableError(KingemsError):
    """A kcat table is missing required columns or holds invalid values."""


class DataNotFoundError(KingemsError):
    """Reference data (``../shared/data`` or ``$KINGEMS_DATA``) or a checkpoint is absent."""


class SolverError(KingemsError):
    """The LP solver failed in a way that is not a modelling outcome (not infeasible / unbounded)."""


class Infeasible(KingemsError):
    """The optimisation problem has no feasible point."""


class Unbounded(KingemsError):
    """The objective is unbounded."""
