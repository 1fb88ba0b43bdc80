# SPDX-License-Identifier: GPL-2.0-or-later
"""The anaconda text spoke: the standalone overview (HubMixin) on anaconda's NormalTUISpoke."""

from __future__ import annotations

from pyanaconda.core.constants import ANACONDA_ENVIRON, THREAD_STORAGE
from pyanaconda.modules.common.constants.objects import DEVICE_TREE, DISK_SELECTION
from pyanaconda.modules.common.constants.services import STORAGE
from pyanaconda.modules.common.structures.storage import DeviceData
from pyanaconda.modules.common.util import is_module_available
from pyanaconda.threading import threadMgr
from pyanaconda.ui.tui.spokes import NormalTUISpoke
from simpleline.render.prompt import Prompt
from simpleline.render.screen import InputState

from org_ovirt_imgbased.categories.imgbased import OvirtImgbasedCategory
from org_ovirt_imgbased.service.constants import OVIRT_IMGBASED
from org_ovirt_imgbased.tui.model import DiskInfo, InstallerModel, config_from_text
from org_ovirt_imgbased.tui.screens import HubMixin

__all__ = ["OvirtImgbasedSpoke"]


def N_(text: str) -> str:
    """Mark a string for translation (the addon ships no translations)."""
    return text


def usable_disks() -> list[DiskInfo]:
    """The disks anaconda's storage module offers, once its storage scan has finished."""
    threadMgr.wait(THREAD_STORAGE)
    selection = STORAGE.get_proxy(DISK_SELECTION)
    tree = STORAGE.get_proxy(DEVICE_TREE)
    disks = []
    for device_id in selection.GetUsableDisks():
        data = DeviceData.from_structure(tree.GetDeviceData(device_id))
        disks.append(DiskInfo(data.name, data.size, data.description))
    return disks


class OvirtImgbasedSpoke(HubMixin, NormalTUISpoke):
    """Image-based host: the target disk, layout, image and data volumes, kept in the addon's service."""

    category = OvirtImgbasedCategory

    def __init__(self, data, storage, payload) -> None:
        """Connect to the addon's D-Bus service."""
        super().__init__(data, storage, payload)
        self.title = N_("Image-based host")
        self._proxy = OVIRT_IMGBASED.get_proxy()
        self.model = None

    @staticmethod
    def get_screen_id() -> str:
        """A unique id of this screen."""
        return "ovirt-imgbased-configuration"

    @classmethod
    def should_run(cls, environment, data) -> bool:
        """In the installer only (never at firstboot), and only when the addon's service runs."""
        return environment == ANACONDA_ENVIRON and is_module_available(OVIRT_IMGBASED)

    def _saved(self) -> InstallerModel:
        """The model of the config the service holds (no disk list)."""
        return InstallerModel(config_from_text(self._proxy.Configuration))

    def setup(self, args=None) -> bool:
        """Load the service's config and anaconda's usable disks."""
        super().setup(args)
        self.model = InstallerModel(config_from_text(self._proxy.Configuration), usable_disks())
        return True

    def refresh(self, args=None) -> None:
        """Draw the overview."""
        super().refresh(args)
        self.hub_fill(self.window)

    def input(self, args, key):
        """Open an item's screen; 'c' saves and returns to the hub."""
        state = self.hub_input(key)
        if state is not None:
            return state
        if key.lower() == Prompt.CONTINUE:
            self.apply()
            return InputState.PROCESSED_AND_CLOSE
        return super().input(args, key)

    def apply(self) -> None:
        """Store the edited config in the service."""
        self._proxy.Configuration = self.model.config.to_kickstart()

    @property
    def completed(self) -> bool:
        """Ready when nothing is missing."""
        return not self._saved().problems()

    @property
    def status(self) -> str:
        """What will happen, or what is missing."""
        return self._saved().status()
