# SPDX-License-Identifier: GPL-2.0-or-later
"""Boot mode: start a disk image through its own firmware and bootloader (BIOS + GRUB)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .common import VmError, log
from .console import ConsoleVM
from .initramfs import ensure_initramfs
from .kernel import ensure_kernel
from .qemu import choose_accel, machine_args, share_args, vm_lock

EXIT_TIMEOUT, EXIT_MISSING = 124, 1


@dataclass
class BootSpec:
    """A disk to boot and how to watch it."""

    disk: Path
    mem_mb: int = 2048
    timeout: float = 900.0
    shares: list[str] = field(default_factory=list)
    net: bool = False
    tftp: str | None = None
    bootfile: str | None = None
    pxe: bool = False
    serial_log: Path | None = None
    expect: list[str] = field(default_factory=list)
    stop_at: str | None = None
    # restrict=off on the user network: the guest may open connections to the host's
    # 127.0.0.1 services as 10.0.2.2 (the PXE installer's HTTP server needs this).
    reach_host: bool = False


def default_accel() -> str:
    """Choose the accelerator the same way command mode does."""
    kernel = ensure_kernel()
    return choose_accel(kernel.vmlinux, ensure_initramfs(kernel))


def boot_cmdline(spec: BootSpec, accel: str = "tcg") -> list[str]:
    """Assemble the qemu command line that boots spec.disk."""
    if not spec.disk.is_file():
        raise VmError(f"--boot {spec.disk}: no such disk image file")
    cmd = machine_args(accel, spec.mem_mb) + ["-no-reboot"]
    cmd += ["-drive", f"file={spec.disk},format=raw,if=virtio,cache=writeback,discard=unmap"]
    for i, path in enumerate(spec.shares):
        if not os.path.isdir(path):
            raise VmError(f"--share {path}: not a directory")
        cmd += share_args(f"share{i}", os.path.realpath(path), readonly=False)
    if spec.net or spec.tftp or spec.pxe or spec.reach_host:
        nic = "user,model=virtio-net-pci,restrict=" + ("off" if spec.reach_host else "on")
        if spec.tftp:
            nic += f",tftp={os.path.realpath(spec.tftp)}"
        if spec.bootfile:
            nic += f",bootfile={spec.bootfile}"
        cmd += ["-nic", nic]
    cmd += ["-boot", "order=nc" if spec.pxe else "order=c"]
    return cmd


def start_boot(spec: BootSpec, accel: str = "tcg", echo=None) -> ConsoleVM:
    """Start booting spec.disk and return the running VM (the caller holds vm_lock)."""
    return ConsoleVM(boot_cmdline(spec, accel), log_path=spec.serial_log, echo=echo).start()


def _echo(chunk: str) -> None:
    """Stream the serial console to stdout."""
    sys.stdout.write(chunk)
    sys.stdout.flush()


def boot_disk(spec: BootSpec) -> int:
    """Boot, stream the console, check expectations; return a process exit code."""
    with vm_lock():
        accel = default_accel()
        vm = start_boot(spec, accel, echo=_echo)
        try:
            for pattern in spec.expect:
                vm.wait_for(pattern, spec.timeout)
            if spec.stop_at:
                vm.wait_for(spec.stop_at, spec.timeout)
                log(f"saw {spec.stop_at!r}: cutting the power")
                vm.kill()
                return 0
            vm.wait(spec.timeout)
        except VmError as exc:
            vm.kill()
            log(str(exc))
            return EXIT_TIMEOUT if "timed out" in str(exc) else EXIT_MISSING
    return 0
