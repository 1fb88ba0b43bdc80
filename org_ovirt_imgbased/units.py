"""Byte sizes: parse what operators type, print what they can read."""

from __future__ import annotations

import re

from .errors import ImgbaseError

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40,
          "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
          "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}


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


def human(size: float) -> str:
    """Render a byte count with a binary unit, e.g. 1.5 GiB."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"
