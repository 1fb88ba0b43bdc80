# SPDX-License-Identifier: GPL-2.0-or-later
"""Payload sources for a base: ext4 image, liveimg squashfs, tarball or directory.

``open_image`` inspects a payload before anything is created: its kind, the
filesystem size and used bytes, the image identity from os-release
(IMAGE_ID/IMAGE_VERSION) and its sha256.  ``fill`` then writes it into a
fresh thin LV, copying only used blocks so the pool does not grow by the
image's empty space.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
import struct
import sys
import tarfile
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from org_ovirt_imgbased.errors import CommandError, ImgbaseError
from org_ovirt_imgbased.host.storage.filesystem import fsck
from org_ovirt_imgbased.host.storage.mounts import mounted
from org_ovirt_imgbased.runner import Runner
from org_ovirt_imgbased.units import MiB

SQUASHFS_MAGIC = b"hsqs"
LIVE_ROOTFS = "LiveOS/rootfs.img"
OS_RELEASE = ("usr/lib/os-release", "etc/os-release")
#: ext4 block sizes run from 1 KiB (log 0) to 64 KiB (log 6).
MAX_LOG_BLOCK_SIZE = 6
#: Where an OS image keeps its setuid/setgid programs; such a file anywhere else in a tarball is refused.
SETID_PLACES = ("usr/bin/", "usr/sbin/", "usr/lib/", "usr/lib64/", "usr/libexec/", "bin/", "sbin/", "lib/",
                "lib64/")
#: tar's stderr lines that are never the reason it failed (notes, and its closing summary).
_TAR_NOISE = ("Removing leading", "Ignoring unknown extended header keyword", "Exiting with failure status",
              "Error is not recoverable")


#: What a checksum mismatch means, in every message that reports one.
CORRUPT = "the image is corrupt or not the one you meant"

@dataclass
class Payload:
    """An inspected payload, ready to be copied into an LV."""

    source: Path
    kind: str  # "ext4" (a raw image file, also inside a liveimg), "tar" or "dir"
    fs_size: int  # the filesystem size for ext4; a suggested LV size otherwise
    used: int  # bytes the payload will occupy in the pool
    identity: str | None
    digest: str | Future | None  # the image file's sha256, or its computation still running
    origin: Path | None = None  # the image file that was checked and hashed
    origin_stat: tuple | None = None  # what it was then (device, inode, size, mtime, ctime)

    @property
    def sha256(self) -> str | None:
        """The image file's sha256 (waits for a background hash to finish)."""
        if not isinstance(self.digest, Future):
            return self.digest
        try:
            return self.digest.result()
        except OSError as exc:
            raise ImgbaseError(f"cannot read {self.source} to hash it: {exc.strerror}") from None


    def check_unchanged(self) -> None:
        """Refuse if the image file changed since it was checked (the tools read it by path)."""
        if self.origin is not None and _file_identity(self.origin) != self.origin_stat:
            raise ImgbaseError(f"{self.origin} changed while it was being installed; "
                               "nothing is kept, try again with a file nobody writes to")


def _file_identity(path: Path) -> tuple | None:
    """What changes when a file is replaced or written: device, inode, size, mtime, ctime."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def sha256_of(path: Path) -> str:
    """Hash a file in 1 MiB reads."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(MiB):
            h.update(chunk)
    return h.hexdigest()


def _background_sha256(path: Path) -> Future:
    """Hash path in a daemon thread (hashlib releases the GIL, so it overlaps the copy)."""
    future: Future = Future()

    def work() -> None:
        try:
            future.set_result(sha256_of(path))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
            future.set_exception(exc)

    threading.Thread(target=work, name="sha256", daemon=True).start()
    return future


def is_sha256(text: str) -> bool:
    """Whether text is a sha256 digest as imgbased records it: 64 lowercase hex digits."""
    return re.fullmatch(r"[0-9a-f]{64}", text) is not None


def checksum_problem(text: str) -> str | None:
    """Why text is not ``sha256:HEX`` or 64 bare hex digits, or None when it is.

    The one checksum syntax: the CLI, the kickstart section and the text UI all check with it.
    """
    algo, sep, digest = text.partition(":")
    if not sep:
        algo, digest = "sha256", text
    if algo.lower() != "sha256":
        return f"only sha256 is supported, not {algo!r} (sha256:HEX)"
    if not re.fullmatch(r"[0-9a-fA-F]{64}", digest):
        return "not sha256: followed by 64 hex digits"
    return None


def parse_checksum(text: str) -> str:
    """Return the lower-case hex digest of a checksum in the one syntax, or raise ImgbaseError."""
    problem = checksum_problem(text)
    if problem:
        raise ImgbaseError(f"bad checksum {text!r}: {problem}")
    return text.rpartition(":")[2].lower()


