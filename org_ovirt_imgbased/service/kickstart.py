# SPDX-License-Identifier: GPL-2.0-or-later
"""The anaconda kickstart data of %addon org_ovirt_imgbased: delegates to org_ovirt_imgbased.kickstart."""

from __future__ import annotations

from pyanaconda.core.kickstart import VERSION, KickstartSpecification
from pyanaconda.core.kickstart.addon import AddonData
from pykickstart.handlers.control import commandMap, dataMap

from org_ovirt_imgbased.installer.kickstart import ADDON_NAME, AddonConfig, KickstartLineError, SectionReader
from org_ovirt_imgbased.installer.kickstart.anaconda_rules import DISPLAY, PARTITIONING
from org_ovirt_imgbased.installer.kickstart.payload import payload_command_classes

LAYOUT_DATA = ("PartData", "LogVolData", "VolGroupData", "RaidData", "BTRFSData", "MountData")


class OvirtImgbasedData(AddonData):
    """ksdata.addons.org_ovirt_imgbased: the section as read, or None when the kickstart has none."""

    def __init__(self) -> None:
        """Start with no section seen."""
        super().__init__()
        self.reader: SectionReader | None = None
        self.config: AddonConfig | None = None
        self.header_lineno: int | None = None

    def handle_header(self, args, line_number=None) -> None:
        """Read the options after the addon name; a second section is an error."""
        if self.reader is not None:
            raise KickstartLineError(line_number, f"a second %addon {ADDON_NAME} section; keep one",
                                     text=" ".join(["%addon", ADDON_NAME, *args]))
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
    """Our %addon section, plus the payload and partitioning commands, read only to check them.

    The Storage and Payloads modules own those commands; this module never writes them back
    (see OvirtImgbasedService.generate_kickstart).
    """

    version = VERSION
    commands = {**payload_command_classes(VERSION),
                **{name: commandMap[VERSION][name] for name in (*PARTITIONING, *DISPLAY)
                   if name in commandMap[VERSION]}}
    commands_data = {name: dataMap[VERSION][name] for name in LAYOUT_DATA if name in dataMap[VERSION]}
    addons = {ADDON_NAME: OvirtImgbasedData}
