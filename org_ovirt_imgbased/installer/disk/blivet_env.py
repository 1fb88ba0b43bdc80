# SPDX-License-Identifier: GPL-2.0-or-later
"""Everything imgbased does to libblockdev and blivet before and as they load, in one place.

Import this module before blivet (``disk/plan.py`` does, first).

libblockdev: point it at a plugin configuration without lvm-dbus, before blivet loads it.

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
import sys

from org_ovirt_imgbased import paths

PLUGINS = ("btrfs", "crypto", "dm", "fs", "kbd", "loop", "lvm", "mdraid", "mpath", "nvdimm", "swap")


def configure() -> None:
    """Write the plugin list and export LIBBLOCKDEV_CONFIG_DIR (only if not set already)."""
    if os.environ.get("LIBBLOCKDEV_CONFIG_DIR"):
        return
    config_dir = paths.run_dir() / "libblockdev"
    text = "".join(f"[{name}]\nsonames=libbd_{name}.so.2\n\n" for name in PLUGINS)
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
