# SPDX-License-Identifier: GPL-2.0-or-later
"""`imgbase-install --ks` onto a blank virtio disk, with real blivet, lvm2 and GRUB."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lvmhelp import lvs, sh
from tests.vm.conftest import wipe_lvm
from tests.vm.payloads import ROOT, shared_payloads

DISK = os.environ.get("IMGBASED_TEST_DISK", "/dev/vdc")
LIVEIMG = os.environ.get("IMGBASED_TEST_LIVEIMG", "")
KS = (ROOT / "kickstarts/standalone-auto.ks").read_text()


def wipe(disk: str) -> None:
    """Leave disk blank: no VG, no signatures, no partitions."""
    wipe_lvm(disk)
    for vg in ("HostVG",):
        sh("vgremove", "-ff", "-y", vg, check=False)
    sh("wipefs", "-q", "-a", disk, check=False)
    sh("partx", "-d", disk, check=False)
    sh("udevadm", "settle", check=False)


@pytest.fixture
def blank_disk():
    """The spare virtio disk, blank before and after the test."""
    if not Path(DISK).is_block_device():
        pytest.skip(f"no spare test disk {DISK} (make check-vm attaches one)")
    wipe(DISK)
    yield DISK
    sh("umount", "-R", "-l", "/run/imgbased", check=False)
    wipe(DISK)


def kickstart(tmp_path: Path, liveimg: Path, checksum: str | None = None) -> Path:
    """standalone-auto.ks with the payload URL pointing at liveimg (and an optional checksum)."""
    line = f"liveimg --url=file://{liveimg}" + (f" --checksum={checksum}" if checksum else "")
    text = "\n".join(line if ln.startswith("liveimg ") else ln for ln in KS.splitlines()) + "\n"
    path = tmp_path / "host.ks"
    path.write_text(text)
    return path


def run_install(ks: Path, disk: str) -> subprocess.CompletedProcess:
    """Run imgbase-install as the real command."""
    return subprocess.run([sys.executable, "-m", "org_ovirt_imgbased.installer.cli", "--ks", str(ks), "--disk", disk],
                          capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


def assert_blank(disk: str) -> None:
    """No partition table, no signatures and no VG on disk."""
    out = sh("wipefs", "--no-act", "-J", disk).stdout.strip()
    assert not out or json.loads(out)["signatures"] == [], out
    assert "HostVG" not in sh("vgs", "-o", "vg_name", "--noheadings").stdout
    assert not [p for p in os.listdir("/sys/block/" + Path(disk).name) if p.startswith(Path(disk).name)]


def one_line(proc: subprocess.CompletedProcess) -> str:
    """The single error line of a failed install."""
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("imgbase-install: error:")]
    assert proc.returncode == 1 and len(errors) == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    return errors[0]


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    """Small liveimg payloads without GRUB in them."""
    return shared_payloads(tmp_path_factory)


def test_bad_checksum_is_refused_before_partitioning(blank_disk, fake, tmp_path):
    """A wrong checksum stops the install before the disk is touched."""
    ks = kickstart(tmp_path, fake.liveimg, "sha256:" + "1" * 64)
    assert "checksum mismatch" in one_line(run_install(ks, blank_disk))
    assert_blank(blank_disk)


def test_failure_midway_leaves_no_half_made_vg(blank_disk, fake, tmp_path):
    """An image that cannot be made bootable fails after partitioning; the layout is removed again."""
    proc = run_install(kickstart(tmp_path, fake.liveimg), blank_disk)
    assert "grub-install" in one_line(proc)
    assert "removing the new layout" in proc.stdout
    assert_blank(blank_disk)


def check_installed(disk: str, tmp_path: Path) -> None:
    """What every install must leave: tags, profile, GRUB in the MBR, grub.cfg, fstab, config, seeded /var.

    The real-image installs run in test_tui_install.py (interactive) and in the e2e tests
    (kickstart, PXE), which also boot the result; they share these checks.
    """
    sh("vgchange", "-ay", "HostVG")
    rows = lvs("HostVG", "lv_name,lv_attr,origin,lv_tags,lv_skip_activation,lv_profile,pool_lv")
    assert rows["pool00"]["lv_attr"][0] == "t" and rows["pool00"]["lv_profile"] == "imgbased-thin"
    assert "imgbased:pool" in rows["pool00"]["lv_tags"]
    assert rows["Base-0"]["lv_attr"][1] == "r" and rows["Base-0"]["lv_skip_activation"] not in ("", "0")
    assert "imgbased:base" in rows["Base-0"]["lv_tags"] and "imgbased:image=" in rows["Base-0"]["lv_tags"]
    # The installed root became the layer; Base-0 is the frozen snapshot of it (host/adopt.py).
    assert rows["Base-0"]["origin"] == "Base-0.1" and "imgbased:layer" in rows["Base-0.1"]["lv_tags"]
    assert "imgbased:volume" in rows["var"]["lv_tags"] and rows["var"]["pool_lv"] == "pool00"
    sh("lvchange", "-ay", "-K", "HostVG/Base-0")
    uuids = {sh("blkid", "-p", "-s", "UUID", "-o", "value", f"/dev/HostVG/{n}").stdout.strip()
             for n in ("Base-0", "Base-0.1")}
    sh("lvchange", "-an", "HostVG/Base-0")
    assert len(uuids) == 2 and "" not in uuids, uuids  # the base got a fresh filesystem UUID
    boot = tmp_path / "boot-check"
    boot.mkdir()
    sh("mount", "-o", "ro", f"{disk}1", str(boot))
    try:
        assert "imgbased-Base-0.1" in (boot / "grub/grub.cfg").read_text()
    finally:
        sh("umount", str(boot))
    with open(disk, "rb") as f:
        assert b"GRUB" in f.read(512)
    root = tmp_path / "root-check"
    root.mkdir()
    sh("mount", "-o", "ro", "/dev/HostVG/Base-0.1", str(root))
    try:
        fstab = (root / "etc/fstab").read_text()
        assert "/dev/HostVG/Base-0.1 / ext4" in fstab and " /var " in fstab and " /boot " in fstab
        assert "keep = 2" in (root / "etc/imgbased.conf").read_text()
    finally:
        sh("umount", str(root))
    sh("mount", "-o", "ro", "/dev/HostVG/var", str(root))
    try:
        assert (root / "lib/dpkg/status").is_file()  # the image's /var was seeded into the volume
    finally:
        sh("umount", str(root))
    sh("vgchange", "-an", "HostVG")
