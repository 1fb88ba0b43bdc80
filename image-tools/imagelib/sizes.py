# SPDX-License-Identifier: GPL-2.0-or-later
"""Size accounting (apparent, allocated, used, squashed) and sparsifying ext4 images."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from .common import ImgbaseError, log, run
from .liveimg import looks_like_ext4

MIB = 1 << 20


@dataclass
class SizeReport:
    """Sizes in bytes of a rootfs image and, optionally, its liveimg squashfs."""

    rootfs: str
    apparent: int
    allocated: int
    fs_used: int
    liveimg: str | None = None
    squashed: int | None = None

    def as_dict(self) -> dict:
        """Return the report as a plain dict, with the ratios added."""
        data = asdict(self)
        if self.squashed:
            data["ratio_allocated_to_squashed"] = round(self.allocated / self.squashed, 2)
            data["ratio_used_to_squashed"] = round(self.fs_used / self.squashed, 2)
        return data


def parse_dumpe2fs(text: str) -> int:
    """Return the used bytes of an ext filesystem from `dumpe2fs -h` output (pure)."""
    fields = {}
    for line in text.splitlines():
        m = re.match(r"^(Block count|Free blocks|Block size):\s+(\d+)\s*$", line)
        if m:
            fields[m.group(1)] = int(m.group(2))
    if len(fields) != 3:
        raise ImgbaseError("dumpe2fs -h printed no block counts: is this an ext4 image?")
    return (fields["Block count"] - fields["Free blocks"]) * fields["Block size"]


def allocated(path: Path) -> int:
    """Bytes a file really occupies on disk (holes not counted)."""
    return path.stat().st_blocks * 512


def size_report(rootfs: Path, liveimg: Path | None = None) -> SizeReport:
    """Measure rootfs (and liveimg when given)."""
    if not rootfs.is_file():
        raise ImgbaseError(f"{rootfs}: no such image file")
    used = parse_dumpe2fs(run(["dumpe2fs", "-h", rootfs]).stdout)
    report = SizeReport(str(rootfs), rootfs.stat().st_size, allocated(rootfs), used)
    if liveimg is not None:
        if not liveimg.is_file():
            raise ImgbaseError(f"{liveimg}: no such liveimg file")
        report.liveimg, report.squashed = str(liveimg), liveimg.stat().st_size
    return report


def format_report(report: SizeReport) -> str:
    """Render a size report as aligned text lines, sizes in MiB."""
    def mib(n: int) -> str:
        """Format a byte count in MiB, right-aligned."""
        return f"{n / MIB:9.1f} MiB"

    lines = [f"rootfs image          {report.rootfs}",
             f"  apparent size     {mib(report.apparent)}",
             f"  sparse allocated  {mib(report.allocated)}",
             f"  filesystem used   {mib(report.fs_used)}"]
    if report.squashed is not None:
        lines += [f"liveimg (squashfs)    {report.liveimg}",
                  f"  squashed size     {mib(report.squashed)}",
                  f"  sparse / squashed {report.allocated / report.squashed:9.2f} x",
                  f"  used / squashed   {report.fs_used / report.squashed:9.2f} x"]
    return "\n".join(lines)


def _loop_users(image: Path) -> str:
    """Return the loop devices that currently use image (losetup -j), if any."""
    return run(["losetup", "-j", image], check=False).stdout.strip()


def _fsck(image: Path) -> None:
    """Check and repair the filesystem; exit codes above 1 are fatal."""
    res = run(["e2fsck", "-fy", image], check=False)
    if res.returncode > 1:
        raise ImgbaseError(f"e2fsck -fy {image} failed (exit {res.returncode}): repair it by hand first")


def sparsify_e2image(image: Path) -> None:
    """Rewrite image with e2image -ra: only used blocks are written, the rest become holes."""
    with tempfile.NamedTemporaryFile(prefix=f".{image.name}.", dir=image.parent, delete=False) as f:
        tmp = Path(f.name)
    try:
        tmp.unlink()
        run(["e2image", "-ra", image, tmp])
        os.truncate(tmp, image.stat().st_size)
        os.chmod(tmp, image.stat().st_mode & 0o7777)
        os.replace(tmp, image)
    finally:
        tmp.unlink(missing_ok=True)


def sparsify_fstrim(image: Path) -> None:
    """Loop-mount image and fstrim it: the loop driver punches holes for the discarded blocks."""
    with tempfile.TemporaryDirectory(prefix="sparsify.") as mnt:
        run(["mount", "-o", "loop", image, mnt])
        try:
            run(["fstrim", mnt])
        finally:
            run(["umount", mnt])


def sparsify(image: Path, method: str = "e2image") -> tuple[int, int]:
    """Zero and discard the free blocks of an unmounted ext4 image; return (before, after) bytes."""
    if not image.is_file():
        raise ImgbaseError(f"{image}: no such image file")
    with open(image, "rb") as f:
        if not looks_like_ext4(f.read(2048)):
            raise ImgbaseError(f"{image} is not an ext4 filesystem image")
    users = _loop_users(image)
    if users:
        raise ImgbaseError(f"{image} is in use by a loop device ({users.splitlines()[0]}); detach it first")
    before = allocated(image)
    _fsck(image)
    if method == "e2image":
        sparsify_e2image(image)
    elif method == "fstrim":
        sparsify_fstrim(image)
    else:
        raise ImgbaseError(f"unknown method {method!r}: use e2image or fstrim")
    after = allocated(image)
    log(f"{image}: {before / MIB:.1f} MiB -> {after / MIB:.1f} MiB allocated")
    return before, after
