# SPDX-License-Identifier: GPL-2.0-or-later
"""PXE-install a blank disk in the VM lab, then boot the installed disk (shared by tests and build-installer).

The VM boots from the network only (qemu's iPXE ROM, ``-boot`` network first, no ``-kernel``):
qemu's TFTP server hands out boot.ipxe, the kernel and the initramfs; the kickstart, the
installer root and the liveimg come from an HTTP server on the host's 127.0.0.1, which the
guest reaches as 10.0.2.2.  The console markers of the installer tell what happened.  A signed
install serves the liveimg's signature beside it (its URL on the kickstart's %addon line) and
puts the trusted keys into the updates image.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from imagelib.liveimg import sha256_file
from vmlab.boot import BootSpec, default_accel, start_boot
from vmlab.common import VmError
from vmlab.host import BOOTED
from vmlab.qemu import vm_lock

from . import pxe, recipe

NETWORK_UP = r"imgbased-installer: network: "
INSTALLER_START = r"imgbased-installer: starting anaconda-run"
RESULT = re.compile(r"^IMGBASED_INSTALL_(?:OK (?P<ok>.*)|FAILED: (?P<reason>.*))$", re.M)
ANACONDA_TIMINGS = re.compile(r"^imgbased-installer: anaconda timings: (.*)$", re.M)
MEM_MB = 3072  # anaconda's Boss, Storage, Payloads and the addon's module, with the root in RAM
LIVEIMG_NAME = "liveimg.squashfs"
SIGNATURE_NAME = LIVEIMG_NAME + ".sig"  # where the addon's default rule would look too
KS_NAME = "install.ks"


@dataclass
class PxeRun:
    """What one PXE install showed: the result line, the console and the phase timings."""

    ok: bool
    detail: str
    console: str
    serial: Path
    exit_code: int | None
    phases: dict[str, float] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)


def _tail(text: str, lines: int = 25) -> str:
    """The last lines of a console log."""
    return "\n".join(text.splitlines()[-lines:])


@dataclass(frozen=True)
class Signing:
    """A signed install: the liveimg's detached signature and the keys the installer trusts."""

    signature: Path | None = None
    trusted_keys: Sequence[Path] = ()


def serve_signature(tree: Path, ks_text: str, server: pxe.HttpServer, signature: Path | None) -> str:
    """Serve signature beside the liveimg and name it on the %addon line; without one, the kickstart as it is."""
    (tree / SIGNATURE_NAME).unlink(missing_ok=True)
    if signature is None:
        return ks_text
    pxe.place(signature, tree / SIGNATURE_NAME)
    return pxe.sign_section(ks_text, server.url(SIGNATURE_NAME))


def prepare_tree(tree: Path, installer_dir: Path, ks_text: str, liveimg: Path, server: pxe.HttpServer,
                 checksum: str | None, ks_via: str, signing: Signing | None = None) -> str:
    """Lay out the PXE tree for one run (the updates image over HTTP); return the kickstart URL the kernel gets."""
    pxe.place(liveimg, tree / LIVEIMG_NAME)
    text = pxe.point_kickstart(ks_text, server.url(LIVEIMG_NAME), checksum)
    signing = signing or Signing()
    (tree / KS_NAME).write_text(serve_signature(tree, text, server, signing.signature))
    ks_url = server.url(KS_NAME) if ks_via == "http" else f"tftp://{pxe.GUEST_HOST}/{KS_NAME}"
    pxe.write_pxe_tree(tree, installer_dir, ks_url, server.url(recipe.ROOT_NAME),
                       updates_url=server.url(recipe.UPDATES_NAME), trusted_keys=signing.trusted_keys)
    return ks_url


def anaconda_timings(console: str) -> dict[str, float]:
    """anaconda-run's phase timings as the installer printed them ('launcher 43.1s, ...')."""
    match = ANACONDA_TIMINGS.search(console)
    timings: dict[str, float] = {}
    for item in (match.group(1).split(", ") if match else []):
        name, _, secs = item.rpartition(" ")
        try:
            timings[f"anaconda {name}"] = float(secs.rstrip("s"))
        except ValueError:
            continue
    return timings


