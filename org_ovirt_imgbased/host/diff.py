# SPDX-License-Identifier: GPL-2.0-or-later
"""`imgbase diff A [B]`: files added, changed and removed between two layers (or a layer and its base).

Both LVs are mounted read-only: a base (activation skip) is activated with ``-K`` for the
time of the diff and deactivated again; an LV that is already mounted (the running root)
is seen through a read-only, non-recursive bind mount, so nothing mounted on top of it
shows.  The trees are walked without following symlinks and without crossing into other
file systems.  Entries are compared by type, permission bits, owner, symlink target,
device number and content.  Content is compared by size first, then byte by byte; within
one base's lineage (a base and its layers share inode numbers) an entry whose inode,
size, mtime and ctime are all unchanged is taken as unchanged without reading it, because
the kernel updates ctime on every write and no program can set it back.

Paths are bytes throughout, so any name works; JSON carries them decoded with
surrogateescape (and as hex when they are not UTF-8), text output escapes them.
"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host import naming
from org_ovirt_imgbased.host.context import Context
from org_ovirt_imgbased.host.layout import Layout
from org_ovirt_imgbased.host.lock import locked
from org_ovirt_imgbased.host.persist.fstree import files_equal
from org_ovirt_imgbased.host.storage import lvm
from org_ovirt_imgbased.host.storage.mounts import mounted_volume
from org_ovirt_imgbased.runner import Runner

ADDED, CHANGED, REMOVED = "added", "changed", "removed"
_MARK = {ADDED: "A", CHANGED: "M", REMOVED: "D"}
_KINDS = ((stat.S_ISREG, "file"), (stat.S_ISDIR, "dir"), (stat.S_ISLNK, "link"), (stat.S_ISCHR, "char-device"),
          (stat.S_ISBLK, "block-device"), (stat.S_ISFIFO, "fifo"), (stat.S_ISSOCK, "socket"))
_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def kind(mode: int) -> str:
    """The file type of a stat mode as a word."""
    return next((word for test, word in _KINDS if test(mode)), "unknown")


def printable(raw: bytes) -> str:
    """A one-line, unambiguous text form of a path: backslash escapes for controls and non-UTF-8 bytes."""
    out = []
    for ch in raw.decode("utf-8", "surrogateescape"):
        code = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif 0x80 <= code <= 0x9F or code in (0x2028, 0x2029):
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


@dataclass
class Change:
    """One path that differs: added, removed or changed (with the reasons)."""

    path: bytes
    status: str
    kind: str
    reasons: list[str] = field(default_factory=list)
    details: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """A JSON-ready description (path decoded with surrogateescape, hex too if not UTF-8)."""
        path = b"/" + self.path
        data = {"path": path.decode("utf-8", "surrogateescape"), "status": self.status, "kind": self.kind,
                "reasons": self.reasons, "details": self.details}
        try:
            path.decode("utf-8")
        except UnicodeDecodeError:
            data["path_hex"] = path.hex()
        return data

    def render(self) -> str:
        """One text line: A/M/D, the escaped path, and for changes the reasons."""
        line = f"{_MARK[self.status]} /{printable(self.path)}"
        if self.reasons:
            line += " (" + ", ".join(self.details.get(r, r) for r in self.reasons) + ")"
        return line


@dataclass
class DiffResult:
    """Every change from the old tree to the new one."""

    old: str
    new: str
    etc_only: bool
    changes: list[Change]

    def count(self, status: str) -> int:
        """How many changes have status."""
        return sum(1 for c in self.changes if c.status == status)

    def to_dict(self) -> dict:
        """A JSON-ready description."""
        return {"from": self.old, "to": self.new, "etc_only": self.etc_only,
                "added": self.count(ADDED), "changed": self.count(CHANGED), "removed": self.count(REMOVED),
                "changes": [c.to_dict() for c in self.changes]}

    def render(self) -> str:
        """A header line, then one line per change."""
        scope = " (only /etc)" if self.etc_only else ""
        head = (f"{self.old} -> {self.new}{scope}: {self.count(ADDED)} added, {self.count(CHANGED)} changed, "
                f"{self.count(REMOVED)} removed")
        return "\n".join([head, *(c.render() for c in self.changes)])


# --- walking and comparing -----------------------------------------------------------------------

def scan(top: Path, etc_only: bool = False) -> dict[bytes, os.stat_result]:
    """lstat of every entry below top (relative bytes paths), not following links or crossing mounts."""
    root = os.fsencode(top)
    dev = os.lstat(root).st_dev
    found: dict[bytes, os.stat_result] = {}
    todo = [b""]
    if etc_only:
        todo = []
        with contextlib.suppress(FileNotFoundError):
            found[b"etc"] = os.lstat(os.path.join(root, b"etc"))
            if stat.S_ISDIR(found[b"etc"].st_mode):
                todo.append(b"etc")
    while todo:
        rel = todo.pop()
        try:
            with os.scandir(os.path.join(root, rel) if rel else root) as it:
                for entry in it:
                    path = os.path.join(rel, entry.name) if rel else entry.name
                    st = entry.stat(follow_symlinks=False)
                    found[path] = st
                    if stat.S_ISDIR(st.st_mode) and st.st_dev == dev:
                        todo.append(path)
        except OSError as exc:
            raise ImgbaseError(f"cannot read /{printable(rel)} in {top}: {exc.strerror}") from None
    return found


def differences(a: os.stat_result, b: os.stat_result, pa: bytes, pb: bytes,
                same_lineage: bool) -> tuple[list[str], dict[str, str]]:
    """Why two entries at the same path differ: type, mode, owner, link, device, content."""
    if stat.S_IFMT(a.st_mode) != stat.S_IFMT(b.st_mode):
        return ["type"], {"type": f"type {kind(a.st_mode)} -> {kind(b.st_mode)}"}
    reasons, details = [], {}
    if stat.S_IMODE(a.st_mode) != stat.S_IMODE(b.st_mode):
        reasons.append("mode")
        details["mode"] = f"mode {stat.S_IMODE(a.st_mode):04o} -> {stat.S_IMODE(b.st_mode):04o}"
    if (a.st_uid, a.st_gid) != (b.st_uid, b.st_gid):
        reasons.append("owner")
        details["owner"] = f"owner {a.st_uid}:{a.st_gid} -> {b.st_uid}:{b.st_gid}"
    if stat.S_ISLNK(a.st_mode):
        old, new = os.readlink(pa), os.readlink(pb)
        if old != new:
            reasons.append("link")
            details["link"] = f"link {printable(old)} -> {printable(new)}"
    elif (stat.S_ISCHR(a.st_mode) or stat.S_ISBLK(a.st_mode)) and a.st_rdev != b.st_rdev:
        reasons.append("device")
    elif stat.S_ISREG(a.st_mode) and not _same_content(a, b, pa, pb, same_lineage):
        reasons.append("content")
    return reasons, details


def _same_content(a: os.stat_result, b: os.stat_result, pa: bytes, pb: bytes, same_lineage: bool) -> bool:
    """Size first; inode+mtime+ctime within one lineage; else the bytes."""
    if a.st_size != b.st_size:
        return False
    untouched = (a.st_ino, a.st_mtime_ns, a.st_ctime_ns) == (b.st_ino, b.st_mtime_ns, b.st_ctime_ns)
    if same_lineage and untouched:
        return True
    return files_equal(pa, pb)


def compare_trees(old: Path, new: Path, etc_only: bool = False, same_lineage: bool = False) -> list[Change]:
    """Every change from tree old to tree new, sorted by path."""
    before, after = scan(old, etc_only), scan(new, etc_only)
    old_b, new_b = os.fsencode(old), os.fsencode(new)
    changes = []
    for path in sorted(before.keys() | after.keys()):
        a, b = before.get(path), after.get(path)
        if a is None:
            changes.append(Change(path, ADDED, kind(b.st_mode)))
        elif b is None:
            changes.append(Change(path, REMOVED, kind(a.st_mode)))
        else:
            reasons, details = differences(a, b, os.path.join(old_b, path), os.path.join(new_b, path),
                                           same_lineage)
            if reasons:
                changes.append(Change(path, CHANGED, kind(b.st_mode), reasons, details))
    return changes


# --- mounting the two LVs ------------------------------------------------------------------------

def pick_pair(layout: Layout, a: str, b: str | None) -> tuple[lvm.LV, lvm.LV]:
    """The old and new LV: A and B, or A's base and the layer A when B is omitted."""
    def lv_of(name: str) -> lvm.LV:
        """The LV of a layer or base name."""
        return layout.layer(name) if naming.parse(name).is_layer else layout.base(name).lv

    if b is None:
        if not naming.parse(a).is_layer:
            raise ImgbaseError(f"{a} is a base; give a layer to compare with its base, or two names")
        return layout.base_of(a).lv, layout.layer(a)
    if a == b:
        raise ImgbaseError(f"{a} and {b} are the same; give two different bases or layers")
    return lv_of(a), lv_of(b)


