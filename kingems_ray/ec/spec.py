"""One model specification for every entry point: what to compile, its cache key, and the CLI flags that set it.

Every command (``fva``, ``knockout``, ``tune``, ``maintenance``, ``build``), the sweep worker and the scripts make
their ecGEM through :class:`EcSpec`, so an option added here (as ``--formulation`` was) works everywhere at once:

.. code-block:: python

    spec = EcSpec.from_args(args)              # or EcSpec(level="L4", formulation="kingems", kcats="k.parquet")
    built = spec.build(args.model)             # kingems_ray.ec.build.Built
    key = spec.cache_key(model_content_id)     # changes with every field (and the kcat file's content)
    tuned = spec.build(built.model, kcats=tuned_table)   # the same settings, another table
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import KingemsError
from ..hashing import file_sha256
from .compile import FORMULATIONS, LEVELS
from .compiled import compiled_key
from .options import AGGREGATES, add_model_arguments

__all__ = ["AGGREGATES", "KCAT_SOURCES", "EcSpec", "add_model_arguments"]

#: kcat sources a sweep resolves itself (not files)
KCAT_SOURCES = ("fallback", "predicted")


@dataclass(frozen=True)
class EcSpec:
    """How to compile a model: ablation level, pool, formulation, kcat aggregation and the kcat table.

    Frozen and hashable (usable as a dict key or memo key).

    Attributes
    ----------
    level : str
        ``L1`` ... ``L4`` (see :data:`kingems_ray.ec.compile.LEVELS`); without kcats the plain GEM is built.
    pool : float
        Total enzyme pool [g/gDW].
    formulation : {"gecko", "kingems"}
    aggregate : str
        How several kcat rows per (reaction, gene, direction) are combined.
    kcats : str or None
        A kcat table file (CSV/Parquet), a source name a sweep resolves (``"fallback"``, ``"predicted"``), or
        ``None`` for the plain GEM.
    irreversible : bool
        Split reversible reactions first, as the kinGEMs reference does (for its "FVi").
    """

    level: str = "L4"
    pool: float = 0.25
    formulation: str = "gecko"
    aggregate: str = "max"
    kcats: str | None = None
    irreversible: bool = False

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise KingemsError(f"unknown ablation level {self.level!r}; choose one of {', '.join(LEVELS)}")
        if self.formulation not in FORMULATIONS:
            raise KingemsError(f"unknown formulation {self.formulation!r}; choose one of {', '.join(FORMULATIONS)}")
        if self.aggregate not in AGGREGATES:
            raise KingemsError(f"unknown kcat aggregation {self.aggregate!r}; choose one of {', '.join(AGGREGATES)}")
        object.__setattr__(self, "pool", float(self.pool))
        if self.kcats is not None:
            object.__setattr__(self, "kcats", str(self.kcats))

    # -- making one ----------------------------------------------------------------------------------------------
    @classmethod
    def from_args(cls, args: argparse.Namespace, **overrides: Any) -> EcSpec:
        """From the flags of :func:`add_model_arguments` (missing flags take the defaults)."""
        kw = {name: getattr(args, name) for name in ("level", "pool", "formulation", "aggregate", "kcats")
              if getattr(args, name, None) is not None}
        kw.update(overrides)
        return cls(**kw)

    @classmethod
    def from_mapping(cls, ec: Mapping[str, Any] | None) -> EcSpec | None:
        """From a sweep unit's ``ec`` block (``None`` or empty: plain GEM, returned as ``None``); other keys of the
        block (``organism``, ``sequences``, ``checkpoint``) decide the kcat table and are the caller's."""
        if not ec:
            return None
        names = ("level", "pool", "formulation", "aggregate", "irreversible")
        return cls(kcats=ec.get("kcats", "fallback"), **{k: ec[k] for k in names if k in ec})

    def with_(self, **changes: Any) -> EcSpec:
        """A copy with some fields changed."""
        return replace(self, **changes)

    # -- identity ------------------------------------------------------------------------------------------------
    def kcat_id(self) -> str | None:
        """Content id of the kcat table: ``sha256:<hex>`` of a file, the source name otherwise."""
        if self.kcats is None:
            return None
        p = Path(self.kcats)
        if self.kcats not in KCAT_SOURCES and p.is_file():
            return "sha256:" + file_sha256(p)
        return self.kcats

    def params(self, kcat_id: Any = None) -> dict[str, Any]:
        """The compile parameters that enter a cache key (``kcat_id`` overrides :meth:`kcat_id`, e.g. a sweep's
        description of a predicted table)."""
        out = asdict(self)
        out.pop("kcats")
        if not self.irreversible:
            out.pop("irreversible")
        out["kcat_source"] = self.kcat_id() if kcat_id is None else kcat_id
        return out

    def cache_key(self, model_content_id: str, kcat_id: Any = None) -> str:
        """Key of the compiled model (:func:`kingems_ray.ec.compiled.compiled_key`)."""
        return compiled_key(model_content_id, self.params(kcat_id))

    # -- building ------------------------------------------------------------------------------------------------
    def build(self, model, kcats=None, gene_mw: dict[str, float] | None = None, light: bool = False):
        """Load (if needed) and compile ``model`` with these settings.

        Parameters
        ----------
        model : path, builtin name or cobra.Model
        kcats : path or DataFrame, optional
            A table to use instead of :attr:`kcats` (e.g. a tuned table); needed when :attr:`kcats` is a source
            name.
        gene_mw : dict, optional
        light : bool
            Read a plain model with the streaming SBML reader (see :func:`kingems_ray.ec.build.build`).

        Returns
        -------
        kingems_ray.ec.build.Built
        """
        from .build import build

        table = kcats if kcats is not None else self.kcats
        if isinstance(table, str) and table in KCAT_SOURCES:
            raise KingemsError(f"kcat source {table!r} must be resolved to a table first (give kcats=...)")
        return build(model, table, level=self.level, pool=self.pool, aggregate=self.aggregate, gene_mw=gene_mw,
                     formulation=self.formulation, irreversible=self.irreversible, light=light)
