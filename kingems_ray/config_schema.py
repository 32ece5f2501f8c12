"""Strict schemas for configuration files: an unknown key, a wrong type or an out-of-range value is an error.

Covers the YAML sweep config (every block: ``models``, ``medium``, ``ec``, ``analyses`` with each analysis's
``params``, ``run``, ``predictor``) and the JSON blocks the CLI reads from kinGEMs run configs
(``simulated_annealing`` for ``tune``, ``maintenance_sweep`` for ``maintenance``). A misspelt key gets a suggestion
(``unknown key 'levle' in ec; did you mean 'level'?``). Keys starting with ``_`` (kinGEMs' ``_comment_*``) are
notes and are skipped.

Variables: ``${VAR}`` in a sweep config expands only ``KINGEMS_*`` and the variables in :data:`DOCUMENTED_VARS`,
so that a config can never copy a secret from the environment into the results folder.
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import KingemsError


class ConfigError(KingemsError):
    """A configuration file holds an unknown key, a value of the wrong type or out of range."""


#: Variables a config may use besides ``KINGEMS_*`` (documented in ``kingems_ray/distributed/config.py``).
DOCUMENTED_VARS = frozenset({"HOME", "USER", "TMPDIR", "PWD", "SLURM_SUBMIT_DIR", "SLURM_JOB_ID", "SLURM_TMPDIR"})

LEVELS = ("L1", "L2", "L3a", "L3b", "L3c", "L4")
AGGREGATES = ("max", "mean", "min", "first", "geomean", "all")
FORMULATIONS = ("gecko", "kingems")


def variable_allowed(name: str) -> bool:
    """Whether ``${name}`` may be expanded in a config."""
    return name.startswith("KINGEMS_") or name in DOCUMENTED_VARS


def expand_variable(name: str) -> str:
    """The value of ``${name}`` in a config (``KINGEMS_DATA`` defaults to the data root).

    Raises
    ------
    ConfigError
        A variable that is not ``KINGEMS_*`` or documented (it is never read), or one that is not set.
    """
    if not variable_allowed(name):
        raise ConfigError(f"config uses ${{{name}}}: only KINGEMS_* and {', '.join(sorted(DOCUMENTED_VARS))} are "
                          "expanded in configs (other variables may hold secrets)")
    if name in os.environ:
        return os.environ[name]
    if name == "KINGEMS_DATA":
        from .errors import DataNotFoundError
        from .paths import data_root

        try:
            return str(data_root(required=True))
        except DataNotFoundError as exc:
            if "RAY_JOB_CONFIG_JSON_ENV_VAR" not in os.environ:  # not the driver of a `ray job submit`
                raise
            # In a Ray job the working directory is Ray's copy of --working-dir, so ../shared/data is not there.
            raise DataNotFoundError(
                f"{exc}. This sweep runs as a Ray job, in Ray's copy of the working directory: pass the data "
                "folder to it, e.g. ray job submit ... --runtime-env-json "
                "'{\"env_vars\": {\"KINGEMS_DATA\": \"/absolute/path/to/shared/data\"}}' (see cluster/README.md)"
            ) from None
    raise ConfigError(f"config uses ${{{name}}}, which is not set")


# -- schema primitives -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Field:
    """One key of a block: accepted types, range, choices; ``sub`` checks a nested mapping / list items."""

    types: tuple[type, ...]
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    choices: tuple | None = None
    nullable: bool = True
    sub: Schema | Callable[[Any, str], Any] | None = None
    items: Field | None = None

    def describe(self) -> str:
        names = {bool: "true/false", int: "an integer", float: "a number", str: "a string", list: "a list",
                 dict: "a mapping"}
        types = [t for t in self.types if not (t is int and float in self.types)]
        return " or ".join(names.get(t, t.__name__) for t in types)


@dataclass(frozen=True)
class Schema:
    """Keys of one block; ``open_keys`` accepts any other key (blocks whose keys are data, e.g. exchanges)."""

    name: str
    fields: Mapping[str, Field]
    open_keys: bool = False
    required: tuple[str, ...] = ()


def _type_ok(v: Any, types: tuple[type, ...]) -> bool:
    if object in types:
        return True
    if isinstance(v, bool):
        return bool in types
    if isinstance(v, int) and (int in types or float in types):
        return True
    if isinstance(v, float) and float in types:
        return True
    return any(isinstance(v, t) for t in types if t not in (bool, int, float))


def suggest(key: str, known: list[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest known key, or ``""``."""
    close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(sorted(known))})"


