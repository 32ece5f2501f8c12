"""Community members: compiled models plus what a community needs to know about them, cached on disk.

A :class:`Member` wraps a :class:`~kingems_ray.ec.compile.CompiledModel` (plain or enzyme-constrained) with the
indices of its exchange reactions and the compartment-free metabolite keys they exchange (``glc_D`` for
``EX_glc_D(e)`` and for the AGORA1 spelling ``EX_glc_D_LPAREN_e_RPAREN_``). Members are stored in the content-keyed
compiled-model cache of :mod:`kingems_ray.store.cache` (npz + JSON, read with ``allow_pickle=False``: a file in a
shared cache folder is data, never code), so a set of SBML files is parsed once. The key holds a sha256 of the
model file's bytes and every option that changes the compiled member (level, pool, kcats, reader, GPR limit,
exchange rule); a changed file gets a new entry even when its size and mtime are unchanged.
"""

from __future__ import annotations

import glob
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..ec.compile import CompiledModel, compile_model
from ..errors import KingemsError, ModelLoadError
from ..gem.io import load_model
from ..gem.sbml_fast import read_sbml_light
from ..store.cache import (
    CompiledCache,
    cache_key,
    default_cache_dir,
    file_sha256,
    get_entry,
    put_entry,
    table_sha256,
)

log = logging.getLogger(__name__)

#: Bumped when what a cached member holds changes (old entries are then never read).
CACHE_VERSION = 2
_MODEL_SUFFIXES = (".xml", ".xml.gz", ".sbml", ".sbml.gz", ".json", ".json.gz")

# Compartment tags an external metabolite id can carry: glc_D[e], glc_D(e), glc_D_e, glc_D_LPAREN_e_RPAREN_.
_MET_COMP_RE = re.compile(r"(\[e\]|\(e\)|_LPAREN_e_RPAREN_|__91__e__93__|_e)$")
_EX_RE = re.compile(r"^(?:EX_|R_EX_)(.+?)(\[e\]|\(e\)|_LPAREN_e_RPAREN_|__40__e__41__|__91__e__93__|_e|_m)?$")


def met_key(met_id: str) -> str:
    """Compartment-free key of an external metabolite id (``glc_D[e]`` -> ``glc_D``)."""
    return _MET_COMP_RE.sub("", met_id.removeprefix("M_"))


def exchange_key(rxn_id: str) -> str:
    """Compartment-free metabolite key of an exchange reaction id.

    ``EX_glc(e)``, ``EX_glc[e]``, ``EX_glc_LPAREN_e_RPAREN_``, ``EX_glc_e`` and MICOM's ``EX_glc_m`` all give ``glc``.
    """
    m = _EX_RE.match(rxn_id.strip())
    if not m:
        return rxn_id
    return m.group(1)


@dataclass
class Member:
    """A compiled model ready to join a community.

    Attributes
    ----------
    name : str
        Short name (file stem) used in result tables.
    compiled : CompiledModel
    ex_rxn : ndarray of int
        Reaction indices of the exchange reactions that link to the shared environment.
    ex_key : list of str
        Metabolite key per exchange (``glc_D``), same order as ``ex_rxn``.
    ex_sign : ndarray of float
        Stoichiometric coefficient of the external metabolite in each exchange (-1 for ``met <=>``), so that
        ``-ex_sign * v`` is the secretion rate.
    biomass : int
        Reaction index of the objective (biomass) reaction.
    source : str
        File it came from.
    """

    name: str
    compiled: CompiledModel
    ex_rxn: np.ndarray
    ex_key: list[str]
    ex_sign: np.ndarray
    biomass: int
    source: str = ""
    info: dict = field(default_factory=dict)

    @property
    def ex_index(self) -> dict[str, int]:
        """Metabolite key -> position in ``ex_rxn``."""
        return {k: i for i, k in enumerate(self.ex_key)}

    def exchange_rxn_ids(self) -> list[str]:
        """Reaction ids of the exchanges, in ``ex_rxn`` order."""
        return [self.compiled.rxn_ids[j] for j in self.ex_rxn]


MAX_DNF_CLAUSES = 512
EXCHANGE_RULE = 2  # version of the exchange detection stored in Member.info


def _gpr_ast(rule: str):
    import ast

    from ..gem.gpr import _to_python

    expr, names = _to_python(rule)
    return ast.parse(expr, mode="eval").body, names


def dnf_size(rule: str) -> int:
    """Number of OR-of-AND clauses a GPR expands to (AND multiplies, OR adds), without expanding it."""
    import ast

    if not rule or not rule.strip():
        return 0
    node, _ = _gpr_ast(rule)

    def size(n) -> int:
        if isinstance(n, ast.Name):
            return 1
        if isinstance(n, ast.BoolOp):
            vals = [size(v) for v in n.values]
            if isinstance(n.op, ast.Or):
                return sum(vals)
            out = 1
            for v in vals:
                out *= v
            return out
        raise ValueError("unsupported GPR")

    return size(node)


