# SPDX-License-Identifier: GPL-2.0-or-later
"""Byte sizes: the unit constants, parsing what operators type, printing what they can read."""

from __future__ import annotations

import re

from org_ovirt_imgbased.errors import ImgbaseError

KiB, MiB, GiB, TiB = 1 << 10, 1 << 20, 1 << 30, 1 << 40

_UNITS = {"": 1, "b": 1, "k": KiB, "m": MiB, "g": GiB, "t": TiB,
          "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
          "kib": KiB, "mib": MiB, "gib": GiB, "tib": TiB}
_NAMES = ((TiB, "TiB"), (GiB, "GiB"), (MiB, "MiB"), (KiB, "KiB"))
#: A number (at most 20 digits before and after the point: more than any size needs) and a unit.
_SIZE = re.compile(r"\s*([0-9]{1,20})(?:\.([0-9]{1,20}))?\s*([A-Za-z]*)\s*")
#: The largest size accepted anywhere (lvm2's own limit for an LV is 8 EiB).
MAX_SIZE = 1 << 63


def parse_size(text: str, default_unit: str = "") -> int:
    """Parse 512M, 1.5G, 1GiB, 10GB (decimal) or a plain byte count into bytes (exactly, no float)."""
    m = _SIZE.fullmatch(text or "")
    unit = (m.group(3) if m else "").lower() or default_unit.lower()
    shown = text if len(text or "") <= 40 else f"{text[:37]}..."
    if not m or unit not in _UNITS:
        raise ImgbaseError(f"bad size {shown!r}: use a number with a unit, for example 512M, 8G or 1GiB")
    whole, frac = m.group(1), m.group(2) or ""
    value = (int(whole) * 10 ** len(frac) + int(frac or 0)) * _UNITS[unit] // 10 ** len(frac)
    if value <= 0:
        raise ImgbaseError(f"bad size {shown!r}: it must be larger than zero")
    if value > MAX_SIZE:
        raise ImgbaseError(f"bad size {shown!r}: it is larger than {human(MAX_SIZE)}, more than any disk")
    return value


def human(size: float, exact: bool = False) -> str:
    """Render a byte count with a binary unit: '1.5 GiB' (one decimal, rounded).

    With exact, up to two decimals, truncated and without trailing zeros ('1 GiB',
    '15.99 GiB'), so that a size never reads as more than it is (disk plans).
    """
    if exact:
        n = int(size)
        for unit, name in _NAMES:
            if abs(n) >= unit:
                hundredths = abs(n) * 100 // unit
                text = f"{'-' if n < 0 else ''}{hundredths // 100}.{hundredths % 100:02d}".rstrip("0").rstrip(".")
                return f"{text} {name}"
        return f"{n} B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"
