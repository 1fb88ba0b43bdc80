"""End-to-end checks of the test OS images: contents of v1 and v2, the liveimg, a real boot.

The images come from image-tools/build-image (cached outside the repo, so this is quick after
the first build).  Contents are read with debugfs, without mounting.  The boot test installs v1
onto a blank disk with tests/e2e/manual_install.sh inside the VM lab, then boots the disk
through BIOS + GRUB from the thin LV HostVG/Base-0.1, with a 9p share whose job.sh checks the
running system from the inside.  Needs root, debootstrap and qemu; about 3-4 minutes under TCG.
"""

from __future__ import annotations

import os
import re
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


JOB = r"""set -u
fail=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; fail=1; fi; }
root=$(findmnt -n -o SOURCE /)
check "root is the thin LV"       '[ "$(lvs --noheadings -o lv_name,pool_lv "$root" | xargs)" = "Base-0.1 pool00" ]'
check "root is read-write"        'findmnt -n -o OPTIONS / | grep -qw rw'
check "dm_thin_pool is loaded"    'grep -qw dm_thin_pool /proc/modules'
check "imgbased imports"          'python3 -c "import org_ovirt_imgbased" '
check "image identity v1"         'grep -qx "IMAGE_VERSION=\"1\"" /usr/lib/os-release'
check "factory /etc present"      '[ -f /usr/share/factory/etc/imgbased-test.conf ]'
check "no failed test units"      '! systemctl is-failed -q imgbased-test-booted.service'
echo "from the guest" > "$IMGBASED_JOB_SHARE/guest-wrote"
exit $fail
"""


@pytest.mark.skipif(not shutil.which("qemu-system-x86_64"), reason="needs qemu (make setup)")
def test_v1_boots_from_a_thin_lv_through_grub_and_runs_the_share_job(images, tmp_path):
    """Install v1 with manual_install.sh, boot it, and let the job runner check it from inside."""
    disk = tmp_path / "disk.img"
    with open(disk, "wb") as f:
        f.truncate(8 << 30)
    install = subprocess.run([str(TOOLS / "vm-run"), "--attach", str(disk), "--timeout", "900", "--",
                              "bash", str(ROOT / "tests/e2e/manual_install.sh"), "/dev/vdb", str(images[1])],
                             capture_output=True, text=True, cwd=ROOT)
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-2000:]
    share = tmp_path / "share"
    share.mkdir()
    (share / "job.sh").write_text(JOB)
    log = tmp_path / "serial.log"
    boot = subprocess.run([str(TOOLS / "vm-run"), "--boot", str(disk), "--share", str(share),
                           "--timeout", "600", "--serial-log", str(log),
                           "--expect", r"IMGBASED_BOOTED Base-0\.1 root=\S+ lv=HostVG/Base-0\.1 image=imgbased-test-1",
                           "--expect", r"IMGBASED_JOB_END rc=\d+"],
                          capture_output=True, text=True, cwd=ROOT)
    console = log.read_text(errors="replace") if log.exists() else boot.stdout
    assert boot.returncode == 0, console[-4000:] + boot.stderr[-1000:]
    assert (share / "job.rc").read_text().strip() == "0", (share / "job.log").read_text()
    assert (share / "guest-wrote").read_text() == "from the guest\n"
    assert not (share / "job.sh").exists() and (share / "job.sh.ran").exists()
    marker = re.search(r"IMGBASED_BOOTED .* uptime=([\d.]+)", console)
    assert marker, console[-2000:]
    print(f"install: {install.stdout.strip().splitlines()[-1]}; boot marker at {marker.group(1)}s guest uptime")
