# SPDX-License-Identifier: GPL-2.0-or-later
"""What every host operation needs: the runner and where things live.

Its own module, below the operations, so that every operation (and the boot
steps they journal) can name the type without importing the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from org_ovirt_imgbased import defaults, paths
from org_ovirt_imgbased.host import config
from org_ovirt_imgbased.host.layout import Layout, load
from org_ovirt_imgbased.runner import Runner


@dataclass
class Context:
    """The runner, the VG and the paths an operation works on."""

    runner: Runner = field(default_factory=Runner)
    vg: str | None = None
    boot_dir: Path = defaults.BOOT_DIR
    cmdline: Path = field(default_factory=paths.cmdline)
    fill_limit: int | None = None  # percent; None: [pool] max-fill-percent of config_path
    journal_dir: Path | None = None
    kernel_args: list[str] = field(default_factory=list)
    manage_boot: bool = True
    config_path: Path = defaults.CONFIG_PATH

    @property
    def max_fill(self) -> int:
        """The pool fill limit every verb honours: fill_limit, else the config file's (read once)."""
        if self.fill_limit is None:
            self.fill_limit = config.load_config(self.config_path).max_fill_percent
        return self.fill_limit

    @max_fill.setter
    def max_fill(self, percent: int) -> None:
        """Set the limit for this context."""
        self.fill_limit = percent

    def layout(self) -> Layout:
        """Read the current layout (one lvs call)."""
        return load(self.runner, self.vg, self.cmdline)
