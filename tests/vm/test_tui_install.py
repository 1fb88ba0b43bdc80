# SPDX-License-Identifier: GPL-2.0-or-later
"""`imgbase-install --interactive` driven through a real pty, as an operator would, onto a blank virtio disk."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from pathlib import Path

import pexpect
import pytest

from org_ovirt_imgbased.units import human
from tests.lvmhelp import lvs, sh
from tests.vm import test_install as ks_tests
from tests.vm.payloads import ROOT
from tests.vm.test_install import LIVEIMG, assert_blank

MiB, GiB = 1 << 20, 1 << 30
MENU = r"refresh\]: "  # the end of every menu prompt (the prompt itself may wrap)
QUESTION = r"keep\s+as\s+is\): "  # the end of every value question
REVIEW = r"to install \['c' to go back, 'q' to quit\]: "
YES_NO = r"Please respond 'yes' or 'no': "
SCREEN_TIMEOUT = 180  # the first screen includes Python's start under TCG
INSTALL_TIMEOUT = 900  # about 90 s under TCG; generous for a loaded host
BOOT_SIZE = 768 * MiB

blank_disk = ks_tests.blank_disk  # the spare disk /dev/vdc (IMGBASED_TEST_DISK), wiped before and after


def flat(text: str) -> str:
    """text without any whitespace, to compare screens whose lines simpleline wrapped."""
    return re.sub(r"\s+", "", text)


class Operator:
    """An operator at the terminal of a running imgbase-install --interactive."""

    def __init__(self, child: pexpect.spawn) -> None:
        """Drive child."""
        self.child = child
        self.screen = ""

    def wait(self, pattern: str, timeout: int = SCREEN_TIMEOUT) -> str:
        """Wait for a prompt; return (and keep) what was shown since the last answer."""
        self.child.expect(pattern, timeout=timeout)
        self.screen = self.child.before + self.child.after
        return self.screen

    def answer(self, pattern: str, text: str) -> str:
        """Wait for a prompt and type text with Enter; return the screen that asked."""
        screen = self.wait(pattern)
        self.child.sendline(text)
        return screen

    def sees(self, *texts: str) -> None:
        """Assert the last screen shows every text (line wrapping ignored)."""
        for text in texts:
            assert flat(text) in flat(self.screen), f"{text!r} not on the screen:\n{self.screen}"

    def misses(self, text: str) -> None:
        """Assert the last screen does not show text."""
        assert flat(text) not in flat(self.screen), f"{text!r} unexpectedly on the screen:\n{self.screen}"


@pytest.fixture
def operator():
    """Factory: start the real command under a pty; the process is killed at teardown if still running."""
    children: list[pexpect.spawn] = []

    def start() -> Operator:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "vt100"}
        child = pexpect.spawn(sys.executable, ["-m", "org_ovirt_imgbased.installer.cli", "--interactive"],
                              cwd=str(ROOT), env=env, encoding="utf-8", codec_errors="replace",
                              dimensions=(50, 120), timeout=SCREEN_TIMEOUT)
        children.append(child)
        return Operator(child)

    yield start
    for child in children:
        if child.isalive():
            child.terminate(force=True)


def finish(op: Operator, timeout: int) -> tuple[int, str]:
    """Wait for the command to end; return its exit status and the output after the last prompt."""
    op.child.expect(pexpect.EOF, timeout=timeout)
    out = op.child.before
    op.child.close()
    return op.child.exitstatus, out


def disk_label(name: str) -> str:
    """How the screens show disk name: its kernel name and size."""
    size = int(Path(f"/sys/block/{name}/size").read_text()) * 512
    return f"{name} ({human(size)})"


def disk_number(op: Operator, name: str) -> str:
    """The menu number of disk name on the disk screen."""
    found = re.search(rf"(\d+)\) \[[ x]\] {re.escape(name)} \(", op.screen)
    assert found, f"disk {name} is not listed:\n{op.screen}"
    return found.group(1)


def choose_disk(op: Operator, name: str) -> None:
    """Overview item 1: a wrong number first, then the disk."""
    op.answer(MENU, "1")
    op.answer(MENU, "99")
    op.sees("Target disk", "The chosen disk is erased")
    number = disk_number(op, name)
    op.answer(MENU, number)
    op.sees("'99' is not one of the choices.")
    op.wait(MENU)
    op.sees("[x] Target disk", disk_label(name))


def edit_layout(op: Operator, name: str) -> None:
    """Overview item 2: /boot gets a bad size, then 768 MiB."""
    op.child.sendline("2")
    op.answer(MENU, "3")
    op.sees("Disk layout", f"Disk: {disk_label(name)}", "The layout fits the disk.", "3) /boot partition: 1.0 GiB")
    op.answer(QUESTION, "tiny")
    op.sees("Size of /boot")
    op.answer(QUESTION, "768MiB")
    op.sees("Error: bad size 'tiny'", "Try again.", "Size of /boot")
    op.answer(MENU, "c")
    op.sees("3) /boot partition: 768.0 MiB", "The layout fits the disk.")


def choose_payload(op: Operator, url: str, checksum: str) -> None:
    """Overview item 3: a URL without a host and a short checksum are refused, then the real ones."""
    op.answer(MENU, "3")
    op.sees("/boot 768.0 MiB")
    op.answer(MENU, "1")
    op.sees("Image: not chosen", "Checksum: none")
    op.answer(QUESTION, "http:/nohost")
    op.answer(QUESTION, url)
    op.sees("names no host", "Try again.")
    op.answer(MENU, "2")
    op.sees(f"Image: {url}")
    op.answer(QUESTION, "sha256:1234")
    op.answer(QUESTION, checksum)
    op.sees("not sha256: followed by 64 hex digits")
    op.answer(MENU, "c")
    op.sees(f"Checksum: {checksum}")


def edit_volumes(op: Operator) -> None:
    """Overview item 4: a volume on / is refused; /var and /var/log added, /var resized, /var/log removed."""
    op.answer(MENU, "4")
    op.sees("(sha256 checked)")
    op.answer(MENU, "a")
    op.sees("No data volumes.")
    op.answer(QUESTION, "/ 1G")
    op.answer(QUESTION, "/var 2GiB")
    op.sees("Error: a volume on / is not allowed")
    op.answer(MENU, "a")
    op.answer(QUESTION, "/var/log 1GiB")
    op.answer(MENU, "1")
    op.sees("1) /var  2.0 GiB", "2) /var/log  1.0 GiB")
    op.answer(QUESTION, "3GiB")
    op.sees("New size of /var")
    op.answer(MENU, "2")
    op.answer(QUESTION, "remove")
    op.sees("New size of /var/log", "1) /var  3.0 GiB")
    op.answer(MENU, "c")
    op.sees("1) /var  3.0 GiB")
    op.misses("/var/log")


def review_and_confirm(op: Operator, name: str, url: str, checksum: str) -> None:
    """The overview's status line, then the review: a wrong word, then yes."""
    op.answer(MENU, "c")
    op.sees(f"Will erase {disk_label(name)} and install {url} as Base-0 (boot Base-0.1)",
            "/boot 768.0 MiB, HostVG/pool00 grows over the free space; volumes /var 3.0 GiB")
    op.answer(REVIEW, "install it")
    op.sees(f"Target disk: {disk_label(name)}", f"Checksum: {checksum}", "Data volumes: /var 3.0 GiB")
    op.answer(REVIEW, "yes")
    op.sees("Type 'yes' to install, 'c' to go back or 'q' to quit.")


