# SPDX-License-Identifier: GPL-2.0-or-later
"""Mounts: reading /proc/self/mountinfo, and temporary mounts that are always undone.

``read_mountinfo`` tells which device is mounted where, with which options;
``mounted`` and ``mounted_volume`` make a temporary mount under /run/imgbased
and undo it even when the work inside fails.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from org_ovirt_imgbased import paths
from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.runner import Runner

MOUNTINFO = Path("/proc/self/mountinfo")
_OCTAL = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True)
class Mount:
    """One line of mountinfo: a mount of (part of) a filesystem."""

    dev: tuple[int, int]
    root: str
    mountpoint: str
    options: tuple[str, ...]
    fstype: str
    source: str
    super_options: tuple[str, ...]

    def has_option(self, name: str) -> bool:
        """True if name is among the per-mount or the superblock options."""
        return name in self.options or name in self.super_options


def unescape(field: str) -> str:
    """Undo the kernel's octal escapes (``\\040`` for a space, ``\\012`` for a newline)."""
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field)


def parse_line(line: str) -> Mount | None:
    """Parse one mountinfo line; None for a line that does not have the expected shape."""
    parts = line.split()
    if "-" not in parts[6:]:
        return None
    sep = parts.index("-", 6)
    if len(parts) < sep + 3 or ":" not in parts[2]:
        return None
    major, minor = parts[2].split(":", 1)
    return Mount(dev=(int(major), int(minor)), root=unescape(parts[3]), mountpoint=unescape(parts[4]),
                 options=tuple(parts[5].split(",")), fstype=parts[sep + 1], source=unescape(parts[sep + 2]),
                 super_options=tuple(parts[sep + 3].split(",")) if len(parts) > sep + 3 else ())


def parse_mountinfo(text: str) -> list[Mount]:
    """Parse mountinfo text into mounts, in the kernel's order (later mounts cover earlier ones)."""
    mounts = []
    for line in text.splitlines():
        if line.strip():
            mount = parse_line(line)
            if mount is not None:
                mounts.append(mount)
    return mounts


def read_mountinfo(path: Path = MOUNTINFO) -> list[Mount]:
    """The mounts of this process's mount namespace (empty if unreadable)."""
    try:
        return parse_mountinfo(Path(path).read_text())
    except OSError:
        return []


def own_mounts(dev: tuple[int, int] | None = None) -> list[str]:
    """imgbased's own temporary mounts (under its run directory), deepest first; of dev if given.

    The only mounts imgbased ever unmounts without having just made them (recover, undo).
    """
    prefix = str(paths.run_dir()) + "/"
    points = [m.mountpoint for m in read_mountinfo() if m.mountpoint.startswith(prefix)
              and (dev is None or m.dev == dev)]
    return sorted(points, key=len, reverse=True)


def visible_at(mounts: list[Mount], mountpoint: str) -> Mount | None:
    """The mount that is visible at mountpoint: the last one mounted there."""
    found = None
    for mount in mounts:
        if mount.mountpoint == mountpoint:
            found = mount
    return found


def whole_mount_of(mounts: list[Mount], dev: tuple[int, int]) -> Mount | None:
    """A mount showing the whole filesystem of dev (root "/"), if there is one."""
    return next((m for m in mounts if m.dev == dev and m.root == "/"), None)



@contextlib.contextmanager
def mounted(runner: Runner, source: str, options: str = "", fstype: str | None = None,
            readonly_query: bool = False, failure: str | None = None) -> Iterator[Path]:
    """Mount source on a fresh directory under /run/imgbased and yield it.

    readonly_query marks mounts that change nothing on disk (a read-only look
    into an image), which run even in dry mode.  failure, if given, replaces the
    start of the error message when the mount itself fails.
    """
    base = paths.run_dir()
    base.mkdir(parents=True, exist_ok=True)
    target = Path(tempfile.mkdtemp(prefix="mnt-", dir=base))
    cmd = ["mount"]
    if fstype:
        cmd += ["-t", fstype]
    if options:
        cmd += ["-o", options]
    try:
        try:
            runner.run([*cmd, source, str(target)], readonly=readonly_query)
        except ImgbaseError as exc:
            if failure is None:
                raise
            raise ImgbaseError(f"{failure}: {exc}", detail=exc.detail) from None
        try:
            yield target
        finally:
            runner.run(["umount", str(target)], readonly=readonly_query)
    finally:
        with contextlib.suppress(OSError):
            target.rmdir()


def _device_number(device: str) -> tuple[int, int] | None:
    """The (major, minor) of a block device node, or None if it is not one."""
    try:
        rdev = os.stat(device).st_rdev
    except OSError:
        return None
    return (os.major(rdev), os.minor(rdev)) if rdev else None


@contextlib.contextmanager
def mounted_volume(runner: Runner, device: str, writable: bool = False, options: str | None = None,
                   readonly_query: bool = False) -> Iterator[Path]:
    """Mount a volume's filesystem, read-only unless writable, even if it is in use already.

    A filesystem that is mounted somewhere (the running layer at /, say) cannot
    be mounted again with other flags, so its existing mount is bind-mounted
    instead; the bind shows that filesystem only, without the mounts below it.
    options replaces the plain "ro"/"rw" when the device is mounted afresh.
    """
    number = _device_number(device)
    whole = whole_mount_of(read_mountinfo(), number) if number else None
    if whole is None:
        source, how = device, options or ("rw" if writable else "ro")
    else:
        source, how = whole.mountpoint, "bind" if writable else "bind,ro"
    with mounted(runner, source, how, readonly_query=readonly_query) as target:
        yield target
