# SPDX-License-Identifier: GPL-2.0-or-later
"""liveimg payloads: a squashfs holding LiveOS/rootfs.img, the format anaconda's liveimg reads."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from .common import ImgbaseError, log, run

ROOTFS_ENTRY = "LiveOS/rootfs.img"
# mksquashfs options per compressor.  zstd at level 3 packs the test image in seconds, about 20%
# larger than xz (which takes minutes on two cores); it also unpacks fastest under TCG.
COMPRESSORS = {"zstd": ["-Xcompression-level", "3"], "xz": [], "gzip": [], "lz4": []}
EXT4_MAGIC_OFFSET = 1080
EXT4_MAGIC = b"\x53\xef"


def check_listing(lines: list[str]) -> None:
    """Check an `unsquashfs -lls` listing: LiveOS/rootfs.img must be a regular file (pure)."""
    for line in lines:
        fields = line.split()
        if len(fields) >= 6 and fields[-1].endswith("/" + ROOTFS_ENTRY):
            rel = fields[-1].split("/", 1)[1] if "/" in fields[-1] else fields[-1]
            if rel != ROOTFS_ENTRY:
                continue
            if not fields[0].startswith("-"):
                raise ImgbaseError(f"{ROOTFS_ENTRY} in the squashfs is not a regular file ({fields[0]})")
            return
    raise ImgbaseError(f"the squashfs has no {ROOTFS_ENTRY}: not a liveimg payload; "
                       "make one with image-tools/make-liveimg")


def looks_like_ext4(head: bytes) -> bool:
    """Tell whether the first 2 KiB of a filesystem image carry the ext2/3/4 magic (pure)."""
    return head[EXT4_MAGIC_OFFSET:EXT4_MAGIC_OFFSET + 2] == EXT4_MAGIC


def parse_od(text: str) -> bytes:
    """Turn `od -An -tx1 -v` output back into bytes (pure)."""
    return bytes(int(tok, 16) for tok in text.split())


def check_liveimg(path: Path) -> None:
    """Check that path is a squashfs with an ext4 LiveOS/rootfs.img inside."""
    if not path.is_file():
        raise ImgbaseError(f"{path}: no such liveimg file")
    res = run(["unsquashfs", "-lls", path], check=False)
    if res.returncode != 0:
        raise ImgbaseError(f"{path} is not a readable squashfs: unsquashfs -lls failed")
    check_listing(res.stdout.splitlines())
    head = run(["sh", "-c", 'unsquashfs -cat "$1" "$2" | head -c 2048 | od -An -tx1 -v', "sh", path,
                ROOTFS_ENTRY], check=False).stdout
    if not looks_like_ext4(parse_od(head)):
        raise ImgbaseError(f"{ROOTFS_ENTRY} inside {path} is not an ext4 filesystem image")


def sha256_file(path: Path) -> str:
    """Return the sha256 hex digest of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _stage(rootfs: Path, stage: Path) -> None:
    """Place rootfs as stage/LiveOS/rootfs.img: a hard link when possible, else a sparse copy."""
    live = stage / "LiveOS"
    live.mkdir(mode=0o755)
    try:
        os.link(rootfs, live / "rootfs.img")
    except OSError:
        run(["cp", "--sparse=always", "--reflink=auto", rootfs, live / "rootfs.img"])


def make_liveimg(rootfs: Path, out: Path, comp: str = "zstd") -> str:
    """Pack rootfs as LiveOS/rootfs.img in a new squashfs at out; return its sha256."""
    if comp not in COMPRESSORS:
        raise ImgbaseError(f"unknown compressor {comp!r}: choose one of {', '.join(COMPRESSORS)}")
    head = rootfs.open("rb").read(2048) if rootfs.is_file() else b""
    if not looks_like_ext4(head):
        raise ImgbaseError(f"{rootfs} is not an ext4 filesystem image (build one with image-tools/build-image)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_name(out.name + ".tmp")
    with tempfile.TemporaryDirectory(prefix=".liveimg-", dir=out.parent) as tmp:
        stage = Path(tmp) / "stage"
        stage.mkdir()
        _stage(rootfs, stage)
        tmp_out.unlink(missing_ok=True)
        log(f"mksquashfs ({comp}) of {rootfs.name}")
        run(["mksquashfs", stage, tmp_out, "-noappend", "-no-progress", "-quiet", "-all-root",
             "-no-xattrs", "-comp", comp, *COMPRESSORS[comp]])
    check_liveimg(tmp_out)
    tmp_out.rename(out)
    return sha256_file(out)


def copy_out(src: Path, dest: Path) -> None:
    """Copy a cached artifact to dest, keeping it sparse."""
    if dest.is_dir():
        dest = dest / src.name
    run(["cp", "--sparse=always", src, dest])
    shutil.copymode(src, dest)
