# SPDX-License-Identifier: GPL-2.0-or-later
"""End to end: a blank disk PXE-boots the real anaconda, installs from kickstarts/pxe-auto.ks, boots Base-0.1.

The VM has no -kernel: qemu's iPXE ROM loads boot.ipxe, the kernel and the initramfs from
qemu's TFTP server; the kickstart comes over TFTP (first test) or HTTP (second test), the live
installer root, the addon's updates image (inst.updates=) and the liveimg over HTTP from
127.0.0.1 on the host (10.0.2.2 in the guest).  The installer root has no addon of its own, so
the install proves the updates image reached anaconda.

The first install is signed and has no checksum: the updates image carries the publisher's key
(the installer's /etc/imgbased/trusted.d), the %addon line names the liveimg's signature and the
addon checks it with the installer's gpgv before storage is written, then pins the sha256 it read
into anaconda's live-image source.  The addon's log lines stay in the installer's RAM, so the proof is
on the installed disk: Base-0 is tagged with that sha256, which without a --checksum only the
pin after a good signature gives it.  A kickstart with a wrong checksum (and no key) must stop
anaconda before the disk is touched.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from imagelib.liveimg import sha256_file
from installerlib import anaconda, pxevm, recipe, updates
from vmlab.host import TestHost
from vmlab.lifecycle import REPO, build_liveimg
from vmlab.qemu import sparse_disk

from tests import gpgkeys

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(os.geteuid() != 0, reason="the PXE test builds images and boots VMs: run it as root")]

KICKSTART = REPO / "kickstarts/pxe-auto.ks"
# pxe-auto.ks's thin volumes (root 6, /var 5, /var/log 4 GiB) must fit in the pool: anaconda checks it.
DISK_SIZE = 20 << 30
# pxe-auto.ks's explicit layout: / is the layer in HostVG, /var and /var/log are their own thin LVs.
FIRST_BOOT_JOB = "".join(
    f'test "$(lvs --noheadings -o vg_name,lv_name "$(findmnt -no SOURCE {mnt})" | xargs)" = "HostVG {lv}"\n'
    for mnt, lv in (("/", "Base-0.1"), ("/var", "var"), ("/var/log", "var_log"))) + (
    'echo "Base-0 tags: $(lvs --noheadings -o lv_tags HostVG/Base-0 | xargs)"\n'
    "lvs --noheadings -o lv_tags HostVG/Base-0 | grep -q imgbased:image=imgbased-test-1\nimgbase check\n")
ADDON_DIR = f"{anaconda.ADDONS_DIR}/org_ovirt_imgbased"
KEY_NAME = "publisher.gpg"

publisher = gpgkeys.publisher  # module-scoped: its gpg-agent stops after the module


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
    tail = "\n".join(run.console.splitlines()[-40:])
    return f"{run.detail}\nHTTP: {run.requests}\nconsole tail:\n{tail}"


def _root_files(squashfs: Path) -> list[str]:
    """The paths in the installer root squashfs."""
    out = subprocess.run(["unsquashfs", "-l", "-d", "", str(squashfs)], capture_output=True, text=True, check=True)
    return [ln.lstrip("/") for ln in out.stdout.splitlines()]


def _timings(title: str, phases: dict[str, float]) -> None:
    """Print one run's timings (visible with -s)."""
    print(f"{title}: " + ", ".join(f"{k} {v:.0f}s" for k, v in phases.items()))


def _signed(tmp_path: Path, liveimg: Path, key: gpgkeys.Key) -> pxevm.Signing:
    """The liveimg's detached signature by key, and key exported as the installer's one trusted key."""
    return pxevm.Signing(key.sign(liveimg, tmp_path / pxevm.SIGNATURE_NAME), [key.export(tmp_path / KEY_NAME)])


