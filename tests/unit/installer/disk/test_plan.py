# SPDX-License-Identifier: GPL-2.0-or-later
"""Host tests of the installer's disk plan: blivet plans on sparse disk image files, never committed.

A regular file is planned as blivet's DiskFile, so nothing here needs root,
udev or device-mapper.  Committing (real lvm2) is tested in tests/vm.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.installer.disk import model as disksizes
from org_ovirt_imgbased.installer.disk.commit import commit
from org_ovirt_imgbased.installer.disk.model import CommittedLayout, GiB, LayoutRequest, MiB, fstab_lines
from org_ovirt_imgbased.installer.disk.plan import plan_layout
from org_ovirt_imgbased.units import human

VOLUMES = [("/var", 5 * GiB), ("/var/log", 8 * GiB)]


@pytest.fixture
def image(tmp_path):
    """Factory: a sparse, all-zero disk image file of the given size in bytes."""
    def make(size: int) -> str:
        path = tmp_path / f"disk{size}.img"
        with open(path, "wb") as f:
            f.truncate(size)
        return str(path)
    return make


def _index(lines: list[str], prefix: str) -> int:
    """Position of the one line starting with prefix."""
    hits = [i for i, line in enumerate(lines) if line.startswith(prefix)]
    assert len(hits) == 1, (prefix, lines)
    return hits[0]


def _error(request: LayoutRequest) -> str:
    """Plan the request, expecting a one-line ImgbaseError, and return its message."""
    with pytest.raises(ImgbaseError) as info:
        plan_layout(request)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_msdos_plan_actions_in_order_and_nothing_written(image):
    """The default plan lists table, partitions, PV, VG, pool, volumes in a valid order, disk untouched."""
    path = image(40 * GiB)
    plan = plan_layout(LayoutRequest(disk=path, volumes=VOLUMES))
    lines = plan.actions()
    name = Path(path).name
    expected = {
        f"erase any signature on disk {name}",
        f"create msdos partition table on {name}",
        f"create partition {name}1 (1 GiB)",
        f"format partition {name}1 as ext4 for /boot",
        f"format partition {name}2 as lvmpv",
        "create thin volume HostVG/var (5 GiB)",
        "format thin volume HostVG/var as ext4 for /var",
        "create thin volume HostVG/var_log (8 GiB)",
        "format thin volume HostVG/var_log as ext4 for /var/log",
    }
    assert expected <= set(lines), lines
    assert len(lines) == 13, lines
    assert lines[-1] == f"set the boot flag on partition {name}1"
    order = [f"create msdos partition table on {name}", f"create partition {name}2 ",
             f"format partition {name}2 as lvmpv", "create VG HostVG ", "create thin pool HostVG/pool00 ",
             "create thin volume HostVG/var_log ", "format thin volume HostVG/var_log "]
    positions = [_index(lines, prefix) for prefix in order]
    assert positions == sorted(positions), lines
    assert _index(lines, f"create partition {name}1 ") < _index(lines, f"format partition {name}1 ")
    assert plan.actions() == lines
    assert plan.state == "planned"
    with open(path, "rb") as f:
        assert f.read(4 * MiB) == bytes(4 * MiB)


def test_msdos_sizes(image):
    """/boot is exactly 1 GiB from sector 2048; the PV takes the rest; grow sizes."""
    disk = 40 * GiB
    plan = plan_layout(LayoutRequest(disk=image(disk), volumes=VOLUMES))
    s = plan.sizes
    geometry = plan.boot.parted_partition.geometry
    assert (geometry.start, geometry.length * 512) == (2048, 1 * GiB)
    assert plan.pv.parted_partition.geometry.start == geometry.end + 1
    assert s.boot == 1 * GiB and s.disk == disk
    assert disk - 1 * GiB - 2 * MiB <= s.pv <= disk - 1 * GiB - 1 * MiB
    assert s.vg == (s.pv - 1 * MiB) // (4 * MiB) * (4 * MiB)
    assert s.reserve == disksizes.align_up(s.vg // 5)
    assert s.metadata == 1 * GiB
    assert s.pool == disksizes.align_down(s.vg - s.reserve - 2 * s.metadata)
    assert s.vg_free == s.vg - s.pool - 2 * s.metadata == s.reserve
    assert s.volumes == {"/var": 5 * GiB, "/var/log": 8 * GiB}
    assert plan.pool.metadata_size == 1 * GiB and plan.pool.size == s.pool
    assert [lv.lvname for lv in plan.volumes.values()] == ["var", "var_log"]
    assert all(lv.pool is plan.pool for lv in plan.volumes.values())
    summary = "\n".join(plan.summary())
    assert "thin pool HostVG/pool00: " in summary and "1 GiB metadata" in summary


def test_gpt_plan_has_bios_boot_partition_first(image):
    """With GPT a 1 MiB biosboot partition comes first, then /boot, then the PV."""
    path = image(20 * GiB)
    plan = plan_layout(LayoutRequest(disk=path, label="gpt", boot_size=512 * MiB, volumes=[("/srv", GiB)]))
    assert plan.disk.format.label_type == "gpt"
    parts = sorted([plan.biosboot, plan.boot, plan.pv], key=lambda p: p.parted_partition.geometry.start)
    assert parts == [plan.biosboot, plan.boot, plan.pv]
    assert plan.biosboot.format.type == "biosboot"
    assert plan.biosboot.parted_partition.geometry.length * 512 == 1 * MiB
    assert plan.boot.parted_partition.geometry.length * 512 == 512 * MiB
    name = Path(path).name
    lines = plan.actions()
    assert f"create gpt partition table on {name}" in lines
    assert f"format partition {name}1 as biosboot" in lines
    assert f"format partition {name}2 as ext4 for /boot" in lines
    assert f"format partition {name}3 as lvmpv" in lines
    assert not any("boot flag" in line for line in lines)


def test_fixed_pool_size_leaves_the_rest_free(image):
    """A fixed pool size is used as the pool's data size; no reserve is taken."""
    plan = plan_layout(LayoutRequest(disk=image(30 * GiB), pool_size=10 * GiB, volumes=[("/var", 2 * GiB)]))
    s = plan.sizes
    assert (s.pool, s.metadata, s.reserve) == (10 * GiB, 1 * GiB, 0)
    assert s.vg_free == s.vg - 12 * GiB
    assert any(line.startswith("create thin pool HostVG/pool00 (10 GiB, metadata 1 GiB)")
               for line in plan.actions())


