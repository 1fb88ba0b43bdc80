# SPDX-License-Identifier: GPL-2.0-or-later
"""Host tests of the VM lab's console reader: a marker matches only once its whole line has arrived."""

from __future__ import annotations

import sys

import pytest
from vmlab.common import VmError
from vmlab.console import ConsoleVM
from vmlab.host import BOOTED

# Stands in for qemu: prints a marker in two writes with a pause between them, like a slow serial line.
SPLIT_WRITER = r"""
import os, sys, time
os.write(1, b"boot\r\nIMGBASED_INSTALL_FAILED: ch")
time.sleep(float(sys.argv[1]))
os.write(1, b"ecksum mismatch\r\nIMGBASED_BOOTED Base-0")
time.sleep(float(sys.argv[1]))
os.write(1, b".1 root=/dev/mapper/HostVG-Base--0.1\r\n")
"""


def _vm(*args: str) -> ConsoleVM:
    """A ConsoleVM running the stand-in writer."""
    return ConsoleVM([sys.executable, "-c", SPLIT_WRITER, *args]).start()


def test_a_marker_is_captured_whole_even_when_its_line_arrives_in_pieces():
    """The reason and the layer name are complete although the first half of each line came alone."""
    vm = _vm("0.5")
    try:
        failed = vm.wait_for(r"^IMGBASED_INSTALL_FAILED: (.*)$", 30)
        booted = vm.wait_for(BOOTED.pattern, 30)
    finally:
        vm.kill()
    assert failed.group(1) == "checksum mismatch"
    assert booted.groups() == ("Base-0.1", "/dev/mapper/HostVG-Base--0.1")


def test_text_without_a_final_newline_still_matches_after_the_vm_exits():
    """When qemu has ended, its last unterminated line counts."""
    vm = ConsoleVM([sys.executable, "-c", "import os; os.write(1, b'login: ')"]).start()
    try:
        assert vm.wait_for(r"login: $", 30)
        vm.wait(30)
    finally:
        vm.kill()


def test_waiting_for_a_line_that_never_comes_fails_when_the_vm_exits():
    """The error says the VM exited and names the pattern."""
    vm = _vm("0")
    try:
        with pytest.raises(VmError, match="VM exited before printing 'NEVER'"):
            vm.wait_for("NEVER", 30)
    finally:
        vm.kill()