def _wait_phase(vm, pattern: str, timeout: float, phases: dict[str, float], name: str, t0: float):
    """Wait for a console pattern and record the wall time since t0 under name."""
    match = vm.wait_for(pattern, timeout)
    phases[name] = round(time.monotonic() - t0, 1)
    return match


def pxe_install(work: Path, installer_dir: Path, ks_text: str, liveimg: Path, disk: Path,
                checksum: str | None = "auto", ks_via: str = "tftp", timeout: float = 1200,
                say: Callable[[str], None] = print, echo: Callable[[str], None] | None = None,
                signing: Signing | None = None) -> PxeRun:
    """PXE-boot a VM on disk, install unattended from ks_text and wait until it powers off or reboots.

    checksum "auto" puts the liveimg's real sha256 into the kickstart; None leaves it out.  signing
    serves the liveimg's signature (named with --signature= on the %addon line) and the trusted keys.
    """
    tree = work / "pxe"
    tree.mkdir(parents=True, exist_ok=True)
    if checksum == "auto":
        checksum = sha256_file(liveimg)
    serial = work / "serial-pxe-install.log"
    phases: dict[str, float] = {}
    with pxe.serve_http(tree) as server:
        ks_url = prepare_tree(tree, installer_dir, ks_text, liveimg, server, checksum, ks_via, signing)
        say(f"PXE tree {tree}: kickstart {ks_url}, HTTP on 127.0.0.1:{server.port}")
        spec = BootSpec(disk, mem_mb=MEM_MB, timeout=timeout, tftp=str(tree), bootfile=pxe.BOOTFILE, pxe=True,
                        reach_host=True, serial_log=serial)
        with vm_lock():
            vm = start_boot(spec, default_accel(), echo=echo)
            t0 = time.monotonic()
            try:
                _wait_phase(vm, NETWORK_UP, 300, phases, "PXE boot to installer network up", t0)
                _wait_phase(vm, INSTALLER_START, 300, phases, "PXE boot to anaconda-run start", t0)
                match = _wait_phase(vm, RESULT.pattern, timeout, phases, "PXE boot to install result", t0)
                code = vm.wait(120)
                phases["PXE boot to power off"] = round(time.monotonic() - t0, 1)
            except VmError as exc:
                raise VmError(f"{exc}; console tail:\n{_tail(vm.text)}") from None
            finally:
                vm.kill()
        requests = list(server.requests)
    ok = match.group("ok") is not None
    phases.update(anaconda_timings(vm.text))
    return PxeRun(ok, match.group("ok") if ok else match.group("reason"), vm.text, serial, code, phases, requests)


def boot_installed(disk: Path, work: Path, timeout: float = 600,
                   echo: Callable[[str], None] | None = None) -> tuple[str, str, float]:
    """Boot the disk on its own (BIOS + GRUB, no network) until the boot marker; return layer, root, seconds."""
    serial = work / "serial-first-boot.log"
    spec = BootSpec(disk, timeout=timeout, serial_log=serial)
    with vm_lock():
        vm = start_boot(spec, default_accel(), echo=echo)
        start = time.monotonic()
        try:
            match = vm.wait_for(BOOTED.pattern, timeout)
        except VmError as exc:
            raise VmError(f"{exc}; console tail:\n{_tail(vm.text)}") from None
        finally:
            vm.kill()
    return match.group(1), match.group(2), time.monotonic() - start


def nonzero_extents(path: Path, chunk: int = 1 << 20) -> list[tuple[int, int]]:
    """Return the (offset, length) ranges of path holding non-zero bytes; [] means all zeros."""
    dirty = []
    fd = os.open(path, os.O_RDONLY)
    try:
        size, pos = os.fstat(fd).st_size, 0
        while pos < size:
            try:
                pos = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:  # ENXIO: only a hole is left
                break
            end = os.lseek(fd, pos, os.SEEK_HOLE)
            while pos < end:
                data = os.pread(fd, min(chunk, end - pos), pos)
                if data.strip(b"\0"):
                    dirty.append((pos, len(data)))
                pos += len(data)
    finally:
        os.close(fd)
    return dirty
