"""Community member cache: content-keyed npz entries, never a pickle (issue 12, "no code from data")."""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import cobra
import numpy as np
import pytest

from kingems_ray.community.models import load_member, load_members, member_cache_key, member_from_compiled
from kingems_ray.store.cache import CompiledCache


class _Payload:
    """Unpickling this creates ``marker``: proof that a cache file was executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.fixture()
def sbml(tmp_path) -> Path:
    path = tmp_path / "models" / "core.xml"
    path.parent.mkdir()
    cobra.io.write_sbml_model(cobra.io.load_model("textbook"), str(path))
    return path


def _old_pickle_name(path: Path, cache_dir: Path) -> Path:
    """Where the former pickle cache looked for this member (path, size, mtime and tag in the key)."""
    st = path.stat()
    h = hashlib.sha1(f"{path.resolve()}|{st.st_size}|{int(st.st_mtime)}|L1|v1".encode()).hexdigest()
    return cache_dir / f"core.{h[:12]}.pkl"


def test_crafted_pickle_in_cache_is_never_loaded(tmp_path, sbml):
    cache_dir = tmp_path / "cache"
    marker = tmp_path / "PWNED"
    payload = pickle.dumps(_Payload(marker))
    # Plant the payload where the old pickle cache read members from, and under the new entry's own file name.
    entry = CompiledCache(cache_dir).path(member_cache_key(sbml))
    for p in (_old_pickle_name(sbml, cache_dir), entry):
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(payload)
    pickle.loads(payload)  # the payload does work when unpickled ...
    assert marker.exists()
    marker.unlink()
    mem = load_member(sbml, cache_dir=cache_dir)  # ... but loading members never unpickles it
    members, errors = load_members([sbml], cache_dir=cache_dir)
    assert not marker.exists()
    assert errors == [] and members[0].name == "core"
    # the planted file was replaced by a real entry, which is then served (same member, exchanges included)
    assert entry.read_bytes()[:2] == b"PK"
    again = load_member(sbml, cache_dir=cache_dir)
    assert not marker.exists()
    fresh = member_from_compiled(mem.compiled, name="core", source=str(sbml))
    for m in (mem, again):
        assert m.ex_key == fresh.ex_key and np.array_equal(m.ex_rxn, fresh.ex_rxn)
        assert np.array_equal(m.ex_sign, fresh.ex_sign) and m.biomass == fresh.biomass
    assert again.compiled.rxn_ids == mem.compiled.rxn_ids
    np.testing.assert_array_equal(again.compiled.lp.col_ub, mem.compiled.lp.col_ub)
    assert not list(cache_dir.rglob("*.pkl.tmp*"))


def test_changed_content_same_size_and_mtime_is_not_stale(tmp_path, sbml):
    cache_dir = tmp_path / "cache"
    first = load_member(sbml, cache_dir=cache_dir)
    st = sbml.stat()
    text = sbml.read_text()
    # Glucose uptake bound -10 -> -90: the same number of bytes, then the old mtime back.
    j = first.compiled.rxn_ids.index("EX_glc__D_e")
    assert first.compiled.rxn_lb[j] == pytest.approx(-10.0)
    old = 'id="R_EX_glc__D_e_lower_bound" value="-10"'
    assert text.count(old) == 1, "textbook SBML layout changed; adapt the edit"
    sbml.write_text(text.replace(old, old.replace("-10", "-90")))
    os.utime(sbml, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert sbml.stat().st_size == st.st_size and sbml.stat().st_mtime_ns == st.st_mtime_ns
    second = load_member(sbml, cache_dir=cache_dir)
    assert second.compiled.rxn_lb[j] == pytest.approx(-90.0)
    assert len(list(cache_dir.rglob("*.npz"))) == 2
    # and the same content at another path is one entry (content-keyed), named after the new path
    copy = tmp_path / "elsewhere" / "renamed.xml"
    copy.parent.mkdir()
    copy.write_bytes(sbml.read_bytes())
    third = load_member(copy, cache_dir=cache_dir)
    assert third.name == "renamed" and third.source == str(copy)
    assert third.compiled.rxn_lb[j] == pytest.approx(-90.0)
    assert len(list(cache_dir.rglob("*.npz"))) == 2


def test_member_key_covers_options(sbml):
    import pandas as pd

    base = member_cache_key(sbml)
    t1 = pd.DataFrame({"rxn_id": ["PGI"], "kcat": [10.0]})
    keys = {base, member_cache_key(sbml, fast=False),
            member_cache_key(sbml, kcats=t1, level="L4"), member_cache_key(sbml, kcats=t1, level="L2"),
            member_cache_key(sbml, kcats=t1, level="L4", pool=0.3),
            member_cache_key(sbml, kcats=t1.assign(kcat=11.0), level="L4"),
            member_cache_key(sbml, kcats=len, level="L4", kcat_tag="fallback"),
            member_cache_key(sbml, kcats=len, level="L4", kcat_tag="predicted")}
    assert len(keys) == 8
    assert member_cache_key(sbml, kcats=t1.copy(), level="L4") == member_cache_key(sbml, kcats=t1, level="L4")
