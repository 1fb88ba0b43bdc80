# SPDX-License-Identifier: GPL-2.0-or-later
"""File-tree primitives for the /etc merge: lstat nodes, comparison, and metadata-keeping copies.

Nothing here follows a symlink: entries are examined with lstat, symlinks are compared by
their target and copied as symlinks.  Copies keep mode, owner, group, mtime and extended
attributes (xattrs are best effort, since some filesystems refuse some or all of them).
Regular files and symlinks replace their destination atomically (temp name + rename).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.runner import write_all
from org_ovirt_imgbased.units import MiB

log = logging.getLogger(__name__)

FILE, DIR, SYMLINK = "file", "directory", "symlink"
FIFO, SOCKET, CHARDEV, BLOCKDEV = "FIFO", "socket", "character device", "block device"
SPECIAL_KINDS = (FIFO, SOCKET, CHARDEV, BLOCKDEV)
_CAPABILITY_XATTR = "security.capability"
_CHUNK = MiB


@dataclass(frozen=True)
class Node:
    """One lstat'ed entry: its kind, permission bits, owner, size and symlink target."""

    path: str
    kind: str
    mode: int
    uid: int
    gid: int
    size: int = 0
    target: str = ""
    rdev: int = 0

    @property
    def special(self) -> bool:
        """True for FIFOs, sockets and device nodes, which are never carried."""
        return self.kind in SPECIAL_KINDS


def kind_of(st: os.stat_result) -> str:
    """The kind name of an lstat result."""
    fmt = stat.S_IFMT(st.st_mode)
    kinds = {stat.S_IFREG: FILE, stat.S_IFDIR: DIR, stat.S_IFLNK: SYMLINK, stat.S_IFIFO: FIFO,
             stat.S_IFSOCK: SOCKET, stat.S_IFCHR: CHARDEV, stat.S_IFBLK: BLOCKDEV}
    return kinds.get(fmt, "unknown")


