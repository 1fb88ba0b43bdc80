# SPDX-License-Identifier: GPL-2.0-or-later
"""Where the addon's service lives on D-Bus (see data/org.fedoraproject.Anaconda.Addons.OvirtImgbased.conf)."""

from __future__ import annotations

from dasbus.identifier import DBusServiceIdentifier
from pyanaconda.core.dbus import DBus
from pyanaconda.modules.common.constants.namespaces import ADDONS_NAMESPACE

# D-Bus names are CamelCase: org.fedoraproject.Anaconda.Addons.OvirtImgbased,
# object path /org/fedoraproject/Anaconda/Addons/OvirtImgbased.
OVIRT_IMGBASED_NAMESPACE = (*ADDONS_NAMESPACE, "OvirtImgbased")

OVIRT_IMGBASED = DBusServiceIdentifier(
    namespace=OVIRT_IMGBASED_NAMESPACE,
    message_bus=DBus,
)
