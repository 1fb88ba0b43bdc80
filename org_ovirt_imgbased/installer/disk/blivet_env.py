"""Point libblockdev at a plugin configuration without lvm-dbus, before blivet loads it.

Debian's libblockdev asks for the lvm-dbus plugin first; with no system D-Bus (installer
environments, the VM lab) that prints CRITICAL lines before falling back to the plain lvm
plugin.  Naming the plain plugins directly is quieter and starts no D-Bus activity.
Import this module before blivet.  An explicit LIBBLOCKDEV_CONFIG_DIR is respected.
"""

from __future__ import annotations

import contextlib
import os

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


configure()