def lstat_node(path: str, uid_map: dict[int, int] | None = None,
               gid_map: dict[int, int] | None = None) -> Node | None:
    """The node at path (None if absent), with owners translated through the optional maps."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    kind = kind_of(st)
    uid = (uid_map or {}).get(st.st_uid, st.st_uid)
    gid = (gid_map or {}).get(st.st_gid, st.st_gid)
    target = os.readlink(path) if kind == SYMLINK else ""
    size = st.st_size if kind == FILE else 0
    rdev = st.st_rdev if kind in (CHARDEV, BLOCKDEV) else 0
    return Node(path, kind, stat.S_IMODE(st.st_mode), uid, gid, size, target, rdev)


def files_equal(a: str | bytes, b: str | bytes) -> bool:
    """Compare two regular files byte by byte, never following a symlink."""
    flags = os.O_RDONLY | os.O_NOFOLLOW
    with open(os.open(a, flags), "rb") as fa, open(os.open(b, flags), "rb") as fb:
        while True:
            ca, cb = fa.read(_CHUNK), fb.read(_CHUNK)
            if ca != cb:
                return False
            if not ca:
                return True


def same_node(a: Node | None, b: Node | None) -> bool:
    """Equal by kind, owner, mode (not for symlinks), content, symlink target or device number.

    Directories compare by their own metadata only, not by what they contain.
    """
    if a is None or b is None:
        return a is None and b is None
    if (a.kind, a.uid, a.gid) != (b.kind, b.uid, b.gid):
        return False
    if a.kind == SYMLINK:
        return a.target == b.target
    if a.mode != b.mode:
        return False
    if a.kind == FILE:
        return a.size == b.size and files_equal(a.path, b.path)
    return a.rdev == b.rdev


def list_dir(path: str) -> list[str]:
    """Names inside path if it is a real directory (not a symlink to one), else nothing."""
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            return []
        return os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []


def display_path(path: str) -> str:
    """Show a path on one line, unambiguously: odd characters and undecodable bytes escaped."""
    out, quoted = [], False
    for ch in path:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte kept by surrogateescape
            out.append(f"\\x{code - 0xDC00:02x}")
            quoted = True
        elif ch in "\\\"":
            out.append("\\" + ch)
            quoted = quoted or ch == '"'
        elif ch == "\n":
            out.append("\\n")
            quoted = True
        elif ch == "\t":
            out.append("\\t")
            quoted = True
        elif not ch.isprintable():
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
            quoted = True
        else:
            quoted = quoted or ch == " "
            out.append(ch)
    text = "".join(out)
    return f'"{text}"' if quoted or text != text.strip() else text


def copy_xattrs(src: str, dst: str | int, *, symlink: bool = False) -> None:
    """Copy extended attributes from src to dst (a path or an fd); ignore what the fs refuses."""
    follow = not symlink
    try:
        names = os.listxattr(src, follow_symlinks=follow)
    except OSError:
        return
    for name in names:
        try:
            value = os.getxattr(src, name, follow_symlinks=follow)
            if isinstance(dst, int):
                os.setxattr(dst, name, value)
            else:
                os.setxattr(dst, name, value, follow_symlinks=follow)
        except OSError as exc:
            log.debug("xattr %s not copied to %s: %s", name, dst, exc)


def _temp_name(dst: str) -> str:
    """A fresh hidden name beside dst for an atomic replace."""
    return os.path.join(os.path.dirname(dst), f".imgbased-{secrets.token_hex(6)}.tmp")


def _clear_for(dst: str, kind: str) -> None:
    """Remove dst when a replace by rename cannot overwrite it (a directory, unless kind is one)."""
    node = lstat_node(dst)
    if node is not None and node.kind == DIR and kind != DIR:
        shutil.rmtree(dst)


@contextlib.contextmanager
def _replacing(tmp: str, dst: str, kind: str) -> Iterator[str]:
    """Let the body fill tmp, then rename it over dst; on any failure remove tmp and leave dst."""
    try:
        yield tmp
        _clear_for(dst, kind)
        os.replace(tmp, dst)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise


def copy_regular(src: str, dst: str) -> None:
    """Atomically replace dst by a copy of the regular file src, keeping its metadata."""
    st = os.lstat(src)
    fd_in = os.open(src, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        with _replacing(_temp_name(dst), dst, FILE) as tmp:
            fd_out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            try:
                while chunk := os.read(fd_in, _CHUNK):
                    write_all(fd_out, chunk)
                os.fchown(fd_out, st.st_uid, st.st_gid)
                os.fchmod(fd_out, stat.S_IMODE(st.st_mode))
                copy_xattrs(src, fd_out)
                os.fsync(fd_out)
                os.utime(fd_out, ns=(st.st_atime_ns, st.st_mtime_ns))
            finally:
                os.close(fd_out)
    finally:
        os.close(fd_in)


def write_with_meta(dst: str, data: bytes, mode: int, uid: int, gid: int) -> None:
    """Atomically replace dst by data with the given mode and owner, keeping dst's xattrs."""
    with _replacing(_temp_name(dst), dst, FILE) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            write_all(fd, data)
            os.fchown(fd, uid, gid)
            os.fchmod(fd, mode)
            if os.path.lexists(dst):
                copy_xattrs(dst, fd)
            os.fsync(fd)
        finally:
            os.close(fd)


def copy_symlink(src: str, dst: str) -> None:
    """Atomically replace dst by a symlink with src's target and owner."""
    st = os.lstat(src)
    tmp = _temp_name(dst)
    os.symlink(os.readlink(src), tmp)
    with _replacing(tmp, dst, SYMLINK):
        os.lchown(tmp, st.st_uid, st.st_gid)
        copy_xattrs(src, tmp, symlink=True)
        os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def set_dir_meta(src: str, dst: str) -> None:
    """Give directory dst the owner, mode and xattrs of src (mtime is set later)."""
    st = os.lstat(src)
    os.chown(dst, st.st_uid, st.st_gid, follow_symlinks=False)
    os.chmod(dst, stat.S_IMODE(st.st_mode))
    copy_xattrs(src, dst)


def copy_dir_entry(src: str, dst: str) -> None:
    """Make dst a directory like src (not its contents), replacing a non-directory at dst."""
    node = lstat_node(dst)
    if node is not None and node.kind != DIR:
        os.unlink(dst)
        node = None
    if node is None:
        os.mkdir(dst, 0o700)
    set_dir_meta(src, dst)


def copy_entry(src: str, dst: str) -> str:
    """Copy one entry (a directory without its contents); return its kind, or '' when skipped."""
    node = lstat_node(src)
    if node is None:
        raise ImgbaseError(f"{display_path(src)} vanished during the update; re-run the update")
    if node.kind == FILE:
        copy_regular(src, dst)
    elif node.kind == SYMLINK:
        copy_symlink(src, dst)
    elif node.kind == DIR:
        copy_dir_entry(src, dst)
    else:
        return ""
    return node.kind


