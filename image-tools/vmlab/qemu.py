# SPDX-License-Identifier: GPL-2.0-or-later
"""qemu plumbing shared by both VM lab modes: binary, accelerator, disks, lock."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import time
from pathlib import Path

from .common import VmError, cache_dir, log

QEMU = "qemu-system-x86_64"


def qemu_binary() -> str:
    """Return the qemu binary path or fail with the package to install."""
    path = shutil.which(QEMU)
    if not path:
        raise VmError(f"{QEMU} not found; run `make setup` (package qemu-system-x86)")
    return path


def machine_args(accel: str, mem_mb: int) -> list[str]:
    """Return the machine part of a qemu command line."""
    args = [qemu_binary(), "-M", "pc", "-accel", accel, "-smp", "1", "-m", str(mem_mb),
            "-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio"]
    if accel == "kvm":
        args += ["-cpu", "host"]
    return args


def disk_args(index: int, path: Path, fmt: str = "raw") -> list[str]:
    """Attach path as virtio disk number index (0 is /dev/vda)."""
    return ["-drive", f"if=none,id=d{index},file={path},format={fmt},cache=unsafe,discard=unmap",
            "-device", f"virtio-blk-pci,drive=d{index},serial=vmlab{index}"]


def share_args(tag: str, path: str, readonly: bool) -> list[str]:
    """Export a host directory to the guest over virtio-9p under tag."""
    ro = ",readonly=on" if readonly else ""
    return ["-fsdev", f"local,id={tag},path={path},security_model=none,multidevs=remap{ro}",
            "-device", f"virtio-9p-pci,fsdev={tag},mount_tag={tag}"]


def sparse_disk(path: Path, size: int) -> Path:
    """Create a fresh sparse raw disk file of size bytes."""
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def _boot_id() -> str:
    """Identify this host boot, so an accelerator probe is redone after a reboot."""
    with contextlib.suppress(OSError):
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    return "unknown"


def _probe_kvm(kernel: Path, initrd: Path) -> bool:
    """Boot the probe initramfs under KVM; True only if it really ran."""
    cmd = machine_args("kvm", 256) + ["-no-reboot", "-kernel", str(kernel), "-initrd", str(initrd),
                                      "-append", "console=ttyS0 quiet vmrun.probe=1"]
    try:
        res = subprocess.run(cmd, capture_output=True, timeout=20)
    except subprocess.TimeoutExpired:
        return False
    return b"@@VMRUN:PROBE-OK@@" in res.stdout


def choose_accel(kernel: Path, initrd: Path) -> str:
    """Pick kvm when it actually boots a kernel, tcg otherwise (cached per host boot)."""
    wanted = os.environ.get("IMGBASED_VM_ACCEL", "auto")
    if wanted in ("tcg", "kvm"):
        return wanted
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg"
    marker = cache_dir() / f"accel-{_boot_id()}"
    if marker.exists():
        return marker.read_text().strip()
    log("probing whether KVM is usable (falls back to TCG)")
    accel = "kvm" if _probe_kvm(kernel, initrd) else "tcg"
    marker.write_text(accel + "\n")
    log(f"accelerator: {accel}")
    return accel


@contextlib.contextmanager
def vm_lock():
    """Hold the machine-wide lock so only one VM runs at a time."""
    path = Path(os.environ.get("IMGBASED_VM_LOCK", "/tmp/imgbased-vm.lock"))
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log("another VM is running; waiting for it to finish")
            start = time.monotonic()
            fcntl.flock(f, fcntl.LOCK_EX)
            log(f"waited {time.monotonic() - start:.0f}s for the VM lock")
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