def check_disk(disk: str, tmp_path: Path) -> None:
    """The partitions, the VG with its bases and volumes, and /boot as the screens chose."""
    parts = json.loads(sh("sfdisk", "--json", disk).stdout)["partitiontable"]
    assert len(parts["partitions"]) == 2, parts
    boot_bytes = parts["partitions"][0]["size"] * parts.get("sectorsize", 512)
    assert abs(boot_bytes - BOOT_SIZE) <= MiB, boot_bytes
    sh("vgchange", "-ay", "HostVG")
    rows = lvs("HostVG", "lv_name,lv_attr,origin,lv_size,lv_tags,pool_lv")
    assert rows["Base-0"]["lv_attr"][1] == "r", rows["Base-0"]
    # The installed root became the layer; Base-0 is the frozen snapshot of it (host/adopt.py).
    assert rows["Base-0"]["origin"] == "Base-0.1" and "imgbased:layer" in rows["Base-0.1"]["lv_tags"]
    assert rows["var"]["pool_lv"] == "pool00" and int(rows["var"]["lv_size"]) == 3 * GiB, rows["var"]
    assert "var_log" not in rows, sorted(rows)
    boot = tmp_path / "boot"
    boot.mkdir()
    sh("mount", "-o", "ro", f"{disk}1", str(boot))
    try:
        assert any(p.name.startswith("vmlinuz-") for p in (boot / "Base-0.1").iterdir())
        assert (boot / "loader/entries/imgbased-Base-0.1.conf").is_file()
        assert "saved_entry=imgbased-Base-0.1" in sh("grub-editenv", str(boot / "grub/grubenv"), "list").stdout
    finally:
        sh("umount", str(boot))
    sh("vgchange", "-an", "HostVG")
    ks_tests.check_installed(disk, tmp_path)


@pytest.mark.skipif(not LIVEIMG, reason="IMGBASED_TEST_LIVEIMG (a real test OS liveimg) not given")
def test_interactive_install_through_a_pty(blank_disk, operator, tmp_path):
    """Every screen with wrong entries on each, confirm, and the install on disk is what was chosen."""
    name = Path(blank_disk).name
    url = f"file://{Path(LIVEIMG).resolve()}"
    checksum = "sha256:" + hashlib.sha256(Path(LIVEIMG).read_bytes()).hexdigest()
    op = operator()
    op.answer(MENU, "x")
    op.sees("Not ready: choose a target disk; choose the image")
    op.wait(MENU)
    op.sees("'x' is not one of the choices.")
    op.child.sendline("r")
    choose_disk(op, name)
    edit_layout(op, name)
    choose_payload(op, url, checksum)
    edit_volumes(op)
    review_and_confirm(op, name, url, checksum)
    status, out = finish(op, INSTALL_TIMEOUT)
    assert status == 0, out
    assert "Traceback" not in out and "imgbase-install: error" not in out, out
    assert json.loads(out.strip().splitlines()[-1]) == {"layer": "Base-0.1", "disk": blank_disk, "after": None}
    check_disk(blank_disk, tmp_path)


def test_quit_at_the_first_screen_writes_nothing(blank_disk, operator):
    """'q' asks first; 'no' stays on the overview, 'yes' quits with status 1 and the disk stays blank."""
    op = operator()
    op.answer(MENU, "q")
    op.sees("imgbased installation", "Not ready: choose a target disk")
    op.answer(YES_NO, "no")
    op.sees("Quit without installing? Nothing has been written to disk.")
    op.answer(MENU, "q")
    op.answer(YES_NO, "yes")
    status, out = finish(op, SCREEN_TIMEOUT)
    assert status == 1 and "imgbase-install: quit; nothing was written" in out, (status, out)
    assert_blank(blank_disk)
