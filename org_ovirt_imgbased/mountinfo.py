"""Reading /proc/self/mountinfo: which device is mounted where, with which options."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

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


def parse(text: str) -> list[Mount]:
    """Parse mountinfo text into mounts, in the kernel's order (later mounts cover earlier ones)."""
    mounts = []
    for line in text.splitlines():
        if line.strip():
            mount = parse_line(line)
            if mount is not None:
                mounts.append(mount)
    return mounts


def read(path: Path = MOUNTINFO) -> list[Mount]:
    """The mounts of this process's mount namespace (empty if unreadable)."""
    try:
        return parse(Path(path).read_text())
    except OSError:
        return []


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
