# SPDX-License-Identifier: GPL-2.0-or-later
"""The installer's disk layout as plain data: request, validation, sizes, result, fstab.

Nothing here needs blivet; sizes are plain integers (bytes).  The thin pool
holds the data volumes and the root that imgbased creates afterwards
(``base_size``); overcommit is not planned.  The pool's metadata LV is 1 GiB
when the disk allows it (lvm also keeps a spare copy of that size, the
pmspare LV), otherwise the size blivet itself recommends.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from org_ovirt_imgbased import defaults
from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host.storage import lvm
from org_ovirt_imgbased.units import GiB, MiB, human

DEFAULT_BASE_SIZE = 4 * GiB
BIOSBOOT_SIZE = 1 * MiB
EXTENT = 4 * MiB                 # lvm's default physical extent size
PREFERRED_METADATA = 1 * GiB
MIN_METADATA, MAX_METADATA = 2 * MiB, 16 * GiB
MIN_VOLUME = 32 * MiB
RESERVE_PERCENT, RESERVE_MIN, RESERVE_MAX = 20, 1 * GiB, 100 * GiB
LABELS = ("msdos", "gpt")


@dataclass
class LayoutRequest:
    """What the installer wants on the target disk (all sizes in bytes).

    ``pool_size`` is the pool's data size; leave it None (or set ``grow``) to
    fill the VG except ``reserve`` bytes kept free for the pool's autoextend
    (None: 20 % of the VG, at least 1 GiB, at most 100 GiB).  ``volumes`` are
    (mountpoint, size) pairs.  ``wipe`` allows erasing a disk that is not blank.
    """

    disk: str
    vg: str = defaults.VG
    pool: str = defaults.POOL
    boot_size: int = defaults.BOOT_SIZE
    pool_size: int | None = None
    grow: bool = False
    volumes: list[tuple[str, int]] = field(default_factory=list)
    label: str = "msdos"
    base_size: int = DEFAULT_BASE_SIZE
    reserve: int | None = None
    metadata_size: int | None = None
    fstype: str = "ext4"
    wipe: bool = False

    @property
    def grows(self) -> bool:
        """True when the pool fills the VG (no fixed pool size)."""
        return self.grow or self.pool_size is None


@dataclass
class PoolSizes:
    """The chosen thin pool sizes inside a VG of known size."""

    data: int
    metadata: int
    reserve: int
    free: int


def align_down(n: int, unit: int = EXTENT) -> int:
    """Round n down to a multiple of unit."""
    return n // unit * unit


def align_up(n: int, unit: int = EXTENT) -> int:
    """Round n up to a multiple of unit."""
    return -(-n // unit) * unit


def lv_name_for(mountpoint: str) -> str:
    """The LV name for a data volume: /var/log -> var_log."""
    name = re.sub(r"[^A-Za-z0-9+_.-]", "_", mountpoint.strip("/").replace("/", "_"))
    return name or "root"


def validate(req: LayoutRequest) -> None:
    """Check a request's own consistency; raise ImgbaseError naming the bad field."""
    if not req.disk:
        raise ImgbaseError("no target disk given; name one such as /dev/vda")
    if req.label not in LABELS:
        raise ImgbaseError(f"partition table type {req.label!r} is not supported; use msdos or gpt")
    for what, name in (("VG", req.vg), ("pool", req.pool)):
        problem = lvm.name_problem(name)
        if problem:
            raise ImgbaseError(f"{what} name {name!r} is not a valid LVM name: {problem}")
    if req.boot_size < 256 * MiB:
        raise ImgbaseError(f"/boot size {human(req.boot_size, exact=True)} is too small; give at least 256 MiB")
    if req.pool_size is not None and req.grow:
        raise ImgbaseError("give either a fixed pool size or grow, not both")
    if req.pool_size is not None and req.pool_size <= 0:
        raise ImgbaseError("the pool size must be positive")
    if req.base_size <= 0:
        raise ImgbaseError("the base size must be positive")
    if req.reserve is not None and req.reserve < 0:
        raise ImgbaseError("the VG reserve cannot be negative")
    if req.metadata_size is not None and not MIN_METADATA <= req.metadata_size <= MAX_METADATA:
        raise ImgbaseError(f"pool metadata size must be between {human(MIN_METADATA, exact=True)} and "
                           f"{human(MAX_METADATA, exact=True)}")
    _validate_volumes(req)


