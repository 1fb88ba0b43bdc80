# SPDX-License-Identifier: GPL-2.0-or-later
"""Test helpers for reading real lvm2 state through JSON reports."""

from __future__ import annotations

import json
import subprocess


def sh(*argv: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
    """Run a command for a test and return the completed process."""
    return subprocess.run(list(argv), check=check, capture_output=True, text=True, input=input)


def lvs(vg: str, fields: str = "lv_name,lv_attr,origin,pool_lv,lv_tags,lv_size,data_percent") -> dict:
    """Return {lv_name: row} for vg from ``lvs --reportformat json``."""
    out = sh("lvs", "--reportformat", "json", "--units", "b", "--nosuffix", "-a", "-o", fields, vg).stdout
    rows = json.loads(out)["report"][0]["lv"]
    return {row["lv_name"]: row for row in rows}


def has_device_mapper() -> bool:
    """True when the running kernel offers device-mapper (it does not on the CI hosts)."""
    try:
        with open("/proc/misc") as f:
            return any(line.split()[1:] == ["device-mapper"] for line in f)
    except OSError:
        return False
