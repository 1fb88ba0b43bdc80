# SPDX-License-Identifier: GPL-2.0-or-later
"""Fetch Debian's distribution kernel with apt and prepare it for qemu.

The kernel package is downloaded (not installed) and extracted into a cache
directory keyed by the package version.  The uncompressed ``vmlinux`` is cut
out of ``vmlinuz`` so qemu can boot it through PVH, which is noticeably faster
under TCG than running the decompressor.
"""

from __future__ import annotations

import lzma
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .common import VmError, cache_dir, log

META_PACKAGE = "linux-image-amd64"
XZ_MAGIC = b"\xfd7zXZ\x00"


@dataclass(frozen=True)
class Kernel:
    """An extracted kernel tree: version, module root and boot images."""

    version: str
    root: Path

    @property
    def vmlinuz(self) -> Path:
        """The compressed kernel image as shipped."""
        return self.root / "boot" / f"vmlinuz-{self.version}"

    @property
    def vmlinux(self) -> Path:
        """The uncompressed ELF kernel, bootable through PVH."""
        return self.root / "boot" / f"vmlinux-{self.version}"

    @property
    def modules(self) -> Path:
        """The module tree for this kernel version."""
        return self.root / "lib" / "modules" / self.version


def _apt_kernel_package() -> str | None:
    """Name the versioned kernel package the meta package depends on."""
    try:
        out = subprocess.run(["apt-cache", "depends", META_PACKAGE], capture_output=True,
                             text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    match = re.search(r"Depends: (linux-image-\S+)", out)
    return match.group(1) if match else None


def _cached_kernels(base: Path) -> list[Kernel]:
    """List complete kernel trees already in the cache, newest first."""
    found = []
    for done in sorted(base.glob("*/.complete"), reverse=True):
        version = done.read_text().strip()
        found.append(Kernel(version, done.parent / "root"))
    return found


def _extract_vmlinux(vmlinuz: Path, out: Path) -> None:
    """Decompress the xz payload of a bzImage into an ELF vmlinux."""
    data = vmlinuz.read_bytes()
    start = data.find(XZ_MAGIC)
    while start >= 0:
        try:
            elf = lzma.LZMADecompressor().decompress(data[start:])
        except lzma.LZMAError:
            elf = b""
        if elf[:4] == b"\x7fELF":
            tmp = out.with_suffix(".tmp")
            tmp.write_bytes(elf)
            tmp.rename(out)
            return
        start = data.find(XZ_MAGIC, start + 1)
    raise VmError(f"no xz-compressed ELF kernel found inside {vmlinuz}")


def _download(package: str, dest: Path) -> None:
    """Download and unpack one kernel package into dest/root."""
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        log(f"downloading {package} with apt-get")
        # apt's sandbox user cannot write into root-owned temp dirs.
        os.chmod(tmp, 0o755)
        res = subprocess.run(["apt-get", "download", "-q", package], cwd=tmp,
                             capture_output=True, text=True)
        debs = list(Path(tmp).glob("*.deb"))
        if res.returncode != 0 or not debs:
            raise VmError(f"apt-get download {package} failed: {res.stderr.strip()[-300:]}")
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(dest / "root")], check=True)


def ensure_kernel() -> Kernel:
    """Return a ready kernel, downloading and preparing it when needed."""
    base = cache_dir() / "kernel"
    base.mkdir(parents=True, exist_ok=True)
    package = _apt_kernel_package()
    if package is None:
        cached = _cached_kernels(base)
        if cached:
            return cached[0]
        raise VmError(f"cannot resolve {META_PACKAGE} with apt-cache; run `make setup` first")
    dest = base / package
    if (dest / ".complete").exists():
        return Kernel((dest / ".complete").read_text().strip(), dest / "root")
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir()
    _download(package, dest)
    versions = [p.name for p in (dest / "root" / "lib" / "modules").iterdir()]
    if len(versions) != 1:
        raise VmError(f"unexpected module trees in {package}: {versions}")
    kernel = Kernel(versions[0], dest / "root")
    subprocess.run(["depmod", "-b", str(kernel.root), kernel.version], check=True)
    _extract_vmlinux(kernel.vmlinuz, kernel.vmlinux)
    (dest / ".complete").write_text(kernel.version + "\n")
    return kernel
