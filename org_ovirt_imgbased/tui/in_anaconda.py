# SPDX-License-Identifier: GPL-2.0-or-later
"""What the text spoke shows and edits inside anaconda (no simpleline, no anaconda imports).

Inside anaconda the disk and the layout are anaconda's: the admin picks the disk and the
partitioning scheme in its Installation Destination spoke (the imgbased drop-in makes thin LVM
the default, with the data volumes off the root), and the payload is anaconda's live image.
The spoke edits the image (URL and checksum, kept in anaconda's live-image source), how many
bases ``imgbase gc`` keeps and the persisted paths (kept in the addon's service), and tells what
is still missing: an image that cannot be read, or a planned root imgbased cannot adopt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.installer import target
from org_ovirt_imgbased.installer.kickstart import AddonConfig, payload
from org_ovirt_imgbased.tui.model import InstallerModel

# Where the disk and the layout are chosen, as anaconda's hub names it.
DESTINATION = "Installation Destination"


@dataclass
class AnacondaView:
    """The spoke's state: the shared model (image, checksum, keep, persist) plus anaconda's layout.

    ``check_image`` tells why a URL cannot be read (None when it can); its answer is kept per URL,
    so the hub's redraws do not repeat the request.
    """

    model: InstallerModel
    layout: target.PlannedLayout
    check_image: Callable[[str], str | None]
    vg_given: bool = False
    _checked: dict[str, str | None] = field(default_factory=dict)

    def image_problem(self) -> str | None:
        """Why the chosen image cannot be installed, or None."""
        url = self.model.config.liveimg_url
        if not url:
            return "choose the image (a liveimg URL)"
        config = self.model.config
        unsafe = payload.integrity_problem(url, config.checksum, config.signature_certain)
        if unsafe:
            return unsafe
        if url not in self._checked:
            self._checked[url] = self.check_image(url)
        problem = self._checked[url]
        return f"the image cannot be read: {problem}; choose another" if problem else None

    def layout_problem(self) -> str | None:
        """Why the planned layout cannot be adopted; None when fine or not planned yet."""
        if not self.layout.root_type:
            return None
        try:
            target.check_layout(self.layout.root_type, self.layout.vg, self.model.config, self.vg_given)
        except ImgbaseError as exc:
            return f"{exc} (in {DESTINATION}: choose LVM Thin Provisioning)"
        return None

    def problems(self) -> list[str]:
        """What must change before the installation can begin; empty when ready."""
        return [p for p in (self.image_problem(), self.layout_problem()) if p]

    def layout_text(self) -> str:
        """The planned layout on one line, or where to choose it."""
        lay = self.layout
        if not lay.root_type:
            return f"chosen in {DESTINATION} (thin LVM by default)"
        if lay.root_type != target.THIN_TYPE:
            return f"/ on a {lay.root_type} device"
        return f"/ on a thin LV in {lay.vg}/{lay.pool}; data volumes: {', '.join(lay.volumes) or 'none'}"

    def status(self) -> str:
        """The hub's status line: what will happen, or what is missing."""
        problems = self.problems()
        if problems:
            return "Not ready: " + "; ".join(problems)
        return f"Base-0 from {self.model.payload_text()}, boots Base-0.1; keeps {self.model.config.keep} bases"

    def overview_lines(self) -> list[str]:
        """The spoke's text above its items."""
        cfg = self.model.config
        return [self.status(), "",
                f"Disk and layout: {self.layout_text()}",
                f"Persisted paths: {', '.join(cfg.persist) or 'nothing extra'}"]


def anaconda_url(url: str) -> str:
    """The URL anaconda's live-image source takes for what the admin typed (a path becomes file://)."""
    return f"file://{url}" if url.startswith("/") else url


def section_config(model: InstallerModel) -> AddonConfig:
    """The config the addon's service keeps: the image is anaconda's, so none in the section."""
    config = model.config.copy()
    config.liveimg_url = None
    config.checksum = None
    return config
