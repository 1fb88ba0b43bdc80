# SPDX-License-Identifier: GPL-2.0-or-later
"""The installer's text screens (simpleline, no anaconda): overview, disk, layout, image, volumes, review.

Every screen edits one shared ``InstallerModel``.  A numbered item either acts at once or asks
for one value: the screen's next prompt is then that question, an empty answer keeps the old
value, and a bad answer is shown with its reason and asked again.  ``HubMixin`` is the
overview (status line plus one item per screen); ``InstallerHub`` uses it standalone and the
anaconda spoke (tui/spokes/imgbased.py) uses it inside anaconda.  Tests drive the screens
through ``refresh``/``input`` or through a real ``App`` with scripted input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from simpleline import App
from simpleline.event_loop import ExitMainLoop
from simpleline.render.adv_widgets import YesNoDialog
from simpleline.render.containers import ListColumnContainer
from simpleline.render.prompt import Prompt
from simpleline.render.screen import InputState, UIScreen
from simpleline.render.screen_handler import ScreenHandler
from simpleline.render.widgets import CheckboxWidget, TextWidget

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.installer.kickstart import AddonConfig
from org_ovirt_imgbased.tui.model import DiskInfo, InstallerModel
from org_ovirt_imgbased.units import human

NAVIGATION = (Prompt.REFRESH, Prompt.CONTINUE, Prompt.QUIT)


@dataclass
class Question:
    """A value the screen is asking for, and what to do with the answer."""

    label: str
    apply: Callable[[str], None]


def add_lines(window, lines: list[str]) -> None:
    """Add text lines to a window, then a blank line."""
    if lines:
        window.add_with_separator(TextWidget("\n".join(lines)))


class FormScreen(UIScreen):
    """A screen of numbered items over the model, some asking one value each."""

    def __init__(self, model: InstallerModel, title: str) -> None:
        """Show title; edit model."""
        super().__init__(title)
        self.model = model
        self.container: ListColumnContainer | None = None
        self.question: Question | None = None
        self.message = ""
        self._close = False

    # ---- for subclasses ------------------------------------------------------------------------

    def intro(self) -> list[str]:
        """Lines above the items."""
        return []

    def fill(self, container: ListColumnContainer) -> None:
        """Add the numbered items."""

    def letter_keys(self) -> dict[str, tuple[str, Callable[[], None]]]:
        """Extra one-letter choices: key -> (prompt description, action)."""
        return {}

    def ask(self, label: str, apply: Callable[[str], None]) -> None:
        """Make the next prompt ask for a value."""
        self.question = Question(label, apply)

    def close_after(self) -> None:
        """Close this screen once the current choice is handled."""
        self._close = True

    # ---- simpleline ----------------------------------------------------------------------------

    def refresh(self, args=None) -> None:
        """Draw the intro, the items and the last message."""
        super().refresh(args)
        add_lines(self.window, self.intro())
        self.container = ListColumnContainer(1)
        self.fill(self.container)
        self.window.add_with_separator(self.container)
        if self.message:
            self.window.add_with_separator(TextWidget(self.message))

    def prompt(self, args=None) -> Prompt:
        """Ask the pending question, or offer the choices."""
        if self.question:
            return Prompt(f"{self.question.label} (empty: keep as is)")
        prompt = Prompt()
        for key, (description, _action) in self.letter_keys().items():
            prompt.add_option(key, description)
        prompt.add_refresh_option()
        prompt.add_continue_option("to go back")
        prompt.add_quit_option()
        return prompt

    def input(self, args, key):
        """Answer the pending question, or run the chosen item."""
        if self.question:
            return self._answer(key)
        self.message = ""
        self._close = False
        self.container = ListColumnContainer(1)  # numbered as the model is now (as last drawn)
        self.fill(self.container)
        letters = self.letter_keys()
        if key in letters:
            letters[key][1]()
        elif not self.container.process_user_input(key):
            if key in NAVIGATION:
                return key
            self.message = f"'{key}' is not one of the choices."
            return InputState.PROCESSED_AND_REDRAW
        return InputState.PROCESSED_AND_CLOSE if self._close else InputState.PROCESSED_AND_REDRAW

    def _answer(self, text: str) -> InputState:
        """Apply an answer; on a bad one keep asking and show why."""
        question = self.question
        if not text.strip():
            self.question, self.message = None, "Unchanged."
            return InputState.PROCESSED_AND_REDRAW
        try:
            question.apply(text)
        except (ValueError, ImgbaseError) as exc:
            self.message = f"Error: {exc}. Try again."
            return InputState.PROCESSED_AND_REDRAW
        self.question, self.message = None, ""
        return InputState.PROCESSED_AND_REDRAW


class DiskScreen(FormScreen):
    """Choose the disk to erase and install onto."""

    def __init__(self, model: InstallerModel) -> None:
        """A screen titled for the disk choice."""
        super().__init__(model, "Target disk")

    def intro(self) -> list[str]:
        """Warn what happens to the chosen disk."""
        if not self.model.disks:
            return ["No usable disks were found."]
        return ["The chosen disk is erased: it gets a /boot partition and an LVM physical volume."]

    def fill(self, container) -> None:
        """One item per disk, the chosen one checked."""
        for disk in self.model.disks:
            chosen = self.model.config.disk in (disk.name, disk.path)
            container.add(CheckboxWidget(title=disk.label(), completed=chosen), self._choose, disk.name)

    def _choose(self, name: str) -> None:
        """Take the disk and go back."""
        self.model.set_disk(name)
        self.close_after()


class LayoutScreen(FormScreen):
    """The partitions, the VG and thin pool, and the base size."""

    def __init__(self, model: InstallerModel) -> None:
        """A screen titled for the layout."""
        super().__init__(model, "Disk layout")

    def intro(self) -> list[str]:
        """The disk and whether the layout fits."""
        lines = [f"Disk: {self.model.disk_text()}"]
        fit = self.model.fit_problem()
        return lines + [f"Problem: {fit}" if fit else "The layout fits the disk."]

    def fill(self, container) -> None:
        """One item per setting."""
        m, cfg = self.model, self.model.config
        items = [
            (f"Volume group: {cfg.vg}", "Volume group name", m.set_vg),
            (f"Thin pool: {cfg.pool}", "Thin pool name", m.set_pool),
            (f"/boot partition: {human(cfg.boot_size)}", "Size of /boot (for example 1GiB)", m.set_boot_size),
            (f"Pool size: {m.pool_text()}", "Pool size (for example 30GiB) or 'grow'", m.set_pool_size),
            (f"Base size: {m.base_text()}", "Size of each base (for example 8GiB) or 'auto'", m.set_base_size),
            (f"Bases kept by imgbase gc: {cfg.keep}", "How many bases to keep (1 or more)", m.set_keep),
        ]
        for title, label, setter in items:
            container.add(TextWidget(title), self._ask, (label, setter))
        container.add(CheckboxWidget(title="Create the partitions, volume group and pool",
                                     text="unchecked: use an existing volume group and pool",
                                     completed=not cfg.no_layout), lambda _data: m.toggle_layout())

    def _ask(self, data) -> None:
        """Ask for the chosen setting."""
        self.ask(*data)


class PayloadScreen(FormScreen):
    """The image to install and its checksum."""

    def __init__(self, model: InstallerModel) -> None:
        """A screen titled for the payload."""
        super().__init__(model, "Image")

    def intro(self) -> list[str]:
        """What kind of payload is expected."""
        return ["A liveimg: a squashfs holding LiveOS/rootfs.img (or an ext4 image), by URL or path."]

    def fill(self, container) -> None:
        """The image and the checksum."""
        cfg = self.model.config
        container.add(TextWidget(f"Image: {cfg.liveimg_url or 'not chosen'}"), lambda _d: self.ask(
            "Image URL (http, https, file) or absolute path", self.model.set_payload))
        container.add(TextWidget(f"Checksum: {cfg.checksum or 'none'}"), lambda _d: self.ask(
            "sha256 of the image (sha256:HEX or 64 hex digits), or 'none'", self.model.set_checksum))


class VolumesScreen(FormScreen):
    """Add, resize and remove the thin data volumes."""

    def __init__(self, model: InstallerModel) -> None:
        """A screen titled for the data volumes."""
        super().__init__(model, "Data volumes")

    def intro(self) -> list[str]:
        """What the volumes are, and the persisted paths."""
        persist = ", ".join(self.model.config.persist) or "nothing extra"
        lines = ["Thin volumes shared by every layer. Choose one to resize or remove it."]
        return lines + ([] if self.model.config.volumes else ["No data volumes."]) + [f"Persisted: {persist}"]

    def fill(self, container) -> None:
        """One item per volume."""
        for index, (mountpoint, size) in enumerate(self.model.config.volumes):
            container.add(TextWidget(f"{mountpoint}  {human(size)}"), self._edit, index)

    def letter_keys(self) -> dict[str, tuple[str, Callable[[], None]]]:
        """'a' adds a volume."""
        return {"a": ("to add a volume", lambda: self.ask("Mount point and size (for example /var/log 8GiB)",
                                                           self.model.add_volume))}

    def _edit(self, index: int) -> None:
        """Ask for the new size of volume index."""
        mountpoint = self.model.config.volumes[index][0]
        self.ask(f"New size of {mountpoint} (for example 5GiB) or 'remove'",
                 lambda text: self.model.edit_volume(index, text))


class ReviewScreen(UIScreen):
    """Everything at once; 'yes' confirms and ends the standalone installer's screens."""

    def __init__(self, model: InstallerModel) -> None:
        """A screen titled for the review."""
        super().__init__("Review and install")
        self.model = model
        self.message = ""

    def refresh(self, args=None) -> None:
        """The summary and the problems (or what will happen)."""
        super().refresh(args)
        add_lines(self.window, self.model.summary_lines())
        problems = self.model.problems()
        add_lines(self.window, ["Fix before installing:", *(f"  - {p}" for p in problems)] if problems
                  else [self.model.status()])
        if self.message:
            self.window.add_with_separator(TextWidget(self.message))

    def prompt(self, args=None) -> Prompt:
        """Ask for yes, unless something is missing."""
        ready = not self.model.problems()
        prompt = Prompt("Type 'yes' to install" if ready else "Go back and fix the problems")
        prompt.add_continue_option("to go back")
        prompt.add_quit_option()
        return prompt

    def input(self, args, key):
        """'yes' confirms when ready; c and q navigate."""
        if key.strip().lower() == "yes":
            if not self.model.problems():
                self.model.confirmed = True
                raise ExitMainLoop()
            self.message = "Not ready yet: go back and fix the problems listed above."
            return InputState.PROCESSED_AND_REDRAW
        if key in NAVIGATION:
            return key
        self.message = "Type 'yes' to install, 'c' to go back or 'q' to quit."
        return InputState.PROCESSED_AND_REDRAW


