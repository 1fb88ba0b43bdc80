# SPDX-License-Identifier: GPL-2.0-or-later
"""End-to-end checks of the test OS images: contents of v1 and v2 and the liveimg.

The images come from image-tools/build-image (cached outside the repo, so this is quick after
the first build).  Contents are read with debugfs, without mounting.  Booting them is proven by
test_lifecycle.py, which installs with imgbase-install and boots through BIOS + GRUB.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / "image-tools"
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="building images needs root"),
    pytest.mark.skipif(not all(shutil.which(t) for t in ("debootstrap", "debugfs", "mksquashfs")),
                       reason="needs debootstrap, e2fsprogs and squashfs-tools (make setup)"),
]


def build(version: int, *extra: str) -> Path:
    """Build (or reuse) an image with build-image and return the printed path."""
    res = subprocess.run([sys.executable, str(TOOLS / "build-image"), "--version", str(version), *extra],
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    return Path(res.stdout.strip().splitlines()[-1])


def cat(image: Path, path: str) -> str:
    """Read a file out of an ext4 image with debugfs (empty when missing)."""
    res = subprocess.run(["debugfs", "-R", f"cat {path}", str(image)], capture_output=True, text=True)
    return res.stdout


def listdir(image: Path, path: str) -> list[str]:
    """List a directory of an ext4 image with debugfs."""
    res = subprocess.run(["debugfs", "-R", f"ls -p {path}", str(image)], capture_output=True, text=True)
    return [f.split("/")[5] for f in res.stdout.splitlines() if f.count("/") >= 6 and f.split("/")[5]
            not in (".", "..")]


@pytest.fixture(scope="session")
def images() -> dict[int, Path]:
    """The v1 and v2 test images."""
    return {1: build(1), 2: build(2)}


def installed_packages(image: Path) -> set[str]:
    """Package names dpkg records as installed in an image."""
    status = cat(image, "/var/lib/dpkg/status")
    names, current = set(), None
    for line in status.splitlines():
        if line.startswith("Package: "):
            current = line.split()[1]
        elif line.startswith("Status: ") and line.endswith("install ok installed") and current:
            names.add(current)
    return names


def test_both_images_have_the_common_pieces(images):
    """Kernel, initramfs, imgbase launcher, package, identity, factory /etc and test units."""
    for version, image in images.items():
        boot = listdir(image, "/boot")
        assert any(n.startswith("vmlinuz-") for n in boot) and any(n.startswith("initrd.img-") for n in boot)
        assert "org_ovirt_imgbased.cli" in cat(image, "/usr/sbin/imgbase")
        assert "__init__.py" in listdir(image, "/usr/lib/python3/dist-packages/org_ovirt_imgbased")
        osr = cat(image, "/usr/lib/os-release")
        assert 'IMAGE_ID="imgbased-test"' in osr and f'IMAGE_VERSION="{version}"' in osr
        assert cat(image, "/usr/share/factory/etc/hostname") == cat(image, "/etc/hostname") == "imgbased-test\n"
        assert cat(image, "/usr/share/factory/etc/imgbased-test.conf") == cat(image, "/etc/imgbased-test.conf")
        wants = listdir(image, "/etc/systemd/system/multi-user.target.wants")
        assert {"imgbased-test-booted.service", "imgbased-test-job.service"} <= set(wants)
        assert "dm_thin_pool" in cat(image, "/etc/initramfs-tools/modules").split()
        assert {"lvm2", "thin-provisioning-tools", "python3", "systemd-sysv"} <= installed_packages(image)
        assert not listdir(image, "/usr/share/doc")


def test_v2_differs_from_v1_in_the_documented_ways(images):
    """A changed default, an added file and an added package."""
    v1, v2 = images[1], images[2]
    assert "version=1" in cat(v1, "/etc/imgbased-test.conf")
    assert "version=2" in cat(v2, "/etc/imgbased-test.conf")
    assert cat(v1, "/etc/imgbased-test.d/new-in-v2") == ""
    assert "added=2" in cat(v2, "/etc/imgbased-test.d/new-in-v2")
    assert "tree" not in installed_packages(v1) and "tree" in installed_packages(v2)


def test_v2_liveimg_layout_and_sizes(images):
    """build-image --liveimg gives a squashfs with LiveOS/rootfs.img; size-report compares sizes."""
    live = build(2, "--liveimg")
    check = subprocess.run([sys.executable, str(TOOLS / "make-liveimg"), "--check", str(live)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    rootfs = live.with_name(live.name.split(".")[0] + ".img")  # its own image (the key may have moved on)
    rep = subprocess.run([sys.executable, str(TOOLS / "size-report"), str(rootfs), str(live)],
                         capture_output=True, text=True)
    assert rep.returncode == 0, rep.stderr
    print(rep.stdout)
    assert live.stat().st_size < rootfs.stat().st_blocks * 512
