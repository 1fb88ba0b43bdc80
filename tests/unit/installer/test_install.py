# SPDX-License-Identifier: GPL-2.0-or-later
"""The installer's --no-layout lookup of /boot on a disk laid out by someone else."""

from __future__ import annotations

import json

import pytest

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.installer import install
from tests.fakes import FakeRunner


def lsblk(*parts: tuple[str, str | None]) -> FakeRunner:
    """A runner whose lsblk shows /dev/vda with the given (path, fstype) partitions."""
    children = [{"path": p, "type": "part", "fstype": f, "uuid": f"uuid-{p[-1]}"} for p, f in parts]
    return FakeRunner(replies={"lsblk": json.dumps({"blockdevices": [{"path": "/dev/vda", "type": "disk",
                                                                       "children": children}]})})


def test_boot_is_the_one_filesystem_partition_wherever_it_is():
    """/boot need not be partition 1: a BIOS boot partition or the PV may come first."""
    runner = lsblk(("/dev/vda1", None), ("/dev/vda2", "LVM2_member"), ("/dev/vda3", "ext4"))
    assert install._boot_partition("/dev/vda", runner) == ("/dev/vda3", "uuid-3")


@pytest.mark.parametrize("parts", [[("/dev/vda1", "LVM2_member")],
                                   [("/dev/vda1", "ext4"), ("/dev/vda2", "xfs"), ("/dev/vda3", "LVM2_member")]])
def test_no_or_several_candidates_are_refused(parts):
    """No guessing: none, or more than one, filesystem partition is a one-line error."""
    with pytest.raises(ImgbaseError, match="cannot tell which partition of /dev/vda is /boot"):
        install._boot_partition("/dev/vda", lsblk(*parts))
