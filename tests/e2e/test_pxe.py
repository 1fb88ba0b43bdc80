# SPDX-License-Identifier: GPL-2.0-or-later
"""End to end: a blank disk PXE-boots, installs unattended from kickstarts/standalone-auto.ks, then boots Base-0.1.

The VM has no -kernel: qemu's iPXE ROM loads boot.ipxe, the kernel and the initramfs from
qemu's TFTP server; the kickstart comes over TFTP (first test) or HTTP (second test), the live
installer root and the liveimg over HTTP from 127.0.0.1 on the host (10.0.2.2 in the guest).
A kickstart with a wrong checksum must stop the install before the disk is touched.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from installerlib import pxevm, recipe
from vmlab.lifecycle import KICKSTART, REPO, build_liveimg
from vmlab.qemu import sparse_disk

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(os.geteuid() != 0, reason="the PXE test builds images and boots VMs: run it as root")]

DISK_SIZE = 12 << 30
LAYER_ROOTS = ("/dev/mapper/HostVG-Base--0.1", "/dev/HostVG/Base-0.1")  # two names of the same LV


@pytest.fixture(scope="module")
def artifacts() -> dict[str, Path]:
    """The installer (build-installer) and the v1 test liveimg, built or taken from the cache."""
    proc = subprocess.run([sys.executable, str(REPO / "image-tools/build-installer")], capture_output=True,
                          text=True, cwd=REPO, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-2000:]
    installer = Path(proc.stdout.strip().splitlines()[-1])
    for name in (recipe.KERNEL_NAME, recipe.INITRD_NAME, recipe.ROOT_NAME):
        assert (installer / name).is_file(), f"build-installer left no {name} in {installer}"
    return {"installer": installer, "liveimg": build_liveimg(1)}


def _report(run: pxevm.PxeRun) -> str:
    """The console tail and the HTTP requests, for assertion messages."""
    tail = "\n".join(run.console.splitlines()[-30:])
    return f"{run.detail}\nHTTP: {run.requests}\nconsole tail:\n{tail}"


def test_pxe_install_then_the_disk_boots_base_0_1(artifacts, tmp_path):
    """Network boot, unattended install, reboot; then the disk alone boots into Base-0.1."""
    disk = sparse_disk(tmp_path / "disk.img", DISK_SIZE)
    run = pxevm.pxe_install(tmp_path, artifacts["installer"], KICKSTART.read_text(), artifacts["liveimg"], disk,
                            ks_via="tftp")
    assert run.ok, _report(run)
    assert run.detail == "layer=Base-0.1 disk=/dev/vda after=reboot", _report(run)
    assert "imgbased-installer: rebooting" in run.console
    # The kickstart came over TFTP; the installer root and the liveimg over HTTP.
    assert f"GET /{recipe.ROOT_NAME} 200" in run.requests and f"GET /{pxevm.LIVEIMG_NAME} 200" in run.requests
    assert f"GET /{pxevm.KS_NAME} 200" not in run.requests
    layer, root, seconds = pxevm.boot_installed(disk, tmp_path)
    assert layer == "Base-0.1" and root in LAYER_ROOTS, (layer, root)
    marker = next(ln for ln in (tmp_path / "serial-first-boot.log").read_text().splitlines() if "IMGBASED_BOOTED" in ln)
    assert " lv=HostVG/Base-0.1 " in marker and "image=imgbased-test-1" in marker, marker
    timings = {**run.phases, "first disk boot to marker": round(seconds, 1)}
    print("PXE timings: " + ", ".join(f"{k} {v:.0f}s" for k, v in timings.items()))


def test_wrong_checksum_stops_before_the_disk_is_touched(artifacts, tmp_path):
    """The payload fails verification: the reason is on the console and the disk is still all zeros."""
    disk = sparse_disk(tmp_path / "disk.img", DISK_SIZE)
    run = pxevm.pxe_install(tmp_path, artifacts["installer"], KICKSTART.read_text(), artifacts["liveimg"], disk,
                            checksum="0" * 64, ks_via="http")
    assert not run.ok, _report(run)
    assert "checksum" in run.detail.lower(), _report(run)
    assert f"IMGBASED_INSTALL_FAILED: {run.detail}" in run.console
    assert "imgbased-installer: powering off" in run.console
    assert "planning the layout" not in run.console, _report(run)
    assert f"GET /{pxevm.KS_NAME} 200" in run.requests, run.requests
    assert pxevm.nonzero_extents(disk) == [], "the disk was written to"
    print("PXE timings (refused install): " + ", ".join(f"{k} {v:.0f}s" for k, v in run.phases.items()))