def test_explicit_reserve_and_names(image):
    """reserve=0 grows the pool over the whole VG; VG and pool names are used as given."""
    plan = plan_layout(LayoutRequest(disk=image(20 * GiB), vg="vgtest", pool="thin", reserve=0))
    s = plan.sizes
    assert s.reserve == 0 and s.pool == s.vg - 2 * GiB and s.vg_free == 0
    assert plan.vg.name == "vgtest" and plan.pool.lvname == "thin"


def test_small_disk_uses_recommended_metadata(image):
    """When 1 GiB metadata (plus its spare) would not leave room, the smaller recommended size is used."""
    plan = plan_layout(LayoutRequest(disk=image(8 * GiB), volumes=[("/var", 1 * GiB)], base_size=3 * GiB))
    s = plan.sizes
    assert 2 * MiB <= s.metadata < 64 * MiB and s.metadata % (4 * MiB) == 0
    assert s.pool == disksizes.align_down(s.vg - s.reserve - 2 * s.metadata)
    assert s.pool >= 4 * GiB


def test_disk_too_small_is_refused(image):
    """Volumes plus base that do not fit give a one-line error with the shortfall."""
    message = _error(LayoutRequest(disk=image(10 * GiB), volumes=VOLUMES))
    assert "does not fit" in message and "short by" in message and "10 GiB" in message


def test_boot_bigger_than_disk_is_refused(image):
    """A /boot partition larger than the disk is a planning error, not a traceback."""
    message = _error(LayoutRequest(disk=image(2 * GiB), boot_size=3 * GiB))
    assert message.startswith("cannot plan the layout on ")


def test_fixed_pool_too_small_for_volumes(image):
    """A fixed pool that cannot hold the volumes and the base is refused."""
    message = _error(LayoutRequest(disk=image(40 * GiB), pool_size=6 * GiB, volumes=[("/var", 4 * GiB)]))
    assert "short by 2 GiB" in message


def test_missing_disk_and_wrong_kind(tmp_path):
    """A missing path or a directory is refused with a clear message."""
    assert "not found" in _error(LayoutRequest(disk=str(tmp_path / "nope.img")))
    assert "neither a block device" in _error(LayoutRequest(disk=str(tmp_path)))


