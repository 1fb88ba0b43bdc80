# SPDX-License-Identifier: GPL-2.0-or-later
"""What a kickstart must say when anaconda installs an imgbased host (the addon reads these rules).

Inside anaconda, the Storage module lays the disk out and the Payloads module installs the
``liveimg``; the addon then adopts the installed root.  So the kickstart itself must ask anaconda
for a layout imgbased can adopt, and the addon checks it while the kickstart is read, before
anything is written:

- the layout is ``autopart --type=thinp``, or an explicit layout whose ``/`` is ``logvol /
  --thin --poolname=POOL`` with a plain ``part /boot`` (or ``reqpart --add-boot``).  A kickstart
  without a partitioning command leaves the choice to the operator in anaconda's Installation
  Destination spoke, where the imgbased configuration drop-in makes thin LVM the default (and the
  addon's layout check refuses anything else before the disk is written).  In ``cmdline`` mode
  nobody is there to choose, so such a kickstart is refused with the line to add;
- ``autopart`` of another type, ``part /``, a plain ``logvol /`` and ``mount`` are refused on
  their own line;
- the payload is the ``liveimg`` command, its ``--checksum`` a bare sha256 hex digest (anaconda
  compares it so, after the download); the section's own layout options (``--disk``,
  ``--boot-size``, ``--pool-size``, ``--base-size``, ``--no-layout``, ``volume`` lines) and
  ``--liveimg`` belong to ``imgbase-install`` and are refused on the header line;
- ``--vg`` and ``--pool``, when given, must name the VG and pool of the explicit layout (with
  ``autopart`` anaconda names the VG itself, so they cannot be given).  Without them the addon
  adopts whatever VG and pool hold the root;
- ``--signature`` and ``--signature-policy`` apply inside anaconda too: the addon's check before
  storage is written reads the liveimg once through its checksum and signature, with the keys in
  the installer environment's /etc/imgbased/trusted.d (installer/liveimg.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pykickstart.constants import AUTOPART_TYPE_LVM_THINP, DISPLAY_MODE_CMDLINE

from org_ovirt_imgbased import defaults
from org_ovirt_imgbased.installer.kickstart.config import AddonConfig, KickstartLineError

ADD_LAYOUT = ("add `autopart --type=thinp`, or a thin layout: `part /boot ...`, `part pv.01 ...`, "
              "`volgroup HostVG pv.01`, `logvol none --thinpool --name=pool00 ...` and "
              "`logvol / --thin --poolname=pool00 ...`")
PARTITIONING = ("autopart", "part", "partition", "logvol", "volgroup", "reqpart", "mount", "raid", "btrfs")
DISPLAY = ("cmdline", "text", "graphical")  # one pykickstart command: displaymode


@dataclass
class AnacondaPlan:
    """What the kickstart asks anaconda for, as far as the addon cares."""

    automatic: bool  # autopart, or the operator chooses in the storage spoke
    vg: str | None  # None: anaconda names it
    pool: str | None


def _text(obj: Any) -> str | None:
    """The kickstart line of a command or data object, as pykickstart writes it back."""
    lines = [ln for ln in str(obj).splitlines() if ln.strip() and not ln.startswith("#")]
    return lines[-1].strip() if lines else None


def _fail(lineno: int | None, reason: str, obj: Any = None, text: str | None = None) -> KickstartLineError:
    """The error for a line, quoting it (anaconda prints module errors without line numbers)."""
    return KickstartLineError(lineno, reason, text=text or (_text(obj) if obj is not None else None))


def check(handler: Any, section: AddonConfig, header_lineno: int | None,
          header_text: str | None = None) -> AnacondaPlan:
    """Refuse a kickstart anaconda would install without a layout imgbased can adopt."""
    _check_section(section, header_lineno, header_text)
    if not getattr(handler, "liveimg", None) or not handler.liveimg.seen:
        raise _fail(header_lineno, "anaconda installs the image from the `liveimg` command: add "
                    "`liveimg --url=URL --checksum=SHA256`", text=header_text)
    _check_checksum(handler.liveimg)
    mount = getattr(handler, "mount", None)
    if mount is not None and getattr(mount, "seen", False):
        raise _fail(mount.lineno, f"`mount` reuses existing filesystems; imgbased needs a fresh thin layout: "
                    f"{ADD_LAYOUT}", mount)
    if handler.autopart.seen:
        return _check_autopart(handler.autopart, section, header_lineno, header_text)
    if not any(getattr(getattr(handler, name, None), "seen", False) for name in PARTITIONING):
        display = getattr(handler, "displaymode", None)
        if display is not None and display.seen and display.displayMode == DISPLAY_MODE_CMDLINE:
            raise _fail(header_lineno, f"an unattended (cmdline) install needs a layout: {ADD_LAYOUT}",
                        text=header_text)
        return AnacondaPlan(automatic=True, vg=None, pool=None)
    return _check_explicit(handler, section, header_lineno, header_text)


def _check_checksum(liveimg: Any) -> None:
    """anaconda compares --checksum with the image's sha256 as bare hex: a prefix would fail it later."""
    checksum = liveimg.checksum or ""
    if checksum and not re.fullmatch(r"[0-9a-fA-F]{64}", checksum):
        bare = checksum.partition(":")[2] if checksum.lower().startswith("sha256:") else None
        fix = f"--checksum={bare}" if bare else "the 64 hex digits of the image's sha256"
        raise _fail(liveimg.lineno, f"anaconda compares --checksum as a bare sha256 hex digest: give {fix}",
                    liveimg)


