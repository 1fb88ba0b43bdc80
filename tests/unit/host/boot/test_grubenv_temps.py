# SPDX-License-Identifier: GPL-2.0-or-later
"""A grubenv write killed before its rename leaves a temporary file; the next write removes it (only it)."""

from __future__ import annotations

import os
import shutil

import pytest

from org_ovirt_imgbased.host.boot.grubenv import SAVED, GrubEnv
from org_ovirt_imgbased.runner import Runner

pytestmark = pytest.mark.skipif(not (shutil.which("grub-editenv") or shutil.which("grub2-editenv")),
                                reason="grub-editenv is not installed")


def test_next_write_removes_the_temporaries_imgbased_made(tmp_path):
    """Exactly the .grubenv.<12 hex>.tmp regular files go; look-alikes and other files stay."""
    grub = tmp_path / "boot" / "grub"
    grub.mkdir(parents=True)
    env = GrubEnv.at(Runner(), tmp_path / "boot")
    env.set({SAVED: "imgbased-Base-0.1"})
    ours = [grub / ".grubenv.0123456789ab.tmp", grub / ".grubenv.ffffffffffff.tmp"]
    for path in ours:
        path.write_bytes(b"# GRUB Environment Block\n")  # torn: the kill came mid-write
    keep = [grub / ".grubenv.backup.tmp", grub / ".grubenv.0123456789AB.tmp", grub / "grubenv.0123456789ab.tmp",
            grub / ".grubenv.0123456789abc.tmp", grub / ".grub.cfg.0123456789ab.tmp"]
    for path in keep:
        path.write_text("someone else's")
    link = grub / ".grubenv.aaaaaaaaaaaa.tmp"
    os.symlink(tmp_path / "elsewhere", link)
    env.set({SAVED: "imgbased-Base-1.1"})
    assert env.read()[SAVED] == "imgbased-Base-1.1"
    assert not any(p.exists() for p in ours)
    assert all(p.exists() for p in keep) and link.is_symlink()


def test_dry_run_only_plans_the_cleanup(tmp_path, capsys):
    """With --dry the temporary is named in the plan and left in place."""
    grub = tmp_path / "boot" / "grub"
    grub.mkdir(parents=True)
    GrubEnv.at(Runner(), tmp_path / "boot").set({SAVED: "imgbased-Base-0.1"})
    stale = grub / ".grubenv.0123456789ab.tmp"
    stale.write_bytes(b"")
    GrubEnv.at(Runner(dry=True), tmp_path / "boot").set({SAVED: "imgbased-Base-1.1"})
    assert stale.exists() and f"remove {stale}" in capsys.readouterr().out
