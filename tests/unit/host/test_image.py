# SPDX-License-Identifier: GPL-2.0-or-later
"""Payload inspection without mounting: squashfs superblock checks, ext4 geometry, os-release identity."""

from __future__ import annotations

import os
import subprocess

import pytest

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host import image


@pytest.fixture
def squashfs(tmp_path):
    """A small real squashfs made by mksquashfs."""
    tree = tmp_path / "tree"
    (tree / "LiveOS").mkdir(parents=True)
    (tree / "LiveOS/rootfs.img").write_bytes(os.urandom(300000))
    out = tmp_path / "live.squashfs"
    subprocess.run(["mksquashfs", str(tree), str(out), "-quiet", "-noappend", "-no-progress"], check=True)
    return out


def test_intact_squashfs_passes(squashfs):
    """A squashfs as mksquashfs wrote it passes the superblock check."""
    image.check_squashfs(squashfs)


def test_truncated_squashfs_is_refused(squashfs):
    """A download cut short is named as truncated, with the byte counts."""
    data = squashfs.read_bytes()
    squashfs.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImgbaseError, match="truncated to"):
        image.check_squashfs(squashfs)


def test_bad_superblock_is_refused(squashfs):
    """A wrong version in the superblock is refused."""
    data = bytearray(squashfs.read_bytes())
    data[28] = 3
    squashfs.write_bytes(bytes(data))
    with pytest.raises(ImgbaseError, match="bad superblock"):
        image.check_squashfs(squashfs)


def test_ext4_geometry_and_identity(tmp_path):
    """Size and used bytes come from the superblock; identity from os-release."""
    img = tmp_path / "fs.img"
    subprocess.run(["mkfs.ext4", "-q", "-F", "-b", "4096", str(img), "64M"], check=True)
    size, used = image.ext4_geometry(img)
    assert size == 64 << 20 and 0 < used < size
    (tmp_path / "zeros").write_bytes(bytes(4096))
    assert image.ext4_geometry(tmp_path / "zeros") is None
    assert image.parse_os_release('ID=debian\nVERSION_ID="12"\n') == "debian-12"
    assert image.parse_os_release("IMAGE_ID=node\nIMAGE_VERSION=4.5\nID=centos\n") == "node-4.5"
    assert image.parse_os_release("IMAGE_ID='we ird/name'\n") == "we_ird_name"
    assert image.parse_os_release("NAME=x\n") is None


def test_checksum_syntax():
    """sha256:HEX or bare HEX; anything else is refused."""
    digest = "a" * 64
    assert image.parse_checksum(f"sha256:{digest.upper()}") == digest
    assert image.parse_checksum(digest) == digest
    for bad in ("md5:abc", "sha256:" + "g" * 64, "sha256:" + "a" * 63):
        with pytest.raises(ImgbaseError, match="bad checksum"):
            image.parse_checksum(bad)
