# SPDX-License-Identifier: GPL-2.0-or-later
"""The addon's anaconda task: it calls the same installer function as `imgbase-install`."""

from __future__ import annotations

import logging
import shlex

from pyanaconda.modules.common.task import Task

from org_ovirt_imgbased.installer.kickstart import AddonConfig

log = logging.getLogger(__name__)


class OvirtImgbasedInstallTask(Task):
    """Lay out the disk, deploy the payload as Base-0 + Base-0.1 and install GRUB (install.install)."""

    def __init__(self, config: AddonConfig, kernel_args: str = "") -> None:
        """Keep the config and the bootloader's extra kernel arguments."""
        super().__init__()
        self._config = config
        self._kernel_args = kernel_args

    @property
    def name(self) -> str:
        """The task name anaconda shows."""
        return "Install the image-based host (Base-0, layer Base-0.1)"

    def run(self) -> None:
        """Run the installation; progress goes to anaconda's log."""
        from org_ovirt_imgbased.installer import install
        from org_ovirt_imgbased.runner import Runner

        install.install(self._config, Runner(), shlex.split(self._kernel_args), log.info)
