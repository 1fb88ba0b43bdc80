# SPDX-License-Identifier: GPL-2.0-or-later
"""The defaults every tier agrees on: the VG, pool, /boot and config file names and sizes."""

from __future__ import annotations

from pathlib import Path

from org_ovirt_imgbased.units import GiB

#: The volume group an imgbased layout lives in unless --vg or the kickstart says otherwise.
VG = "HostVG"
#: The thin pool inside it.
POOL = "pool00"
#: The size of the plain /boot partition the installer makes.
BOOT_SIZE = 1 * GiB
#: How many bases garbage collection keeps.
KEEP = 2
#: Where the boot entries, kernels and grubenv live.
BOOT_DIR = Path("/boot")
#: The host's imgbased configuration file.
CONFIG_PATH = Path("/etc/imgbased.conf")
