# SPDX-License-Identifier: GPL-2.0-or-later
"""The installer recipe: its lists, cache directories and cache keys (pure, apart from reading files)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from imagelib import recipe as image_recipe
from imagelib.common import REPO_DIR, TOOLS_DIR
from vmlab.common import cache_dir

RECIPE_DIR = TOOLS_DIR / "installer-recipe"
SUITE = image_recipe.SUITE
# Inputs of each cache stage, relative to the repository.
BASE_INPUTS = ["image-tools/installer-recipe/packages.txt", "image-tools/installer-recipe/python.txt",
               "image-tools/installer-recipe/trim.txt", "image-tools/installerlib/baseroot.py"]
FINAL_INPUTS = ["image-tools/installer-recipe", "image-tools/installerlib", "image-tools/build-installer",
                "org_ovirt_imgbased"]
# The artifacts of one installer build, inside its cache directory.
KERNEL_NAME = "vmlinuz"
INITRD_NAME = "initrd.img"
ROOT_NAME = "installer.squashfs"
META_NAME = "installer.json"
STAGE2 = "usr/libexec/imgbased-installer/stage2"
SITE_PACKAGES = "usr/lib/python3/dist-packages"


def read_list(name: str) -> list[str]:
    """Read one of the recipe's one-item-per-line files (comments and blank lines dropped)."""
    return image_recipe.read_list(RECIPE_DIR / name)


def packages() -> list[str]:
    """Debian packages debootstrap installs into the live root."""
    return read_list("packages.txt")


def initramfs_modules() -> list[str]:
    """Kernel modules the initramfs loads before the live root is mounted."""
    return read_list("modules-initramfs.txt")


def root_modules() -> list[str]:
    """Kernel modules the live root carries (the initramfs ones too, so modprobe knows them)."""
    return initramfs_modules() + read_list("modules.txt")


def installer_cache() -> Path:
    """Directory holding the cached base trees and installer builds (outside the repository)."""
    path = cache_dir() / "installer"
    path.mkdir(parents=True, exist_ok=True)
    return path


def base_key(root: Path = REPO_DIR) -> str:
    """Cache key of the debootstrapped live root: package lists, pip pins, trim list, base code."""
    return image_recipe.tree_hash(BASE_INPUTS, root, salt=f"installer-base {SUITE}")[:16]


def installer_key(kernel_version: str, busybox_digest: str, root: Path = REPO_DIR) -> str:
    """Cache key of a finished installer: the base key, the kernel, busybox, the recipe and imgbased."""
    salt = f"installer {base_key(root)} {kernel_version} {busybox_digest}"
    return image_recipe.tree_hash(FINAL_INPUTS, root, salt=salt)[:16]


def file_digest(path: Path) -> str:
    """Short sha256 of a file's content, for cache keys."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