def _check_section(section: AddonConfig, lineno: int | None, text: str | None) -> None:
    """Refuse the imgbase-install-only options of the section."""
    given = [(section.disk, "--disk"), (section.boot_size != defaults.BOOT_SIZE, "--boot-size"),
             (section.pool_size is not None, "--pool-size"), (section.base_size is not None, "--base-size"),
             (section.no_layout, "--no-layout"), (section.volumes, "volume lines"),
             (section.liveimg_url, "--liveimg")]
    for present, name in given:
        if present:
            where = "the liveimg command" if name == "--liveimg" else "anaconda's partitioning commands"
            raise _fail(lineno, f"{name} is for imgbase-install; inside anaconda use {where} instead "
                        "(see the section's documentation)", text=text)


def _check_autopart(autopart: Any, section: AddonConfig, lineno: int | None, text: str | None) -> AnacondaPlan:
    """autopart must be the thin type, and it names the VG itself."""
    if autopart.type != AUTOPART_TYPE_LVM_THINP:
        raise _fail(autopart.lineno, "imgbased needs the root on LVM thin provisioning: use "
                    "`autopart --type=thinp`", autopart)
    if section.vg != defaults.VG or section.pool != defaults.POOL:
        raise _fail(lineno, "with autopart anaconda names the VG and pool itself: remove --vg/--pool, or "
                    "give an explicit thin layout with those names", text=text)
    return AnacondaPlan(automatic=True, vg=None, pool=None)


def _check_explicit(handler: Any, section: AddonConfig, lineno: int | None, text: str | None) -> AnacondaPlan:
    """The explicit layout: / a thin LV, /boot a plain partition, names matching the section."""
    parts = list(handler.partition.partitions)
    lvs = list(handler.logvol.lvList)
    root_part = next((p for p in parts if p.mountpoint == "/"), None)
    if root_part is not None:
        raise _fail(root_part.lineno, "/ on a partition cannot hold imgbased's layers: make it "
                    "`logvol / --thin --poolname=POOL ...` in a thin pool", root_part)
    root = next((lv for lv in lvs if lv.mountpoint == "/"), None)
    if root is None:
        raise _fail(lineno, f"the kickstart has no layout for /: {ADD_LAYOUT}", text=text)
    if not root.thin_volume or not root.pool_name:
        raise _fail(root.lineno, "imgbased needs / as a thin LV: add `--thin --poolname=POOL` (and a "
                    "`logvol none --thinpool --name=POOL` line)", root)
    boot = any(p.mountpoint == "/boot" for p in parts) or (handler.reqpart.seen and handler.reqpart.addBoot)
    if not boot:
        raise _fail(root.lineno, "imgbased keeps each layer's kernel on a plain /boot partition: add "
                    "`part /boot --fstype=ext4 --size=1024`", root)
    _check_name(section.vg, defaults.VG, root.vgname, "--vg", "VG", lineno, text)
    _check_name(section.pool, defaults.POOL, root.pool_name, "--pool", "thin pool", lineno, text)
    return AnacondaPlan(automatic=False, vg=root.vgname, pool=root.pool_name)


def _check_name(given: str, default: str, layout: str, option: str, what: str, lineno: int | None,
                text: str | None) -> None:
    """A --vg/--pool that differs from its default must name what the layout makes."""
    if given != default and given != layout:
        raise _fail(lineno, f"{option}={given}, but the layout puts / in the {what} {layout}: give "
                    f"{option}={layout} or leave {option} out", text=text)
