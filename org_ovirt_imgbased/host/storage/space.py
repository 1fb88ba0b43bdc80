# SPDX-License-Identifier: GPL-2.0-or-later
"""The space guard: refuse work that would drive the thin pool towards full.

A full thin pool stalls I/O and then corrupts filesystems, so every
operation that writes into the pool checks first, and says how much it needs
and how much there is.  An inactive pool reports no fill level (lvs leaves data% empty), which
is never read as "empty": it is refused with how to activate it.  One thin volume may not be
larger than the whole pool (thin volumes together may be, as thin provisioning intends).
"""

from __future__ import annotations

import os
from pathlib import Path

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host.storage import lvm
from org_ovirt_imgbased.units import MiB, human

DEFAULT_MAX_FILL = 90


def inactive_problem(pool: lvm.LV) -> str | None:
    """Why the pool's fill level cannot be known (it is inactive), or None when it can."""
    if pool.active:
        return None
    return (f"thin pool {pool.vg}/{pool.name} is inactive, so how full it is cannot be read (lvs shows no "
            f"data%); activate it with `lvchange -ay {pool.vg}/{pool.name}` and run again")


def pool_used(pool: lvm.LV) -> int:
    """Bytes of pool data space in use (an inactive pool, whose use lvs cannot report, is an error)."""
    problem = inactive_problem(pool)
    if problem:
        raise ImgbaseError(problem)
    return int(pool.size * pool.data_percent / 100)


def check_volume_size(pool: lvm.LV, size: int, option: str = "--size") -> None:
    """Refuse, with the numbers and the fix, a thin volume larger than the whole pool's data space."""
    if size <= pool.size:
        return
    grow = -(-(size - pool.size) // MiB)
    raise ImgbaseError(
        f"{option} {human(size)} is larger than the whole thin pool {pool.vg}/{pool.name} "
        f"({human(pool.size)}): that one volume could fill the pool and stop every layer; use {option} "
        f"{human(pool.size)} or less, or grow the pool first (`lvextend -L +{grow}m {pool.vg}/{pool.name}`)")


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
