# SPDX-License-Identifier: GPL-2.0-or-later
"""The addon's anaconda tasks: check the layout before anything is written, adopt the root after.

Both only gather what anaconda's modules know (the device tree, the bootloader settings) and call
org_ovirt_imgbased.installer.target.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pyanaconda.core.configuration.anaconda import conf
from pyanaconda.core.constants import BOOTLOADER_SKIPPED
from pyanaconda.modules.common.constants.objects import BOOTLOADER, DEVICE_TREE
from pyanaconda.modules.common.constants.services import STORAGE
from pyanaconda.modules.common.errors.installation import InstallationError
from pyanaconda.modules.common.structures.storage import DeviceData
from pyanaconda.modules.common.task import Task

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.installer import target
from org_ovirt_imgbased.installer.kickstart import AddonConfig

log = logging.getLogger(__name__)


def _root_device() -> tuple[str, str | None]:
    """blivet's type of the root device anaconda will create, and the VG holding it."""
    tree = STORAGE.get_proxy(DEVICE_TREE)
    root = tree.GetRootDevice()
    if not root:
        return "", None
    data = DeviceData.from_structure(tree.GetDeviceData(root))
    vg = None
    if data.type == target.THIN_TYPE and data.parents:
        pool = DeviceData.from_structure(tree.GetDeviceData(data.parents[0]))
        vg = pool.parents[0] if pool.parents else None
    return data.type, vg


def _as_installation_error(exc: ImgbaseError) -> InstallationError:
    """anaconda's own error type, so its UI reports the one-line message as an installation error."""
    log.error("imgbased: %s", exc)
    return InstallationError(str(exc))


class OvirtImgbasedCheckLayoutTask(Task):
    """Refuse, before storage is written, a layout imgbased cannot adopt."""

    def __init__(self, config: AddonConfig, vg_given: bool) -> None:
        """Keep the section's config."""
        super().__init__()
        self._config = config
        self._vg_given = vg_given

    @property
    def name(self) -> str:
        """The task name anaconda logs."""
        return "Check the layout for the image-based host"

    def run(self) -> None:
        """Read the planned root from the Storage module's device tree and check it."""
        kind, vg = _root_device()
        log.info("imgbased: anaconda's root device is a %s in VG %s", kind or "(none)", vg)
        try:
            target.check_layout(kind, vg, self._config, self._vg_given)
        except ImgbaseError as exc:
            raise _as_installation_error(exc) from None


class OvirtImgbasedAdoptTask(Task):
    """Adopt the installed root as Base-0 + Base-0.1 (installer.target.adopt_target)."""

    def __init__(self, config: AddonConfig, url: str | None, checksum: str | None) -> None:
        """Keep the config and the payload's URL and checksum."""
        super().__init__()
        self._config = config
        self._url = url
        self._checksum = checksum

    @property
    def name(self) -> str:
        """The task name anaconda shows."""
        return "Make the installed system an image-based host (Base-0, layer Base-0.1)"

    def run(self) -> None:
        """Read the bootloader settings now (the spoke or kickstart may have changed them), then adopt."""
        from org_ovirt_imgbased.runner import Runner

        bootloader = STORAGE.get_proxy(BOOTLOADER)
        args = list(bootloader.ExtraArguments)
        skipped = bootloader.BootloaderMode == BOOTLOADER_SKIPPED
        try:
            layer = target.adopt_target(Runner(), Path(conf.target.system_root), self._config,
                                        url=self._url, checksum=self._checksum, kernel_args=args,
                                        install_grub=skipped, progress=self.report_progress)
        except ImgbaseError as exc:
            raise _as_installation_error(exc) from None
        log.info("imgbased: the installed system boots %s", layer)