def _validate_volumes(req: LayoutRequest) -> None:
    """Check mountpoints, sizes and the LV names they map to."""
    seen_mp: set[str] = set()
    seen_lv = {req.pool}
    for mountpoint, size in req.volumes:
        if not mountpoint.startswith("/") or os.path.normpath(mountpoint) != mountpoint:
            raise ImgbaseError(f"volume mountpoint {mountpoint!r} must be an absolute, normalised path")
        if mountpoint == "/" or mountpoint == "/boot" or mountpoint.startswith("/boot/"):
            raise ImgbaseError(f"volume {mountpoint} is not allowed: / is the imgbased layer and "
                               "/boot is a partition")
        if size < MIN_VOLUME:
            raise ImgbaseError(f"volume {mountpoint} size {human(size, exact=True)} is too small; "
                               f"give at least {human(MIN_VOLUME, exact=True)}")
        name = lv_name_for(mountpoint)
        if mountpoint in seen_mp or name in seen_lv:
            raise ImgbaseError(f"volume {mountpoint} is given twice or clashes with the LV name {name}")
        if re.match(r"^Base-\d", name):
            raise ImgbaseError(f"volume {mountpoint} would be named {name}, which looks like an "
                               "imgbased base; choose another mountpoint")
        seen_mp.add(mountpoint)
        seen_lv.add(name)


def on_disk(path: str, disk: str) -> bool:
    """True if the device path is disk itself or one of its partitions (vda1, nvme0n1p1)."""
    return path == disk or re.fullmatch(re.escape(disk) + r"p?\d+", path) is not None


def default_reserve(vg_size: int) -> int:
    """VG space kept free for pool autoextend: 20 % of the VG within 1..100 GiB."""
    return align_up(min(max(vg_size * RESERVE_PERCENT // 100, RESERVE_MIN), RESERVE_MAX))


def needed_in_pool(req: LayoutRequest) -> int:
    """Pool data the layout needs: every volume plus the base, extent-aligned."""
    return sum(align_up(size) for _mp, size in req.volumes) + align_up(req.base_size)


def pool_sizes(req: LayoutRequest, vg_size: int, recommend) -> PoolSizes:
    """Choose pool data and metadata sizes in a VG of vg_size bytes.

    ``recommend(data_size)`` returns the metadata size blivet would pick for a
    pool of that size.  Raise ImgbaseError when the layout does not fit.
    """
    need = needed_in_pool(req)
    if req.grows:
        reserve = default_reserve(vg_size) if req.reserve is None else align_up(req.reserve)
        avail = vg_size - reserve
        metadata = _pick_metadata(req, lambda md: avail - 2 * md >= need, avail, recommend)
        data = align_down(avail - 2 * metadata)
    else:
        data = align_down(req.pool_size)
        metadata = _pick_metadata(req, lambda md: data + 2 * md <= vg_size, data, recommend)
        reserve = 0
    used = data + 2 * metadata
    if data < need or used > vg_size:
        short = max(need - data, used - vg_size)
        raise ImgbaseError(f"the layout does not fit: {_explain(req, vg_size, data, metadata)}; "
                           f"it is short by {human(short, exact=True)}; use a bigger disk or smaller sizes")
    return PoolSizes(data=data, metadata=metadata, reserve=reserve, free=vg_size - used)


def _pick_metadata(req: LayoutRequest, fits, approx_data: int, recommend) -> int:
    """The metadata size: as requested, else 1 GiB if it fits, else blivet's recommendation."""
    if req.metadata_size is not None:
        return align_up(req.metadata_size)
    if fits(PREFERRED_METADATA):
        return PREFERRED_METADATA
    return align_up(max(int(recommend(max(approx_data, EXTENT))), MIN_METADATA))


def _explain(req: LayoutRequest, vg_size: int, data: int, metadata: int) -> str:
    """One clause listing where the VG space would go."""
    vols = sum(size for _mp, size in req.volumes)
    vg, pool, meta = human(vg_size, exact=True), human(max(data, 0), exact=True), human(metadata, exact=True)
    return (f"VG {vg}, pool {pool} + metadata {meta} (twice: lvm keeps a spare copy), "
            f"volumes {human(vols, exact=True)} + base {human(req.base_size, exact=True)} in the pool")


@dataclass
class CommittedLayout:
    """The devices a committed plan made (paths, LVM names, the /boot UUID)."""

    disk: str
    boot: str
    boot_uuid: str
    pv: str
    vg: str
    pool: str
    volumes: dict[str, str]
    biosboot: str | None = None
    fstype: str = "ext4"

    @property
    def vg_path(self) -> str:
        """The VG's directory under /dev."""
        return f"/dev/{self.vg}"


def fstab_lines(committed: CommittedLayout) -> list[str]:
    """fstab lines for /boot (by UUID) and the data volumes (thin: with discard), parents first."""
    lines = [f"UUID={committed.boot_uuid} /boot {committed.fstype} defaults 1 2"]
    for mountpoint in sorted(committed.volumes, key=lambda mp: (mp.count("/"), mp)):
        lines.append(f"{committed.volumes[mountpoint]} {mountpoint} {committed.fstype} defaults,discard 1 2")
    return lines
