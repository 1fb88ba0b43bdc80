# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared set-up for VM tests that need a /boot partition and grubenv."""

from __future__ import annotations

from pathlib import Path

from tests.lvmhelp import sh
from tests.vm.payloads import Imgbase


def make_boot(loop_disk, tmp_path: Path, size: str = "64M") -> Path:
    """A separate ext4 /boot filesystem on a loop device, with an empty grubenv."""
    dev = loop_disk(size)
    sh("mkfs.ext4", "-q", "-F", dev)
    boot = tmp_path / "boot"
    boot.mkdir(exist_ok=True)
    sh("mount", dev, str(boot))
    (boot / "grub").mkdir()
    sh("grub-editenv", str(boot / "grub/grubenv"), "create")
    return boot


def grubenv(boot: Path) -> dict[str, str]:
    """The variables in boot's grubenv."""
    out = sh("grub-editenv", str(boot / "grub/grubenv"), "list").stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def booted_tool(loop_disk, vg_name: str, tmp_path: Path, disk: str = "8G") -> Imgbase:
    """An initialised VG plus a mounted /boot, driven with boot management on."""
    boot = make_boot(loop_disk, tmp_path)
    tool = Imgbase(tmp_path, vg_name, boot_dir=boot, bootloader=True)
    tool("layout", "--init", "--pvs", loop_disk(disk))
    return tool


def unmount_boot(boot: Path) -> None:
    """Unmount the test /boot (before the loop device is detached)."""
    sh("umount", "-l", str(boot), check=False)
