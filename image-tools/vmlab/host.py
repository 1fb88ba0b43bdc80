# SPDX-License-Identifier: GPL-2.0-or-later
"""A test host on a disk image: install it in the VM lab, then boot it step by step.

Every boot starts qemu on the disk through BIOS + GRUB with a 9p share holding
``job.sh``; the test image's job runner runs the job as root once the system is
up and powers off.  The boot marker ``IMGBASED_BOOTED <layer> root=<dev>`` on
the serial console tells which layer really booted.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .boot import BootSpec, default_accel, start_boot
from .common import VmError
from .qemu import sparse_disk, vm_lock

REPO = Path(__file__).resolve().parents[2]
BOOTED = re.compile(r"IMGBASED_BOOTED (\S+) root=(\S+)")


@dataclass
class Boot:
    """What one boot showed: the layer and root device, the job's output and exit code."""

    name: str
    layer: str
    root: str
    job_rc: int | None
    job_log: str
    seconds: float
    serial: Path


class TestHost:
    """A disk image that is installed once and booted many times."""

    def __init__(self, work: Path, say: Callable[[str], None] = print, disk_size: str = "12G") -> None:
        """Prepare the working directory (disk, share, serial logs)."""
        self.work = work
        self.say = say
        self.disk = work / "disk.img"
        self.share = work / "share"
        self.share.mkdir(parents=True, exist_ok=True)
        self.disk_size = disk_size
        self.boots: list[Boot] = []

    def install(self, kickstart: Path, liveimg: Path, timeout: float = 1200) -> float:
        """Install the liveimg with imgbase-install inside the VM lab onto a blank disk."""
        self.disk.unlink(missing_ok=True)
        sparse_disk(self.disk, _bytes(self.disk_size))
        text = kickstart.read_text()
        ks = self.work / "install.ks"
        ks.write_text(re.sub(r"^liveimg .*$", f"liveimg --url=file://{liveimg}", text, flags=re.M))
        cmd = [str(REPO / "image-tools/vm-run"), "--udev", "--timeout", str(timeout), "--attach", str(self.disk),
               "--", str(REPO / ".venv/bin/python"), "-m", "org_ovirt_imgbased.installer.cli",
               "--ks", str(ks), "--disk", "/dev/vdb"]
        start = time.monotonic()
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        (self.work / "install.log").write_text(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise VmError(f"imgbase-install failed (exit {proc.returncode}):\n{tail}")
        return time.monotonic() - start

    def put(self, path: Path) -> str:
        """Make a host file available in the guest's share; returns its name there."""
        target = self.share / path.name
        if not target.exists():
            try:
                target.hardlink_to(path)
            except OSError:
                shutil.copy2(path, target)
        return path.name

    def boot(self, name: str, job: str, stop_at: str | None = None, timeout: float = 900,
             reach_host: bool = False) -> Boot:
        """Boot the disk and run job there (reach_host: a network to the host loopback); what happened."""
        for stale in ("job.rc", "job.log", "job.sh.ran", "job.action"):
            (self.share / stale).unlink(missing_ok=True)
        (self.share / "job.sh").write_text("set -euo pipefail\ncd \"$IMGBASED_JOB_SHARE\"\n" + job)
        slug = re.sub(r"[^A-Za-z0-9.]+", "-", name).strip("-")
        serial = self.work / f"serial-{len(self.boots) + 1}-{slug}.log"
        spec = BootSpec(self.disk, timeout=timeout, shares=[str(self.share)], serial_log=serial, reach_host=reach_host)
        start = time.monotonic()
        with vm_lock():
            vm = start_boot(spec, default_accel())
            try:
                match = vm.wait_for(BOOTED.pattern, timeout)
                if stop_at:
                    vm.wait_for(stop_at, timeout, start=match.end())
                    vm.kill()
                else:
                    vm.wait(timeout)
            finally:
                vm.kill()
        rc_file = self.share / "job.rc"
        rc = int(rc_file.read_text()) if rc_file.exists() else None
        log_file = self.share / "job.log"
        result = Boot(name, match.group(1), match.group(2), rc, log_file.read_text() if log_file.exists() else "",
                      time.monotonic() - start, serial)
        self.boots.append(result)
        return result


def _bytes(size: str) -> int:
    """Parse 12G-style sizes."""
    from .common import parse_size
    return parse_size(size)
