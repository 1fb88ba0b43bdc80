# SPDX-License-Identifier: GPL-2.0-or-later
"""The per-layer root line of fstab."""

from __future__ import annotations

from org_ovirt_imgbased.host.storage import fstab
from org_ovirt_imgbased.runner import Runner


def test_root_line_is_replaced_and_extras_added_once():
    """The old layer's / line is replaced; extra lines are appended only if missing."""
    text = "# static\n/dev/HostVG/Base-0.1 / ext4 defaults,discard 0 1\nUUID=b /boot ext4 defaults 1 2\n"
    out = fstab.with_root(text, "HostVG", "Base-1.1", ["UUID=b /boot ext4 defaults 1 2",
                                                       "/dev/HostVG/var /var ext4 defaults,discard 1 2"])
    lines = out.splitlines()
    assert lines[1] == "/dev/HostVG/Base-1.1 / ext4 defaults,discard 0 1"
    assert lines.count("UUID=b /boot ext4 defaults 1 2") == 1
    assert lines[-1].startswith("/dev/HostVG/var /var")
    assert "Base-0.1" not in out


def test_missing_root_line_is_added(tmp_path):
    """A fstab without / gets one; a missing fstab is created."""
    assert fstab.with_root("", "VG", "Base-0.1").splitlines() == ["/dev/VG/Base-0.1 / ext4 defaults,discard 0 1"]
    (tmp_path / "etc").mkdir()
    fstab.retarget(Runner(), tmp_path, "VG", "Base-2.1", ["/dev/VG/var /var ext4 defaults 1 2"])
    assert (tmp_path / "etc/fstab").read_text().splitlines()[0] == "/dev/VG/Base-2.1 / ext4 defaults,discard 0 1"


def test_commented_root_line_is_left_alone():
    """A commented-out / line is not treated as the root line."""
    out = fstab.with_root("#/dev/x / ext4 defaults 0 1\n", "VG", "Base-0.1")
    assert "#/dev/x / ext4 defaults 0 1" in out and "/dev/VG/Base-0.1 / ext4" in out


def test_bytes_that_are_not_utf8_survive_retargeting(tmp_path):
    """A fstab with a Latin-1 comment is retargeted with every other byte unchanged."""
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/fstab").write_bytes(b"# caf\xe9\n/dev/VG/Base-0.1 / ext4 defaults,discard 0 1\n")
    fstab.retarget(Runner(), tmp_path, "VG", "Base-1.1")
    assert (tmp_path / "etc/fstab").read_bytes() == b"# caf\xe9\n/dev/VG/Base-1.1 / ext4 defaults,discard 0 1\n"


def test_retarget_never_writes_through_a_symlinked_etc(tmp_path):
    """An image whose /etc is a symlink out of the layer: refused in one line, the outside untouched."""
    import pytest

    from org_ovirt_imgbased.errors import ImgbaseError

    layer, outside = tmp_path / "layer", tmp_path / "host-etc"
    layer.mkdir()
    outside.mkdir()
    (outside / "fstab").write_text("# the host's own fstab\n")
    (layer / "etc").symlink_to(outside)
    with pytest.raises(ImgbaseError, match="/etc in .* is a symlink"):
        fstab.retarget(Runner(), layer, "VG", "Base-1.1")
    assert (outside / "fstab").read_text() == "# the host's own fstab\n" and sorted(outside.iterdir()) == [
        outside / "fstab"]
