# SPDX-License-Identifier: GPL-2.0-or-later
"""The addon's anaconda D-Bus service: keeps the config, reads and writes the kickstart, returns the tasks."""

from __future__ import annotations

import logging

from pyanaconda.core.dbus import DBus
from pyanaconda.core.signal import Signal
from pyanaconda.modules.common.base import KickstartService
from pyanaconda.modules.common.containers import TaskContainer

from org_ovirt_imgbased import defaults
from org_ovirt_imgbased.installer.kickstart import AddonConfig, anaconda_rules, read_section
from org_ovirt_imgbased.installer.kickstart.payload import resolve_payload
from org_ovirt_imgbased.service.constants import OVIRT_IMGBASED
from org_ovirt_imgbased.service.imgbased_interface import OvirtImgbasedInterface
from org_ovirt_imgbased.service.installation import OvirtImgbasedAdoptTask, OvirtImgbasedCheckLayoutTask
from org_ovirt_imgbased.service.kickstart import OvirtImgbasedKickstartSpecification

log = logging.getLogger(__name__)


class OvirtImgbasedService(KickstartService):
    """The org.fedoraproject.Anaconda.Addons.OvirtImgbased service.

    ``config`` is None until a kickstart section or the spoke sets it; until then the addon
    installs nothing.
    """

    def __init__(self) -> None:
        """Start unconfigured."""
        super().__init__()
        self._config: AddonConfig | None = None
        self._section: AddonConfig | None = None
        self.configuration_changed = Signal()

    def publish(self) -> None:
        """Publish the D-Bus object and register the service name."""
        TaskContainer.set_namespace(OVIRT_IMGBASED.namespace)
        DBus.publish_object(OVIRT_IMGBASED.object_path, OvirtImgbasedInterface(self))
        DBus.register_service(OVIRT_IMGBASED.service_name)

    @property
    def kickstart_specification(self):
        """Our %addon section plus the payload commands."""
        return OvirtImgbasedKickstartSpecification

    def process_kickstart(self, data) -> None:
        """Take the %addon section after checking the layout and payload the kickstart asks anaconda for."""
        addon = data.addons.org_ovirt_imgbased
        if addon.config is None:
            return
        anaconda_rules.check(data, addon.config, addon.header_lineno, addon.reader.header_text)
        resolve_payload(addon.config, addon.header_lineno, data)  # the payload rules, at read time
        self._section = addon.config
        self._store(addon.config)

    def setup_kickstart(self, data) -> None:
        """Write the section back as it was given."""
        data.addons.org_ovirt_imgbased.config = self._section

    def generate_kickstart(self) -> str:
        """Only our section: the payload, partitioning and bootloader commands belong to other modules."""
        return "" if self._section is None else "\n" + self._section.to_kickstart()

    @property
    def configuration(self) -> str:
        """The effective config as %addon section text, or "" when unconfigured."""
        return "" if self._config is None else self._config.to_kickstart()

    def set_configuration(self, text: str) -> None:
        """Set the config from %addon section text (from the spoke)."""
        config = read_section(text)
        self._section = config
        self._store(config)

    def _store(self, config: AddonConfig) -> None:
        """Keep config and tell D-Bus listeners."""
        self._config = config
        self.configuration_changed.emit()
        log.debug("imgbased config: %s", config)

    def configure_with_tasks(self) -> list:
        """Before storage is written: check that anaconda's root will be a thin LV imgbased can adopt."""
        if self._config is None:
            return []
        return [OvirtImgbasedCheckLayoutTask(self._config, self._config.vg != defaults.VG)]

    def install_with_tasks(self) -> list:
        """After storage, payload and bootloader: adopt the installed root; nothing when unconfigured."""
        if self._config is None:
            return []
        return [OvirtImgbasedAdoptTask(self._config)]
