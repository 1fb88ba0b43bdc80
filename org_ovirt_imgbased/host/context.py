# SPDX-License-Identifier: GPL-2.0-or-later
"""What every host operation needs: the runner and where things live.

Its own module, below the operations, so that every operation (and the boot
steps they journal) can name the type without importing the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from org_ovirt_imgbased import defaults, paths
from org_ovirt_imgbased.host.layout import Layout, load
from org_ovirt_imgbased.host.storage import space
from org_ovirt_imgbased.runner import Runner


@dataclass
class Context:
    """The runner, the VG and the paths an operation works on."""

    runner: Runner = field(default_factory=Runner)
    vg: str | None = None
    boot_dir: Path = defaults.BOOT_DIR
    cmdline: Path = field(default_factory=paths.cmdline)
    max_fill: int = space.DEFAULT_MAX_FILL
    journal_dir: Path | None = None
    kernel_args: list[str] = field(default_factory=list)
    manage_boot: bool = True
    config_path: Path = defaults.CONFIG_PATH

    def layout(self) -> Layout:
        """Read the current layout (one lvs call)."""
        return load(self.runner, self.vg, self.cmdline)
