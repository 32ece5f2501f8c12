"""GPR parsing: nested and/or, absorption, classification, knockouts."""

from __future__ import annotations

import pytest

from kingems_ray.ec.reference import raw_dnf
from kingems_ray.gem.gpr import clause_kind, is_active, parse_gpr


def fs(*cl):
    return [frozenset(c.split()) for c in cl]


def test_empty_and_single():
    assert parse_gpr("") == []
    assert parse_gpr(None) == []
    assert parse_gpr("b0001") == fs("b0001")


def test_nested_and_or_distributes():
    assert set(parse_gpr("b1 and (b2 or b3)")) == set(fs("b1 b2", "b1 b3"))
    assert set(parse_gpr("(b1 or b2) and (b3 or b4)")) == set(fs("b1 b3", "b1 b4", "b2 b3", "b2 b4"))
    assert set(parse_gpr("b1 or (b2 and (b3 or (b4 and b5)))")) == set(fs("b1", "b2 b3", "b2 b4 b5"))


def test_operators_case_and_symbols():
    assert set(parse_gpr("b1 AND b2 OR b3")) == set(fs("b1 b2", "b3"))
    assert set(parse_gpr("b1 && (b2 || b3)")) == set(fs("b1 b2", "b1 b3"))


def test_absorption_and_duplicates():
    # a or (a and b) == a
    assert parse_gpr("b1 or (b1 and b2)") == fs("b1")
    assert parse_gpr("b1 or b1") == fs("b1")
    # e_coli_core's ATP synthase: the 8-subunit clause absorbs the 9-subunit one
    rule = "(b1 and b2) or (b1 and b2 and b3)"
    assert parse_gpr(rule) == fs("b1 b2")
    # ... while the kinGEMs reference keeps both (so it treats the reaction as a mixed GPR)
    assert set(raw_dnf(rule)) == set(fs("b1 b2", "b1 b2 b3"))


def test_clause_kind():
    assert clause_kind(parse_gpr("")) == "none"
    assert clause_kind(parse_gpr("b1")) == "single"
    assert clause_kind(parse_gpr("b1 and b2")) == "complex"
    assert clause_kind(parse_gpr("b1 or b2")) == "isoenzymes"
    assert clause_kind(parse_gpr("(b1 and b2) or b3")) == "mixed"


def test_is_active():
    cl = parse_gpr("(b1 and b2) or b3")
    assert is_active(cl, [])
    assert is_active(cl, ["b1"])
    assert not is_active(cl, ["b1", "b3"])
    assert is_active([], ["b1"])  # no GPR: never knocked out


def test_malformed_rule():
    with pytest.raises(ValueError, match="malformed"):
        parse_gpr("b1 and (b2 or")


def test_large_and_of_ors_expands_fast_and_exactly():
    # iEK1008's FAD_* rules are ANDs of long OR lists: 18,480 clauses, which the absorption step must not choke on.
    ors = [[f"a{i}" for i in range(35)], [f"b{i}" for i in range(22)], [f"c{i}" for i in range(24)]]
    rule = " and ".join("(" + " or ".join(o) + ")" for o in ors)
    clauses = parse_gpr(rule)
    assert len(clauses) == 35 * 22 * 24
    # Absorption still applies when clause sizes differ in a large rule.
    rule2 = rule + " or (a0 and b0)"
    clauses2 = parse_gpr(rule2)
    assert frozenset({"a0", "b0"}) in clauses2
    assert len(clauses2) == 35 * 22 * 24 - 24 + 1


def test_rule_too_large_to_expand_keeps_single_knockouts_exact(monkeypatch):
    import cobra

    from kingems_ray.ec.compile import compile_model
    from kingems_ray.ec.problem import Problem
    from kingems_ray.gem import gpr

    rule = "e1 and (a or b) and (c or d)"
    assert gpr.single_knockout_genes(rule) == ["e1"]
    monkeypatch.setattr(gpr, "MAX_CLAUSES", 2)
    with pytest.raises(gpr.GPRTooComplex):
        parse_gpr(rule)
    m = cobra.Model("toy")
    a = cobra.Metabolite("a")
    r_in, r_out = cobra.Reaction("IN"), cobra.Reaction("OUT")
    r_in.add_metabolites({a: 1})
    r_out.add_metabolites({a: -1})
    r_in.bounds = (0, 10)
    r_in.gene_reaction_rule = rule
    m.add_reactions([r_in, r_out])
    m.objective = "OUT"
    cm = compile_model(m)
    assert cm.report["reactions_gpr_not_expanded"] == ["IN"]
    p = Problem(cm)
    assert p.reactions_of_knockout(["e1"]) == [0]
    assert p.reactions_of_knockout(["a"]) == []