def gpr_active(rule: str, knocked_out: set[str]) -> bool:
    """Evaluate a GPR (any nesting) with some genes knocked out, without expanding it."""
    import ast

    node, names = _gpr_ast(rule)

    def ev(n) -> bool:
        if isinstance(n, ast.Name):
            return names[n.id] not in knocked_out
        if isinstance(n.op, ast.Or):
            return any(ev(v) for v in n.values)
        return all(ev(v) for v in n.values)

    return ev(node)


def strip_complex_gprs(model, max_clauses: int = MAX_DNF_CLAUSES) -> dict[str, str]:
    """Blank GPRs whose OR-of-AND expansion exceeds ``max_clauses`` (AGORA has rules that expand to millions).

    ``compile_model`` expands every GPR; a few AGORA rules are products of long OR lists and never finish.
    Those reactions are compiled without GPR clauses (not enzyme-constrained); their rules are returned so that
    knockouts can still evaluate them (:func:`gpr_active`).
    """
    out: dict[str, str] = {}
    for r in model.reactions:
        rule = r.gene_reaction_rule
        if rule and ("and" in rule.lower()):
            try:
                n = dnf_size(rule)
            except (SyntaxError, ValueError):
                n = max_clauses + 1
            if n > max_clauses:
                out[r.id] = rule
                r.gene_reaction_rule = ""
    return out


def _is_external(met_id: str) -> bool:
    return bool(_MET_COMP_RE.search(met_id.removeprefix("M_")))


def member_from_compiled(cm: CompiledModel, name: str | None = None, source: str = "") -> Member:
    """Find the exchange reactions of a compiled model and wrap it as a :class:`Member`.

    An exchange is any reaction with exactly one metabolite, in the external compartment (as MICOM's
    ``is_boundary_type(r, "exchange", "e")``), whatever its id: some AGORA2 files carry external boundary
    reactions under shifted ids (``FBA``: ``cbl2[e] <=>`` in *Acetivibrio ethanolgignens*), which would otherwise
    be free uptakes. The biomass "exchange" (``EX_biomass(e)``) stays inside the organism, as MICOM and the COBRA
    Toolbox do.
    """
    A = cm.lp.A.tocsc()
    ex_rxn, ex_key, ex_sign = [], [], []
    for j in range(len(cm.rxn_ids)):
        col = int(cm.fwd_col[j])
        rows = A.indices[A.indptr[col] : A.indptr[col + 1]]
        vals = A.data[A.indptr[col] : A.indptr[col + 1]]
        # only metabolite rows count (enzyme rows come after them)
        keep = rows < len(cm.met_ids)
        rows, vals = rows[keep], vals[keep]
        if rows.size != 1:
            continue
        mid = cm.met_ids[rows[0]]
        key = met_key(mid)
        if not _is_external(mid) or "biomass" in key.lower():
            continue
        ex_rxn.append(j)
        ex_key.append(key)
        ex_sign.append(float(vals[0]))
    # several exchanges of one metabolite all link to the same environment row (none stays a free source)
    return Member(
        name=name or cm.model_id,
        compiled=cm,
        ex_rxn=np.asarray(ex_rxn, dtype=int),
        ex_key=ex_key,
        ex_sign=np.asarray(ex_sign, dtype=float),
        biomass=cm.objective_index(),
        source=source,
        info={"exchange_rule": EXCHANGE_RULE},
    )


def model_name(path: str | Path) -> str:
    """Short model name: file name without model suffixes."""
    name = Path(path).name
    for suf in sorted(_MODEL_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suf):
            return name[: -len(suf)]
    return name


def expand_model_paths(items: list[str] | str) -> list[Path]:
    """Model files from a list of files, folders and globs (sorted, de-duplicated).

    Raises
    ------
    ModelLoadError
        When an item matches no model file.
    """
    if isinstance(items, (str, Path)):
        items = [str(items)]
    out: list[Path] = []
    for it in items:
        p = Path(it)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.name.lower().endswith(_MODEL_SUFFIXES))
        elif any(ch in str(it) for ch in "*?["):
            found = sorted(Path(q) for q in glob.glob(str(it)) if q.lower().endswith(_MODEL_SUFFIXES))
        else:
            found = [p]
        if not found:
            raise ModelLoadError(f"{it}: no model files (.xml, .xml.gz, .json) found")
        out.extend(found)
    seen: set[Path] = set()
    return [p for p in out if not (p in seen or seen.add(p))]


def member_cache_key(path: Path, kcats=None, level: str = "L1", pool: float = 0.25, kcat_tag: str = "",
                     fast: bool = True) -> str:
    """Cache key of a member: the model file's content hash and every option that changes the compiled member.

    A kcat table is keyed by its content; a kcat callable (called only on a miss) by ``kcat_tag``.
    """
    params: dict = {"kind": "community-member", "version": CACHE_VERSION, "exchange_rule": EXCHANGE_RULE,
                    "max_dnf_clauses": MAX_DNF_CLAUSES, "fast_reader": bool(fast and kcats is None)}
    if kcats is None:
        params["level"] = "L1"
    else:
        kid = f"tag:{kcat_tag}" if callable(kcats) else "sha256:" + table_sha256(kcats)
        params.update(level=level, pool=pool, kcats=kid)
    return cache_key("sha256:" + file_sha256(path), params)


