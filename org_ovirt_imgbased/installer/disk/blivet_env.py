# SPDX-License-Identifier: GPL-2.0-or-later
"""Everything imgbased does to libblockdev and blivet before and as they load, in one place.

Import this module before blivet (``disk/plan.py`` does, first).

libblockdev: point it at a plugin configuration without lvm-dbus, before blivet loads it.
The plugins are named by the sonames the system has (libbd_lvm.so.2 for libblockdev 2,
.so.3 for libblockdev 3, whose plugin set differs too): nothing is assumed about the version.

Debian's libblockdev asks for the lvm-dbus plugin first; with no system D-Bus (installer
environments, the VM lab) that prints CRITICAL lines before falling back to the plain lvm
plugin.  Naming the plain plugins directly is quieter and starts no D-Bus activity.
An explicit LIBBLOCKDEV_CONFIG_DIR is respected.

blivet: its storage_log helper, which reads every caller's source file, is replaced by one
that reads none (same results).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import sysconfig
from pathlib import Path

from org_ovirt_imgbased import paths

# Every plugin blivet may use in libblockdev 2 or 3; those the system lacks are left out.
PLUGINS = ("btrfs", "crypto", "dm", "fs", "kbd", "loop", "lvm", "mdraid", "mpath", "nvdimm", "nvme", "part",
           "swap")


def lib_dirs() -> list[Path]:
    """The system's shared library directories (the multiarch one first)."""
    arch = sysconfig.get_config_var("MULTIARCH")
    dirs = [f"/usr/lib/{arch}", f"/lib/{arch}"] if arch else []
    return [Path(d) for d in (*dirs, "/usr/lib64", "/lib64", "/usr/lib", "/lib")]


def plugin_sonames(dirs: list[Path] | None = None) -> dict[str, str]:
    """The installed libblockdev plugins: name -> soname (libbd_lvm.so.2, libbd_lvm.so.3...)."""
    found: dict[str, str] = {}
    for folder in dirs if dirs is not None else lib_dirs():
        with contextlib.suppress(OSError):
            for path in sorted(folder.glob("libbd_*.so.*")):
                match = re.fullmatch(r"libbd_([a-z0-9]+)\.so\.(\d+)", path.name)
                if match and match.group(1) in PLUGINS:
                    found.setdefault(match.group(1), path.name)
    return found


def configure() -> None:
    """Write the plugin list and export LIBBLOCKDEV_CONFIG_DIR (only if not set already)."""
    if os.environ.get("LIBBLOCKDEV_CONFIG_DIR"):
        return
    sonames = plugin_sonames()
    if "lvm" not in sonames:
        return  # not a system we know how to configure: leave libblockdev's own defaults
    config_dir = paths.run_dir() / "libblockdev"
    text = "".join(f"[{name}]\nsonames={soname}\n\n" for name, soname in sonames.items())
    with contextlib.suppress(OSError):
        config_dir.mkdir(parents=True, exist_ok=True)
        (config_dir / "00-imgbased.cfg").write_text(text)
        os.environ["LIBBLOCKDEV_CONFIG_DIR"] = str(config_dir)


def _function_name_and_depth():
    """blivet's storage_log helper without inspect.stack(), which reads every caller's source file."""
    frame, names = sys._getframe(1), []
    while frame is not None:
        names.append(frame.f_code.co_name)
        frame = frame.f_back
    for i, name in enumerate(names):
        if name not in ("function_name_and_depth", "_function_name_and_depth", "log_method_call",
                        "log_method_return"):
            return (name, len(names) - i)
    return ("unknown function?", 0)


configure()

# isort: split
from blivet import storage_log  # noqa: E402 - only after configure(): blivet loads libblockdev

# blivet calls this on every device lookup even when not debugging; over the VM lab's 9p root the
# source reads cost about 19 s of a 33 s scan.  Same results, no file access.
storage_log.function_name_and_depth = _function_name_and_depth
