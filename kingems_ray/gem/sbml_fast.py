"""A fast reader for SBML L3 + fbc v2 files (AGORA / cobrapy exports) straight to a plain compiled model.

cobrapy's ``read_sbml_model`` (libsbml + cobra objects) takes ~2 s per AGORA model; a community screen over
hundreds of models only needs the stoichiometry, bounds, GPRs and the objective. This reader streams the XML
(``xml.etree.ElementTree.iterparse``), decodes ids as cobrapy does (``M_glc_D__91__e__93__`` -> ``glc_D[e]``), and
hands a light model object to :func:`kingems_ray.ec.compile.compile_model`, so the compiled result is the same
as through cobrapy (``tests/test_diets.py`` checks this). Files it cannot read fall back to cobrapy.
"""

from __future__ import annotations

import gzip
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ModelLoadError

_CODE_RE = re.compile(r"__(\d+)__")
SBML_NS = "http://www.sbml.org/sbml/level3/version1/core"
FBC_NS = "http://www.sbml.org/sbml/level3/version1/fbc/version2"


def _decode(sid: str, prefix: str) -> str:
    if sid.startswith(prefix):
        sid = sid[len(prefix):]
    return _CODE_RE.sub(lambda m: chr(int(m.group(1))), sid)


@dataclass(eq=False)
class _Met:
    id: str
    compartment: str = ""


@dataclass(eq=False)
class _Gene:
    id: str


@dataclass(eq=False)
class _Rxn:
    id: str
    lower_bound: float
    upper_bound: float
    metabolites: dict
    gene_reaction_rule: str = ""
    objective_coefficient: float = 0.0


@dataclass
class LightModel:
    """Just what :func:`compile_model` reads from a cobra model."""

    id: str
    metabolites: list[_Met] = field(default_factory=list)
    reactions: list[_Rxn] = field(default_factory=list)
    genes: list[_Gene] = field(default_factory=list)
    #: the model's SBML id as written (cobrapy keeps it undecoded, e.g. AGORA's ``M_<name>``)
    sbml_id: str = ""


def _gpr(elem, gene_id) -> str:
    tag = elem.tag.rsplit("}", 1)[-1]
    if tag == "geneProductRef":
        return gene_id(elem.get(f"{{{FBC_NS}}}geneProduct"))
    parts = [_gpr(ch, gene_id) for ch in elem]
    parts = [p for p in parts if p]
    if not parts:
        return ""
    if len(parts) == 1:
        return parts[0]
    op = " and " if tag == "and" else " or "
    return "(" + op.join(parts) + ")"


def read_sbml_light(path: str | Path) -> LightModel:
    """Read an SBML L3 fbc-v2 file into a :class:`LightModel`.

    Raises
    ------
    ModelLoadError
        When the file is not SBML L3 with fbc v2 bounds (callers fall back to cobrapy).
    """
    p = Path(path)
    opener = gzip.open if p.name.lower().endswith(".gz") else open
    S, F = f"{{{SBML_NS}}}", f"{{{FBC_NS}}}"
    params: dict[str, float] = {}
    model = LightModel(id=p.name)
    met_pos: dict[str, int] = {}
    gene_pos: dict[str, int] = {}
    gene_label: dict[str, str] = {}
    objective: dict[str, float] = {}
    pending_gprs: list[tuple[int, ET.Element]] = []

    def gene_id(ref: str) -> str:
        return _decode(ref, "G_")

    try:
        with opener(p, "rb") as fh:
            for event, el in ET.iterparse(fh, events=("start", "end")):
                tag = el.tag
                if event == "start":
                    if tag == S + "model":
                        model.id = _decode(el.get("id", p.name), "M_")
                        model.sbml_id = el.get("id", p.name)
                    continue
                if tag == S + "species":
                    mid = _decode(el.get("id"), "M_")
                    met_pos[el.get("id")] = len(model.metabolites)
                    model.metabolites.append(_Met(mid, el.get("compartment", "")))
                    el.clear()
                elif tag == S + "parameter":
                    params[el.get("id")] = float(el.get("value"))
                elif tag == S + "reaction":
                    lbp, ubp = el.get(F + "lowerFluxBound"), el.get(F + "upperFluxBound")
                    if lbp is None or ubp is None:
                        raise ModelLoadError(f"{p}: reaction {el.get('id')} has no fbc bounds")
                    mets: dict[str, float] = {}
                    for lst, sign in ((S + "listOfReactants", -1.0), (S + "listOfProducts", 1.0)):
                        le = el.find(lst)
                        if le is None:
                            continue
                        for sr in le:
                            sp_id = sr.get("species")
                            mets[sp_id] = mets.get(sp_id, 0.0) + sign * float(sr.get("stoichiometry", "1"))
                    rx = _Rxn(_decode(el.get("id"), "R_"), params[lbp], params[ubp],
                              {k: v for k, v in mets.items() if v != 0.0})
                    gpa = el.find(F + "geneProductAssociation")
                    if gpa is not None and len(gpa):
                        pending_gprs.append((len(model.reactions), gpa[0]))
                    model.reactions.append(rx)
                elif tag == F + "fluxObjective":
                    objective[_decode(el.get(F + "reaction"), "R_")] = float(el.get(F + "coefficient", "0"))
                elif tag == F + "geneProduct":
                    gid = el.get(F + "id")
                    gene_label[gid] = gid
                    el.clear()
    except (OSError, EOFError, ET.ParseError, gzip.BadGzipFile, KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"{p}: fast SBML reader failed ({type(exc).__name__}: {exc})") from exc
    if not model.reactions:
        raise ModelLoadError(f"{p}: model has no reactions")
    from ..validate import check_unique_ids

    check_unique_ids((r.id for r in model.reactions), "reaction", str(p))  # the dict-free reader would keep both
    # genes in the order of the geneProduct list, as cobrapy does
    for gid in gene_label:
        gene_pos[gene_id(gid)] = len(model.genes)
        model.genes.append(_Gene(gene_id(gid)))
    for ri, elem in pending_gprs:
        rule = _gpr(elem, gene_id)
        if rule.startswith("(") and rule.endswith(")") and _balanced_outer(rule):
            rule = rule[1:-1]
        model.reactions[ri].gene_reaction_rule = rule
        for g in re.findall(r"[^\s()]+", rule):
            if g not in ("and", "or") and g not in gene_pos:
                gene_pos[g] = len(model.genes)
                model.genes.append(_Gene(g))
    id_of = {sid: model.metabolites[i] for sid, i in met_pos.items()}
    for rx in model.reactions:
        rx.metabolites = {id_of[k]: v for k, v in rx.metabolites.items()}
        rx.objective_coefficient = objective.get(rx.id, 0.0)
    return model


def _balanced_outer(rule: str) -> bool:
    depth = 0
    for i, ch in enumerate(rule):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and i < len(rule) - 1:
            return False
    return True
