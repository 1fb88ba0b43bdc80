# SPDX-License-Identifier: GPL-2.0-or-later
"""The installer recipe: its lists, cache directories and cache keys (pure, apart from reading files)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from imagelib import recipe as image_recipe
from imagelib.common import REPO_DIR, TOOLS_DIR, ImgbaseError
from vmlab.common import cache_dir

RECIPE_DIR = TOOLS_DIR / "installer-recipe"
SUITE = image_recipe.SUITE
# Inputs of each cache stage, relative to the repository.
BASE_INPUTS = ["image-tools/installer-recipe/packages.txt", "image-tools/installer-recipe/python.txt",
               "image-tools/installer-recipe/trim.txt", "image-tools/installerlib/baseroot.py"]
# imgbased itself is not in the root: the addon reaches anaconda as an updates image (updates.py).
FINAL_INPUTS = ["image-tools/installer-recipe", "image-tools/installerlib", "image-tools/build-installer",
                "image-tools/anaconda-env"]
# The third-party sources (never downloaded: beside the checkout or in $IMGBASED_THIRD_PARTY).
ANACONDA_TARBALL = "anaconda-38.23.4.tar.gz"
MEH_TARBALL = "python-meh-0.52.tar.gz"
# The artifacts of one installer build, inside its cache directory.
KERNEL_NAME = "vmlinuz"
INITRD_NAME = "initrd.img"
ROOT_NAME = "installer.squashfs"
META_NAME = "installer.json"
STAGE2 = "usr/libexec/imgbased-installer/stage2"
UPDATES_NAME = "imgbased-updates.img"
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


def third_party_dir(root: Path = REPO_DIR) -> Path:
    """Where the anaconda and python-meh tarballs are: $IMGBASED_THIRD_PARTY or ../shared/third_party."""
    env = os.environ.get("IMGBASED_THIRD_PARTY")
    return Path(env) if env else root.parent / "shared/third_party"


def third_party(name: str, root: Path = REPO_DIR) -> Path:
    """One third-party tarball, or a one-line error naming where it was expected."""
    path = third_party_dir(root) / name
    if not path.is_file():
        raise ImgbaseError(f"{name} not found in {path.parent} (expected in ../shared/third_party beside "
                           "the checkout, or set IMGBASED_THIRD_PARTY)")
    return path


def _tarball_digest(name: str, root: Path) -> str:
    """The digest of a third-party tarball for a cache key ('missing' when absent: the build says why)."""
    path = third_party_dir(root) / name
    return file_digest(path) if path.is_file() else "missing"


def base_key(root: Path = REPO_DIR) -> str:
    """Cache key of the debootstrapped live root: package lists, pip pins, python-meh, trim list, base code."""
    salt = f"installer-base {SUITE} {_tarball_digest(MEH_TARBALL, root)}"
    return image_recipe.tree_hash(BASE_INPUTS, root, salt=salt)[:16]


def installer_key(kernel_version: str, busybox_digest: str, root: Path = REPO_DIR) -> str:
    """Cache key of a finished installer: the base key, the kernel, busybox, anaconda and the recipe."""
    salt = (f"installer {base_key(root)} {kernel_version} {busybox_digest} "
            f"{_tarball_digest(ANACONDA_TARBALL, root)}")
    return image_recipe.tree_hash(FINAL_INPUTS, root, salt=salt)[:16]


def file_digest(path: Path) -> str:
    """Short sha256 of a file's content, for cache keys."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