def ext4_geometry(path: Path) -> tuple[int, int] | None:
    """Return (filesystem size, used bytes) from an ext2/3/4 superblock, or None."""
    try:
        with open(path, "rb") as f:
            f.seek(1024)
            sb = f.read(1024)
    except OSError:
        return None
    if len(sb) < 1024 or struct.unpack_from("<H", sb, 0x38)[0] != 0xEF53:
        return None
    blocks, free = struct.unpack_from("<I", sb, 0x4)[0], struct.unpack_from("<I", sb, 0xC)[0]
    log_block_size = struct.unpack_from("<I", sb, 0x18)[0]
    if struct.unpack_from("<I", sb, 0x60)[0] & 0x80:  # 64bit feature: high words
        blocks |= struct.unpack_from("<I", sb, 0x150)[0] << 32
        free |= struct.unpack_from("<I", sb, 0x158)[0] << 32
    if log_block_size > MAX_LOG_BLOCK_SIZE or not 0 <= free <= blocks or blocks == 0:
        raise ImgbaseError(f"{path} has a damaged ext4 superblock ({blocks} blocks, {free} free, "
                           f"block size 1 KiB << {log_block_size}); rebuild or download the image again")
    block_size = 1024 << log_block_size
    return blocks * block_size, (blocks - free) * block_size


def parse_os_release(text: str) -> str | None:
    """Derive ``name-version`` from os-release text (IMAGE_* first, then ID/VERSION_ID)."""
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip().strip("\"'")
    name = values.get("IMAGE_ID") or values.get("ID")
    version = values.get("IMAGE_VERSION") or values.get("VERSION_ID")
    if not name:
        return None
    ident = f"{name}-{version}" if version else name
    return re.sub(r"[^A-Za-z0-9_+.-]", "_", ident)[:120]


def _ext4_identity(runner: Runner, image: Path) -> str | None:
    """Read os-release out of an ext4 image with debugfs (no mount needed)."""
    for rel in OS_RELEASE:
        res = runner.run(["debugfs", "-R", f"cat /{rel}", str(image)], readonly=True, check=False)
        ident = parse_os_release(res.stdout) if res.returncode == 0 else None
        if ident:
            return ident
    return None


def _inspect_ext4(runner: Runner, image: Path, source: Path, digest: str | None) -> Payload:
    """Inspect a raw ext4 image file."""
    geom = ext4_geometry(image)
    if geom is None:
        raise ImgbaseError(f"{image} is not an ext2/3/4 filesystem image")
    if image.stat().st_size < geom[0]:
        raise ImgbaseError(f"{image} is truncated: the filesystem is {geom[0]} bytes but the file "
                           f"has only {image.stat().st_size}")
    return Payload(image, "ext4", geom[0], geom[1], _ext4_identity(runner, image), digest)


def _tar_payload(path: Path, digest: str | None) -> Payload:
    """Inspect a tarball: total size and os-release, reading it once."""
    total, ident = 0, None
    try:
        with tarfile.open(path) as tar:
            for member in tar:
                problem = _member_problem(member)
                if problem:
                    raise ImgbaseError(f"{path} holds {member.name!r}, {problem}; refused: rebuild the "
                                       "tarball without it")
                total += member.size + 4096
                if member.isfile() and _member_path(member.name) in OS_RELEASE:
                    data = tar.extractfile(member)
                    ident = ident or (parse_os_release(data.read().decode("utf-8", "replace"))
                                      if data else None)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ImgbaseError(f"{path} is not a readable tarball: {exc}") from None
    if total == 0:
        raise ImgbaseError(f"{path} holds no files (an empty tarball, or only zeros); it is not an image")
    return Payload(path, "tar", suggested_size(total), total, ident, digest)


def _member_problem(member: tarfile.TarInfo) -> str | None:
    """Why a tar member must not go into a base (a device node, a stray setuid/setgid file), or None."""
    if member.ischr() or member.isblk():
        kind = "character" if member.ischr() else "block"
        return (f"a {kind} device node ({member.devmajor}:{member.devminor}); an image carries no device "
                "nodes (the kernel and udev make them at boot)")
    if member.isfile() and member.mode & (stat.S_ISUID | stat.S_ISGID):
        where = _member_path(member.name) or member.name
        if not where.startswith(SETID_PLACES):
            bits = "setuid" if member.mode & stat.S_ISUID else "setgid"
            return (f"a {bits} file outside the usual places ({', '.join('/' + p for p in SETID_PLACES)}), "
                    "which would run with its owner's rights")
    return None


def tar_reason(stderr: str) -> str:
    """The first line of tar's stderr that says why it failed (not a note or its closing summary)."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    useful = [ln for ln in lines if not any(noise in ln for noise in _TAR_NOISE)]
    return (useful or lines or ["tar printed no reason"])[0]


def _member_path(name: str) -> str | None:
    """A tar member's path relative to the target, or None for one tar would not extract there."""
    parts = PurePosixPath(name.lstrip("/")).parts
    if ".." in parts:
        return None
    return "/".join(p for p in parts if p != ".")


