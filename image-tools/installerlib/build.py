# SPDX-License-Identifier: GPL-2.0-or-later
"""Build (or reuse from the cache) the PXE installer: Debian's kernel, the initramfs and the live root."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from imagelib.base import _remove, prune
from imagelib.common import Timer, build_lock, log
from imagelib.liveimg import sha256_file
from vmlab.kernel import ensure_kernel

from . import recipe
from .baseroot import copy_base, ensure_base
from .initrd import build_initrd, busybox
from .liveroot import finish_root, make_squashfs


@dataclass(frozen=True)
class Installer:
    """A finished installer build in the cache: kernel, initramfs, live root and metadata."""

    path: Path

    @property
    def kernel(self) -> Path:
        """The kernel (bzImage), as iPXE loads it."""
        return self.path / recipe.KERNEL_NAME

    @property
    def initrd(self) -> Path:
        """The busybox initramfs."""
        return self.path / recipe.INITRD_NAME

    @property
    def root(self) -> Path:
        """The live installer root squashfs."""
        return self.path / recipe.ROOT_NAME

    @property
    def meta(self) -> dict:
        """What installer.json records: key, kernel version, sizes, build timings."""
        return json.loads((self.path / recipe.META_NAME).read_text())


def _assemble(tmp: Path, base: Path, timer: Timer) -> dict:
    """Write the three artifacts into tmp; return facts for installer.json."""
    kernel = ensure_kernel()
    work = tmp.with_name(tmp.name + ".root")
    try:
        with timer.phase("copy the installer base tree"):
            copy_base(base, work)
        with timer.phase("modules, anaconda, stage2, byte-compile, import check"):
            modules = finish_root(work, kernel)
        with timer.phase("mksquashfs the installer root"):
            make_squashfs(work, tmp / recipe.ROOT_NAME)
    finally:
        _remove(work)
    with timer.phase("kernel and initramfs"):
        shutil.copy2(kernel.vmlinuz, tmp / recipe.KERNEL_NAME)
        initrd_modules = build_initrd(kernel, tmp / recipe.INITRD_NAME)
    return {"kernel_version": kernel.version, "base": base.name, "root_modules": len(modules),
            "initramfs_modules": initrd_modules,
            "sizes": {n: (tmp / n).stat().st_size for n in (recipe.KERNEL_NAME, recipe.INITRD_NAME, recipe.ROOT_NAME)},
            "sha256": {n: sha256_file(tmp / n) for n in (recipe.INITRD_NAME, recipe.ROOT_NAME)}}


def installer_dir() -> Path:
    """The cache directory the current recipe, kernel and imgbased sources map to."""
    kernel = ensure_kernel()
    key = recipe.installer_key(kernel.version, recipe.file_digest(busybox()))
    return recipe.installer_cache() / f"installer-{key}"


def ensure_installer(timer: Timer | None = None) -> Installer:
    """Return the cached installer for the current sources, building whatever stage is missing."""
    timer = timer or Timer()
    dest = installer_dir()
    if (dest / recipe.META_NAME).exists():
        return Installer(dest)
    with build_lock():
        if (dest / recipe.META_NAME).exists():
            return Installer(dest)
        start = time.monotonic()
        base = ensure_base(timer)
        tmp = dest.with_name(dest.name + ".tmp")
        _remove(tmp)
        tmp.mkdir(parents=True)
        facts = _assemble(tmp, base, timer)
        facts.update(key=dest.name, built=time.strftime("%Y-%m-%dT%H:%M:%S"),
                     seconds=round(time.monotonic() - start, 1),
                     phases={k: round(v, 1) for k, v in timer.phases.items()})
        (tmp / recipe.META_NAME).write_text(json.dumps(facts, indent=2) + "\n")
        _remove(dest)
        tmp.rename(dest)
        log(f"installer {dest.name}: root {facts['sizes'][recipe.ROOT_NAME] >> 20} MiB, "
            f"initramfs {facts['sizes'][recipe.INITRD_NAME] >> 20} MiB")
        prune(recipe.installer_cache(), "installer-*", keep=dest)
    return Installer(dest)
