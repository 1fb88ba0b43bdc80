# SPDX-License-Identifier: GPL-2.0-or-later
"""The anaconda kickstart data of %addon org_ovirt_imgbased: delegates to org_ovirt_imgbased.kickstart."""

from __future__ import annotations

from pyanaconda.core.kickstart import VERSION, KickstartSpecification
from pyanaconda.core.kickstart.addon import AddonData
from pykickstart.handlers.control import commandMap

from org_ovirt_imgbased.installer.kickstart import ADDON_NAME, AddonConfig, SectionReader
from org_ovirt_imgbased.installer.kickstart.payload import payload_command_classes


class OvirtImgbasedData(AddonData):
    """ksdata.addons.org_ovirt_imgbased: the section as read, or None when the kickstart has none."""

    def __init__(self) -> None:
        """Start with no section seen."""
        super().__init__()
        self.reader: SectionReader | None = None
        self.config: AddonConfig | None = None
        self.header_lineno: int | None = None

    def handle_header(self, args, line_number=None) -> None:
        """Read the options after the addon name."""
        self.reader = SectionReader()
        self.header_lineno = line_number
        self.reader.header(args, line_number)

    def handle_line(self, line, line_number=None) -> None:
        """Read one body line."""
        self.reader.line(line, line_number)

    def handle_end(self) -> None:
        """Keep the finished config."""
        self.config = self.reader.finish()

    def __str__(self) -> str:
        """The %addon section, or nothing when there is no config."""
        return "" if self.config is None else "\n" + self.config.to_kickstart()


class OvirtImgbasedKickstartSpecification(KickstartSpecification):
    """Our %addon section, plus the payload commands so that their kind and lines can be checked."""

    version = VERSION
    commands = {**payload_command_classes(VERSION), "bootloader": commandMap[VERSION]["bootloader"]}
    addons = {ADDON_NAME: OvirtImgbasedData}
