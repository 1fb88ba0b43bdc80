"""``imgbase-install --interactive``: run the installer's text screens standalone (no anaconda)."""

from __future__ import annotations

from simpleline import App
from simpleline.render.adv_widgets import YesNoDialog

from .kickstart import AddonConfig
from .tui.model import DiskInfo, InstallerModel
from .tui.screens import InstallerHub

__all__ = ["DiskInfo", "run_interactive"]


def run_interactive(disks: list[DiskInfo], defaults: AddonConfig) -> AddonConfig | None:
    """Let the operator edit defaults on the text screens; return the confirmed config, or None on quit.

    defaults is not modified.  Input comes from stdin and the screens go to stdout, through
    simpleline's own input thread.
    """
    model = InstallerModel(defaults.copy(), list(disks))
    App.initialize()
    App.get_scheduler().quit_screen = YesNoDialog("Quit without installing? Nothing has been written to disk.")
    App.get_scheduler().schedule_screen(InstallerHub(model))
    App.run()
    return model.config if model.confirmed else None
