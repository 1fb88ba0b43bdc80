# SPDX-License-Identifier: GPL-2.0-or-later
"""Base-N / Base-N.M names: parsing, refusal of anything else, natural order, next names."""

from __future__ import annotations

import pytest

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host import naming


@pytest.mark.parametrize("text,base,layer", [("Base-0", 0, None), ("Base-0.1", 0, 1), ("Base-12.34", 12, 34)])
def test_parse_valid(text, base, layer):
    """Well-formed names parse and render back unchanged."""
    name = naming.parse(text)
    assert (name.base, name.layer) == (base, layer)
    assert str(name) == text


@pytest.mark.parametrize("bad", ["", "Base", "Base-", "base-1", "Base-01", "Base-1.0", "Base-1.01", "Base-1.2.3",
                                 "Base-1/2", "../Base-1", "Base-1 ", "-Base-1", "Base--1", "Base-1.", "Base-x"])
def test_parse_refuses_everything_else(bad):
    """Anything that is not exactly Base-N or Base-N.M is refused with a usable message."""
    with pytest.raises(ImgbaseError, match="Base-N"):
        naming.parse(bad)


def test_natural_order_past_nine():
    """Base-10 sorts after Base-9, and layers after their base."""
    names = ["Base-10", "Base-9.3", "Base-9", "Base-10.1", "Base-9.10", "Base-9.2", "junk", "Base-2"]
    assert [str(n) for n in naming.ordered(names)] == ["Base-2", "Base-9", "Base-9.2", "Base-9.3", "Base-9.10",
                                                        "Base-10", "Base-10.1"]


def test_next_names():
    """The next base is one above the highest; the next layer is per base."""
    existing = ["Base-0", "Base-0.1", "Base-0.2", "Base-9", "Base-9.1"]
    assert str(naming.next_base(existing)) == "Base-10"
    assert str(naming.next_base([])) == "Base-0"
    assert str(naming.next_layer(naming.parse("Base-0"), existing)) == "Base-0.3"
    assert str(naming.next_layer(naming.parse("Base-9"), existing)) == "Base-9.2"
    assert str(naming.next_layer(naming.parse("Base-4"), existing)) == "Base-4.1"


def test_base_and_layer_kinds():
    """parse_base and parse_layer refuse the other kind."""
    with pytest.raises(ImgbaseError, match="is a layer"):
        naming.parse_base("Base-1.1")
    with pytest.raises(ImgbaseError, match="is a base"):
        naming.parse_layer("Base-1")
    assert naming.parse("Base-3.2").base_name == naming.parse("Base-3")
