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


@pytest.mark.parametrize("text", ["9" * 400, "1" + "0" * 25, "99999999999T"])
def test_oversized_numbers_are_one_line_errors(text):
    """Numbers no disk can hold are refused with a short one-line message, never an OverflowError."""
    with pytest.raises(ImgbaseError) as err:
        parse_size(text)
    assert "bad size" in str(err.value) and len(str(err.value)) < 160 and "\n" not in str(err.value)


def test_sizes_are_exact():
    """No float rounding: large and fractional sizes come out to the byte."""
    assert parse_size("1.1T") == (11 << 40) // 10
    assert parse_size("8388607.5TiB") == (16777215 << 40) // 2
    assert human(1536, exact=True) == "1.5 KiB" and human(16 * (1 << 30) - 1, exact=True) == "15.99 GiB"
