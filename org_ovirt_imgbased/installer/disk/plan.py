# SPDX-License-Identifier: GPL-2.0-or-later
"""The installer's disk plan, built with blivet: partitions, PV, VG, thin pool, data volumes.

``plan_layout`` builds the blivet device tree changes without touching the
disk; ``Plan.actions()`` lists them in execution order; commit.commit
carries them out.  The plain data (request, sizes, result, fstab) is in
model.py.
The root (Base-0 and its layer) is not part of the plan: imgbased creates it
in the pool afterwards.

The target is a block device (blivet scans it through udev), a regular file
(planned as blivet's ``DiskFile``: no device-mapper needed, so host tests can
plan) or a name in ``disk_images`` (blivet's loop + dm-linear disk images).
Only plans on block devices can be committed.
"""

from __future__ import annotations

import contextlib
import copy
import os
import stat
from dataclasses import dataclass, field

from org_ovirt_imgbased.installer.disk import blivet_env  # noqa: F401 - adjusts libblockdev and blivet first

# isort: split
import blivet
from blivet import partitioning
from blivet.devicelibs import lvm as blivet_lvm
from blivet.devices import DiskFile
from blivet.errors import PartitioningError, StorageError
from blivet.formats import get_format
from blivet.formats.fs import FS
from blivet.formats.swap import SwapSpace
from blivet.size import Size
from gi.repository import BlockDev, GLib

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host.storage import lvm
from org_ovirt_imgbased.installer.disk.model import (
    BIOSBOOT_SIZE,
    LayoutRequest,
    PoolSizes,
    lv_name_for,
    on_disk,
    pool_sizes,
    validate,
)
from org_ovirt_imgbased.runner import Runner
from org_ovirt_imgbased.units import human

__all__ = ["LayoutRequest", "Plan", "PlannedSizes", "plan_layout"]
UDEV_DATA = "/run/udev/data"


@dataclass
class PlannedSizes:
    """The sizes the plan settled on, in bytes."""

    disk: int
    boot: int
    pv: int
    vg: int
    pool: int
    metadata: int
    reserve: int
    vg_free: int
    volumes: dict[str, int] = field(default_factory=dict)


@dataclass
class Plan:
    """A blivet plan for one disk: the devices to create, not yet committed."""

    request: LayoutRequest
    storage: blivet.Blivet
    disk: object
    biosboot: object | None
    boot: object
    pv: object
    vg: object
    pool: object
    volumes: dict[str, object]
    sizes: PlannedSizes
    on_file: bool = False
    state: str = "planned"

    def actions(self) -> list[str]:
        """Human-readable action lines, in the order commit will run them."""
        queue = copy.copy(self.storage.devicetree.actions)
        queue._actions = list(queue._actions)  # noqa: SLF001 - sort a copy, as do_it will sort the original
        queue.prune()
        queue.sort()
        return [action_line(a) for a in queue] + self.follow_up_steps()

    def follow_up_steps(self) -> list[str]:
        """Lines for what commit does after blivet's actions (blivet clears the boot flag)."""
        if self.request.label != "msdos":
            return []
        return [f"set the boot flag on partition {device_label(self.boot)}"]

    def close(self) -> None:
        """Release blivet's disk images (loop and dm-linear) if the plan used any."""
        if self.storage.disk_images:
            self.storage.devicetree.teardown_disk_images()

    def summary(self) -> list[str]:
        """The resulting devices with their sizes, one line each."""
        s, req = self.sizes, self.request
        lines = [f"disk {self.disk.path} ({human(s.disk, exact=True)}, {req.label} partition table)"]
        if self.biosboot is not None:
            lines.append(f"  {self.biosboot.path}: BIOS boot partition, {human(self.biosboot.size, exact=True)}")
        lines.append(f"  {self.boot.path}: /boot {req.fstype}, {human(s.boot, exact=True)}")
        lines.append(f"  {self.pv.path}: LVM PV, {human(s.pv, exact=True)}")
        lines.append(f"    VG {req.vg}: {human(s.vg, exact=True)}, {human(s.vg_free, exact=True)} left free"
                     + (f" (reserve for pool autoextend {human(s.reserve, exact=True)})" if s.reserve else ""))
        lines.append(f"      thin pool {req.vg}/{req.pool}: {human(s.pool, exact=True)} data, "
                     f"{human(s.metadata, exact=True)} metadata")
        for mountpoint, _size in req.volumes:
            lines.append(f"        thin volume {req.vg}/{lv_name_for(mountpoint)}: {mountpoint} "
                         f"{req.fstype}, {human(s.volumes[mountpoint], exact=True)}")
        lines.append(f"        (kept for the imgbased root: {human(req.base_size, exact=True)})")
        return lines


