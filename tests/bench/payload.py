# SPDX-License-Identifier: GPL-2.0-or-later
"""Benchmark payloads: a small tree for the layer bases and a realistic ext4 image for base add."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

from tests.bench.machine import ext4_used_from_dumpe2fs, run
from tests.bench.report import MIB

WORDS = ("the", "kernel", "module", "service", "socket", "timer", "unit", "config", "default", "network",
         "storage", "volume", "thin", "pool", "layer", "base", "image", "update", "rollback", "boot",
         "entry", "initrd", "firmware", "library", "python", "shell", "package", "version", "release",
         "stable", "security", "patch", "daemon", "journal", "record", "user", "group")


def _os_release(tree: Path, version: str) -> None:
    """An os-release with the image identity imgbase reads."""
    (tree / "usr/lib").mkdir(parents=True, exist_ok=True)
    (tree / "usr/lib/os-release").write_text(
        f'ID=debian\nVERSION_ID="12"\nIMAGE_ID=imgbench\nIMAGE_VERSION={version}\n')


def small_tree(top: Path) -> Path:
    """A few MiB of files: enough for a real root-like tree, little enough to copy fast."""
    tree = top / "small-tree"
    _os_release(tree, "small")
    (tree / "usr/bin").mkdir(parents=True)
    (tree / "usr/bin/blob").write_bytes(os.urandom(8 * MIB))
    (tree / "etc").mkdir()
    for i in range(50):
        (tree / "etc" / f"conf-{i:02d}").write_text(f"setting{i}={i * 7}\n" * 20)
    return tree


def text_chunk(seed: int, size: int = MIB) -> bytes:
    """Deterministic, compressible pseudo-text of size bytes."""
    rng = random.Random(seed)
    words = rng.choices(WORDS, k=size // 5)
    data = " ".join(words).encode()
    while len(data) < size:
        data += data
    return data[:size]


def realistic_tree(top: Path, random_mib: int = 192, text_mib: int = 192, small_files: int = 2000) -> Path:
    """An OS-like tree: incompressible binaries, compressible text and many small files."""
    tree = top / "realistic-tree"
    _os_release(tree, "real")
    bins = tree / "usr/lib/bin"
    bins.mkdir(parents=True)
    for i in range(random_mib // 16):
        (bins / f"blob-{i:02d}").write_bytes(os.urandom(16 * MIB))
    docs = tree / "usr/share/doc"
    docs.mkdir(parents=True)
    chunk = text_chunk(1)
    for i in range(text_mib // 8):
        with open(docs / f"doc-{i:02d}.txt", "wb") as f:
            for m in range(8):
                f.write(f"== file {i} part {m} ==\n".encode())
                f.write(chunk)
    small = tree / "etc/small"
    small.mkdir(parents=True)
    rng = random.Random(2)
    for i in range(small_files):
        start = rng.randrange(0, len(chunk) - 16384)
        (small / f"f{i:04d}.conf").write_bytes(chunk[start:start + rng.randrange(512, 12288)])
    return tree


def make_ext4(tree: Path, image: Path, size: str) -> Path:
    """An ext4 image file of size (sparse) holding tree, built with mkfs.ext4 -d."""
    run(["mkfs.ext4", "-q", "-F", "-b", "4096", "-d", str(tree), str(image), size])
    return image


def ext4_used(path: Path | str) -> tuple[int, int]:
    """(filesystem size, used bytes) of an ext4 image or device, from dumpe2fs -h."""
    return ext4_used_from_dumpe2fs(run(["dumpe2fs", "-h", str(path)]).stdout)


def allocated(path: Path) -> int:
    """Bytes a (sparse) file really occupies on its filesystem."""
    return path.stat().st_blocks * 512


# --- the update-url benchmark's payload sizes ---------------------------------------------------

@dataclass(frozen=True)
class PayloadSize:
    """The rootfs inside the squashfs: its filesystem size and what realistic_tree puts in it."""

    fs_size: str
    random_mib: int
    text_mib: int
    small_files: int

    def describe(self) -> str:
        """One line for the report."""
        return (f"{self.fs_size} ext4 of {self.random_mib} MiB random + {self.text_mib} MiB text files and "
                f"{self.small_files} small ones")


FULL = PayloadSize("2G", 192, 192, 2000)  # benchmark 2's payload
HALF = PayloadSize("1G", 96, 96, 1000)


def payload_for(virt: str | None) -> PayloadSize:
    """Benchmark 2's payload, or half of it under TCG (systemd-detect-virt says qemu) or when unknown."""
    return HALF if virt in (None, "", "qemu") else FULL


def payload_why(virt: str | None) -> str:
    """Why the payload has its size."""
    if payload_for(virt) == FULL:
        return f"benchmark 2's payload; systemd-detect-virt: {virt}"
    return f"half of benchmark 2's, as systemd-detect-virt says {virt or 'nothing'} (TCG is slow)"
