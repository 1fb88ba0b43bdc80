# SPDX-License-Identifier: GPL-2.0-or-later
"""The space guard: refuse work that would drive the thin pool towards full.

A full thin pool stalls I/O and then corrupts filesystems, so every
operation that writes into the pool checks first, and says how much it needs
and how much there is.
"""

from __future__ import annotations

import os
from pathlib import Path

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host.storage import lvm
from org_ovirt_imgbased.units import human

DEFAULT_MAX_FILL = 90


def pool_used(pool: lvm.LV) -> int:
    """Bytes of pool data space in use."""
    return int(pool.size * pool.data_percent / 100)


def check_pool(pool: lvm.LV, needed: int, max_fill: int = DEFAULT_MAX_FILL) -> None:
    """Refuse unless pool stays at or below max_fill percent after writing needed bytes."""
    limit = pool.size * max_fill // 100
    used = pool_used(pool)
    if used + needed > limit:
        after = 100 * (used + needed) / pool.size if pool.size else 100.0
        raise ImgbaseError(
            f"thin pool {pool.vg}/{pool.name} would be {after:.0f}% full: this needs {human(needed)}, "
            f"{human(max(pool.size - used, 0))} of {human(pool.size)} is free and the safe limit is "
            f"{max_fill}%; extend the pool (lvextend) or remove old bases (imgbase gc)")
    if pool.metadata_percent >= max_fill:
        raise ImgbaseError(
            f"thin pool {pool.vg}/{pool.name} metadata is {pool.metadata_percent:.0f}% full (limit "
            f"{max_fill}%); extend it with `lvextend --poolmetadatasize +1G {pool.vg}/{pool.name}`")


def free_bytes(path: Path) -> int:
    """Bytes available to root on the filesystem holding path."""
    try:
        st = os.statvfs(path)
    except OSError as exc:
        raise ImgbaseError(f"cannot read the free space of {path}: {exc.strerror}; "
                           "check the path (--boot-dir)") from None
    return st.f_bavail * st.f_frsize


def check_dir(path: Path, needed: int, what: str, margin: int = 0) -> None:
    """Refuse, with the numbers, unless the filesystem of path has needed bytes (plus margin) free.

    This is the one free-space guard for /boot (update's preflight, each layer's kernel copy).
    """
    free = free_bytes(path)
    if needed + margin > free:
        plus = f" plus a {human(margin)} margin" if margin else ""
        raise ImgbaseError(f"not enough space on {path} for {what}: needs {human(needed)}{plus}, "
                           f"{human(free)} free; remove old layers (imgbase gc) or their leftovers "
                           "(`imgbase boot --remove-orphans`) to make room")