def _mount_options(runner: Runner, dev: str) -> str:
    """Read-only mount options that never write to the device (no journal replay)."""
    fstype = runner.query(["blkid", "-p", "-o", "value", "-s", "TYPE", dev], check=False).strip()
    if fstype.startswith("ext") and fstype != "ext2":
        return "ro,noload"
    if fstype == "xfs":
        return "ro,norecovery,nouuid"
    return "ro"


def open_tree(runner: Runner, stack: contextlib.ExitStack, lv: lvm.LV) -> Path:
    """Make lv's filesystem visible read-only for the life of stack; returns where."""
    target = f"{lv.vg}/{lv.name}"
    if not lv.active:
        runner.run(["lvchange", "-q", "-ay", "-K", target], readonly=True)
        stack.callback(runner.run, ["lvchange", "-q", "-an", target], check=False, readonly=True)
    options = _mount_options(runner, lv.path)
    return stack.enter_context(mounted_volume(runner, lv.path, options=options, readonly_query=True))


def diff(ctx: Context, a: str, b: str | None = None, etc_only: bool = False) -> DiffResult:
    """Compare two bases or layers (or layer A with its base) with both mounted read-only."""
    for name in (a, b):
        if name is not None:
            naming.parse(name)
    with locked():
        layout = ctx.layout()
        old, new = pick_pair(layout, a, b)
        lineage = naming.parse(old.name).base == naming.parse(new.name).base
        with contextlib.ExitStack() as stack:
            old_root = open_tree(ctx.runner, stack, old)
            new_root = open_tree(ctx.runner, stack, new)
            changes = compare_trees(old_root, new_root, etc_only, lineage)
    return DiffResult(old.name, new.name, etc_only, changes)
