# SPDX-License-Identifier: GPL-2.0-or-later
"""VM tests of the installer's disk plan: blivet commits on a real scratch disk with real lvm2.

The target is a whole virtio disk (blivet does not take loop devices as
install targets): IMGBASED_TEST_DISK, /dev/vdc by default, i.e. the second
`vm-run --disk` (the first, /dev/vdb, is the shared scratch store).  blivet
reads device properties from udev, so the VM must run with `vm-run --udev`.
These tests erase that disk, so they run only inside the VM lab.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.installer.disk.commit import commit, fstab_lines
from org_ovirt_imgbased.installer.disk.model import GiB, LayoutRequest, MiB
from org_ovirt_imgbased.installer.disk.plan import plan_layout
from tests.lvmhelp import lvs, sh
from tests.vm.conftest import IN_VM, SCRATCH_DEV, wipe_lvm

TEST_DISK = os.environ.get("IMGBASED_TEST_DISK", "/dev/vdc")
MIN_DISK = 12 * GiB
VOLUMES = [("/var", 2 * GiB), ("/var/log", 1 * GiB)]


def _blank(dev: str) -> None:
    """Remove VGs, mounts and every signature from dev and its partitions."""
    mounts = sh("findmnt", "-rn", "-o", "SOURCE").stdout.split()
    for source in mounts:
        if source.startswith(dev) or source.startswith("/dev/mapper/HostVG"):
            sh("umount", source, check=False)
    wipe_lvm(dev)
    name = Path(dev).name
    for part in sorted(Path("/sys/class/block", name).glob(f"{name}*")):
        sh("wipefs", "-q", "-a", f"/dev/{part.name}", check=False)
    sh("wipefs", "-q", "-a", dev)
    sh("partx", "-d", dev, check=False)


@pytest.fixture
def target_disk() -> str:
    """The blank whole disk to install on; skipped outside the VM or when it is missing."""
    if not IN_VM:
        pytest.skip("erases a whole disk: runs only inside the VM lab")
    if not os.path.exists(TEST_DISK) or not stat.S_ISBLK(os.stat(TEST_DISK).st_mode):
        pytest.skip(f"{TEST_DISK} is missing: give vm-run a second --disk (16G) or set IMGBASED_TEST_DISK")
    if os.path.realpath(TEST_DISK) == os.path.realpath(SCRATCH_DEV):
        pytest.skip(f"{TEST_DISK} is the scratch store disk; set IMGBASED_TEST_DISK to another disk")
    size = int(sh("blockdev", "--getsize64", TEST_DISK).stdout)
    if size < MIN_DISK:
        pytest.skip(f"{TEST_DISK} is smaller than 12 GiB")
    _blank(TEST_DISK)
    yield TEST_DISK
    _blank(TEST_DISK)


def _json(*argv: str) -> dict:
    """Run a command that prints JSON and parse it."""
    return json.loads(sh(*argv).stdout)


def _vg_rows(vg: str) -> list[dict]:
    """vgs rows (bytes) for vg, [] if it does not exist."""
    out = sh("vgs", "--reportformat", "json", "--units", "b", "--nosuffix", "-o",
             "vg_name,vg_tags,vg_size,vg_free,pv_count", check=False).stdout
    rows = json.loads(out)["report"][0]["vg"] if out.strip() else []
    return [r for r in rows if r["vg_name"] == vg]


def _pvs_on(dev: str) -> list[dict]:
    """pvs rows whose PV is dev or one of its partitions."""
    rows = _json("pvs", "--reportformat", "json", "-o", "pv_name,vg_name")["report"][0]["pv"]
    return [r for r in rows if r["pv_name"].startswith(dev)]


def test_commit_msdos_layout_on_blank_disk(target_disk, tmp_path):
    """Commit creates the partitions, VG, thin pool (1 GiB metadata), volumes and /boot, as planned."""
    plan = plan_layout(LayoutRequest(disk=target_disk, volumes=VOLUMES))
    planned = plan.actions()
    executed: list[str] = []
    done = commit(plan, progress=executed.append)
    assert executed == planned
    assert plan.state == "committed"
    sizes = plan.sizes

    table = _json("sfdisk", "--json", target_disk)["partitiontable"]
    assert table["label"] == "dos"
    boot, pv = table["partitions"]
    assert (boot["node"], boot["start"], boot["size"] * 512, boot["type"]) == (done.boot, 2048, GiB, "83")
    assert boot.get("bootable") is True
    assert (pv["node"], pv["type"], pv["size"] * 512) == (done.pv, "8e", sizes.pv)

    assert _pvs_on(target_disk) == [{"pv_name": done.pv, "vg_name": "HostVG"}]
    (vg,) = _vg_rows("HostVG")
    assert "imgbased:vg" in vg["vg_tags"].split(",")
    assert (int(vg["vg_size"]), int(vg["vg_free"])) == (sizes.vg, sizes.vg_free)

    report = lvs("HostVG", "lv_name,lv_attr,lv_size,lv_metadata_size,pool_lv,lv_tags")
    pool = report["pool00"]
    assert pool["lv_attr"].startswith("t")
    assert int(pool["lv_size"]) == sizes.pool
    assert int(pool["lv_metadata_size"]) == GiB == sizes.metadata
    assert pool["lv_tags"] == "imgbased:pool"
    assert int(report["[lvol0_pmspare]"]["lv_size"]) == GiB
    for mountpoint, size in VOLUMES:
        lv = report[mountpoint.strip("/").replace("/", "_")]
        assert lv["lv_attr"].startswith("V") and lv["pool_lv"] == "pool00", lv
        assert int(lv["lv_size"]) == size and lv["lv_tags"] == "imgbased:volume"
    assert done.pool == "HostVG/pool00"
    assert done.volumes == {"/var": "/dev/HostVG/var", "/var/log": "/dev/HostVG/var_log"}

    probe = sh("blkid", "-p", "-o", "export", done.boot).stdout
    assert "TYPE=ext4" in probe.splitlines() and f"UUID={done.boot_uuid}" in probe.splitlines()
    lines = fstab_lines(done)
    assert lines[0] == f"UUID={done.boot_uuid} /boot ext4 defaults 1 2"
    for line in lines[1:]:
        device, mountpoint, fstype, options = line.split()[:4]
        mnt = tmp_path / mountpoint.strip("/").replace("/", "_")
        mnt.mkdir()
        sh("mount", "-t", fstype, "-o", options.replace("defaults,", ""), device, str(mnt))
        try:
            (mnt / "probe").write_text("written\n")
            assert "discard" in sh("findmnt", "-n", "-o", "OPTIONS", str(mnt)).stdout
        finally:
            sh("umount", str(mnt))


def test_refuses_nonempty_or_busy_disk_and_taken_vg_name(target_disk, loop_disk, vg_name, tmp_path):
    """Data needs wipe; a mounted partition is refused even with wipe; a VG name on another disk too."""
    sh("sfdisk", "-q", target_disk, input="label: dos\n,512M,L\n")
    part = f"{target_disk}1"
    sh("mkfs.ext4", "-q", part)
    with pytest.raises(ImgbaseError, match=r"is not empty \(.*pass wipe") as info:
        plan_layout(LayoutRequest(disk=target_disk))
    assert "\n" not in str(info.value)

    mnt = tmp_path / "mnt"
    mnt.mkdir()
    sh("mount", part, str(mnt))
    try:
        with pytest.raises(ImgbaseError, match="is in use"):
            plan_layout(LayoutRequest(disk=target_disk, wipe=True))
    finally:
        sh("umount", str(mnt))

    other = loop_disk("300M")
    sh("pvcreate", "-q", other)
    sh("vgcreate", "-q", vg_name, other)
    with pytest.raises(ImgbaseError, match="already exists on another disk"):
        plan_layout(LayoutRequest(disk=target_disk, vg=vg_name, wipe=True))
    assert sh("blkid", "-p", "-o", "value", "-s", "TYPE", part).stdout.strip() == "ext4"


def test_failure_midway_leaves_no_half_made_vg(target_disk):
    """Reinstall over an old thin layout with GPT; a failure after the pool exists undoes everything."""
    sh("sfdisk", "-q", target_disk, input="label: dos\n,,8e\n")
    old_pv = f"{target_disk}1"
    sh("pvcreate", "-q", "-y", old_pv)
    sh("vgcreate", "-q", "HostVG", old_pv)
    sh("lvcreate", "-q", "--type", "thin-pool", "-L", "1G", "-n", "pool00", "HostVG")
    sh("lvcreate", "-q", "--thin", "-V", "1G", "-n", "Base-0", "HostVG/pool00")

    plan = plan_layout(LayoutRequest(disk=target_disk, label="gpt", wipe=True, volumes=[("/srv", GiB)]))
    planned = plan.actions()
    assert "remove VG HostVG" in planned and "remove thin volume HostVG/Base-0" in planned
    new_table = f"create gpt partition table on {Path(target_disk).name}"
    assert planned.index("remove VG HostVG") < planned.index(new_table)
    executed: list[str] = []

    def fail_after_pool(line: str) -> None:
        """Record the action and fail right after the thin pool is created."""
        executed.append(line)
        if line.startswith("create thin pool"):
            raise RuntimeError("injected failure")

    with pytest.raises(ImgbaseError, match="failed and was undone: injected failure") as info:
        commit(plan, progress=fail_after_pool)
    assert "\n" not in str(info.value)
    assert plan.state == "failed"
    assert executed[-1].startswith("create thin pool HostVG/pool00")
    assert "create VG HostVG (" in "\n".join(executed)

    assert _vg_rows("HostVG") == []
    assert _pvs_on(target_disk) == []
    assert "HostVG" not in sh("dmsetup", "ls").stdout
    assert sh("sfdisk", "--json", target_disk, check=False).returncode != 0
    assert sh("blkid", "-p", target_disk, check=False).stdout == ""
    assert list(Path("/sys/class/block", Path(target_disk).name).glob(f"{Path(target_disk).name}*")) == []


def test_plan_on_blivet_disk_image(scratch_store):
    """blivet's own disk-image support (loop + dm-linear) plans a layout; close() releases it."""
    image = scratch_store / "blivet-image.img"
    with open(image, "wb") as f:
        f.truncate(20 * GiB)
    try:
        plan = plan_layout(LayoutRequest(disk="imgdisk", boot_size=512 * MiB, volumes=[("/var", GiB)]),
                           disk_images={"imgdisk": str(image)})
        try:
            lines = plan.actions()
            assert "create msdos partition table on imgdisk" in lines
            assert "create thin volume HostVG/var (1 GiB)" in lines
            assert plan.sizes.boot == 512 * MiB and plan.sizes.metadata == GiB
        finally:
            plan.close()
        assert "imgdisk" not in sh("dmsetup", "ls").stdout
        assert str(image) not in sh("losetup", "-a").stdout
    finally:
        image.unlink()
