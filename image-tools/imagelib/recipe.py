# SPDX-License-Identifier: GPL-2.0-or-later
"""The image recipe: package lists, the apt mirror, cache keys and small text transforms (pure)."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .common import RECIPE_DIR, REPO_DIR, TOOLS_DIR, ImgbaseError

SUITE = "bookworm"
VERSIONS = (1, 2)
IMAGE_ID = "imgbased-test"
SKIP_NAMES = {"__pycache__", ".pytest_cache", ".ruff_cache"}
SKIP_SUFFIXES = (".pyc", ".pyo", "~", ".swp")

# Inputs of each cache stage, relative to the repository.
BASE_INPUTS = ["image-tools/image-recipe/packages-base.txt", "image-tools/image-recipe/packages-v2.txt",
               "image-tools/image-recipe/trim.txt",
               "image-tools/imagelib/base.py", "image-tools/imagelib/chroot.py"]
INITRD_INPUTS = ["image-tools/image-recipe/initramfs-modules", "image-tools/image-recipe/overlay/common/etc/lvm",
                 "image-tools/image-recipe/overlay/common/etc/initramfs-tools", "data/lvm"]
IMAGE_INPUTS = ["image-tools/image-recipe", "image-tools/imagelib", "image-tools/build-image",
                "org_ovirt_imgbased", "data"]


@dataclass(frozen=True)
class AptSource:
    """One apt source entry: a URI with its suites and components."""

    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]


def read_list(path: Path) -> list[str]:
    """Read a one-item-per-line recipe file, dropping comments and blank lines."""
    items = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            items.append(line)
    return items


def base_packages() -> list[str]:
    """Packages debootstrap installs into the base tree (both versions)."""
    return read_list(RECIPE_DIR / "packages-base.txt")


def version_packages(version: int) -> list[str]:
    """Extra packages a version adds on top of the base tree."""
    path = RECIPE_DIR / f"packages-v{version}.txt"
    return read_list(path) if path.exists() else []


def parse_one_line_sources(text: str) -> list[AptSource]:
    """Parse the one-line `deb URI SUITE COMPONENT...` format of sources.list files."""
    found = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        line = re.sub(r"\[[^\]]*\]", " ", line)  # drop [arch=... signed-by=...] options
        words = line.split()
        if len(words) >= 3 and words[0] == "deb":
            found.append(AptSource(words[1], (words[2],), tuple(words[3:])))
    return found


def parse_deb822_sources(text: str) -> list[AptSource]:
    """Parse the deb822 `.sources` format (stanzas with Types:, URIs:, Suites:, Components:)."""
    found = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in stanza.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if line[0].isspace() and key:
                fields[key] += " " + line.strip()
                continue
            key, _, value = line.partition(":")
            key = key.strip().lower()
            fields[key] = value.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").lower() == "no":
            continue
        suites = tuple(fields.get("suites", "").split())
        comps = tuple(fields.get("components", "").split())
        found.extend(AptSource(uri, suites, comps) for uri in fields.get("uris", "").split())
    return found


def choose_mirror(sources: Iterable[AptSource], suite: str = SUITE) -> str | None:
    """Pick the first source that serves suite's main component (not -updates or -security)."""
    for src in sources:
        if suite in src.suites and "main" in src.components:
            return src.uri.rstrip("/")
    return None


def find_mirror(etc: Path = Path("/etc/apt"), suite: str = SUITE) -> str:
    """Read the Debian mirror from the host's apt configuration (or $IMGBASED_MIRROR)."""
    env = os.environ.get("IMGBASED_MIRROR")
    if env:
        return env.rstrip("/")
    sources: list[AptSource] = []
    files = [etc / "sources.list", *sorted((etc / "sources.list.d").glob("*.list"))]
    for path in files:
        if path.is_file():
            sources += parse_one_line_sources(path.read_text())
    for path in sorted((etc / "sources.list.d").glob("*.sources")):
        sources += parse_deb822_sources(path.read_text())
    mirror = choose_mirror(sources, suite)
    if not mirror:
        raise ImgbaseError(f"no apt source for '{suite} main' in {etc}/sources.list*; "
                           "add one or set IMGBASED_MIRROR")
    return mirror


def _walk(path: Path) -> Iterable[Path]:
    """Yield path and every file and directory below it, sorted, skipping caches."""
    if path.name in SKIP_NAMES or path.name.endswith(SKIP_SUFFIXES):
        return
    yield path
    if path.is_dir() and not path.is_symlink():
        for child in sorted(path.iterdir()):
            yield from _walk(child)


def tree_hash(paths: Iterable[str], root: Path = REPO_DIR, salt: str = "") -> str:
    """Hash the names, modes, link targets and contents of paths (files or trees) under root."""
    h = hashlib.sha256(salt.encode())
    for rel in paths:
        top = root / rel
        if not top.exists() and not top.is_symlink():
            h.update(f"missing {rel}\0".encode())
            continue
        for path in _walk(top):
            name = path.relative_to(root).as_posix()
            st = path.lstat()
            h.update(f"{name}\0{st.st_mode:o}\0".encode())
            if path.is_symlink():
                h.update(os.readlink(path).encode())
            elif path.is_file():
                h.update(path.read_bytes())
            h.update(b"\0")
    return h.hexdigest()


def base_key(root: Path = REPO_DIR) -> str:
    """Cache key of the debootstrapped base tree: the package lists, trim list and base code."""
    return tree_hash(BASE_INPUTS, root, salt=f"base {SUITE}")[:16]


def initrd_key(kernel_version: str, root: Path = REPO_DIR) -> str:
    """Cache key of the initramfs: the base key plus everything the initramfs copies from /etc."""
    return tree_hash(INITRD_INPUTS, root, salt=f"initrd {base_key(root)} {kernel_version}")[:16]


def image_key(version: int, root: Path = REPO_DIR) -> str:
    """Cache key of a final image: the base key plus the recipe, build code, imgbased and data/."""
    if version not in VERSIONS:
        raise ImgbaseError(f"unknown image version {version}: choose one of {', '.join(map(str, VERSIONS))}")
    return tree_hash(IMAGE_INPUTS, root, salt=f"image v{version} {base_key(root)}")[:16]


def set_os_release(text: str, fields: dict[str, str]) -> str:
    """Return os-release text with fields set (replaced in place, or appended), values quoted."""
    lines = text.splitlines()
    todo = dict(fields)
    out = []
    for line in lines:
        key = line.split("=", 1)[0].strip()
        if key in todo:
            out.append(f'{key}="{todo.pop(key)}"')
        else:
            out.append(line)
    out += [f'{key}="{value}"' for key, value in todo.items()]
    return "\n".join(out) + "\n"


def parse_os_release(text: str) -> dict[str, str]:
    """Parse os-release KEY=VALUE lines (quotes removed)."""
    found = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key and not key.startswith("#"):
            found[key] = value.strip().strip("\"'")
    return found


def tools_path(name: str) -> Path:
    """Return the path of an image-tools executable."""
    return TOOLS_DIR / name
