# SPDX-License-Identifier: GPL-2.0-or-later
"""The anaconda text spoke "Image-based host": the image, the retention, and what is still missing.

Inside anaconda the disk and the layout are chosen in anaconda's own Installation Destination
spoke; this spoke shows the layout it planned, edits the live image anaconda will install
(its URL and checksum, in anaconda's live-image source) and the addon's settings (bases kept,
in the addon's service), and is complete only when the image can be read and the planned root
is a thin LV.  Nothing is written to disk here.
"""

from __future__ import annotations

import logging

from pyanaconda.core.constants import ANACONDA_ENVIRON
from pyanaconda.modules.common.util import is_module_available
from pyanaconda.payload.manager import payloadMgr
from pyanaconda.ui.tui.spokes import NormalTUISpoke
from simpleline.render.containers import ListColumnContainer
from simpleline.render.prompt import Prompt
from simpleline.render.screen import InputState
from simpleline.render.screen_handler import ScreenHandler
from simpleline.render.widgets import CheckboxWidget, TextWidget

from org_ovirt_imgbased import defaults
from org_ovirt_imgbased.categories.imgbased import OvirtImgbasedCategory
from org_ovirt_imgbased.host import fetch, image
from org_ovirt_imgbased.service import layout_view, live_image
from org_ovirt_imgbased.service.constants import OVIRT_IMGBASED
from org_ovirt_imgbased.tui.in_anaconda import AnacondaView, anaconda_url, section_config
from org_ovirt_imgbased.tui.model import InstallerModel, config_from_text
from org_ovirt_imgbased.tui.screens import FormScreen, PayloadScreen, add_lines

__all__ = ["OvirtImgbasedSpoke"]

log = logging.getLogger("anaconda.ui.tui.spokes.imgbased")


def N_(text: str) -> str:
    """Mark a string for translation (the addon ships no translations)."""
    return text


class RetentionScreen(FormScreen):
    """How many bases imgbase gc keeps."""

    def __init__(self, model: InstallerModel) -> None:
        """A screen titled for the retention."""
        super().__init__(model, "Retention")

    def intro(self) -> list[str]:
        """What the number means."""
        return ["After an update, `imgbase gc` removes the oldest bases beyond this many."]

    def fill(self, container) -> None:
        """The one setting."""
        container.add(TextWidget(f"Bases kept by imgbase gc: {self.model.config.keep}"),
                      lambda _d: self.ask("How many bases to keep (1 or more)", self.model.set_keep))


class OvirtImgbasedSpoke(NormalTUISpoke):
    """Image-based host: the image and the retention; the layout as anaconda planned it."""

    category = OvirtImgbasedCategory

    def __init__(self, data, storage, payload) -> None:
        """Connect to the addon's D-Bus service."""
        super().__init__(data, storage, payload)
        self.title = N_("Image-based host")
        self._proxy = OVIRT_IMGBASED.get_proxy()
        self._view: AnacondaView | None = None
        self._container: ListColumnContainer | None = None

    @staticmethod
    def get_screen_id() -> str:
        """A unique id of this screen."""
        return "ovirt-imgbased-configuration"

    @classmethod
    def should_run(cls, environment, data) -> bool:
        """In the installer only (never at firstboot), and only when the addon's service runs."""
        shown = environment == ANACONDA_ENVIRON and is_module_available(OVIRT_IMGBASED)
        log.debug("imgbased spoke: %s in %s (module %s)", "shown" if shown else "not shown", environment,
                  OVIRT_IMGBASED.service_name)
        return shown

    def view(self) -> AnacondaView:
        """The spoke's state, with the layout and the image as anaconda has them now."""
        if self._view is None:
            config = config_from_text(self._proxy.Configuration)
            self._view = AnacondaView(InstallerModel(config), layout_view.planned(), fetch.reachable_problem,
                                      vg_given=config.vg != defaults.VG)
            self._load_image()
        else:
            self._view.layout = layout_view.planned()
        return self._view

    def _load_image(self) -> None:
        """Take the image anaconda will install into the model."""
        current = live_image.current()
        config = self._view.model.config
        config.liveimg_url = current.url if current else None
        config.checksum = current.checksum if current else None

    def refresh(self, args=None) -> None:
        """The status, the layout, and one item per setting."""
        super().refresh(args)
        view = self.view()
        add_lines(self.window, view.overview_lines())
        self._container = ListColumnContainer(1)
        model = view.model
        self._container.add(CheckboxWidget(title="Image", text=model.payload_text(),
                                           completed=view.image_problem() is None), self._open, PayloadScreen)
        self._container.add(CheckboxWidget(title="Retention", text=f"keep {model.config.keep} bases",
                                           completed=True), self._open, RetentionScreen)
        self.window.add_with_separator(self._container)

    def _open(self, screen: type) -> None:
        """Show a settings screen over this one."""
        ScreenHandler.push_screen(screen(self.view().model))

    def input(self, args, key):
        """Open an item's screen; 'c' saves and returns to the hub."""
        if self._container is not None and self._container.process_user_input(key):
            return InputState.PROCESSED
        if key.lower() == Prompt.CONTINUE:
            self.apply()
            return InputState.PROCESSED_AND_CLOSE
        return super().input(args, key)

    def apply(self) -> None:
        """Store the image in anaconda's live-image source and the settings in the addon's service.

        An image that cannot be read is not handed to anaconda (its payload set-up would stop the
        installer): the spoke keeps it, stays incomplete and says why.
        """
        view = self.view()
        model = view.model
        config = model.config
        current = live_image.current()
        if config.liveimg_url and view.image_problem() is None:
            url = anaconda_url(config.liveimg_url)
            checksum = image.parse_checksum(config.checksum) if config.checksum else None
            if current is None or (current.url, current.checksum) != (url, checksum):
                live_image.set_current(url, checksum)
                payloadMgr.start(self.payload)  # anaconda sets the new image up, as its source spoke does
        self._proxy.Configuration = section_config(model).to_kickstart()

    @property
    def completed(self) -> bool:
        """Ready when nothing is missing."""
        return not self.view().problems()

    @property
    def status(self) -> str:
        """What will happen, or what is missing."""
        return self.view().status()
