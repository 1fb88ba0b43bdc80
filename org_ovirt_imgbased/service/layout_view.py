# SPDX-License-Identifier: GPL-2.0-or-later
"""The layout anaconda's Storage module has planned, as imgbased sees it (its device tree, read-only)."""

from __future__ import annotations

from pyanaconda.modules.common.constants.objects import DEVICE_TREE
from pyanaconda.modules.common.constants.services import STORAGE
from pyanaconda.modules.common.structures.storage import DeviceData

from org_ovirt_imgbased.installer.target import THIN_TYPE, PlannedLayout

NOT_DATA = ("/", "/boot", "/boot/efi", "swap")


def _device(tree, name: str) -> DeviceData:
    """One device's data from the device tree."""
    return DeviceData.from_structure(tree.GetDeviceData(name))


def planned() -> PlannedLayout:
    """What anaconda will create, as far as its partitioning has been applied (root type "": none yet)."""
    tree = STORAGE.get_proxy(DEVICE_TREE)
    root_name = tree.GetRootDevice()
    if not root_name:
        return PlannedLayout("")
    root = _device(tree, root_name)
    if root.type != THIN_TYPE or not root.parents:
        return PlannedLayout(root.type)
    pool = _device(tree, root.parents[0])
    volumes = sorted(mp for mp, name in tree.GetMountPoints().items()
                     if mp not in NOT_DATA and _device(tree, name).type == THIN_TYPE)
    return PlannedLayout(root.type, pool.parents[0] if pool.parents else None, pool.name, volumes)
