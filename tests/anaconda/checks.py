# SPDX-License-Identifier: GPL-2.0-or-later
"""Reading a driver result: what anaconda and the addon left on the installed disk."""

from __future__ import annotations

import re
from typing import Any

LAYER = "Base-0.1"


def imgbased_vg(result: dict[str, Any]) -> str | None:
    """The name of the disk's VG tagged imgbased:vg, if any."""
    for vg in result.get("inspect", {}).get("vgs", []):
        if "imgbased:vg" in tags(vg.get("vg_tags", "")):
            return vg["vg_name"]
    return None


def tags(text: str) -> list[str]:
    """LVM's comma-separated tag list."""
    return [t for t in text.split(",") if t]


def lv(result: dict[str, Any], name: str) -> dict[str, str] | None:
    """The row of LV name in the disk's VGs, if any."""
    for row in result.get("inspect", {}).get("lvs", []):
        if row["lv_name"] == name:
            return row
    return None


def fstab_entries(text: str | None) -> list[tuple[str, str]]:
    """(device, mount point) of each non-comment fstab line."""
    out = []
    for line in (text or "").splitlines():
        fields = line.split()
        if len(fields) >= 2 and not fields[0].startswith("#"):
            out.append((fields[0], fields[1]))
    return out


def names_lv(device: str, vg: str, name: str) -> bool:
    """True when an fstab device field names VG/LV (by /dev/VG/LV or its /dev/mapper name)."""
    mapper = f"{vg.replace('-', '--')}-{name.replace('-', '--')}"
    return device in (f"/dev/{vg}/{name}", f"/dev/mapper/{mapper}")


def layer_fstab(result: dict[str, Any], vg: str) -> str | None:
    """The /etc/fstab of the layer's LV."""
    root = result.get("inspect", {}).get("roots", {}).get(f"{vg}/{LAYER}") or {}
    return root.get("etc/fstab")


def grubenv_vars(text: str | None) -> dict[str, str]:
    """name=value lines of a grubenv block."""
    return dict(line.split("=", 1) for line in (text or "").splitlines() if "=" in line and not line.startswith("#"))


def layer_entry(result: dict[str, Any], vg: str) -> str | None:
    """The BLS entry id (file name without .conf) whose options boot the layer."""
    entries = (result.get("inspect", {}).get("boot") or {}).get("loader/entries") or {}
    for fname, text in entries.items():
        if fname.endswith(".conf") and re.search(rf"root=(/dev/{re.escape(vg)}/|/dev/mapper/\S*-){re.escape(LAYER)}\b",
                                                 text.replace("Base--0.1", LAYER)):
            return fname[:-len(".conf")]
    return None


def disk_untouched(result: dict[str, Any]) -> list[str]:
    """What changed on a disk that should have been left blank (empty when nothing)."""
    before, after = result.get("disk_before") or {}, result.get("disk_after") or {}
    problems = []
    if not before or not after:
        problems.append("no disk fingerprint before and after")
    for key in ("head_sha256", "tail_sha256"):
        if before.get(key) != after.get(key):
            problems.append(f"{key} changed")
    if not after.get("head_zero"):
        problems.append("the first MiB is no longer zero")
    if after.get("partitions") is not None:
        problems.append(f"a partition table appeared: {after.get('partitions')}")
    if after.get("blkid"):
        problems.append(f"a signature appeared: {after.get('blkid')}")
    vgs = [vg["vg_name"] for vg in result.get("inspect", {}).get("vgs", [])]
    if vgs:
        problems.append(f"VGs appeared: {vgs}")
    return problems