def check_value(v: Any, f: Field, where: str) -> None:
    """Type, range and choices of one value."""
    if v is None:
        if f.nullable:
            return
        raise ConfigError(f"{where}: must not be empty")
    if not _type_ok(v, f.types):
        raise ConfigError(f"{where}: expected {f.describe()}, got {type(v).__name__} {v!r}")
    if f.choices is not None and v not in f.choices:
        raise ConfigError(f"{where}: {v!r} is not one of {', '.join(map(str, f.choices))}")
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if not math.isfinite(float(v)):
            raise ConfigError(f"{where}: {v!r} is not a finite number")
        if f.lo is not None and (v <= f.lo if f.lo_open else v < f.lo):
            raise ConfigError(f"{where}: {v!r} is out of range (must be {'>' if f.lo_open else '>='} {f.lo:g})")
        if f.hi is not None and v > f.hi:
            raise ConfigError(f"{where}: {v!r} is out of range (must be <= {f.hi:g})")
    if f.items is not None and isinstance(v, list):
        for i, item in enumerate(v):
            check_value(item, f.items, f"{where}[{i}]")
    if f.sub is not None and isinstance(v, dict):
        if isinstance(f.sub, Schema):
            check_block(v, f.sub, where)
        else:
            f.sub(v, where)


def check_block(data: Any, schema: Schema, where: str | None = None) -> None:
    """Check one mapping against ``schema`` (recursively).

    Raises
    ------
    ConfigError
        ``unknown key 'levle' in ec; did you mean 'level'?``, a wrong type, a value out of range.
    """
    where = where or schema.name
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__} {data!r}")
    for key, v in data.items():
        if isinstance(key, str) and key.startswith("_"):
            continue  # notes (kinGEMs' _comment_* keys)
        f = schema.fields.get(key)
        if f is None:
            if schema.open_keys:
                continue
            raise ConfigError(f"unknown key {key!r} in {where}{suggest(str(key), list(schema.fields))}")
        check_value(v, f, f"{where}.{key}")
    for key in schema.required:  # after the unknown keys: a misspelt required key gets its suggestion
        if key not in data:
            raise ConfigError(f"{where}: missing required key {key!r}")


# -- sweep config ------------------------------------------------------------------------------------------------------
NUM = (int, float)
POS = Field(NUM, lo=0, lo_open=True)
NONNEG = Field(NUM, lo=0)
FRACTION = Field(NUM, lo=0, hi=1)
COUNT = Field((int,), lo=1)
NONNEG_INT = Field((int,), lo=0)
STR = Field((str,))
STRS = Field((list,), items=Field((str,), nullable=False))
ANY = Field((object,))

EC = Schema("ec", {
    "kcats": STR, "level": Field((str,), choices=LEVELS), "pool": POS, "sequences": STR, "organism": STR,
    "checkpoint": STR, "aggregate": Field((str,), choices=AGGREGATES),
    "formulation": Field((str,), choices=FORMULATIONS), "exclude_cofactors": Field((bool,)),
})
MEDIUM = Schema("medium", {
    "file": STR, "condition": STR, "diet": STR,
    "exchanges": Field((dict,), sub=Schema("medium.exchanges", {}, open_keys=True)),
})
MODELS = Schema("models", {"folder": STR, "glob": STR, "list": Field((list,), items=Field((str,), nullable=False)),
                           "limit": NONNEG_INT})
RUN = Schema("run", {
    "retries": NONNEG_INT, "max_in_flight_per_worker": COUNT, "workers": COUNT, "cache_dir": STR,
    "unit_timeout": POS,
})
PREDICTOR = Schema("predictor", {"actors": NONNEG_INT, "num_cpus": POS, "device": STR, "batch_size": COUNT})

#: Parameters of the built-in analyses (:mod:`kingems_ray.distributed.analyses`); an analysis not listed here (added
#: by a plugin) has its parameters passed through unchecked.
ANALYSIS_PARAMS: dict[str, Schema] = {
    "fba": Schema("params", {"fluxes": Field((bool,))}),
    "fva_summary": Schema("params", {"fraction": FRACTION, "reactions": STRS, "table": Field((bool,))}),
    "ecgem": Schema("params", {}),
    "knockout": Schema("params", {"genes": STRS, "growth_threshold": NONNEG}),
    "tune": Schema("params", {"target_growth": POS, "iterations": NONNEG_INT, "chains": COUNT,
                              "seed": Field((int,)), "n_top": COUNT}),
    "kcat_table": Schema("params", {}),
    "pairwise": Schema("params", {"partner": STR, "diet": Field((str, dict)), "coupling": NONNEG,
                                  "min_growth": NONNEG, "sig": NONNEG}),
    "community": Schema("params", {"members": STRS, "abundances": Field((list, dict)), "diet": Field((str, dict)),
                                   "tradeoff": FRACTION, "perturbations": Field((list,))}),
}


def _analysis(item: Any, where: str) -> None:
    if isinstance(item, str):
        return
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: an analysis is a name or a mapping with 'name', got {item!r}")
    name = item.get("name")
    params_schema = ANALYSIS_PARAMS.get(name) if isinstance(name, str) else None
    sch = Schema(where, {
        "name": Field((str,), nullable=False), "label": STR, "pairs": Field((str,), choices=("all",)),
        "samples": Field((int,), lo=1),  # kcat samples: one unit per sample index (analysis.uncertainty)
        "ec": Field((bool, dict), sub=EC), "medium": Field((str, dict), sub=MEDIUM),
        "params": Field((dict,), sub=params_schema or Schema("params", {}, open_keys=True)),
    }, required=("name",))
    check_block(item, sch, where)


