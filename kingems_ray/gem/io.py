"""Loading GEMs (SBML ``.xml`` / ``.xml.gz``, COBRA JSON ``.json`` / ``.json.gz``) with clear errors."""

from __future__ import annotations

import gzip
import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ModelLoadError

if TYPE_CHECKING:  # cobra takes ~1.5 s to import: only loading a model pays for it
    import cobra

_BUILTIN = {"textbook", "e_coli_core", "iJO1366", "salmonella", "mini"}


def _quiet_cobra() -> None:
    # libsbml / cobra log every unit or annotation quirk; users only need real errors.
    for name in ("cobra", "cobra.io", "cobra.io.sbml", "cobra.core.model"):
        logging.getLogger(name).setLevel(logging.ERROR)


def load_model(path: str | Path) -> cobra.Model:
    """Load a metabolic model from a file, or a model that ships with cobra by name.

    Parameters
    ----------
    path : str or Path
        An SBML (``.xml``, ``.sbml``, optionally ``.gz``) or COBRA JSON (``.json``, optionally ``.gz``) file,
        or the name of a model bundled with cobrapy (``textbook``, ``e_coli_core``, ``iJO1366``, ``salmonella``).

    Returns
    -------
    cobra.Model

    Raises
    ------
    ModelLoadError
        When the file is missing, unreadable, not valid SBML/JSON, or holds no reactions.
    """
    import cobra

    _quiet_cobra()
    spath = str(path)
    if spath in _BUILTIN and not Path(spath).exists():
        name = "textbook" if spath == "e_coli_core" else spath
        model = cobra.io.load_model(name)
        if spath == "e_coli_core":
            model.id = "e_coli_core"
        return model
    p = Path(spath)
    if not p.exists():
        raise ModelLoadError(f"{p}: model file not found")
    if p.is_dir():
        raise ModelLoadError(f"{p}: is a folder, expected a model file")
    suffixes = [s.lower() for s in p.suffixes]
    is_gz = suffixes[-1:] == [".gz"]
    base = suffixes[-2] if is_gz and len(suffixes) >= 2 else (suffixes[-1] if suffixes else "")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if base == ".json":
                if is_gz:
                    with gzip.open(p, "rt") as fh:
                        model = cobra.io.load_json_model(fh)
                else:
                    model = cobra.io.load_json_model(str(p))
            elif base in (".xml", ".sbml"):
                model = cobra.io.read_sbml_model(str(p))
            else:
                raise ModelLoadError(f"{p}: unknown model format {''.join(p.suffixes)!r} (expected .xml, .json)")
    except ModelLoadError:
        raise
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise ModelLoadError(f"{p}: cannot read file ({type(exc).__name__}: {exc})") from exc
    except Exception as exc:  # cobra/libsbml raise many exception types for malformed input
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(f"{p}: invalid model ({type(exc).__name__}: {msg[:300]})") from exc
    if len(model.reactions) == 0:
        raise ModelLoadError(f"{p}: model has no reactions")
    return model


def _builtin_file(name: str) -> Path | None:
    """The SBML file cobra ships for a builtin model name, found without importing cobra (None if not SBML)."""
    import importlib.util

    files = {"textbook": "textbook.xml.gz", "e_coli_core": "textbook.xml.gz", "iJO1366": "iJO1366.xml.gz",
             "salmonella": "salmonella.xml.gz"}
    spec = importlib.util.find_spec("cobra")
    if name not in files or spec is None or spec.origin is None:
        return None
    f = Path(spec.origin).parent / "data" / files[name]
    return f if f.exists() else None


def load_model_fast(path: str | Path):
    """Load a model for compiling only: SBML L3 fbc-v2 through the streaming reader, anything else through cobra.

    The streaming reader (:func:`kingems_ray.gem.sbml_fast.read_sbml_light`) skips cobra's 1.5 s import and its
    slower parse; its :class:`~kingems_ray.gem.sbml_fast.LightModel` holds what the compiler reads (stoichiometry,
    bounds, GPRs, objective), with the ids cobra would give. Use :func:`load_model` when cobra objects are needed
    (kcat matching, media, writing SBML).

    Returns
    -------
    LightModel or cobra.Model
    """
    from .sbml_fast import read_sbml_light

    spath = str(path)
    f = _builtin_file(spath) if spath in _BUILTIN and not Path(spath).exists() else None
    p = f if f is not None else Path(spath)
    if f is not None or (p.is_file() and any(s.lower() in (".xml", ".sbml") for s in p.suffixes)):
        try:
            model = read_sbml_light(p)
            # the id cobrapy gives: the SBML id as written (the light reader decodes it for community names);
            # cobra's textbook file is the e_coli_core model, so that name needs no special case here
            model.id = model.sbml_id or model.id
            return model
        except ModelLoadError:
            pass  # not L3 fbc-v2, or damaged: cobra's reader gives the definitive answer (or error)
    return load_model(path)


def objective_reaction(model: cobra.Model) -> str:
    """Return the id of the single reaction with a non-zero objective coefficient.

    Raises
    ------
    ModelLoadError
        When the model has no objective or a multi-reaction one.
    """
    coefs = {r.id: r.objective_coefficient for r in model.reactions if r.objective_coefficient != 0}
    if not coefs:
        raise ModelLoadError(f"model {model.id!r} has no objective (no reaction with a non-zero objective coefficient)")
    if len(coefs) > 1:
        # Keep the largest coefficient: BiGG models put the biomass reaction alone, anything else is unusual.
        return max(coefs, key=lambda k: abs(coefs[k]))
    return next(iter(coefs))
