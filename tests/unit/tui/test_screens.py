# SPDX-License-Identifier: GPL-2.0-or-later
"""The installer's text screens: each screen driven directly, and the whole App driven by scripted input."""

from __future__ import annotations

import builtins

import pytest
from simpleline import App
from simpleline.event_loop.signals import ExceptionSignal
from simpleline.render.screen import InputState

from org_ovirt_imgbased.installer.kickstart import AddonConfig
from org_ovirt_imgbased.tui.model import DiskInfo, InstallerModel, config_from_text
from org_ovirt_imgbased.tui.screens import (
    DiskScreen,
    LayoutScreen,
    PayloadScreen,
    ReviewScreen,
    VolumesScreen,
    run_interactive,
)

MiB, GiB = 1 << 20, 1 << 30
HEX = "89abcdef01234567" * 4
DISKS = [DiskInfo("vda", 20 * GiB, "QEMU HARDDISK"), DiskInfo("vdb", 3 * GiB)]
URL = "http://example.com/img/rootfs.squashfs"


def text_of(screen) -> str:
    """What the screen shows (window plus prompt)."""
    screen.refresh(None)
    screen.window.render(80)
    return "\n".join(screen.window.get_lines()) + "\n" + str(screen.prompt())


@pytest.fixture
def model() -> InstallerModel:
    """A fresh model over two disks with default settings."""
    App.initialize()
    return InstallerModel(AddonConfig(), list(DISKS))


class Script:
    """Stands in for input(): answers in order; when they run out, fails the App instead of hanging."""

    def __init__(self, answers: list[str]) -> None:
        """Keep the answers."""
        self.answers = list(answers)

    def __call__(self, prompt: str = "") -> str:
        """Give the next answer (simpleline prints the prompt itself)."""
        if self.answers:
            return self.answers.pop(0)
        try:
            raise AssertionError("the scripted input ran out")
        except AssertionError:
            App.get_event_loop().enqueue_signal(ExceptionSignal(self))
        return ""


def run_script(monkeypatch, answers, defaults=None, disks=DISKS):
    """Run the standalone installer on scripted answers; return (result, script)."""
    script = Script(answers)
    monkeypatch.setattr(builtins, "input", script)
    result = run_interactive(disks, defaults or AddonConfig())
    return result, script


# ---- each screen, driven directly ---------------------------------------------------------------

def test_disk_screen_lists_disks_and_rejects_unknown_choices(model):
    """Disks are listed with sizes; a wrong number is refused; a right one chooses and closes."""
    screen = DiskScreen(model)
    shown = text_of(screen)
    assert "1) [ ] vda (20.0 GiB) QEMU HARDDISK" in shown and "2) [ ] vdb (3.0 GiB)" in shown
    assert screen.input(None, "7") == InputState.PROCESSED_AND_REDRAW
    assert "'7' is not one of the choices" in text_of(screen)
    assert model.config.disk is None
    assert screen.input(None, "2") == InputState.PROCESSED_AND_CLOSE
    assert model.config.disk == "vdb"
    assert "2) [x] vdb" in text_of(screen)


def test_disk_screen_without_disks(model):
    """No disks: the screen says so."""
    model.disks = []
    assert "No usable disks were found." in text_of(DiskScreen(model))


