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


def parse_size(text: str, default_unit: str = "") -> int:
    """Parse 512M, 1.5G, 1GiB, 10GB (decimal) or a plain byte count into bytes."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", text or "")
    unit = (m.group(2) if m else "").lower() or default_unit.lower()
    if not m or unit not in _UNITS:
        raise ImgbaseError(f"bad size {text!r}: use a number with a unit, for example 512M, 8G or 1GiB")
    value = int(float(m.group(1)) * _UNITS[unit])
    if value <= 0:
        raise ImgbaseError(f"bad size {text!r}: it must be larger than zero")
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
