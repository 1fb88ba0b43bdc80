# SPDX-License-Identifier: GPL-2.0-or-later
"""What the text screens edit: an AddonConfig plus the usable disks, with checked setters and summaries.

No simpleline here.  Every ``set_*``/``*_volume`` method takes what the operator typed and
raises ``ValueError`` with a one-line reason when it is not acceptable; the screen shows the
reason and asks again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.installer.disk.model import DEFAULT_BASE_SIZE, LayoutRequest, lv_name_for, pool_sizes, validate
from org_ovirt_imgbased.installer.kickstart import AddonConfig, read_section
from org_ovirt_imgbased.installer.kickstart import values as kv
from org_ovirt_imgbased.units import human

# The tree's rough cost outside the VG: partition alignment and the BIOS boot partition.
_PARTITION_OVERHEAD = 4 * kv.MiB


@dataclass(frozen=True)
class DiskInfo:
    """A disk the operator may install onto."""

    name: str  # kernel name such as vda (or a /dev path)
    size: int  # bytes
    description: str = ""  # model or vendor, for display

    @property
    def path(self) -> str:
        """The device path."""
        return kv.disk_path(self.name)

    def label(self) -> str:
        """One line for lists: name, size and description."""
        text = f"{self.name} ({human(self.size)})"
        return f"{text} {self.description}" if self.description else text


def config_from_text(text: str) -> AddonConfig:
    """The config in %addon section text, or the defaults for empty text."""
    return read_section(text) if text.strip() else AddonConfig()


@dataclass
class InstallerModel:
    """The config being edited, the disks to choose from, and whether the operator confirmed."""

    config: AddonConfig
    disks: list[DiskInfo] = field(default_factory=list)
    confirmed: bool = False

    # ---- reading -------------------------------------------------------------------------------

    def disk(self) -> DiskInfo | None:
        """The chosen disk among the usable ones, if known."""
        for disk in self.disks:
            if self.config.disk in (disk.name, disk.path):
                return disk
        return None

    def disk_text(self) -> str:
        """The chosen disk for display."""
        if not self.config.disk:
            return "not chosen"
        disk = self.disk()
        return disk.label() if disk else self.config.disk

    def pool_text(self) -> str:
        """The pool size for display."""
        return "grows over the free space" if self.config.grow else human(self.config.pool_size)

    def base_text(self) -> str:
        """The base size for display."""
        size = self.config.base_size
        return f"chosen from the image (at least {human(DEFAULT_BASE_SIZE)})" if size is None else human(size)

    def payload_text(self) -> str:
        """The payload for display."""
        if not self.config.liveimg_url:
            return "not chosen"
        return self.config.liveimg_url + (" (sha256 checked)" if self.config.checksum else "")

    def volumes_text(self) -> str:
        """The data volumes on one line."""
        return ", ".join(f"{mp} {human(size)}" for mp, size in self.config.volumes) or "none"

    def layout_text(self) -> str:
        """The layout on one line."""
        cfg = self.config
        if cfg.no_layout:
            return f"use the existing {cfg.vg}/{cfg.pool} (no partitioning)"
        return f"/boot {human(cfg.boot_size)}, {cfg.vg}/{cfg.pool} {self.pool_text()}"

    def problems(self) -> list[str]:
        """What must change before installing; empty when ready."""
        found = []
        if not self.config.disk:
            found.append("choose a target disk")
        elif self.disks and self.disk() is None:
            found.append(f"disk {self.config.disk} is not among the usable disks")
        if not self.config.liveimg_url:
            found.append("choose the image (a liveimg URL or path)")
        fit = self.fit_problem()
        if fit:
            found.append(fit)
        return found

    def fit_problem(self) -> str | None:
        """Check roughly that the layout fits the chosen disk (the disk plan checks exactly)."""
        disk = self.disk()
        if disk is None or self.config.no_layout:
            return None
        cfg = self.config
        req = LayoutRequest(disk=disk.path, vg=cfg.vg, pool=cfg.pool, boot_size=cfg.boot_size,
                            pool_size=cfg.pool_size, grow=cfg.grow, volumes=list(cfg.volumes),
                            base_size=cfg.base_size or DEFAULT_BASE_SIZE)
        try:
            validate(req)
            pool_sizes(req, disk.size - cfg.boot_size - _PARTITION_OVERHEAD, lambda data: max(data // 1000, kv.MiB))
        except ImgbaseError as exc:
            return str(exc)
        return None

    def status(self) -> str:
        """One line saying what will happen (or what is missing)."""
        problems = self.problems()
        if problems:
            return "Not ready: " + "; ".join(problems)
        cfg = self.config
        target = f"erase {self.disk_text()} and" if not cfg.no_layout else f"boot from {cfg.disk},"
        text = f"Will {target} install {cfg.liveimg_url} as Base-0 (boot Base-0.1): {self.layout_text()}"
        return text + (f"; volumes {self.volumes_text()}" if cfg.volumes else "")

    def summary_lines(self) -> list[str]:
        """Everything for the review screen."""
        cfg = self.config
        lines = [f"Target disk:   {self.disk_text()}",
                 f"Layout:        {self.layout_text()}",
                 f"Base size:     {self.base_text()}",
                 f"Image:         {self.payload_text()}"]
        if cfg.checksum:
            lines.append(f"Checksum:      {cfg.checksum}")
        lines.append(f"Data volumes:  {self.volumes_text()}")
        lines.append(f"Persist:       {', '.join(cfg.persist) or 'nothing extra'}")
        lines.append(f"Bases kept:    {cfg.keep}")
        return lines

    # ---- editing -------------------------------------------------------------------------------

    def set_disk(self, name: str) -> None:
        """Choose the target disk."""
        self.config.disk = kv.check_disk(name)

    def set_vg(self, text: str) -> None:
        """Set the VG name."""
        self.config.vg = kv.check_lvm_name(text.strip(), "volume group name")

    def set_pool(self, text: str) -> None:
        """Set the thin pool name (it must not clash with a data volume's LV name)."""
        name = kv.check_lvm_name(text.strip(), "pool name")
        clash = [mp for mp, _size in self.config.volumes if lv_name_for(mp) == name]
        if clash:
            raise ValueError(f"pool name {name} is the LV name of the volume {clash[0]}")
        self.config.pool = name

    def set_boot_size(self, text: str) -> None:
        """Set the /boot size."""
        self.config.boot_size = kv.parse_ks_size(text.strip(), kv.MIN_BOOT_SIZE)

    def set_pool_size(self, text: str) -> None:
        """Set a fixed pool size, or 'grow'."""
        text = text.strip()
        self.config.pool_size = None if text.lower() == "grow" else kv.parse_ks_size(text)

    def set_base_size(self, text: str) -> None:
        """Set the base size, or 'auto' to let the installer choose."""
        text = text.strip()
        self.config.base_size = None if text.lower() == "auto" else kv.parse_ks_size(text)

    def set_keep(self, text: str) -> None:
        """Set how many bases gc keeps."""
        self.config.keep = kv.check_keep(text.strip())

    def toggle_layout(self) -> None:
        """Switch between creating the layout and using an existing VG and pool."""
        self.config.no_layout = not self.config.no_layout

    def set_payload(self, text: str) -> None:
        """Set the liveimg URL or absolute path; a new image drops the old checksum."""
        url = kv.check_liveimg_url(text.strip())
        if url != self.config.liveimg_url:
            self.config.checksum = None
        self.config.liveimg_url = url

    def set_checksum(self, text: str) -> None:
        """Set the sha256, or 'none' to clear it."""
        text = text.strip()
        if text.lower() == "none":
            self.config.checksum = None
            return
        if not self.config.liveimg_url:
            raise ValueError("choose the image before its checksum")
        self.config.checksum = kv.parse_checksum(text)

    def add_volume(self, text: str) -> None:
        """Add a data volume from 'MOUNTPOINT SIZE'."""
        words = text.split()
        if len(words) != 2:
            raise ValueError("give a mount point and a size, for example: /var/log 8GiB")
        mountpoint = kv.check_mountpoint(words[0])
        size = kv.parse_ks_size(words[1], kv.MIN_VOLUME_SIZE)
        name = lv_name_for(mountpoint)
        for other, _size in self.config.volumes:
            if other == mountpoint:
                raise ValueError(f"{mountpoint} is already a volume; choose it to change its size")
            if lv_name_for(other) == name:
                raise ValueError(f"{mountpoint} would get the LV name {name}, already used by {other}")
        if name == self.config.pool or re.match(r"^Base-\d", name):
            raise ValueError(f"{mountpoint} would get the LV name {name}, which the pool or a base needs")
        self.config.volumes.append((mountpoint, size))

    def edit_volume(self, index: int, text: str) -> None:
        """Resize volume number index, or remove it with 'remove'."""
        mountpoint, _size = self.config.volumes[index]
        if text.strip().lower() == "remove":
            del self.config.volumes[index]
            return
        self.config.volumes[index] = (mountpoint, kv.parse_ks_size(text.strip(), kv.MIN_VOLUME_SIZE))