def _dir_payload(path: Path) -> Payload:
    """Inspect a directory tree: bytes allocated and os-release."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
    ident = None
    for rel in OS_RELEASE:
        candidate = path / rel
        if candidate.is_file() and not candidate.is_symlink():
            ident = parse_os_release(candidate.read_text(errors="replace"))
            break
    return Payload(path, "dir", suggested_size(total), total, ident, None)


def suggested_size(used: int) -> int:
    """An LV size for a file-tree payload: room to grow, rounded up to 256 MiB."""
    want = int(used * 1.25) + 512 * MiB
    step = 256 * MiB
    return max(1024 * MiB, -(-want // step) * step)


@contextlib.contextmanager
def open_image(runner: Runner, path: Path, checksum: str | None = None,
               verified: str | None = None) -> Iterator[Payload]:
    """Inspect and verify a payload; a liveimg stays mounted while the context is open.

    verified is the sha256 the caller computed in the one read that brought the file (a
    download): it is not hashed again, and checksum is compared with it.
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except OSError:
        raise ImgbaseError(f"image {path} does not exist") from None
    if stat.S_ISDIR(mode) and path.resolve() == Path("/"):
        raise ImgbaseError("/ is the running system, not an image; give an image file or an image's tree")
    if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
        raise ImgbaseError(f"image {path} is not a regular file or a directory (a device, FIFO or socket "
                           "cannot be an image)")
    if stat.S_ISDIR(mode):
        if checksum:
            raise ImgbaseError("--checksum applies to image files, not to a directory")
        yield _dir_payload(path)
        return
    before = _file_identity(path)
    if checksum:
        digest: str | Future = verified or sha256_of(path)
        if digest != parse_checksum(checksum):
            raise ImgbaseError(f"checksum mismatch for {path}: expected {parse_checksum(checksum)}, "
                               f"got {digest}; {CORRUPT}")
    else:
        # nothing to verify first: hash while the copy runs (unless the caller already has it)
        digest = verified or _background_sha256(path)
    with open(path, "rb") as f:
        head = f.read(4)
    if head == SQUASHFS_MAGIC:
        with _liveimg_rootfs(runner, path) as rootfs:
            yield _guarded(_inspect_ext4(runner, rootfs, path, digest), path, before)
    elif ext4_geometry(path):
        yield _guarded(_inspect_ext4(runner, path, path, digest), path, before)
    elif tarfile.is_tarfile(path):
        yield _guarded(_tar_payload(path, digest), path, before)
    else:
        raise ImgbaseError(f"{path} is not an ext4 image, a liveimg squashfs, a tarball or a directory")


def _guarded(payload: Payload, path: Path, before: tuple | None) -> Payload:
    """Remember which file was checked, so fill can refuse one that changed meanwhile."""
    payload.origin, payload.origin_stat = path, before
    payload.check_unchanged()
    return payload


def check_squashfs(path: Path) -> None:
    """Refuse a squashfs whose superblock is not version 4 or that is shorter than it says."""
    with open(path, "rb") as f:
        sb = f.read(96)
    if len(sb) < 96 or sb[:4] != SQUASHFS_MAGIC or struct.unpack_from("<H", sb, 28)[0] != 4:
        raise ImgbaseError(f"{path} is a damaged squashfs (bad superblock); download the image again")
    needed = struct.unpack_from("<Q", sb, 40)[0]
    have = path.stat().st_size
    if have < needed:
        raise ImgbaseError(f"{path} is a damaged squashfs: truncated to {have} of {needed} bytes; "
                           "download the image again")


@contextlib.contextmanager
def _liveimg_rootfs(runner: Runner, path: Path) -> Iterator[Path]:
    """Mount a liveimg squashfs read-only and yield its LiveOS/rootfs.img."""
    check_squashfs(path)
    with mounted(runner, str(path), "ro,loop", "squashfs", readonly_query=True,
                 failure=f"{path} is a damaged squashfs (it does not mount)") as mnt:
        rootfs = mnt / LIVE_ROOTFS
        if not rootfs.is_file():
            raise ImgbaseError(f"{path} is a squashfs without {LIVE_ROOTFS}, so it is not a liveimg payload")
        yield rootfs


def fill(runner: Runner, payload: Payload, device: str, size: int) -> None:
    """Write payload into the empty LV device of size bytes."""
    progress = sys.stderr.isatty() and not runner.dry
    if payload.kind == "ext4":
        cmd = ["e2image", "-ra", *(["-p"] if progress else []), str(payload.source), device]
        runner.run(cmd, capture=not progress)
        if size > payload.fs_size:
            fsck(runner, device)
            runner.run(["resize2fs", device])
    elif payload.kind == "dir":
        runner.run(["mkfs.ext4", "-q", "-F", "-d", str(payload.source), device])
    else:
        runner.run(["mkfs.ext4", "-q", "-F", device])
        with mounted(runner, device, "discard") as mnt:
            try:
                runner.run(["tar", "--xattrs", "--xattrs-include=*", "--acls", "--numeric-owner",
                            "-xpf", str(payload.source), "-C", str(mnt)])
            except CommandError as exc:
                raise ImgbaseError(f"cannot unpack {payload.source} into {device} (tar exit {exc.returncode}): "
                                   f"{tar_reason(exc.stderr)}", detail=exc.detail) from None
    payload.check_unchanged()
