# SPDX-License-Identifier: GPL-2.0-or-later
"""Careful file access of the /etc merge: atomic replacement, whole writes, no symlink followed."""

from __future__ import annotations

import os

import pytest

from org_ovirt_imgbased.host.persist import fstree


@pytest.fixture
def short_writes(monkeypatch):
    """os.write that writes at most 3 bytes a call, as a full or slow device may."""
    real = os.write
    monkeypatch.setattr(fstree.os, "write", lambda fd, data: real(fd, bytes(data[:3])))


def test_short_writes_still_write_every_byte(tmp_path, short_writes):
    """write_with_meta and copy_regular loop until all bytes are written."""
    data = bytes(range(256)) * 5
    dst = tmp_path / "passwd"
    fstree.write_with_meta(str(dst), data, 0o640, os.getuid(), os.getgid())
    assert dst.read_bytes() == data and (dst.stat().st_mode & 0o777) == 0o640
    copy = tmp_path / "copy"
    fstree.copy_regular(str(dst), str(copy))
    assert copy.read_bytes() == data


def test_a_failed_replace_leaves_the_old_file_and_no_temp(tmp_path, monkeypatch):
    """If writing fails half-way, the destination keeps its old content and no temp file stays."""
    dst = tmp_path / "group"
    dst.write_text("old\n")

    def broken(fd, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fstree.os, "write", broken)
    with pytest.raises(OSError):
        fstree.write_with_meta(str(dst), b"new\n", 0o644, os.getuid(), os.getgid())
    assert dst.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["group"]


def test_copy_symlink_replaces_without_following(tmp_path):
    """A symlink is copied as a symlink; the file it points at is never touched."""
    target = tmp_path / "target"
    target.write_text("keep\n")
    src = tmp_path / "src"
    src.symlink_to(target)
    dst = tmp_path / "dst"
    dst.write_text("a regular file\n")
    fstree.copy_symlink(str(src), str(dst))
    assert dst.is_symlink() and os.readlink(dst) == str(target) and target.read_text() == "keep\n"
