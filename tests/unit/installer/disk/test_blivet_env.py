# SPDX-License-Identifier: GPL-2.0-or-later
"""libblockdev's plugin configuration follows the installed sonames (libblockdev 2 or 3)."""

from __future__ import annotations

from org_ovirt_imgbased.installer.disk.blivet_env import plugin_sonames


def test_libblockdev_3_plugins_are_named_with_their_own_soname(tmp_path):
    for name in ("libbd_lvm.so.3", "libbd_lvm-dbus.so.3", "libbd_nvme.so.3", "libbd_fs.so.3", "libbd_lvm.so"):
        (tmp_path / name).write_bytes(b"")
    assert plugin_sonames([tmp_path]) == {"fs": "libbd_fs.so.3", "lvm": "libbd_lvm.so.3",
                                          "nvme": "libbd_nvme.so.3"}


def test_libblockdev_2_on_this_machine_has_the_plain_lvm_plugin():
    assert plugin_sonames()["lvm"] == "libbd_lvm.so.2"
