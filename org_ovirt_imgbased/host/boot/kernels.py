# SPDX-License-Identifier: GPL-2.0-or-later
"""Find the kernel and initrd inside a layer's mounted root, and check /boot's free space.

A layer boots its own kernel: ``<root>/boot/vmlinuz-<kver>`` with ``initrd.img-<kver>``
(Debian) or ``initramfs-<kver>.img`` (Fedora), or ``<root>/usr/lib/modules/<kver>/vmlinuz``
with ``initramfs.img`` beside it (ostree-style images).  The newest kernel version wins.
Only regular files count: a symlink inside an image could point anywhere on the host.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.units import MiB

SPACE_MARGIN = 16 * MiB
ENTRY_SIZE = 4096


@dataclass(frozen=True)
class KernelFiles:
    """A kernel and initrd found in an image, and the names they get under /boot/<layer>/."""

    kver: str
    vmlinuz: Path
    initrd: Path
    initrd_name: str

    @property
    def vmlinuz_name(self) -> str:
        """The kernel's file name under /boot/<layer>/."""
        return f"vmlinuz-{self.kver}"

    def size(self) -> int:
        """Bytes the two files take."""
        return self.vmlinuz.stat().st_size + self.initrd.stat().st_size


def version_key(kver: str) -> tuple:
    """A sort key that orders kernel versions naturally (``6.1.0-18`` after ``6.1.0-9``)."""
    return tuple((1, int(part), "") if part.isdigit() else (0, 0, part)
                 for part in re.findall(r"\d+|[^\d.\-_+~]+", kver))


def _regular(path: Path) -> bool:
    """True for a regular file that is not a symlink."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _boot_kernels(root: Path) -> dict[str, tuple[Path, Path | None, str]]:
    """Kernels in <root>/boot: kver -> (vmlinuz, initrd or None, initrd name)."""
    found: dict[str, tuple[Path, Path | None, str]] = {}
    boot = root / "boot"
    if not boot.is_dir() or boot.is_symlink():
        return found
    for vmlinuz in boot.glob("vmlinuz-*"):
        kver = vmlinuz.name[len("vmlinuz-"):]
        if not kver or "rescue" in kver or not _regular(vmlinuz):
            continue
        initrd, name = None, f"initrd.img-{kver}"
        for candidate in (f"initrd.img-{kver}", f"initramfs-{kver}.img"):
            if _regular(boot / candidate):
                initrd, name = boot / candidate, candidate
                break
        found[kver] = (vmlinuz, initrd, name)
    return found


def _module_dirs(root: Path) -> list[Path]:
    """The modules directories of an image: usr/lib/modules, and lib/modules if /lib is real."""
    dirs = [root / "usr/lib/modules"]
    if (root / "lib").is_dir() and not (root / "lib").is_symlink():
        dirs.append(root / "lib/modules")
    return [d for d in dirs if d.is_dir() and not d.is_symlink()]


def _module_kernels(root: Path) -> dict[str, tuple[Path, Path | None, str]]:
    """Kernels in <root>/usr/lib/modules/<kver>/vmlinuz: kver -> (vmlinuz, initrd, name)."""
    found: dict[str, tuple[Path, Path | None, str]] = {}
    for mods in _module_dirs(root):
        for kdir in mods.iterdir():
            if kdir.name in found or not _regular(kdir / "vmlinuz"):
                continue
            initrd = kdir / "initramfs.img"
            found[kdir.name] = (kdir / "vmlinuz", initrd if _regular(initrd) else None,
                                f"initramfs-{kdir.name}.img")
    return found


def find_kernel(root: Path) -> KernelFiles:
    """The newest kernel and its initrd in a mounted image root; ImgbaseError if there is none."""
    root = Path(root)
    in_boot, in_modules = _boot_kernels(root), _module_kernels(root)
    kvers = sorted(set(in_boot) | set(in_modules), key=version_key)
    if not kvers:
        raise ImgbaseError(f"no kernel in the image at {root}: expected boot/vmlinuz-<version> or "
                           "usr/lib/modules/<version>/vmlinuz; install a kernel package in the image")
    kver = kvers[-1]
    vmlinuz, initrd, name = in_boot.get(kver) or in_modules[kver]
    if initrd is None and kver in in_modules and in_modules[kver][1] is not None:
        _, initrd, name = in_modules[kver]
    if initrd is None:
        raise ImgbaseError(f"the image at {root} has kernel {kver} but no initrd for it (looked for "
                           f"boot/initrd.img-{kver}, boot/initramfs-{kver}.img and "
                           f"usr/lib/modules/{kver}/initramfs.img); build one in the image")
    return KernelFiles(kver, vmlinuz, initrd, name)
