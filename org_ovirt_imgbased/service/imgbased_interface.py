# SPDX-License-Identifier: GPL-2.0-or-later
"""The D-Bus interface of the addon's service (org.fedoraproject.Anaconda.Addons.OvirtImgbased)."""

# No "from __future__ import annotations" here: dasbus reads the return annotations of D-Bus
# members as objects (inspect.signature), and strings would break the generated XML.

from dasbus.server.interface import dbus_interface
from dasbus.server.property import emits_properties_changed
from dasbus.typing import Str
from pyanaconda.modules.common.base import KickstartModuleInterface

from org_ovirt_imgbased.service.constants import OVIRT_IMGBASED


@dbus_interface(OVIRT_IMGBASED.interface_name)
class OvirtImgbasedInterface(KickstartModuleInterface):
    """The config travels as the text of its %addon section, which round-trips exactly."""

    def connect_signals(self) -> None:
        """Emit PropertiesChanged when the config changes."""
        super().connect_signals()
        self.watch_property("Configuration", self.implementation.configuration_changed)

    @property
    def Configuration(self) -> Str:
        """The %addon org_ovirt_imgbased section to install with, or "" when unconfigured."""
        return self.implementation.configuration

    @Configuration.setter
    @emits_properties_changed
    def Configuration(self, value: Str):
        """Replace the config with the given %addon section text."""
        self.implementation.set_configuration(value)