def test_pxe_install_then_the_disk_boots_base_0_1(artifacts, tmp_path, publisher):
    """Network boot, anaconda installs a signed liveimg, the addon and key from the updates image; Base-0.1 boots."""
    assert not any(p.startswith(ADDON_DIR) for p in _root_files(artifacts["installer"] / recipe.ROOT_NAME)), \
        "the installer root carries an addon of its own"
    disk = sparse_disk(tmp_path / "disk.img", DISK_SIZE)
    run = pxevm.pxe_install(tmp_path, artifacts["installer"], KICKSTART.read_text(), artifacts["liveimg"], disk,
                            checksum=None, ks_via="tftp", signing=_signed(tmp_path, artifacts["liveimg"], publisher))
    assert run.ok, _report(run)
    assert run.detail == "layer=Base-0.1 disk=/dev/vda after=reboot", _report(run)
    assert "anaconda-run: phase install" in run.console and "imgbased-installer: rebooting" in run.console
    # The kickstart came over TFTP; the root, the updates image, the liveimg and its signature over HTTP.
    for name in (recipe.ROOT_NAME, recipe.UPDATES_NAME, pxevm.LIVEIMG_NAME, pxevm.SIGNATURE_NAME):
        assert f"GET /{name} 200" in run.requests, run.requests
    assert f"GET /{pxevm.KS_NAME} 200" not in run.requests
    assert "the addon from http://10.0.2.2:" in run.console and f"/{recipe.UPDATES_NAME})" in run.console
    served = updates.members(tmp_path / "pxe" / recipe.UPDATES_NAME)
    assert {updates.ADDON_INIT, f"{updates.TRUSTED_DIR}/{KEY_NAME}"} <= set(served)
    ks = (tmp_path / "pxe" / pxevm.KS_NAME).read_text()
    assert re.search(rf"^%addon org_ovirt_imgbased .*--signature=http://10\.0\.2\.2:\d+/{pxevm.SIGNATURE_NAME}$",
                     ks, re.M) and not re.search(r"^[^#\n]*--checksum", ks, re.M), ks
    # The disk alone (BIOS + GRUB) boots Base-0.1 with the kickstart's thin data volumes mounted.
    host = TestHost(tmp_path / "boot", say=print)
    os.replace(disk, host.disk)
    boot = host.boot("PXE-installed first boot", FIRST_BOOT_JOB)
    assert boot.layer == "Base-0.1", boot.job_log
    assert boot.job_rc == 0 and "Status: OK" in boot.job_log, boot.job_log
    # No --checksum: Base-0's digest is the one the addon pinned after the signature checked out.
    assert f"imgbased:sha256={sha256_file(artifacts['liveimg'])}" in boot.job_log, boot.job_log
    _timings("PXE anaconda install timings", {**run.phases, "first disk boot and check": round(boot.seconds, 1)})


def test_wrong_checksum_stops_anaconda_before_the_disk_is_touched(artifacts, tmp_path):
    """The payload fails verification: the reason is on the console and the disk is still all zeros.

    No key and no signature: with a trusted key the policy would be required and want the signature.
    """
    disk = sparse_disk(tmp_path / "disk.img", DISK_SIZE)
    run = pxevm.pxe_install(tmp_path, artifacts["installer"], KICKSTART.read_text(), artifacts["liveimg"], disk,
                            checksum="0" * 64, ks_via="http")
    _timings("PXE anaconda refusal timings", run.phases)
    assert not run.ok, _report(run)
    assert "checksum" in run.detail.lower(), _report(run)
    assert f"IMGBASED_INSTALL_FAILED: {run.detail}" in run.console
    assert "imgbased-installer: powering off" in run.console
    assert f"GET /{pxevm.KS_NAME} 200" in run.requests and f"GET /{recipe.UPDATES_NAME} 200" in run.requests
    assert not [n for n in updates.members(tmp_path / "pxe" / recipe.UPDATES_NAME) if n.startswith(updates.TRUSTED_DIR)]
    assert pxevm.nonzero_extents(disk) == [], f"the disk was written to before the checksum was checked\n{_report(run)}"