def plan_layout(request: LayoutRequest, disk_images: dict[str, str] | None = None,
                runner: Runner | None = None) -> Plan:
    """Build the blivet plan for request on its disk; nothing is written."""
    validate(request)
    runner = runner or Runner()
    storage = blivet.Blivet()
    try:
        disk, on_file = _open_disk(storage, request, disk_images)
        _check_disk_free(storage, disk, request, runner, on_file)
        if not on_file:
            _check_vg_name(request, disk, runner)
        try:
            return _build(storage, disk, request, on_file)
        except (ImgbaseError, PartitioningError, StorageError, ValueError) as exc:
            raise ImgbaseError(f"cannot plan the layout on {request.disk} "
                               f"({human(int(disk.size), exact=True)}): {one_line(exc)}") from None
    except BaseException:
        if storage.disk_images:
            with contextlib.suppress(Exception):  # keep the original error
                storage.devicetree.teardown_disk_images()
        raise


def one_line(exc: BaseException) -> str:
    """The first line of an exception's text."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _open_disk(storage: blivet.Blivet, req: LayoutRequest, images: dict[str, str] | None):
    """Find the target disk in a fresh device tree; return (disk, is_file)."""
    if images:
        if req.disk not in images:
            raise ImgbaseError(f"disk {req.disk} is not one of the disk images {sorted(images)}")
        storage.disk_images.update(images)
        return _scanned_disk(storage, req.disk, req.disk), False
    path = req.disk if req.disk.startswith("/") else f"/dev/{req.disk}"
    try:
        mode = os.stat(path).st_mode
    except OSError:
        raise ImgbaseError(f"disk {req.disk} not found; give a disk such as /dev/vda") from None
    if stat.S_ISREG(mode):
        disk = DiskFile(os.path.abspath(path))
        storage.devicetree._add_device(disk)  # noqa: SLF001 (blivet's documented test disk)
        return disk, True
    if not stat.S_ISBLK(mode):
        raise ImgbaseError(f"{req.disk} is neither a block device nor a disk image file")
    rdev = os.stat(path).st_rdev
    if not os.path.exists(f"{UDEV_DATA}/b{os.major(rdev)}:{os.minor(rdev)}"):
        raise ImgbaseError(f"udev has no record of {req.disk}: blivet needs a running systemd-udevd "
                           "(then `udevadm trigger; udevadm settle`) to see what is on the disk")
    name = os.path.basename(os.path.realpath(path))
    return _scanned_disk(storage, name, req.disk), False


def _scanned_disk(storage: blivet.Blivet, name: str, shown: str):
    """Scan only the named disk with blivet and return its device."""
    storage.exclusive_disks[:] = [name]
    try:
        storage.reset()
    except (StorageError, GLib.Error) as exc:
        raise ImgbaseError(f"scanning {shown} failed: {one_line(exc)}") from None
    disk = storage.devicetree.get_device_by_name(name)
    if disk is None or not disk.is_disk:
        raise ImgbaseError(f"disk {shown} not found by the storage scan; is it a whole disk (not a "
                           "partition or loop device)?")
    return disk


def _check_disk_free(storage: blivet.Blivet, disk, req: LayoutRequest, runner: Runner,
                     on_file: bool) -> None:
    """Refuse a disk in use, or one holding data unless wipe is set; schedule the wipe."""
    if disk.protected:
        raise ImgbaseError(f"disk {req.disk} is protected (the installation source?); choose another disk")
    deps = storage.devicetree.get_dependent_devices(disk)
    busy = [d for d in [disk, *deps] if isinstance(d.format, (FS, SwapSpace)) and d.format.status]
    if busy:
        raise ImgbaseError(f"disk {req.disk} is in use ({busy[0].path} is mounted or active); "
                           "unmount it first")
    contents = _contents(disk, deps, runner)
    if contents and not req.wipe:
        raise ImgbaseError(f"disk {req.disk} is not empty ({contents}); pass wipe to erase it "
                           "(imgbase-install --wipe; a kickstart's clearpart is not applied)")
    if deps and not on_file:
        storage.recursive_remove(disk)


def _contents(disk, deps: list, runner: Runner) -> str:
    """Describe what is on the disk already ('' when blank)."""
    if deps:
        return ", ".join(sorted(d.name for d in deps))
    if disk.format.type:
        return disk.format.name
    probe = runner.query(["blkid", "-p", "-o", "export", disk.path], check=False)
    found = dict(line.split("=", 1) for line in probe.splitlines() if "=" in line)
    if "PTTYPE" in found:
        return f"{found['PTTYPE']} partition table"
    return found.get("TYPE", "")


def _check_vg_name(req: LayoutRequest, disk, runner: Runner) -> None:
    """Refuse a VG name used on another disk, and VGs on the target that span other disks."""
    pvs = lvm.pv_names(runner)
    elsewhere = {vg for pv, vg in pvs.items() if vg and not on_disk(pv, disk.path)}
    mine = {vg for pv, vg in pvs.items() if vg and on_disk(pv, disk.path)}
    if req.vg in elsewhere:
        raise ImgbaseError(f"a VG named {req.vg} already exists on another disk; choose another VG name")
    if mine & elsewhere:
        raise ImgbaseError(f"VG {sorted(mine & elsewhere)[0]} on {req.disk} also uses other disks; "
                           "remove it by hand first")


def _build(storage: blivet.Blivet, disk, req: LayoutRequest, on_file: bool) -> Plan:
    """Schedule the partition table, partitions, VG, pool and volumes."""
    storage.format_device(disk, get_format("disklabel", device=disk.path, label_type=req.label))
    biosboot = None
    if req.label == "gpt":
        biosboot = _partition(storage, disk, Size(BIOSBOOT_SIZE), "biosboot", weight=5000)
    boot = _partition(storage, disk, Size(req.boot_size), req.fstype, weight=2000, mountpoint="/boot")
    pv = _partition(storage, disk, Size(64 * 1024**2), "lvmpv", grow=True)
    partitioning.do_partitioning(storage)
    vg = storage.new_vg(name=req.vg, parents=[pv])
    storage.create_device(vg)
    sizes = pool_sizes(req, int(vg.free_space), _recommended_metadata)
    pool = storage.new_lv(name=req.pool, thin_pool=True, parents=[vg], size=Size(sizes.data),
                          metadata_size=Size(sizes.metadata))
    storage.create_device(pool)
    volumes = {}
    for mountpoint, size in req.volumes:
        lv = storage.new_lv(name=lv_name_for(mountpoint), thin_volume=True, parents=[pool],
                            size=Size(size), fmt_type=req.fstype, mountpoint=mountpoint)
        storage.create_device(lv)
        volumes[mountpoint] = lv
    planned = _planned_sizes(disk, boot, pv, vg, pool, sizes, volumes)
    return Plan(req, storage, disk, biosboot, boot, pv, vg, pool, volumes, planned, on_file)


def _partition(storage: blivet.Blivet, disk, size: Size, fmt_type: str, **kwargs):
    """Schedule one new primary partition on disk."""
    part = storage.new_partition(size=size, fmt_type=fmt_type, parents=[disk], primary=True, **kwargs)
    storage.create_device(part)
    return part


def _recommended_metadata(data_size: int) -> int:
    """The metadata size blivet picks for a pool of data_size (its autoset calculation)."""
    size = Size(data_size)
    chunk = blivet_lvm.recommend_thpool_chunk_size(size)
    return int(BlockDev.lvm.get_thpool_meta_size(size, chunk, 100))


def _planned_sizes(disk, boot, pv, vg, pool, sizes: PoolSizes, volumes: dict) -> PlannedSizes:
    """Read the final sizes back from the blivet devices."""
    return PlannedSizes(disk=int(disk.size), boot=int(boot.size), pv=int(pv.size), vg=int(vg.size),
                        pool=int(pool.size), metadata=int(pool.metadata_size), reserve=sizes.reserve,
                        vg_free=int(vg.free_space),
                        volumes={mp: int(lv.size) for mp, lv in volumes.items()})


def device_label(dev) -> str:
    """A short name for a device in action lines: vda1, HostVG/var."""
    if dev.type in ("lvmlv", "lvmthinpool", "lvmthinlv"):
        return f"{dev.vg.name}/{dev.lvname}"
    return dev.name


_KINDS = {"lvmvg": "VG", "lvmthinpool": "thin pool", "lvmthinlv": "thin volume", "lvmlv": "LV"}


def action_line(action) -> str:
    """One readable line for a blivet action."""
    dev = action.device
    name = device_label(dev)
    kind = _KINDS.get(dev.type, dev.type)
    if action.is_format:
        fmt = action.format
        if action.is_destroy:
            return f"erase {fmt.type or 'any signature'} on {kind} {name}"
        if fmt.type == "disklabel":
            return f"create {fmt.label_type} partition table on {name}"
        where = f" for {fmt.mountpoint}" if getattr(fmt, "mountpoint", None) else ""
        return f"format {kind} {name} as {fmt.type}{where}"
    if action.is_device and action.is_create:
        extra = ""
        if dev.type == "lvmthinpool":
            extra = f", metadata {human(int(dev.metadata_size), exact=True)}"
        elif dev.type == "lvmvg":
            extra = f" on {', '.join(p.name for p in dev.parents)}"
        return f"create {kind} {name} ({human(int(dev.size), exact=True)}{extra})"
    if action.is_device and action.is_destroy:
        return f"remove {kind} {name}"
    return str(action)
