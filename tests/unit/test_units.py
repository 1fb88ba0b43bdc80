# SPDX-License-Identifier: GPL-2.0-or-later
"""Byte sizes: parsing what operators type and the one formatter."""

from __future__ import annotations

import pytest

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.units import human, parse_size


@pytest.mark.parametrize("text,value", [("512M", 512 << 20), ("1G", 1 << 30), ("1GiB", 1 << 30),
                                        ("1.5G", 3 << 29), ("10GB", 10**10), ("4096", 4096), ("2 T", 2 << 40)])
def test_parse_size(text, value):
    """Binary units by default, decimal with KB/MB/GB."""
    assert parse_size(text) == value


@pytest.mark.parametrize("bad", ["", "G", "-1G", "0", "1Q", "one"])
def test_parse_size_refuses(bad):
    """Nonsense sizes get a one-line hint."""
    with pytest.raises(ImgbaseError, match="bad size"):
        parse_size(bad)


def test_human():
    """Byte counts render with binary units."""
    assert (human(512), human(1536), human(3 << 30)) == ("512 B", "1.5 KiB", "3.0 GiB")
