# SPDX-License-Identifier: GPL-2.0-or-later
"""The system anaconda installed, as the addon finds it: check its layout, then adopt it.

The anaconda addon's tasks are thin callers of these functions:

- ``check_layout`` runs before anaconda writes anything (the addon's runtime-configuration task):
  the root anaconda is about to create must be a thin LV, in the VG the section names if it names
  one; ``verify_payload`` then reads the liveimg once through its checksum and its signature;
- ``adopt_target`` runs in anaconda's "Configuring addons" phase, after storage, the payload and
  the bootloader: it finds the root LV mounted at the target root and /boot below it, then calls
  ``install.adopt_root`` (the step ``imgbase-install`` ends with too).  Boot entries anaconda
  wrote for the root it installed are renamed to ``*.conf.replaced-by-imgbased`` (kept, but no
  longer read by the loader): they name an LV that is now the layer Base-0.1 under another name.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host import adopt, download, image
from org_ovirt_imgbased.host.boot import bls
from org_ovirt_imgbased.host.storage import lvm
from org_ovirt_imgbased.installer import liveimg
from org_ovirt_imgbased.installer.adoption import adopt_root
from org_ovirt_imgbased.installer.kickstart import AddonConfig
from org_ovirt_imgbased.runner import Runner

log = logging.getLogger(__name__)

THIN_TYPE = "lvmthinlv"  # blivet's type name of a thin LV
REPLACED = ".replaced-by-imgbased"


@dataclass(frozen=True)
class PlannedLayout:
    """The layout anaconda has planned: root device type ("" before any), VG, pool, data volumes."""

    root_type: str
    vg: str | None = None
    pool: str | None = None
    volumes: list[str] = field(default_factory=list)


def check_layout(root_type: str, root_vg: str | None, config: AddonConfig, vg_given: bool) -> None:
    """Refuse a root that is not a thin LV, or one in another VG than the section's --vg."""
    if not root_type:
        raise ImgbaseError("anaconda's layout has no root (/) device: add `autopart --type=thinp` or a "
                           "`logvol / --thin` layout")
    if root_type != THIN_TYPE:
        raise ImgbaseError(f"anaconda would put / on a {root_type} device; imgbased needs a thin LV in a "
                           "thin pool: use `autopart --type=thinp` or `logvol / --thin --poolname=POOL`")
    if vg_given and root_vg and root_vg != config.vg:
        raise ImgbaseError(f"the %addon section names --vg={config.vg}, but anaconda puts / in VG "
                           f"{root_vg}: give --vg={root_vg} or leave --vg out")


def root_lv(runner: Runner, sysroot: Path) -> lvm.LV:
    """The LV whose filesystem is mounted at sysroot."""
    st = os.stat(sysroot)
    dev = (os.major(st.st_dev), os.minor(st.st_dev))
    lv = next((x for x in lvm.list_lvs(runner) if x.dev == dev), None)
    if lv is None:
        raise ImgbaseError(f"the installed root at {sysroot} is not on an LVM logical volume; imgbased "
                           "needs it on a thin LV (`autopart --type=thinp` or `logvol / --thin`)")
    return lv


def boot_disk(runner: Runner, boot_dir: Path) -> str:
    """The disk holding the /boot partition mounted at boot_dir (where GRUB goes)."""
    if not os.path.ismount(boot_dir):
        raise ImgbaseError(f"{boot_dir} is not a mount point: imgbased needs a plain /boot partition "
                           "(`part /boot --fstype=ext4 --size=1024`)")
    source = runner.query(["findmnt", "-n", "-o", "SOURCE", "--mountpoint", str(boot_dir)]).strip()
    parent = runner.query(["lsblk", "-n", "-d", "-o", "PKNAME", source]).strip()
    if not parent:
        raise ImgbaseError(f"/boot ({source}) is not a partition of a disk; imgbased needs a plain "
                           "/boot partition")
    return f"/dev/{parent}"


def payload_sha256(url: str | None, checksum: str | None) -> str | None:
    """The liveimg's sha256: the kickstart's checksum (anaconda verified it), else a local file's."""
    if checksum:
        return image.parse_checksum(checksum)
    if url and urlsplit(url).scheme == "file":
        path = Path(unquote(urlsplit(url).path))
        if path.is_file():
            return image.sha256_of(path)
    log.warning("the liveimg %s has no --checksum: Base-0 gets no imgbased:sha256 tag", url)
    return None


def verify_payload(url: str, checksum: str | None, config: AddonConfig | None = None,
                   runner: Runner | None = None) -> str | None:
    """Before anything is written: read the liveimg once through its --checksum and its signature check.

    anaconda verifies the checksum only after downloading the image onto the new disk, and checks
    no signature; this refuses a wrong or badly signed image while the disk is untouched (the
    signature and trust as installer/liveimg.py says, from config).  Returns the digest read, or
    None when there is nothing to check (no checksum, no signature to check).
    """
    expected = image.parse_checksum(checksum) if checksum else None
    with liveimg.verifier(runner or Runner(), config or AddonConfig(), url) as verifier:
        if expected is None and verifier is None:
            return None
        actual, signer = download.check_stream(url, verifier)
    if expected is not None and actual != expected:
        raise ImgbaseError(f"the liveimg {url} has sha256 {actual}, but its --checksum is {expected}: nothing was "
                           "written; fix the checksum or the URL")
    if signer:
        log.info("imgbased: the liveimg %s is signed by %s", url, signer)
    return actual


def replace_installer_entries(runner: Runner, boot_dir: Path, vg: str, lv: str) -> list[str]:
    """Set aside the boot entries the installer wrote for the adopted root; returns their names."""
    names = [f"/dev/mapper/{vg.replace('-', '--')}-{lv.replace('-', '--')}", f"/dev/{vg}/{lv}",
             f"rd.lvm.lv={vg}/{lv}"]
    moved = []
    for entry in bls.read_entries(boot_dir):
        if entry.layer is not None:
            continue
        if any(name in entry.options.split() or f"root={name}" in entry.options.split() for name in names):
            path = bls.entries_dir(boot_dir) / f"{entry.id}.conf"
            runner.run(["mv", "-f", str(path), f"{path}{REPLACED}"])
            moved.append(path.name)
    return moved


def adopt_target(runner: Runner, sysroot: Path, config: AddonConfig, *, url: str | None,
                 checksum: str | None, kernel_args: list[str], install_grub: bool, progress) -> str:
    """Adopt the root anaconda installed at sysroot as Base-0 + Base-0.1; returns the layer."""
    lv = root_lv(runner, sysroot)
    boot_dir = sysroot / "boot"
    disk = boot_disk(runner, boot_dir)
    installed = adopt.Installed(lv.vg, lv.name, sysroot, adopt.identity_of(sysroot),
                                payload_sha256(url, checksum))
    layer = adopt_root(runner, installed, boot_dir, config, kernel_args, progress,
                               grub_disk=disk if install_grub else None)
    for name in replace_installer_entries(runner, boot_dir, lv.vg, lv.name):
        progress(f"set aside anaconda's boot entry {name} (its root is now {layer})")
    return layer
