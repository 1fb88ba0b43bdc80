# SPDX-License-Identifier: GPL-2.0-or-later
"""The anaconda target checks: the planned root, the payload digest, anaconda's own boot entries."""

from __future__ import annotations

import hashlib

import pytest

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.installer import target
from org_ovirt_imgbased.installer.kickstart import AddonConfig
from org_ovirt_imgbased.runner import Runner


def test_a_thin_root_passes():
    target.check_layout("lvmthinlv", "HostVG", AddonConfig(), vg_given=False)


@pytest.mark.parametrize("kind, words", [("", "no root"), ("lvmlv", "lvmlv device"), ("partition", "thin LV")])
def test_a_root_that_is_not_thin_is_refused(kind, words):
    with pytest.raises(ImgbaseError, match=words):
        target.check_layout(kind, "HostVG", AddonConfig(), vg_given=False)


def test_a_named_vg_must_be_the_roots():
    with pytest.raises(ImgbaseError, match="--vg=anaconda"):
        target.check_layout("lvmthinlv", "anaconda", AddonConfig(vg="MyVG"), vg_given=True)
    target.check_layout("lvmthinlv", "anaconda", AddonConfig(), vg_given=False)


def test_payload_digest_from_the_checksum_or_a_local_file(tmp_path):
    image = tmp_path / "node.squashfs"
    image.write_bytes(b"image")
    assert target.payload_sha256(None, "sha256:" + "ab" * 32) == "ab" * 32
    assert target.payload_sha256(f"file://{image}", None) == hashlib.sha256(b"image").hexdigest()
    assert target.payload_sha256("http://192.0.2.1/node.squashfs", None) is None


def test_anaconda_entries_for_the_adopted_root_are_set_aside(tmp_path):
    entries = tmp_path / "loader/entries"
    entries.mkdir(parents=True)
    (entries / "abc-6.1.0.conf").write_text("title Debian\nlinux /vmlinuz-6.1.0\n"
                                            "options root=/dev/mapper/HostVG-root ro rd.lvm.lv=HostVG/root\n")
    (entries / "other.conf").write_text("title Other\nlinux /vmlinuz\noptions root=/dev/sda2\n")
    (entries / "imgbased-Base-0.1.conf").write_text("title imgbased\nlinux /Base-0.1/vmlinuz\n"
                                                     "options root=/dev/HostVG/Base-0.1\n")
    moved = target.replace_installer_entries(Runner(), tmp_path, "HostVG", "root")
    assert moved == ["abc-6.1.0.conf"]
    assert sorted(p.name for p in entries.iterdir()) == ["abc-6.1.0.conf.replaced-by-imgbased",
                                                         "imgbased-Base-0.1.conf", "other.conf"]


def test_the_payload_is_verified_before_anything_is_written(tmp_path):
    """A matching checksum passes (and gives the digest), a wrong one is refused naming both digests."""
    image = tmp_path / "rootfs.squashfs"
    image.write_bytes(b"image")
    good = hashlib.sha256(b"image").hexdigest()
    assert target.verify_payload(f"file://{image}", good) == good
    assert target.verify_payload(f"file://{image}", None) is None
    with pytest.raises(ImgbaseError, match=f"has sha256 {good}, but its --checksum is {'0' * 64}: nothing was written"):
        target.verify_payload(f"file://{image}", "0" * 64)
