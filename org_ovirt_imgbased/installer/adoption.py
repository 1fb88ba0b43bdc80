# SPDX-License-Identifier: GPL-2.0-or-later
"""The step both installers end with: the installed thin root becomes Base-0 + Base-0.1, bootable.

``imgbase-install`` calls it after filling a thin LV from the image (install.deploy); the anaconda
addon calls it after anaconda's Storage and Payloads modules installed the root (target.py).  It
imports no blivet: inside anaconda, storage belongs to anaconda.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from org_ovirt_imgbased.host import adopt, layers
from org_ovirt_imgbased.host.context import Context
from org_ovirt_imgbased.host.lock import locked
from org_ovirt_imgbased.host.storage import lvm
from org_ovirt_imgbased.host.storage.mounts import mounted
from org_ovirt_imgbased.installer import chroot
from org_ovirt_imgbased.installer.kickstart import AddonConfig
from org_ovirt_imgbased.runner import Runner

Progress = Callable[[str], None]


def adopt_root(runner: Runner, installed: adopt.Installed, boot_dir: Path, config: AddonConfig,
               kernel_args: list[str], progress: Progress, *, grub_disk: str | None = None,
               fstab_extra: list[str] = ()) -> str:
    """The step both installers end with: the installed root becomes Base-0 + Base-0.1, bootable.

    installed.root is mounted with the /boot partition at boot_dir; with grub_disk, GRUB is
    installed there with the image's own tools (else the installer's bootloader stays).
    """
    vg = installed.vg
    lv = adopt.check_adoptable(runner, vg, installed.lv)
    lvm.ensure_profile(runner)
    runner.run(["lvchange", "-q", "--metadataprofile", lvm.PROFILE, f"{vg}/{lv.pool}"])
    runner.makedirs(boot_dir / "grub")
    if not (boot_dir / "grub/grubenv").exists():
        runner.run(["grub-editenv", str(boot_dir / "grub/grubenv"), "create"])
    # The journal stays with the disk being installed, never in this host's state directory,
    # so `imgbase recover` on the host cannot replay it against the host's own /boot.
    journal_dir = boot_dir / ".imgbased-install-journal"
    ctx = Context(runner=runner, vg=vg, boot_dir=boot_dir, kernel_args=kernel_args,
                  cmdline=Path(os.devnull), journal_dir=journal_dir)
    progress(f"adopting {vg}/{installed.lv}: snapshot Base-0, layer Base-0.1 with its kernel and boot entry")
    with locked(), layers.transaction(ctx, vg, "install") as txn:
        layer = adopt.adopt(ctx, txn, installed, fstab_extra)
    with contextlib.suppress(OSError):
        journal_dir.rmdir()
    progress("writing the imgbased configuration")
    _write_config(runner, installed.root, config)
    _install_profile(runner, installed.root)
    if grub_disk:
        progress(f"installing GRUB on {grub_disk} with the image's own tools")
        chroot.grub_tools(installed.root)
        if installed.lv == layer:
            chroot.install_grub(runner, installed.root, grub_disk)
        else:
            _grub_in_fresh_mount(runner, vg, layer, boot_dir, grub_disk)
    return layer


def _grub_in_fresh_mount(runner: Runner, vg: str, layer: str, boot_dir: Path, disk: str) -> None:
    """Install GRUB from a new mount of the renamed root (grub-probe trusts the mount's source name).

    The installer's mount of the root still carries the LV's old name, which no longer exists.
    """
    boot_dev = runner.query(["findmnt", "-n", "-o", "SOURCE", "--mountpoint", str(boot_dir)]).strip()
    with mounted(runner, f"/dev/{vg}/{layer}", "rw") as root, chroot.prepared(runner, root, boot_dev):
        chroot.install_grub(runner, root, disk)


def _write_config(runner: Runner, root: Path, config: AddonConfig) -> None:
    """Write /etc/imgbased.conf for the kickstart's keep and persist settings."""
    lines = ["# written by the imgbased installer", "[gc]", f"keep = {config.keep}"]
    if config.persist:
        lines += ["", "[persist]", "paths = " + " ".join(config.persist)]
    runner.write_file(root / "etc/imgbased.conf", "\n".join(lines) + "\n", beneath=root)


def _install_profile(runner: Runner, root: Path) -> None:
    """Give the installed system the thin pool's lvm profile (its metadata refers to it)."""
    lvm.ensure_profile(runner, str(root / "etc/lvm/profile"))
