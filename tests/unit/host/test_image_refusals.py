# SPDX-License-Identifier: GPL-2.0-or-later
"""What open_image refuses before anything is created: garbage, devices, damaged or changing images."""

from __future__ import annotations

import io
import os
import struct
import tarfile
import threading

import pytest

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host import image
from tests.fakes import FakeRunner


def opened(path, checksum=None):
    """Enter open_image and return the payload (the caller expects a refusal, mostly)."""
    with image.open_image(FakeRunner(), path, checksum) as payload:
        return payload


def test_all_zero_file_is_not_an_empty_tarball(tmp_path):
    """Zeros read as an empty tar archive; that is refused instead of making an empty base."""
    zeros = tmp_path / "zeros.img"
    zeros.write_bytes(bytes(10240))
    with pytest.raises(ImgbaseError, match="holds no files"):
        opened(zeros)


@pytest.mark.parametrize("kind", ["fifo", "char device"])
def test_fifo_and_devices_are_refused_without_reading(tmp_path, kind):
    """A FIFO or /dev/zero is refused at once (reading either would never end)."""
    if kind == "fifo":
        path = tmp_path / "pipe"
        os.mkfifo(path)
    else:
        path = "/dev/zero"
    outcome: list[BaseException] = []

    def attempt() -> None:
        try:
            opened(path)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(20)
    assert not worker.is_alive(), "open_image hung"
    assert isinstance(outcome[0], ImgbaseError) and "not a regular file or a directory" in str(outcome[0])


def test_the_running_root_is_not_an_image():
    """imgbase base --add / would copy the live system (with /proc): refused."""
    with pytest.raises(ImgbaseError, match="the running system"):
        opened("/")


def superblock(blocks: int, free: int, log_block_size: int) -> bytes:
    """An ext4-looking file: zeros with a superblock of the given counts."""
    sb = bytearray(1024)
    struct.pack_into("<I", sb, 0x4, blocks)
    struct.pack_into("<I", sb, 0xC, free)
    struct.pack_into("<I", sb, 0x18, log_block_size)
    struct.pack_into("<H", sb, 0x38, 0xEF53)
    return bytes(1024) + bytes(sb) + bytes(2048)


@pytest.mark.parametrize("blocks,free,log", [(100, 200, 2), (100, 10, 0xFFFFFFFF), (0, 0, 2)])
def test_impossible_ext4_superblocks_are_refused(tmp_path, blocks, free, log):
    """More free blocks than blocks, a huge block size or no blocks: one line, no huge allocation."""
    img = tmp_path / "crafted.img"
    img.write_bytes(superblock(blocks, free, log))
    with pytest.raises(ImgbaseError, match="damaged ext4 superblock"):
        image.ext4_geometry(img)


def test_tar_identity_ignores_members_outside_the_target(tmp_path):
    """A ../../etc/os-release member (which tar would not extract there) does not name the image."""
    path = tmp_path / "evil.tar"
    with tarfile.open(path, "w") as tar:
        for name, text in (("../../etc/os-release", "IMAGE_ID=evil\nIMAGE_VERSION=1\n"),
                           ("./usr/lib/os-release", "IMAGE_ID=good\nIMAGE_VERSION=2\n")):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    assert opened(path).identity == "good-2"


def test_an_image_changed_after_its_check_is_refused(tmp_path):
    """The tools read the image by path: a file written or replaced after the check is refused."""
    path = tmp_path / "payload.tar"
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("etc/hostname")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"host\n"))
    payload = opened(path)
    payload.check_unchanged()
    with open(path, "ab") as f:
        f.write(bytes(512))
    with pytest.raises(ImgbaseError, match="changed while it was being installed"):
        payload.check_unchanged()
