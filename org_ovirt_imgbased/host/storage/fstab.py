# SPDX-License-Identifier: GPL-2.0-or-later
"""The root line of a layer's /etc/fstab.

Every layer is its own root, so its fstab must name its own LV for /.  The
installer writes the line for Base-0.1; an update rewrites it in the new
layer after /etc was carried over (the old layer's line would otherwise
come along as a local change and mount the wrong root).
"""

from __future__ import annotations

from pathlib import Path

from org_ovirt_imgbased.runner import Runner

ROOT_OPTIONS = "defaults,discard"


def root_line(vg: str, layer: str, fstype: str = "ext4") -> str:
    """The fstab line mounting layer as /."""
    return f"/dev/{vg}/{layer} / {fstype} {ROOT_OPTIONS} 0 1"


def _is_root(line: str) -> bool:
    """True for an fstab line whose mount point is /."""
    fields = line.split()
    return len(fields) >= 2 and not fields[0].startswith("#") and fields[1] == "/"


def with_root(text: str, vg: str, layer: str, extra: list[str] = ()) -> str:
    """fstab text with the / line replaced (or added) for layer and extra lines appended once."""
    lines = text.splitlines()
    root = root_line(vg, layer)
    if any(_is_root(ln) for ln in lines):
        lines = [root if _is_root(ln) else ln for ln in lines]
    else:
        lines.insert(0, root)
    present = {" ".join(ln.split()[:2]) for ln in lines if ln.strip() and not ln.startswith("#")}
    for line in extra:
        if " ".join(line.split()[:2]) not in present:
            lines.append(line)
    return "\n".join(lines) + "\n"


def retarget(runner: Runner, root: Path, vg: str, layer: str, extra: list[str] = ()) -> None:
    """Point the fstab of the layer mounted at root at that layer (plus extra lines)."""
    path = root / "etc/fstab"
    try:
        text = path.read_bytes().decode("utf-8", "surrogateescape")  # any bytes survive unchanged
    except FileNotFoundError:
        text = ""
    runner.write_file(path, with_root(text, vg, layer, list(extra)).encode("utf-8", "surrogateescape"),
                      beneath=root)
