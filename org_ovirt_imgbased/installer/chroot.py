# SPDX-License-Identifier: GPL-2.0-or-later
"""Run the target system's own tools in a chroot: grub-install and grub-mkconfig."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.runner import Runner

BINDS = ("dev", "proc", "sys")


@contextlib.contextmanager
def prepared(runner: Runner, root: Path, boot_dev: str) -> Iterator[Path]:
    """Bind /dev, /proc, /sys, give a fresh /run and mount the boot partition inside root; undo on exit."""
    mounted: list[Path] = []
    try:
        for name in BINDS:
            target = root / name
            runner.makedirs(target)
            runner.run(["mount", "--rbind", f"/{name}", str(target)])
            runner.run(["mount", "--make-rslave", str(target)])
            mounted.append(target)
        runner.makedirs(root / "run")
        runner.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", str(root / "run")])
        mounted.append(root / "run")
        runner.makedirs(root / "boot")
        runner.run(["mount", boot_dev, str(root / "boot")])
        mounted.append(root / "boot")
        yield root
    finally:
        for target in reversed(mounted):
            runner.run(["umount", "-R", "-l", str(target)], check=False)


def _tool(root: Path, names: tuple[str, ...]) -> str:
    """The first of names that exists in the target's PATH directories."""
    for name in names:
        for d in ("usr/sbin", "usr/bin", "sbin", "bin"):
            if (root / d / name).exists():
                return name
    raise ImgbaseError(f"the image has none of {', '.join(names)}; it cannot be made bootable with GRUB")


def grub_tools(root: Path) -> tuple[str, str]:
    """The target's grub-install and grub-mkconfig names; an error if the image lacks them."""
    return _tool(root, ("grub-install", "grub2-install")), _tool(root, ("grub-mkconfig", "grub2-mkconfig"))


def install_grub(runner: Runner, root: Path, disk: str) -> None:
    """Install GRUB for BIOS on disk and generate grub.cfg, with the target's own grub."""
    chroot = shutil.which("chroot") or "chroot"
    install, mkconfig = grub_tools(root)
    grub_dir = "/boot/grub2" if install.startswith("grub2") else "/boot/grub"
    runner.run([chroot, str(root), install, "--target=i386-pc", disk])
    runner.run([chroot, str(root), mkconfig, "-o", f"{grub_dir}/grub.cfg"])