class HubMixin:
    """The overview: the status line and one item per screen; needs ``self.model``."""

    model: InstallerModel
    hub_container: ListColumnContainer | None = None
    hub_message = ""

    def hub_items(self) -> list[tuple[str, str, bool, type]]:
        """(title, value, done, screen class) for each screen."""
        m = self.model
        return [("Target disk", m.disk_text(), m.disk() is not None or bool(m.config.disk and not m.disks),
                 DiskScreen),
                ("Layout", m.layout_text(), m.fit_problem() is None, LayoutScreen),
                ("Image", m.payload_text(), bool(m.config.liveimg_url), PayloadScreen),
                ("Data volumes", m.volumes_text(), True, VolumesScreen)]

    def hub_fill(self, window) -> None:
        """Add the status line and the items to window."""
        window.add_with_separator(TextWidget(self.model.status()))
        self.hub_container = ListColumnContainer(1)
        for title, value, done, screen in self.hub_items():
            self.hub_container.add(CheckboxWidget(title=title, text=value, completed=done), self._open, screen)
        window.add_with_separator(self.hub_container)
        if self.hub_message:
            window.add_with_separator(TextWidget(self.hub_message))

    def hub_input(self, key) -> InputState | None:
        """Open the chosen screen; None when key is not an item."""
        self.hub_message = ""
        if self.hub_container is not None and self.hub_container.process_user_input(key):
            return InputState.PROCESSED
        return None

    def _open(self, screen: type) -> None:
        """Show a screen over this one."""
        ScreenHandler.push_screen(screen(self.model))


class InstallerHub(HubMixin, UIScreen):
    """The standalone installer's first screen; 'c' goes to the review."""

    def __init__(self, model: InstallerModel) -> None:
        """The overview of model."""
        super().__init__("imgbased installation")
        self.model = model

    def refresh(self, args=None) -> None:
        """Draw the overview."""
        super().refresh(args)
        self.hub_fill(self.window)

    def prompt(self, args=None) -> Prompt:
        """Choices: an item, review, refresh or quit."""
        prompt = Prompt()
        prompt.add_refresh_option()
        prompt.add_continue_option("to review and install")
        prompt.add_quit_option("to quit without installing")
        return prompt

    def input(self, args, key):
        """Open an item's screen, or the review on 'c'."""
        state = self.hub_input(key)
        if state is not None:
            return state
        if key == Prompt.CONTINUE:
            ScreenHandler.push_screen(ReviewScreen(self.model))
            return InputState.PROCESSED
        if key in NAVIGATION:
            return key
        self.hub_message = f"'{key}' is not one of the choices."
        return InputState.PROCESSED_AND_REDRAW


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
