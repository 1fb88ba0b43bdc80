# SPDX-License-Identifier: GPL-2.0-or-later
"""Stage 2: turn the cached base tree into the v1 or v2 test image (ext4, sparse, cached)."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from org_ovirt_imgbased.host.storage import lvm

from . import recipe
from .base import BaseTree, _remove, ensure_base, prune, trim
from .chroot import chroot_mounts, in_chroot
from .common import RECIPE_DIR, REPO_DIR, ImgbaseError, Timer, image_cache, log, run

PKG = "org_ovirt_imgbased"
TEST_UNITS = ["imgbased-test-booted.service", "imgbased-test-job.service"]
DISABLED_UNITS = ["apt-daily.timer", "apt-daily-upgrade.timer", "dpkg-db-backup.timer", "e2scrub_all.timer",
                  "getty@tty1.service"]
UNIT_SUFFIXES = (".service", ".timer", ".path", ".socket", ".target")
FINAL_TRIM = ["var/cache/apt/archives/*.deb", "var/cache/apt/*.bin", "var/lib/apt/lists/*", "tmp/*",
              "var/tmp/*", "var/log/*.log", "var/cache/debconf/*-old", "var/lib/dpkg/*-old",
              "usr/lib/python3/dist-packages/**/__pycache__", "etc/resolv.conf", "usr/sbin/policy-rc.d"]
LAUNCHER = f"""#!/usr/bin/python3
\"\"\"imgbase: manage the image layers of this host (launcher installed by the test image).\"\"\"
import sys

from {PKG}.cli import main

sys.exit(main())
"""


def copy_tree(src: Path, dst: Path) -> list[str]:
    """Copy src's files into dst (root-owned, modes kept, existing dirs untouched); list the files."""
    copied = []
    for path in sorted(src.rglob("*")):
        if path.name in recipe.SKIP_NAMES or path.name.endswith(recipe.SKIP_SUFFIXES) \
                or any(p in recipe.SKIP_NAMES for p in path.relative_to(src).parts):
            continue
        target = dst / path.relative_to(src)
        if path.is_symlink():
            _remove(target)
            target.symlink_to(os.readlink(path))
        elif path.is_dir():
            if not target.is_dir():
                target.mkdir(mode=0o755)
                os.chown(target, 0, 0)
            continue
        else:
            _remove(target)
            shutil.copy2(path, target)
        os.chown(target, 0, 0, follow_symlinks=False)
        copied.append(target.relative_to(dst).as_posix())
    return copied


def append_lines(path: Path, lines: list[str]) -> None:
    """Append the lines missing from a text file."""
    have = path.read_text().splitlines() if path.exists() else []
    missing = [ln for ln in lines if ln not in have]
    if missing:
        with open(path, "a") as f:
            f.write("".join(ln + "\n" for ln in missing))


def install_imgbased(root: Path) -> None:
    """Copy the repo's imgbased package into the image and add the /usr/sbin/imgbase launcher."""
    dest = root / "usr/lib/python3/dist-packages" / PKG
    _remove(dest)
    dest.mkdir(parents=True)
    copy_tree(REPO_DIR / PKG, dest)
    launcher = root / "usr/sbin/imgbase"
    launcher.write_text(LAUNCHER)
    launcher.chmod(0o755)


def install_data(root: Path) -> list[str]:
    """Install the product's data/ files that exist now; return the unit names to enable."""
    data = REPO_DIR / "data"
    units = []
    mapping = [("systemd", "usr/lib/systemd/system"), ("grub.d", "etc/grub.d"),
               ("etc/default/grub.d", "etc/default/grub.d")]
    for src, dst in mapping:
        if not (data / src).is_dir():
            log(f"data/{src} is not there (yet): skipped")
            continue
        (root / dst).mkdir(parents=True, exist_ok=True)
        for path in sorted((data / src).iterdir()):
            if not path.is_file() or path.name.endswith(recipe.SKIP_SUFFIXES):
                continue
            if src == "etc/default/grub.d" and not path.name.endswith(".cfg"):
                continue
            target = root / dst / path.name
            shutil.copy2(path, target)
            os.chown(target, 0, 0)
            target.chmod(0o755 if src == "grub.d" else 0o644)
            if src == "systemd" and path.name.endswith(UNIT_SUFFIXES) and "[Install]" in path.read_text():
                units.append(path.name)
            log(f"installed data/{src}/{path.name} -> /{dst}/")
    return units


def set_identity(root: Path, version: int) -> None:
    """Record the image identity (IMAGE_ID, IMAGE_VERSION) in /usr/lib/os-release."""
    path = root / "usr/lib/os-release"
    if path.is_symlink() or not path.exists():
        raise ImgbaseError(f"{path} is missing or a symlink; the base tree looks broken")
    fields = {"IMAGE_ID": recipe.IMAGE_ID, "IMAGE_VERSION": str(version)}
    path.write_text(recipe.set_os_release(path.read_text(), fields))


def _chroot_steps(root: Path, debs: list[Path], units: list[str], kver: str, make_initrd: bool) -> None:
    """Run the steps that need the image's own tools: dpkg, systemctl, update-initramfs."""
    with chroot_mounts(root):
        if debs:
            for deb in debs:
                shutil.copy2(deb, root / "tmp" / deb.name)
            in_chroot(root, ["dpkg", "-i", *(f"/tmp/{d.name}" for d in debs)])
        in_chroot(root, ["systemctl", "enable", *units])
        in_chroot(root, ["systemctl", "disable", *DISABLED_UNITS], check=False)
        if make_initrd:
            in_chroot(root, ["update-initramfs", "-c", "-k", kver])


