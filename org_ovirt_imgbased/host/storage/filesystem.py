# SPDX-License-Identifier: GPL-2.0-or-later
"""Filesystem chores on LVs: check, fresh UUID, read the UUID."""

from __future__ import annotations

import time

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.runner import Runner


def fsck(runner: Runner, device: str) -> None:
    """Run a forced e2fsck that repairs; fail only on uncorrected errors (exit >= 4)."""
    res = runner.run(["e2fsck", "-f", "-y", device], check=False)
    if res.returncode >= 4:
        raise ImgbaseError(f"e2fsck found errors it could not fix on {device} (exit {res.returncode})",
                           detail=res.stdout + res.stderr)


def _when(value: str) -> float | None:
    """Parse a dumpe2fs date such as 'Sun Nov 22 02:36:12 2026' (None for n/a)."""
    try:
        return time.mktime(time.strptime(value.strip(), "%a %b %d %H:%M:%S %Y"))
    except ValueError:
        return None


def is_clean(header: str) -> bool:
    """True when a `dumpe2fs -h` header shows a clean fs, checked since it was last mounted."""
    fields = dict(line.split(":", 1) for line in header.splitlines() if ":" in line)
    state = fields.get("Filesystem state", "").strip()
    features = fields.get("Filesystem features", "").split()
    mounted, checked = _when(fields.get("Last mount time", "n/a")), _when(fields.get("Last checked", ""))
    fresh = mounted is None or (checked is not None and checked >= mounted)
    return state == "clean" and "needs_recovery" not in features and fresh


def new_uuid(runner: Runner, device: str) -> None:
    """Give an ext4 filesystem a fresh random UUID (a thin snapshot keeps its origin's).

    tune2fs needs a filesystem checked since its last mount; a snapshot of a sealed base
    usually is, so the full e2fsck (which grows with the filesystem size) runs only when not.
    """
    header = runner.run(["dumpe2fs", "-h", device], readonly=True, check=False).stdout
    if not is_clean(header):
        fsck(runner, device)
    runner.run(["tune2fs", "-U", "random", device])


def fs_uuid(runner: Runner, device: str) -> str:
    """Read a filesystem's UUID with blkid (probing, not the cache)."""
    return runner.query(["blkid", "-p", "-s", "UUID", "-o", "value", device], check=False).strip()
