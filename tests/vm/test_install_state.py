# SPDX-License-Identifier: GPL-2.0-or-later
"""imgbase-install on a live host: it takes the imgbased lock and keeps its journal off the host's state dir."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

from tests.lvmhelp import sh
from tests.vm.payloads import ROOT
from tests.vm.test_install import assert_blank, blank_disk, fake, kickstart, one_line  # noqa: F401


def install(ks: Path, disk: str, **env: str) -> subprocess.CompletedProcess:
    """Run imgbase-install as the real command with extra environment."""
    return subprocess.run([sys.executable, "-m", "org_ovirt_imgbased.installer.cli", "--ks", str(ks), "--disk", disk],
                          capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **env})


def test_install_waits_for_the_lock_and_touches_nothing(blank_disk, fake, tmp_path):  # noqa: F811
    """Another imgbase holds the lock: the install stops in one line before partitioning."""
    lock = tmp_path / "imgbased.lock"
    with open(lock, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        proc = install(kickstart(tmp_path, fake.liveimg), blank_disk, IMGBASED_LOCK=str(lock),
                       IMGBASED_LOCK_WAIT="1")
    assert "another imgbase is running" in one_line(proc)
    assert_blank(blank_disk)


def test_interrupted_install_leaves_no_journal_for_the_host(blank_disk, fake, tmp_path):  # noqa: F811
    """Killed mid-install: the host's journal directory stays empty, so its recover has nothing to replay."""
    state = tmp_path / "state"
    try:
        proc = install(kickstart(tmp_path, fake.liveimg), blank_disk, IMGBASED_STATE_DIR=str(state),
                       IMGBASED_FAULT_STEP="boot-entry", IMGBASED_LOCK=str(tmp_path / "lock"))
        assert proc.returncode == -9, (proc.returncode, proc.stdout, proc.stderr)
        assert list((state / "journal").glob("*.json")) == []  # the installer once left its journal here
    finally:
        unmount_left_behind()


def unmount_left_behind() -> None:
    """Unmount what the killed installer left mounted under /run/imgbased, so the disk can be wiped."""
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
              if line.split()[4].startswith("/run/imgbased/")]
    for point in sorted(points, key=len, reverse=True):
        sh("umount", "-l", point, check=False)
    sh("udevadm", "settle", check=False)