def test_block_device_without_udev_record_is_refused():
    """Without udev's record of a block device blivet would be blind to its contents: refuse early."""
    dev = "/dev/loop0"
    if not Path(dev).is_block_device():
        pytest.skip(f"{dev} is missing")
    rdev = os.stat(dev).st_rdev
    if Path(f"/run/udev/data/b{os.major(rdev)}:{os.minor(rdev)}").exists():
        pytest.skip("udev runs here; the refusal cannot be shown")
    assert "udev has no record of /dev/loop0" in _error(LayoutRequest(disk=dev))


def test_disk_with_partition_table_needs_wipe(image):
    """An image that already has a partition table is refused unless wipe is set."""
    path = image(20 * GiB)
    subprocess.run(["sfdisk", "-q", path], input="label: dos\n,1G,L\n", text=True, check=True)
    message = _error(LayoutRequest(disk=path))
    assert "not empty (dos partition table)" in message and "wipe" in message
    plan = plan_layout(LayoutRequest(disk=path, wipe=True))
    assert plan.sizes.boot == 1 * GiB


@pytest.mark.parametrize("changes, words", [
    ({"label": "mac"}, "not supported"),
    ({"pool_size": 5 * GiB, "grow": True}, "either"),
    ({"volumes": [("/", GiB)]}, "not allowed"),
    ({"volumes": [("/boot/efi", GiB)]}, "not allowed"),
    ({"volumes": [("var", GiB)]}, "absolute"),
    ({"volumes": [("/var/", GiB)]}, "normalised"),
    ({"volumes": [("/var", GiB), ("/var", GiB)]}, "twice"),
    ({"volumes": [("/var_log", GiB), ("/var/log", GiB)]}, "clashes"),
    ({"volumes": [("/pool00", GiB)]}, "clashes"),
    ({"volumes": [("/Base-1", GiB)]}, "base"),
    ({"volumes": [("/tiny", MiB)]}, "too small"),
    ({"vg": "bad name"}, "not a valid LVM name"),
    ({"boot_size": 100 * MiB}, "too small"),
    ({"metadata_size": 32 * GiB}, "between"),
    ({"reserve": -1}, "negative"),
])
def test_bad_requests(image, changes, words):
    """Each inconsistent request is refused before blivet is asked anything."""
    message = _error(LayoutRequest(disk=image(40 * GiB), **changes))
    assert words in message


def test_plan_on_an_image_file_cannot_be_committed(image):
    """commit refuses a DiskFile plan, so host tests can never write partitions to a file."""
    plan = plan_layout(LayoutRequest(disk=image(20 * GiB)))
    with pytest.raises(ImgbaseError, match="disk image file"):
        commit(plan)
    assert plan.state == "planned"


def test_fstab_lines():
    """/boot by UUID, thin volumes with discard, parents before children."""
    done = CommittedLayout(disk="/dev/vda", boot="/dev/vda1", boot_uuid="1234-abcd", pv="/dev/vda2",
                           vg="HostVG", pool="HostVG/pool00",
                           volumes={"/var/log": "/dev/HostVG/var_log", "/var": "/dev/HostVG/var"})
    assert fstab_lines(done) == [
        "UUID=1234-abcd /boot ext4 defaults 1 2",
        "/dev/HostVG/var /var ext4 defaults,discard 1 2",
        "/dev/HostVG/var_log /var/log ext4 defaults,discard 1 2",
    ]


def test_size_helpers():
    """Formatting truncates, names map mountpoints, the reserve is clamped."""
    assert human(GiB, exact=True) == "1 GiB"
    assert human(16 * GiB - 1, exact=True) == "15.99 GiB"
    assert human(512 * MiB, exact=True) == "512 MiB"
    assert disksizes.lv_name_for("/var/lib/libvirt") == "var_lib_libvirt"
    assert disksizes.default_reserve(2 * GiB) == GiB
    assert disksizes.default_reserve(10 * 1024 * GiB) == 100 * GiB
    assert disksizes.default_reserve(50 * GiB) == 10 * GiB
    assert disksizes.on_disk("/dev/vda2", "/dev/vda") and disksizes.on_disk("/dev/nvme0n1p3", "/dev/nvme0n1")
    assert not disksizes.on_disk("/dev/vdab1", "/dev/vda")
