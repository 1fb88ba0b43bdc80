# SPDX-License-Identifier: GPL-2.0-or-later
"""Names of bases and layers: ``Base-N`` and ``Base-N.M``.

Parsing, natural ordering (``Base-10`` after ``Base-9``) and choosing the
next free name.  Anything that is not exactly one of these forms is refused,
which also keeps hostile names (``/``, ``..``, spaces) out of LVM and /boot.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from org_ovirt_imgbased.errors import ImgbaseError

PREFIX = "Base"
_RX = re.compile(rf"{PREFIX}-(0|[1-9][0-9]{{0,8}})(?:\.([1-9][0-9]{{0,8}}))?")


@dataclass(frozen=True)
class Name:
    """A parsed base (layer is None) or layer name; orders naturally."""

    base: int
    layer: int | None = None

    def __post_init__(self) -> None:
        """Normalise layer None to sort before layer 1 of the same base."""
        if self.layer is not None and self.layer < 1:
            raise ImgbaseError(f"layer numbers start at 1, not {self.layer}")

    @property
    def is_layer(self) -> bool:
        """True for ``Base-N.M``, False for ``Base-N``."""
        return self.layer is not None

    @property
    def base_name(self) -> Name:
        """The base this name belongs to (itself for a base)."""
        return Name(self.base)

    def __str__(self) -> str:
        """Render as ``Base-N`` or ``Base-N.M``."""
        if self.layer is None:
            return f"{PREFIX}-{self.base}"
        return f"{PREFIX}-{self.base}.{self.layer}"

    def sort_key(self) -> tuple[int, int]:
        """A key that orders bases before their layers, numerically."""
        return (self.base, self.layer or 0)


def parse(text: str) -> Name:
    """Parse ``Base-N`` or ``Base-N.M``; refuse anything else with a clear error."""
    m = _RX.fullmatch(text or "")
    if not m:
        raise ImgbaseError(f"{text!r} is not a base or layer name: use Base-N or Base-N.M, "
                           "for example Base-0 or Base-1.2")
    return Name(int(m.group(1)), int(m.group(2)) if m.group(2) else None)


def is_name(text: str) -> bool:
    """True if text is a well-formed base or layer name."""
    return _RX.fullmatch(text or "") is not None


def parse_base(text: str) -> Name:
    """Parse a name that must be a base."""
    name = parse(text)
    if name.is_layer:
        raise ImgbaseError(f"{text} is a layer, not a base; name a base like Base-{name.base}")
    return name


def parse_layer(text: str) -> Name:
    """Parse a name that must be a layer."""
    name = parse(text)
    if not name.is_layer:
        raise ImgbaseError(f"{text} is a base, not a layer; name a layer like {text}.1")
    return name


def ordered(names: Iterable[str]) -> list[Name]:
    """Parse the well-formed names among names and sort them naturally."""
    return sorted((parse(n) for n in names if is_name(n)), key=Name.sort_key)


def next_base(existing: Iterable[str]) -> Name:
    """The next base name: one above the highest base number in use."""
    nums = [n.base for n in ordered(existing)]
    return Name(max(nums) + 1 if nums else 0)


def next_layer(base: Name, existing: Iterable[str]) -> Name:
    """The next layer name on base: one above its highest layer number."""
    nums = [n.layer for n in ordered(existing) if n.base == base.base and n.is_layer]
    return Name(base.base, max(nums) + 1 if nums else 1)
