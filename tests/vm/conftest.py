# SPDX-License-Identifier: GPL-2.0-or-later
"""VM tier fixtures: real lvm2 on loop devices and scratch virtio disks.

These tests need device-mapper, which the CI hosts lack: `make check-vm`
(part of `make check`) runs this directory inside the VM lab in one boot.
Run directly on a host without device-mapper they are skipped; inside the VM
(IMGBASED_IN_VM=1) a missing device-mapper is an error instead.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.lvmhelp import has_device_mapper, sh

IN_VM = os.environ.get("IMGBASED_IN_VM") == "1"
SCRATCH_DEV = os.environ.get("IMGBASED_SCRATCH_DEV", "/dev/vdb")


def pytest_collection_modifyitems(config, items):
    """Mark every test below tests/vm with the vm marker."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.vm)


@pytest.fixture(autouse=True)
def _need_device_mapper():
    """Skip on a host without device-mapper; fail inside the VM if it is missing."""
    if has_device_mapper():
        return
    if IN_VM:
        pytest.fail("device-mapper is missing inside the VM lab")
    pytest.skip("needs device-mapper: run `make check-vm` (it boots the VM lab)")


@pytest.fixture(scope="session")
def scratch_store(tmp_path_factory) -> Path:
    """A roomy directory for sparse backing files: the VM's scratch disk when present."""
    mnt = Path("/run/imgbased-scratch")
    if IN_VM and Path(SCRATCH_DEV).exists():
        if not os.path.ismount(mnt):
            mnt.mkdir(parents=True, exist_ok=True)
            sh("mkfs.ext4", "-q", "-F", "-E", "nodiscard", SCRATCH_DEV)
            sh("mount", "-o", "discard", SCRATCH_DEV, str(mnt))
        return mnt
    return tmp_path_factory.mktemp("scratch")


def _vgs_on(dev: str) -> set[str]:
    """Names of the VGs that have a PV on dev (or one of its partitions)."""
    import json
    out = sh("pvs", "--reportformat", "json", "-o", "pv_name,vg_name", check=False).stdout
    try:
        rows = json.loads(out)["report"][0]["pv"]
    except (ValueError, KeyError, IndexError):
        return set()
    return {r["vg_name"] for r in rows if r["pv_name"].startswith(dev) and r["vg_name"]}


def wipe_lvm(dev: str) -> None:
    """Remove every VG on dev so the device can be detached or reused."""
    for vg in _vgs_on(dev):
        sh("vgchange", "-an", vg, check=False)
        sh("vgremove", "-ff", "-y", vg, check=False)


@contextlib.contextmanager
def loop_disks(store: Path) -> Iterator[Callable[[str], str]]:
    """A factory of fresh sparse loop devices (partitions enabled), all removed at the end."""
    made: list[tuple[str, Path]] = []

    def make(size: str = "4G") -> str:
        backing = store / f"disk-{uuid.uuid4().hex[:8]}.img"
        sh("truncate", "-s", size, str(backing))
        dev = sh("losetup", "-f", "--show", "-P", str(backing)).stdout.strip()
        made.append((dev, backing))
        return dev

    try:
        yield make
    finally:
        for dev, backing in reversed(made):
            wipe_lvm(dev)
            sh("losetup", "-d", dev, check=False)
            backing.unlink(missing_ok=True)


@pytest.fixture
def loop_disk(scratch_store):
    """Factory: a fresh sparse loop device of the given size, for this test."""
    with loop_disks(scratch_store) as make:
        yield make


@pytest.fixture(scope="module")
def module_loop_disk(scratch_store):
    """Factory: loop devices that live as long as the test module (a host shared by its tests)."""
    with loop_disks(scratch_store) as make:
        yield make


@pytest.fixture
def vg_name() -> str:
    """A VG name unique to this test."""
    return f"tvg{uuid.uuid4().hex[:6]}"
