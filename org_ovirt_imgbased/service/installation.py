# SPDX-License-Identifier: GPL-2.0-or-later
"""The addon's anaconda tasks: check the layout and the image before anything is written, adopt after.

Both only gather what anaconda's modules know (the device tree, the bootloader settings, the
live-image source) when they run, and call org_ovirt_imgbased.installer.target.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pyanaconda.core.configuration.anaconda import conf
from pyanaconda.core.constants import BOOTLOADER_SKIPPED
from pyanaconda.modules.common.constants.objects import BOOTLOADER
from pyanaconda.modules.common.constants.services import STORAGE
from pyanaconda.modules.common.errors.installation import InstallationError
from pyanaconda.modules.common.task import Task

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.installer import target
from org_ovirt_imgbased.installer.kickstart import AddonConfig
from org_ovirt_imgbased.service import layout_view, live_image

log = logging.getLogger(__name__)


def _as_installation_error(exc: ImgbaseError) -> InstallationError:
    """anaconda's own error type, so its UI reports the one-line message as an installation error."""
    log.error("imgbased: %s", exc)
    return InstallationError(str(exc))


class OvirtImgbasedCheckLayoutTask(Task):
    """Refuse, before storage is written, a layout imgbased cannot adopt or an image that fails its checks."""

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
        """Check the planned root (the device tree), then the liveimg against its checksum and signature."""
        layout = layout_view.planned()
        kind, vg = layout.root_type, layout.vg
        log.info("imgbased: anaconda's root device is a %s in VG %s", kind or "(none)", vg)
        image = live_image.current()
        try:
            target.check_layout(kind, vg, self._config, self._vg_given)
            if image is not None:
                self._verify(image)
        except ImgbaseError as exc:
            raise _as_installation_error(exc) from None

    def _verify(self, image: live_image.LiveImage) -> None:
        """Read the liveimg once through its checksum and signature; pin a signed image's digest for anaconda.

        anaconda downloads the image again itself: without a checksum of its own it would take any
        bytes, so the digest of the bytes whose signature was checked becomes its checksum.
        """
        self.report_progress("Verifying the image (checksum, signature) before anything is written")
        digest = target.verify_payload(image.url, image.checksum, self._config)
        if digest is not None and not image.checksum:
            live_image.set_current(image.url, digest)
            log.info("imgbased: anaconda's download of %s must have the signed sha256 %s", image.url, digest)
        elif digest is not None:
            log.info("imgbased: %s matches its checksum", image.url)


class OvirtImgbasedAdoptTask(Task):
    """Adopt the installed root as Base-0 + Base-0.1 (installer.target.adopt_target)."""

    def __init__(self, config: AddonConfig) -> None:
        """Keep the config."""
        super().__init__()
        self._config = config

    @property
    def name(self) -> str:
        """The task name anaconda shows."""
        return "Make the installed system an image-based host (Base-0, layer Base-0.1)"

    def run(self) -> None:
        """Read the bootloader settings and the liveimg now (the spoke may have changed them), then adopt."""
        from org_ovirt_imgbased.runner import Runner

        image = live_image.current()
        bootloader = STORAGE.get_proxy(BOOTLOADER)
        args = list(bootloader.ExtraArguments)
        skipped = bootloader.BootloaderMode == BOOTLOADER_SKIPPED
        try:
            layer = target.adopt_target(Runner(), Path(conf.target.system_root), self._config,
                                        url=image.url if image else None, checksum=image.checksum if image else None,
                                        kernel_args=args,
                                        install_grub=skipped, progress=self.report_progress)
        except ImgbaseError as exc:
            raise _as_installation_error(exc) from None
        log.info("imgbased: the installed system boots %s", layer)