def test_layout_screen_asks_reprompts_and_keeps(model):
    """A size is asked for, a bad answer is explained and asked again, empty keeps the value."""
    screen = LayoutScreen(model)
    assert screen.input(None, "3") == InputState.PROCESSED_AND_REDRAW
    assert "Size of /boot" in str(screen.prompt())
    screen.input(None, "lots")
    shown = text_of(screen)
    assert "Error: bad size 'lots'" in shown and "Size of /boot" in shown
    screen.input(None, "100M")
    assert "too small: give at least 256MiB" in text_of(screen)
    screen.input(None, "")
    assert "Unchanged." in text_of(screen) and model.config.boot_size == GiB
    for item, answer in (("3", "512MiB"), ("1", "DataVG"), ("2", "tp0"), ("4", "12G"), ("5", "6GiB"), ("6", "4")):
        screen.input(None, item)
        assert screen.input(None, answer) == InputState.PROCESSED_AND_REDRAW
        assert "Error" not in text_of(screen), answer
    cfg = model.config
    assert (cfg.boot_size, cfg.vg, cfg.pool, cfg.pool_size, cfg.base_size, cfg.keep) == \
        (512 * MiB, "DataVG", "tp0", 12 * GiB, 6 * GiB, 4)
    screen.input(None, "4")
    screen.input(None, "grow")
    screen.input(None, "5")
    screen.input(None, "auto")
    assert cfg.pool_size is None and cfg.base_size is None
    screen.input(None, "7")
    assert cfg.no_layout and "7) [ ] Create the partitions" in text_of(screen)


def test_layout_screen_reports_a_layout_that_does_not_fit(model):
    """On a small disk with a big volume the screen and the status say it does not fit."""
    model.set_disk("vdb")
    model.add_volume("/var 5GiB")
    assert "Problem: the layout does not fit" in text_of(LayoutScreen(model))
    assert "does not fit" in model.status()


def test_payload_screen(model):
    """The image must be a URL or absolute path; the checksum needs an image and sha256 syntax."""
    screen = PayloadScreen(model)
    screen.input(None, "2")
    screen.input(None, f"sha256:{HEX}")
    assert "choose the image before its checksum" in text_of(screen)
    screen.input(None, "")
    screen.input(None, "1")
    screen.input(None, "relative/rootfs.squashfs")
    assert "is not a liveimg URL" in text_of(screen)
    screen.input(None, URL)
    screen.input(None, "2")
    screen.input(None, "sha256:1234")
    assert "not sha256: followed by 64 hex digits" in text_of(screen)
    screen.input(None, HEX.upper())
    assert model.config.liveimg_url == URL and model.config.checksum == f"sha256:{HEX}"
    screen.input(None, "2")
    screen.input(None, "none")
    assert model.config.checksum is None


def test_volumes_screen_adds_resizes_and_removes(model):
    """Add with validation (/, duplicates, LV name clashes), resize, remove."""
    screen = VolumesScreen(model)
    assert "No data volumes." in text_of(screen)
    for bad, why in (("/ 1G", "a volume on / is not allowed"), ("/var", "give a mount point and a size"),
                     ("/var 1XB", "bad size"), ("/usr/share 1G", "/usr belongs to the image")):
        screen.input(None, "a")
        screen.input(None, bad)
        assert why in text_of(screen), bad
        screen.input(None, "")
    screen.input(None, "a")
    screen.input(None, "/var/log 2GiB")
    screen.input(None, "a")
    screen.input(None, "/var_log 1G")
    assert "already used by /var/log" in text_of(screen)
    screen.input(None, "/var 5G")
    assert model.config.volumes == [("/var/log", 2 * GiB), ("/var", 5 * GiB)]
    screen.input(None, "2")
    screen.input(None, "10M")
    assert "too small" in text_of(screen)
    screen.input(None, "6GiB")
    screen.input(None, "1")
    screen.input(None, "remove")
    assert model.config.volumes == [("/var", 6 * GiB)]
    assert "1) /var  6.0 GiB" in text_of(screen)


def test_review_screen_refuses_until_ready(model):
    """'yes' is refused while something is missing; the problems are listed."""
    screen = ReviewScreen(model)
    shown = text_of(screen)
    assert "choose a target disk" in shown and "Go back and fix the problems" in shown
    assert screen.input(None, "yes") == InputState.PROCESSED_AND_REDRAW
    assert not model.confirmed and "Not ready yet" in text_of(screen)
    assert screen.input(None, "c") == "c"