def _initrd(base: BaseTree, root: Path, timer: Timer, debs: list[Path], units: list[str]) -> None:
    """Run the chroot steps, reusing a cached initramfs when /etc inputs are unchanged."""
    kver = base.kernel_version
    cached = image_cache() / f"initrd-{recipe.initrd_key(kver)}.img"
    target = root / "boot" / f"initrd.img-{kver}"
    if cached.exists():
        shutil.copy2(cached, target)
    with timer.phase("chroot: packages, units" + ("" if cached.exists() else ", update-initramfs")):
        _chroot_steps(root, debs, units, kver, make_initrd=not cached.exists())
    if not cached.exists():
        tmp = cached.with_suffix(".tmp")
        shutil.copy2(target, tmp)
        tmp.rename(cached)
        prune(image_cache(), "initrd-*.img", keep=cached, newest=3)


def assemble(base: BaseTree, root: Path, version: int, timer: Timer) -> None:
    """Fill root (a copy of the base tree) with everything version needs."""
    with timer.phase(f"v{version}: overlay, imgbased, data files"):
        copy_tree(RECIPE_DIR / "overlay/common", root)
        copy_tree(RECIPE_DIR / f"overlay/v{version}", root)
        append_lines(root / "etc/initramfs-tools/modules",
                     recipe.read_list(RECIPE_DIR / "initramfs-modules"))
        install_imgbased(root)
        units = TEST_UNITS + install_data(root)
        profile = root / "etc/lvm/profile" / f"{lvm.PROFILE}.profile"
        profile.parent.mkdir(parents=True, exist_ok=True)
        profile.write_text(lvm.PROFILE_TEXT)
        set_identity(root, version)
    names = recipe.version_packages(version)
    debs = [d for n in names for d in sorted(base.debs.glob(f"{n}_*.deb"))[-1:]]
    if len(debs) != len(names):
        raise ImgbaseError(f"the base tree has no .deb for some of {names}; delete {base.path} to rebuild it")
    _initrd(base, root, timer, debs, units)
    with timer.phase("final trim and the factory copy of /etc"):
        trim(root, FINAL_TRIM)
        factory = root / "usr/share/factory/etc"
        _remove(factory)
        factory.parent.mkdir(parents=True, exist_ok=True)
        run(["cp", "-a", root / "etc", factory])


def make_ext4(root: Path, out: Path, size: str) -> None:
    """Write root into a fresh sparse ext4 image file of the given size (mke2fs -d)."""
    tmp = out.with_name(out.name + ".tmp")
    tmp.unlink(missing_ok=True)
    # The file is new, so its unwritten parts read as zeros: the journal need not be zeroed, which
    # would allocate 64 MiB of it (mke2fs zeroes with fallocate, and those extents count as used).
    run(["mke2fs", "-q", "-F", "-t", "ext4", "-m", "1", "-L", "imgbased-root", "-E", "lazy_journal_init=1",
         "-d", root, tmp, size])
    run(["e2fsck", "-fn", tmp])
    tmp.rename(out)


def image_paths(version: int, key: str) -> tuple[Path, Path]:
    """Return the cached image path and its metadata path for version and key."""
    img = image_cache() / f"{recipe.IMAGE_ID}-v{version}-{key}.img"
    return img, img.with_suffix(".json")


def build_image(version: int, size: str = "2G", timer: Timer | None = None) -> Path:
    """Return the cached image for version, building whatever stage is missing."""
    timer = timer or Timer()
    key = recipe.image_key(version)
    img, meta = image_paths(version, key)
    if img.exists() and meta.exists() and json.loads(meta.read_text()).get("size") == size:
        return img
    base = ensure_base(timer)
    work = image_cache() / f"work-v{version}-{key}"
    _remove(work)
    work.mkdir()
    try:
        with timer.phase("copy the base tree"):
            run(["cp", "-a", "--reflink=auto", base.root, work / "root"])
        assemble(base, work / "root", version, timer)
        with timer.phase(f"mke2fs -d into a {size} ext4 image"):
            make_ext4(work / "root", img, size)
    finally:
        _remove(work)
    info = {"version": version, "key": key, "size": size, "kernel_version": base.kernel_version,
            "base": base.path.name, "built": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "phases": {k: round(v, 1) for k, v in timer.phases.items()}}
    meta.write_text(json.dumps(info, indent=2) + "\n")
    prune_images(version, keep=img)
    return img


def prune_images(version: int, keep: Path, newest: int = 3) -> None:
    """Drop cached images of version (with their .json and liveimgs) beyond the newest few."""
    stems = {}
    for path in image_cache().glob(f"{recipe.IMAGE_ID}-v{version}-*.img"):
        if path != keep:
            stems[path.stem] = path.stat().st_mtime
    for stem in sorted(stems, key=stems.get, reverse=True)[newest - 1:]:
        for path in image_cache().glob(stem + ".*"):
            log(f"pruning old cache entry {path.name}")
            _remove(path)
