# SPDX-License-Identifier: GPL-2.0-or-later
"""Smoke test of the VM lab: a real thinpool, thin LV and thin snapshot."""

from __future__ import annotations

from pathlib import Path

from tests.lvmhelp import lvs, sh


def test_thin_snapshot_sees_only_earlier_writes(loop_disk, vg_name, tmp_path):
    """A file written before the snapshot is in it; one written after is not."""
    dev = loop_disk("2G")
    sh("pvcreate", "-q", dev)
    sh("vgcreate", "-q", vg_name, dev)
    sh("lvcreate", "-q", "--type", "thin-pool", "-L", "1G", "-n", "pool", vg_name)
    sh("lvcreate", "-q", "--thin", "-V", "512M", "-n", "root", f"{vg_name}/pool")
    sh("mkfs.ext4", "-q", f"/dev/{vg_name}/root")
    mnt = tmp_path / "root"
    mnt.mkdir()
    sh("mount", f"/dev/{vg_name}/root", str(mnt))
    try:
        (mnt / "before").write_text("written before the snapshot\n")
        sh("sync")
        sh("lvcreate", "-q", "-s", "-kn", "-n", "snap", f"{vg_name}/root")
        (mnt / "after").write_text("written after the snapshot\n")
    finally:
        sh("umount", str(mnt))

    report = lvs(vg_name)
    print(sh("lvs", "-a", vg_name).stdout)
    assert report["pool"]["lv_attr"][0] == "t", report["pool"]
    assert report["root"]["lv_attr"][0] == "V" and report["root"]["pool_lv"] == "pool"
    assert report["snap"]["lv_attr"][0] == "V"
    assert report["snap"]["origin"] == "root"
    assert report["snap"]["pool_lv"] == "pool"

    snap = tmp_path / "snap"
    snap.mkdir()
    sh("mount", "-o", "ro", f"/dev/{vg_name}/snap", str(snap))
    try:
        assert (snap / "before").read_text() == "written before the snapshot\n"
        assert not (snap / "after").exists()
    finally:
        sh("umount", str(snap))

    sh("lvremove", "-q", "-y", f"{vg_name}/snap", f"{vg_name}/root", f"{vg_name}/pool")
    assert set(lvs(vg_name)) == set()
    sh("vgremove", "-q", vg_name)
    assert vg_name not in sh("vgs", "-o", "vg_name", "--noheadings").stdout
    assert Path(dev).exists()
