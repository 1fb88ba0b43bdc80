# SPDX-License-Identifier: GPL-2.0-or-later
"""Run commands inside a target tree with /proc, /sys and /dev mounted, always unmounting after."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from .common import ImgbaseError, Result, log, run

POLICY_RC_D = "usr/sbin/policy-rc.d"
CHROOT_ENV = {"DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8",
              "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}


def _mounted_under(root: Path) -> list[str]:
    """List mount points at or below root, deepest first."""
    prefix = str(root.resolve())
    points = []
    with open("/proc/self/mounts") as f:
        for line in f:
            point = line.split()[1].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                points.append(point)
    return sorted(points, key=len, reverse=True)


def unmount_all(root: Path) -> None:
    """Unmount everything mounted at or below root (lazily if a plain umount fails)."""
    for point in _mounted_under(root):
        if run(["umount", point], check=False).returncode != 0:
            log(f"umount {point} failed; detaching it lazily")
            run(["umount", "-l", point], check=False)


@contextlib.contextmanager
def chroot_mounts(root: Path) -> Iterator[None]:
    """Mount proc, sysfs and a bind of /dev into root; block service starts; undo on exit."""
    root = root.resolve()
    if _mounted_under(root):
        raise ImgbaseError(f"{root} already has mounts below it; unmount them first (umount -R {root})")
    policy = root / POLICY_RC_D
    try:
        run(["mount", "-t", "proc", "proc", root / "proc"])
        run(["mount", "-t", "sysfs", "sysfs", root / "sys"])
        run(["mount", "--bind", "/dev", root / "dev"])
        policy.write_text("#!/bin/sh\n# no service starts while building the image\nexit 101\n")
        policy.chmod(0o755)
        yield
    finally:
        policy.unlink(missing_ok=True)
        unmount_all(root)


def in_chroot(root: Path, argv: Sequence[str | os.PathLike], check: bool = True) -> Result:
    """Run argv inside root (whose mounts chroot_mounts provides) with a clean environment."""
    return run(["env", "-i", *(f"{k}={v}" for k, v in CHROOT_ENV.items()), "chroot", root, *argv],
               check=check)
