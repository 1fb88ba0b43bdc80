# SPDX-License-Identifier: GPL-2.0-or-later
"""The mounts group of `imgbase check`: / is a layer with discard, /var and data volumes mounted."""

from __future__ import annotations

from collections.abc import Callable

from org_ovirt_imgbased.host.check.report import FAILED, OK, WARNING, Finding, finding
from org_ovirt_imgbased.host.layout import Layout
from org_ovirt_imgbased.host.storage import lvm
from org_ovirt_imgbased.host.storage.mounts import Mount, visible_at
from org_ovirt_imgbased.runner import Runner


def tune2fs_default_options(runner: Runner, dev: str) -> str:
    """The ``Default mount options`` of an ext filesystem ("" when unknown)."""
    out = runner.run(["tune2fs", "-l", dev], check=False, readonly=True).stdout
    for line in out.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "Default mount options":
            return value.strip()
    return ""


def check_mounts(layout: Layout, mounts: list[Mount], default_options: Callable[[str], str]) -> list[Finding]:
    """/ is a layer mounted with discard, /var is separate, data volumes have their own mount points."""
    ours = {lv.dev: lv for lv in [*(b.lv for b in layout.bases), *layout.layers(), *layout.volumes] if lv.dev}
    root = visible_at(mounts, "/")
    out = []
    if root is None:
        out.append(Finding("mounts", "root", WARNING, "cannot read the mount table; / and /var not checked"))
    else:
        out += _check_root(layout, root, ours.get(root.dev), mounts, default_options)
    out += [_check_volume(vol, mounts, ours) for vol in layout.volumes]
    return out


def _check_root(layout: Layout, root: Mount, lv: lvm.LV | None, mounts: list[Mount],
                default_options: Callable[[str], str]) -> list[Finding]:
    """The root mount: which LV, discard, and /var not on it."""
    layers = {x.name for x in layout.layers()}
    if lv is None or lv.name not in layers:
        is_base = lv is not None and lv.name in {b.name for b in layout.bases}
        what = f"{'base' if is_base else 'data volume'} {lv.name}" if lv else f"{root.source} ({root.fstype})"
        status = FAILED if is_base else WARNING
        return [Finding("mounts", "root", status, f"/ is {what}, not an imgbased layer; the checks of / and "
                        "/var are skipped")]
    out = [finding("mounts", "root", [f"the kernel command line says {layout.current} runs, but / is {lv.name}"]
                   if layout.current not in (None, lv.name) else [], f"/ is layer {lv.name}", WARNING)]
    if root.has_option("discard"):
        out.append(Finding("mounts", "discard", OK, "/ is mounted with discard"))
    elif root.fstype.startswith("ext") and "discard" in default_options(lv.path).split():
        out.append(Finding("mounts", "discard", OK, "discard is a default mount option of the filesystem on /"))
    else:
        out.append(Finding("mounts", "discard", WARNING, "/ is mounted without discard, so deleted files keep "
                           f"their pool space; boot with rootflags=discard or run `tune2fs -o discard {lv.path}`"))
    var = visible_at(mounts, "/var")
    if var is None or var.dev == root.dev:
        out.append(Finding("mounts", "/var", FAILED, f"/var is on the root layer {lv.name}, so an update does not "
                           "carry it over; move /var to its own data volume"))
    else:
        out.append(Finding("mounts", "/var", OK, f"/var is a separate mount ({var.source})"))
    return out


def _check_volume(vol: lvm.LV, mounts: list[Mount], ours: dict[tuple[int, int], lvm.LV]) -> Finding:
    """A data volume, if mounted, is on its own mount point (not / and not shared with another LV)."""
    name = f"volume {vol.name}"
    points = sorted({m.mountpoint for m in mounts if vol.dev and m.dev == vol.dev})
    if not points:
        return Finding("mounts", name, OK, "not mounted now")
    problems = []
    if "/" in points:
        problems.append("it is mounted at /; data volumes need their own mount point")
    for point in points:
        others = sorted({ours[m.dev].name for m in mounts if m.mountpoint == point and m.dev != vol.dev
                         and m.dev in ours})
        if others:
            problems.append(f"{point} is shared with {', '.join(others)}")
    return finding("mounts", name, problems, f"mounted on {', '.join(points)}")
