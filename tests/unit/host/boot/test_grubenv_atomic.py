# SPDX-License-Identifier: GPL-2.0-or-later
"""grubenv changes are atomic: a process killed at any write, fsync or rename leaves the old or the new block.

strace injects SIGKILL at the n-th write / fsync / rename of the process tree that changes grubenv,
as a crash there would.  grub-editenv (the tool GRUB ships) must still read the file afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from org_ovirt_imgbased.host.boot import bls
from org_ovirt_imgbased.host.boot.grubenv import GrubEnv
from org_ovirt_imgbased.runner import Runner
from tests.repo import ROOT

EDITENV = shutil.which("grub-editenv") or shutil.which("grub2-editenv")
pytestmark = pytest.mark.skipif(not (EDITENV and shutil.which("strace")), reason="needs grub-editenv and strace")

BLOCK_SIZE = 1024
HEADER = b"# GRUB Environment Block\n"
OLD = {"saved_entry": "imgbased-Base-0.2", "next_entry": "imgbased-Base-0.2", "imgbased_try": "imgbased-Base-0.2"}
NEW = {"saved_entry": "imgbased-Base-0.1"}
# `imgbase rollback --to Base-0.1`: sets saved_entry and unsets next_entry and imgbased_try.
CHANGE = ("import sys; from pathlib import Path; from org_ovirt_imgbased.host import boot; "
          "from org_ovirt_imgbased.runner import Runner; "
          "boot.rollback(Runner(), to='Base-0.1', boot_dir=Path(sys.argv[1]))")
SYSCALLS = {"write": "write,pwrite64,writev", "fsync": "fsync,fdatasync", "rename": "rename,renameat,renameat2"}


def listed(path: Path) -> dict[str, str] | None:
    """What grub-editenv lists, or None when it cannot read the file."""
    proc = subprocess.run([EDITENV, str(path), "list"], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return None
    return dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)


def fresh(tmp_path: Path, name: str) -> Path:
    """A /boot with entries for Base-0.1 and Base-0.2 and a grubenv made by grub-editenv holding OLD."""
    path = tmp_path / name / "grub/grubenv"
    path.parent.mkdir(parents=True)
    for layer in ("Base-0.1", "Base-0.2"):
        entry = bls.entry_path(layer, path.parent.parent)
        entry.parent.mkdir(parents=True, exist_ok=True)
        entry.write_text(bls.render_entry(bls.make_layer_entry(layer, "HostVG", "6.1", f"/{layer}/vmlinuz-6.1",
                                                               [f"/{layer}/initrd.img-6.1"])))
    subprocess.run([EDITENV, str(path), "create"], check=True)
    subprocess.run([EDITENV, str(path), "set", *(f"{k}={v}" for k, v in OLD.items())], check=True)
    return path


# (syscalls, only those naming grubenv itself, which occurrence per process)
CASES = [("write", True, 1), ("rename", True, 1), ("fsync", False, 1), ("fsync", False, 2)]


@pytest.mark.parametrize(("kind", "on_grubenv", "when"), CASES)
def test_killed_anywhere_leaves_old_or_new(tmp_path, kind, on_grubenv, when):
    """SIGKILL at a write/fsync/rename of the change: grubenv is whole (old or new), never torn."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    path = fresh(tmp_path, "boot")
    only = ["-P", str(path)] if on_grubenv else []
    subprocess.run(["strace", "-f", "-qq", "-o", os.devnull, *only, "-e", f"trace={SYSCALLS[kind]}",
                    "-e", f"inject={SYSCALLS[kind]}:signal=KILL:when={when}",
                    sys.executable, "-S", "-c", CHANGE, str(path.parent.parent)],
                   env=env, capture_output=True, text=True, check=False)
    assert path.stat().st_size == BLOCK_SIZE, path.stat().st_size
    assert listed(path) in (OLD, NEW), listed(path)


def test_block_is_the_format_grub_reads(tmp_path):
    """Header line, name=value lines, '#' padding to 1024 bytes; backslashes round-trip; one write."""
    path = tmp_path / "grub/grubenv"
    env = GrubEnv(Runner(), path)
    env.set({"saved_entry": "imgbased-Base-0.1", "odd": "a\\b"})
    data = path.read_bytes()
    assert len(data) == BLOCK_SIZE and data.startswith(HEADER)
    assert data.rstrip(b"#").endswith(b"\n")
    assert listed(path) == {"saved_entry": "imgbased-Base-0.1", "odd": "a\\b"}
    inode = path.stat().st_ino
    env.change({"next_entry": "imgbased-Base-0.1"}, ["odd"])
    assert listed(path) == {"saved_entry": "imgbased-Base-0.1", "next_entry": "imgbased-Base-0.1"}
    assert path.stat().st_ino != inode  # a new file renamed over the old one, not rewritten in place
    assert sorted(p.name for p in path.parent.iterdir()) == ["grubenv"]


def test_symlinked_grubenv_writes_its_target(tmp_path):
    """A grubenv that is a symlink (Fedora's EFI layout) stays a symlink; its target changes."""
    real = tmp_path / "efi/grubenv"
    real.parent.mkdir()
    subprocess.run([EDITENV, str(real), "create"], check=True)
    link = tmp_path / "grub2/grubenv"
    link.parent.mkdir()
    link.symlink_to(real)
    GrubEnv(Runner(), link).set({"saved_entry": "imgbased-Base-0.1"})
    assert link.is_symlink()
    assert listed(real) == {"saved_entry": "imgbased-Base-0.1"}
