# SPDX-License-Identifier: GPL-2.0-or-later
"""The ``%addon org_ovirt_imgbased`` kickstart section, for anaconda and for ``imgbase-install``.

Acyclic, bottom up: ``values`` (the value rules: sizes, names, paths, URLs), ``config`` (the
model ``AddonConfig`` and how it is written back), ``payload`` (which liveimg to install),
``section`` (reading the section and whole kickstarts).  The syntax is in config.py.
"""

from org_ovirt_imgbased.installer.kickstart.config import ADDON_NAME, AddonConfig, KickstartLineError
from org_ovirt_imgbased.installer.kickstart.section import (
    KickstartResult,
    SectionReader,
    check_config,
    parse_kickstart,
    read_section,
    section_from_lines,
)

__all__ = ["ADDON_NAME", "AddonConfig", "KickstartLineError", "KickstartResult", "SectionReader",
           "check_config", "parse_kickstart", "read_section", "section_from_lines"]