def copy_tree(src: str, dst: str, skipped: list[str]) -> None:
    """Copy src to dst recursively, replacing dst; specials are skipped and listed in skipped."""
    node = lstat_node(src)
    if node is None or node.special or node.kind == "unknown":
        if node is not None:
            skipped.append(src)
        return
    old = lstat_node(dst)
    if old is not None and node.kind == DIR:
        remove_path(dst)
    copy_entry(src, dst)
    if node.kind != DIR:
        return
    for name in sorted(os.listdir(src)):
        copy_tree(os.path.join(src, name), os.path.join(dst, name), skipped)
    st = os.lstat(src)
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def remove_path(path: str) -> None:
    """Remove a file, symlink or whole directory tree (never following symlinks)."""
    node = lstat_node(path)
    if node is None:
        return
    if node.kind == DIR:
        shutil.rmtree(path)
    else:
        os.unlink(path)


def copy_mtime(src: str, dst: str) -> None:
    """Give dst the access and modification times of src."""
    st = os.lstat(src)
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def ensure_parents(root: str, rel: str, template_root: str) -> None:
    """Create the missing parent directories of root/rel, copying metadata from template_root.

    A parent that exists as anything but a real directory (a symlink in particular) is an
    error: writing through it could leave the layer.
    """
    parts = rel.split("/")[:-1]
    for i in range(1, len(parts) + 1):
        sub = "/".join(parts[:i])
        path = os.path.join(root, sub)
        node = lstat_node(path)
        if node is not None and node.kind == DIR:
            continue
        if node is not None:
            raise ImgbaseError(f"{display_path(path)} is a {node.kind}, not a directory; remove it or "
                               f"drop {display_path('/' + rel)} from what is carried")
        os.mkdir(path, 0o700)
        template = os.path.join(template_root or "/", sub)
        tnode = lstat_node(template)
        if tnode is not None and tnode.kind == DIR:
            set_dir_meta(template, path)
        else:
            os.chmod(path, 0o755)


def walk_same_fs(root: str) -> Iterator[tuple[str, os.stat_result]]:
    """Yield (path, lstat) for root and everything below it on root's filesystem."""
    root_st = os.lstat(root)
    yield root, root_st
    stack = [root]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError as exc:
            log.debug("cannot list %s: %s", current, exc)
            continue
        for entry in entries:
            st = entry.stat(follow_symlinks=False)
            if st.st_dev != root_st.st_dev:
                continue  # a mount point of another filesystem (a data volume): never touched
            yield entry.path, st
            if stat.S_ISDIR(st.st_mode):
                stack.append(entry.path)


def remap_ownership(root: str, uid_map: dict[int, int], gid_map: dict[int, int]) -> int:
    """Re-own every entry under root (same filesystem only) through the maps; return the count.

    Each inode is changed once (hard links), from its original IDs, so that swaps work.  The
    set-ID bits and file capabilities that chown clears are put back.
    """
    if not uid_map and not gid_map:
        return 0
    done: set[int] = set()
    changed = 0
    for path, st in walk_same_fs(root):
        uid, gid = uid_map.get(st.st_uid, st.st_uid), gid_map.get(st.st_gid, st.st_gid)
        if (uid, gid) == (st.st_uid, st.st_gid) or st.st_ino in done:
            continue
        done.add(st.st_ino)
        _chown_keeping_bits(path, st, uid, gid)
        changed += 1
    return changed


def _chown_keeping_bits(path: str, st: os.stat_result, uid: int, gid: int) -> None:
    """lchown path, restoring set-ID bits and the file capability xattr that chown drops."""
    is_link = stat.S_ISLNK(st.st_mode)
    caps = None
    if stat.S_ISREG(st.st_mode):
        try:
            caps = os.getxattr(path, _CAPABILITY_XATTR, follow_symlinks=False)
        except OSError as exc:
            if exc.errno not in (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP):
                log.debug("cannot read capabilities of %s: %s", path, exc)
    os.chown(path, uid, gid, follow_symlinks=False)
    if not is_link:
        os.chmod(path, stat.S_IMODE(st.st_mode))
    if caps is not None:
        try:
            os.setxattr(path, _CAPABILITY_XATTR, caps, follow_symlinks=False)
        except OSError as exc:
            log.warning("could not restore file capabilities of %s: %s", path, exc)