def test_status_says_what_will_happen(model):
    """The status line names the disk, the image, the layout and the volumes."""
    assert model.status() == "Not ready: choose a target disk; choose the image (a liveimg URL or path)"
    model.set_disk("vda")
    model.set_payload(URL)
    model.add_volume("/var 5GiB")
    assert model.status() == (f"Will erase vda (20.0 GiB) QEMU HARDDISK and install {URL} as Base-0 "
                              "(boot Base-0.1): /boot 1.0 GiB, HostVG/pool00 grows over the free space; "
                              "volumes /var 5.0 GiB")
    model.toggle_layout()
    assert model.status().startswith("Will boot from vda, install") and "existing HostVG/pool00" in model.status()
    model.config.disk = "sdz"
    assert "disk sdz is not among the usable disks" in model.status()


def test_config_from_text():
    """Empty text means defaults; otherwise the section is read."""
    assert config_from_text("") == AddonConfig()
    assert config_from_text("%addon org_ovirt_imgbased --disk=vdb\n%end\n").disk == "vdb"


# ---- the whole standalone App ---------------------------------------------------------------------

def test_walk_every_screen_and_confirm(monkeypatch, capsys):
    """Every screen, with wrong entries on each, ends in the confirmed config."""
    answers = [
        "c", "yes", "c",                           # review too early: refused, back
        "x",                                       # not a choice on the overview (re-prompt)
        "1", "9", "1",                             # disk: wrong number, then vda
        "2", "3", "tiny", "2GiB", "4", "12G", "c",  # layout: bad /boot, then 2 GiB; pool 12 GiB
        "3", "1", "http:/nohost", URL, "2", "sha256:xyz", f"sha256:{HEX}", "c",  # image
        "4", "a", "/ 1G", "/var 4GiB", "a", "/home 1G", "2", "remove", "c",     # volumes
        "r",                                       # refresh the overview
        "c", "no", "yes",                          # review: a wrong word, then confirm
    ]
    defaults = AddonConfig(persist=["/root/.ssh"])
    result, script = run_script(monkeypatch, answers, defaults)
    out = capsys.readouterr().out
    assert script.answers == []
    assert result == AddonConfig(disk="vda", boot_size=2 * GiB, pool_size=12 * GiB, liveimg_url=URL,
                                 checksum=f"sha256:{HEX}", volumes=[("/var", 4 * GiB)], persist=["/root/.ssh"])
    assert defaults == AddonConfig(persist=["/root/.ssh"])  # the caller's defaults are untouched
    for seen in ("Not ready yet", "'x' is not one of the choices", "'9' is not one of the choices",
                 "Error: bad size 'tiny'", "names no host", "not sha256: followed by 64 hex digits",
                 "Error: a volume on / is not allowed", "Type 'yes' to install, 'c' to go back",
                 "Will erase vda (20.0 GiB) QEMU HARDDISK and install"):
        assert seen in out, seen


def test_defaults_from_a_kickstart_confirmed_at_once(monkeypatch):
    """Complete defaults need only review and yes, and come back unchanged."""
    defaults = AddonConfig(disk="vda", liveimg_url=URL, volumes=[("/var", 5 * GiB)])
    result, _script = run_script(monkeypatch, ["c", "yes"], defaults)
    assert result == defaults and result is not defaults


def test_quit_asks_and_aborts(monkeypatch, capsys):
    """'q' asks for confirmation; 'no' stays, 'yes' quits with no config."""
    result, script = run_script(monkeypatch, ["1", "q", "no", "1", "q", "yes"])
    assert result is None and script.answers == []
    assert "Quit without installing?" in capsys.readouterr().out


def test_quit_from_the_review(monkeypatch):
    """Quitting on the review screen after everything is set still installs nothing."""
    defaults = AddonConfig(disk="vda", liveimg_url=URL)
    result, _script = run_script(monkeypatch, ["c", "q", "yes"], defaults)
    assert result is None
