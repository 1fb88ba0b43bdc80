# SPDX-License-Identifier: GPL-2.0-or-later
"""Stage 1: the debootstrapped, trimmed base tree shared by all image versions (cached)."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from . import recipe
from .common import RECIPE_DIR, ImgbaseError, Timer, image_cache, log, run


@dataclass(frozen=True)
class BaseTree:
    """A cached base tree: its root directory, kernel version and downloaded extra packages."""

    path: Path
    kernel_version: str

    @property
    def root(self) -> Path:
        """The root filesystem tree."""
        return self.path / "root"

    @property
    def debs(self) -> Path:
        """Directory with the .deb files of packages later versions add."""
        return self.path / "debs"


def _debootstrap(root: Path, mirror: str) -> None:
    """Run debootstrap --variant=minbase with the recipe's packages into root."""
    debs = image_cache() / "debs"
    debs.mkdir(exist_ok=True)
    argv = ["debootstrap", "--variant=minbase", f"--cache-dir={debs}",
            "--include=" + ",".join(recipe.base_packages()), recipe.SUITE, root, mirror]
    # INITRD=No: the kernel's postinst hook skips the initramfs; the image stage builds it once.
    res = run(argv, check=False, env={"INITRD": "No", "DEBIAN_FRONTEND": "noninteractive"})
    if res.returncode != 0:
        lines = [ln for ln in (res.stderr + res.stdout).splitlines() if ln.strip()]
        reason = lines[-1] if lines else "no output"
        raise ImgbaseError(f"debootstrap failed: {reason} (see {root}/debootstrap/debootstrap.log)")


def _remove(path: Path) -> None:
    """Remove a file, symlink or directory tree without following symlinks."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def trim(root: Path, patterns: list[str]) -> int:
    """Delete what the globs match below root; return how many paths were removed."""
    count = 0
    for pattern in patterns:
        if pattern.startswith("/") or ".." in Path(pattern).parts:
            raise ImgbaseError(f"trim pattern {pattern!r} must be relative to the image root")
        for path in sorted(root.glob(pattern), reverse=True):
            _remove(path)
            count += 1
    return count


def kernel_version(root: Path) -> str:
    """Return the single kernel version installed in root."""
    versions = sorted(p.name for p in (root / "usr/lib/modules").iterdir() if p.is_dir())
    if len(versions) != 1:
        raise ImgbaseError(f"expected one kernel in {root}/usr/lib/modules, found {versions}")
    return versions[0]


def _download_extra(dest: Path) -> None:
    """Fetch the .deb files of the packages that later versions add, with the host's apt."""
    dest.mkdir(parents=True, exist_ok=True)
    os.chmod(dest, 0o755)  # apt's sandbox user must be able to write here
    names = sorted({p for v in recipe.VERSIONS for p in recipe.version_packages(v)})
    for name in names:
        error = _apt_download(name, dest)
        if error:
            raise ImgbaseError(f"apt-get download {name} failed: {error}; run `apt-get update` first")


def _apt_download(name: str, dest: Path) -> str:
    """Download one package into dest; return an error text, or '' on success."""
    res = run(["sh", "-c", 'cd "$1" && exec apt-get download -q "$2"', "sh", dest, name], check=False)
    if res.returncode != 0 or not list(dest.glob(f"{name}_*.deb")):
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        return lines[-1] if lines else "no .deb file appeared"
    return ""


def build_base(dest: Path, timer: Timer) -> BaseTree:
    """Build the base tree into dest (debootstrap, trim, depmod, extra .debs)."""
    tmp = dest.with_name(dest.name + ".tmp")
    _remove(tmp)
    tmp.mkdir(parents=True)
    root = tmp / "root"
    mirror = recipe.find_mirror()
    with timer.phase(f"debootstrap {recipe.SUITE} from the host's apt mirror"):
        _debootstrap(root, mirror)
    with timer.phase("trim the base tree"):
        removed = trim(root, recipe.read_list(RECIPE_DIR / "trim.txt"))
        kver = kernel_version(root)
        run(["depmod", "-b", root, kver])
        log(f"removed {removed} paths; kernel {kver}")
    with timer.phase("download the packages later versions add"):
        _download_extra(tmp / "debs")
    meta = {"kernel_version": kver, "packages": recipe.base_packages(), "key": dest.name,
            "built": time.strftime("%Y-%m-%dT%H:%M:%S"), "seconds": round(sum(timer.phases.values()), 1)}
    (tmp / "base.json").write_text(json.dumps(meta, indent=2) + "\n")
    _remove(dest)
    tmp.rename(dest)
    return BaseTree(dest, kver)


def ensure_base(timer: Timer) -> BaseTree:
    """Return the cached base tree for the current recipe, building it when missing."""
    dest = image_cache() / f"base-{recipe.base_key()}"
    meta = dest / "base.json"
    if meta.exists():
        return BaseTree(dest, json.loads(meta.read_text())["kernel_version"])
    log(f"no cached base tree {dest.name}: building it")
    tree = build_base(dest, timer)
    prune(image_cache(), "base-*", keep=dest)
    return tree


def prune(cache: Path, pattern: str, keep: Path, newest: int = 2) -> None:
    """Remove cache entries matching pattern, except keep and the newest others (other sessions')."""
    entries = sorted((p for p in cache.glob(pattern) if p != keep and not p.name.endswith(".tmp")),
                     key=lambda p: p.stat().st_mtime, reverse=True)
    for path in entries[max(newest - 1, 0):]:
        log(f"pruning old cache entry {path.name}")
        _remove(path)