SWEEP = Schema("config", {
    "name": STR,
    "description": STR,
    "models": Field((str, list, dict), nullable=False, sub=MODELS, items=Field((str,), nullable=False)),
    "medium": Field((str, dict), sub=MEDIUM),
    "ec": Field((dict,), sub=EC),
    "analyses": Field((list,), nullable=False),
    "run": Field((dict,), sub=RUN),
    "predictor": Field((dict,), sub=PREDICTOR),
}, required=("models", "analyses"))


def check_sweep_config(raw: Any, source: str = "config") -> None:
    """Check a parsed sweep config against :data:`SWEEP` (every block, every analysis and its params).

    Raises
    ------
    ConfigError
        Naming the file, the block and the key.
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: a sweep config is a mapping with 'models' and 'analyses', got "
                          f"{type(raw).__name__}")
    try:
        check_block(raw, SWEEP)
        analyses = raw["analyses"]
        if not analyses:
            raise ConfigError("config.analyses: empty (list at least one analysis)")
        for i, item in enumerate(analyses):
            name = item if isinstance(item, str) else (item.get("name") if isinstance(item, dict) else i)
            _analysis(item, f"analyses[{i}] ({name})")
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


# -- kinGEMs JSON blocks -----------------------------------------------------------------------------------------------
#: kinGEMs ``adaptive_strategies`` keys that are known but not implemented here: accepted, with a warning.
KINGEMS_NOT_IMPLEMENTED = ("enable_dynamic_step_size", "enable_multi_objective", "step_size_reduction")


def _annealing_schema() -> Schema:
    from dataclasses import fields

    from .analysis.tuning import AnnealingSettings

    types = {"float": NUM, "int": (int,), "bool": (bool,), "str": (str,), "float | None": NUM}
    out: dict[str, Field] = {}
    for f in fields(AnnealingSettings):
        t = types.get(str(f.type), (object,))
        out[f.name] = Field(t)
    out.update({
        "max_unchanged_iterations": Field((int,)), "n_top_enzymes": Field((int,)), "biomass_goal": POS,
        "verbose": Field((bool,)),
        "adaptive_strategies": Field((dict,), sub=Schema("adaptive_strategies", {
            "enable_restart": Field((bool,)), "restart_frequency": Field((int,)), "restart_threshold": NONNEG,
            **{k: ANY for k in KINGEMS_NOT_IMPLEMENTED},
        }, open_keys=False)),
    })
    return Schema("simulated_annealing", out)


MAINTENANCE = Schema("maintenance_sweep", {
    "ngam_range": Field((list,), nullable=False, items=Field(NUM, lo=0, nullable=False)),
    "gam_range": Field((list,), nullable=False, items=Field(NUM, lo=0, nullable=False)),
    "verbose": Field((bool,)),
}, required=("ngam_range", "gam_range"))


def read_json_config(path: Any) -> dict:
    """A JSON config file as a mapping.

    Raises
    ------
    ConfigError
        Missing, unreadable, not JSON, or not an object.
    """
    import json
    from pathlib import Path

    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{p}: config not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read config ({exc})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{p}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: a config is a JSON object, got {type(data).__name__}")
    return data


def check_json_block(config: Mapping, block: str, source: str, flat_ok: bool = False) -> None:
    """Check the ``simulated_annealing`` or ``maintenance_sweep`` block of a kinGEMs run config.

    ``flat_ok``: the mapping may be the block itself (``AnnealingSettings.from_config`` accepts a flat mapping).
    """
    schema = {"simulated_annealing": _annealing_schema, "maintenance_sweep": lambda: MAINTENANCE}[block]()
    if block in config:
        data = config[block]
    elif flat_ok:
        data = config
        schema = Schema(schema.name, schema.fields, open_keys=False)
        # a flat mapping may also hold other kinGEMs top-level keys: check only those that look like settings
        data = {k: v for k, v in config.items() if not isinstance(v, (dict, list)) or k in schema.fields}
        data = {k: v for k, v in data.items() if k in schema.fields or difflib.get_close_matches(
            str(k), list(schema.fields), n=1, cutoff=0.8)}
    else:
        raise ConfigError(f"{source}: no {block} block")
    try:
        check_block(data, schema, block)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    ad = data.get("adaptive_strategies") if isinstance(data, dict) else None
    for k in KINGEMS_NOT_IMPLEMENTED:
        if isinstance(ad, dict) and ad.get(k):
            import logging

            logging.getLogger(__name__).warning("%s: adaptive_strategies.%s is a kinGEMs option not implemented "
                                                "here; it is ignored", source, k)