def _member_extra(mem: Member) -> dict:
    """What a cache entry holds besides the compiled model (the name and source come from the path loaded)."""
    return {"ex_rxn": mem.ex_rxn.tolist(), "ex_key": list(mem.ex_key), "ex_sign": mem.ex_sign.tolist(),
            "biomass": int(mem.biomass), "info": mem.info}


def _member_from_entry(cm: CompiledModel, extra: dict, path: Path) -> Member:
    return Member(name=model_name(path), compiled=cm, ex_rxn=np.asarray(extra["ex_rxn"], dtype=int),
                  ex_key=list(extra["ex_key"]), ex_sign=np.asarray(extra["ex_sign"], dtype=float),
                  biomass=int(extra["biomass"]), source=str(path), info=dict(extra["info"]))


def load_member(
    path: str | Path,
    cache_dir: str | Path | None = None,
    kcats=None,
    level: str = "L1",
    pool: float = 0.25,
    kcat_tag: str = "",
    fast: bool = True,
) -> Member:
    """Load (or read from the cache) one community member.

    Parameters
    ----------
    path : str or Path
        SBML / JSON model file.
    cache_dir : path, optional
        Compiled-model cache folder (default :func:`kingems_ray.store.cache.default_cache_dir`, shared with the
        sweeps); ``""`` disables caching.
    kcats : DataFrame or callable, optional
        Matched kcat table for :func:`compile_model`, or a callable ``f(cobra_model) -> table`` (called only on a
        cache miss). ``None`` gives the plain model (level L1).
    level, pool :
        Passed to :func:`compile_model`.
    kcat_tag : str
        Names the kcat source of a callable ``kcats`` in the cache key (change it when the kcats change); a
        table is keyed by its content.
    fast : bool
        Read plain SBML with :func:`~kingems_ray.gem.sbml_fast.read_sbml_light` (10x faster than cobrapy,
        same compiled result); cobrapy is used for kcats and when the fast reader fails.

    Raises
    ------
    ModelLoadError
        Unreadable file or a model without objective.
    """
    path = Path(path)
    if not path.exists():
        raise ModelLoadError(f"{path}: model file not found")
    cache = CompiledCache(cache_dir or default_cache_dir()) if cache_dir != "" else None
    key = member_cache_key(path, kcats, level, pool, kcat_tag, fast) if cache is not None else ""
    if cache is not None:
        hit = get_entry(cache, key)
        if hit is not None:
            return _member_from_entry(*hit, path)
    mem = _compile_member(path, kcats, level, pool, fast)
    if cache is not None:
        put_entry(cache, key, mem.compiled, _member_extra(mem))
    return mem


def _compile_member(path: Path, kcats, level: str, pool: float, fast: bool) -> Member:
    """Parse and compile one member (the cache miss path)."""
    model = None
    if kcats is None and fast and path.name.lower().endswith((".xml", ".xml.gz", ".sbml", ".sbml.gz")):
        try:
            model = read_sbml_light(path)
        except ModelLoadError as exc:
            log.info("falling back to cobrapy: %s", exc)
    if model is None:
        model = load_model(path)
    complex_gpr = strip_complex_gprs(model)
    table = kcats(model) if callable(kcats) else kcats
    try:
        cm = compile_model(model, table, level=level if table is not None else "L1", pool=pool)
    except KingemsError as exc:
        raise ModelLoadError(f"{path}: {exc}") from exc
    mem = member_from_compiled(cm, name=model_name(path), source=str(path))
    mem.info["complex_gpr"] = complex_gpr
    return mem


def _load_one(args: tuple) -> Member | str:
    path, cache_dir, level = args
    try:
        return load_member(path, cache_dir=cache_dir)
    except ModelLoadError as exc:
        return f"{path}: {exc}"


def load_members(
    paths: list[str | Path], cache_dir: str | Path | None = None, processes: int = 1
) -> tuple[list[Member], list[str]]:
    """Load many plain members (parallel over processes on a cache miss).

    Returns
    -------
    members : list of Member
    errors : list of str
        One line per model that could not be loaded (recorded, not fatal).
    """
    args = [(str(p), cache_dir, "L1") for p in paths]
    if processes > 1 and len(args) > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(processes) as pool:
            res = pool.map(_load_one, args, chunksize=1)
    else:
        res = [_load_one(a) for a in args]
    members = [r for r in res if isinstance(r, Member)]
    errors = [r for r in res if isinstance(r, str)]
    return members, errors


def check_unique_model_names(paths: list[str | Path] | tuple[str | Path, ...]) -> None:
    """Two model files with the same short name (file stem) would overwrite each other's rows."""
    from ..validate import InputError

    seen: dict[str, str] = {}
    for p in paths:
        n = model_name(p)
        if n in seen and str(Path(seen[n]).resolve()) != str(Path(p).resolve()):
            raise InputError(f"two models share the name {n!r}: {seen[n]} and {p}; rename one (results are keyed "
                             "by name)")
        seen[n] = str(p)
