# SPDX-License-Identifier: GPL-2.0-or-later
"""Kernel discovery in image roots, installing and removing layer boot files on scratch /boot trees."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host.boot import bls, entries, kernels
from org_ovirt_imgbased.host.storage import space
from org_ovirt_imgbased.runner import Runner
from org_ovirt_imgbased.units import MiB
from tests.fakes import FakeRunner
from tests.repo import ROOT as REPO_ROOT

KV_OLD, KV_NEW = "6.1.0-9-amd64", "6.1.0-18-amd64"


def put(path: Path, data: bytes = b"x") -> Path:
    """Create a file with its parents."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def debian_root(tmp: Path) -> Path:
    """An image root with two Debian kernels in /boot (plus the /vmlinuz symlinks)."""
    root = tmp / "root-debian"
    for kv in (KV_OLD, KV_NEW):
        put(root / f"boot/vmlinuz-{kv}", f"kernel {kv}".encode())
        put(root / f"boot/initrd.img-{kv}", f"initrd {kv}".encode())
    os.symlink(f"boot/vmlinuz-{KV_NEW}", root / "vmlinuz")
    return root


def files(tree: Path) -> set[str]:
    """Every file and directory below tree, relative."""
    return {str(p.relative_to(tree)) for p in tree.rglob("*")} if tree.exists() else set()


def tree_state(tree: Path) -> dict[str, bytes | None]:
    """Paths below tree with their content (None for directories)."""
    return {str(p.relative_to(tree)): None if p.is_dir() else p.read_bytes() for p in tree.rglob("*")}


# --- kernel discovery ---------------------------------------------------------------------

def test_find_newest_debian_kernel(tmp_path):
    """Version order, not string order: 6.1.0-18 is newer than 6.1.0-9."""
    k = kernels.find_kernel(debian_root(tmp_path))
    assert k.kver == KV_NEW
    assert k.vmlinuz.name == f"vmlinuz-{KV_NEW}" and k.initrd.name == f"initrd.img-{KV_NEW}"
    assert k.initrd_name == f"initrd.img-{KV_NEW}"


def test_find_fedora_kernel_takes_initramfs_name_and_skips_rescue(tmp_path):
    """Fedora names (initramfs-<kver>.img) are kept; the rescue kernel is ignored."""
    root = tmp_path / "root"
    kv = "6.5.6-300.fc39.x86_64"
    put(root / f"boot/vmlinuz-{kv}")
    put(root / f"boot/initramfs-{kv}.img")
    put(root / "boot/vmlinuz-0-rescue-0123456789abcdef")
    put(root / "boot/initramfs-0-rescue-0123456789abcdef.img")
    k = kernels.find_kernel(root)
    assert (k.kver, k.initrd_name) == (kv, f"initramfs-{kv}.img")


def test_find_kernel_in_usr_lib_modules(tmp_path):
    """ostree-style images keep vmlinuz and initramfs.img in /usr/lib/modules/<kver>/."""
    root = tmp_path / "root"
    for kv in ("6.4.1-100.fc38.x86_64", "6.10.2-200.fc40.x86_64"):
        put(root / f"usr/lib/modules/{kv}/vmlinuz")
        put(root / f"usr/lib/modules/{kv}/initramfs.img")
    put(root / "usr/lib/modules/6.99.0-nokernel/modules.dep")
    k = kernels.find_kernel(root)
    assert k.kver == "6.10.2-200.fc40.x86_64"
    assert k.vmlinuz == root / "usr/lib/modules/6.10.2-200.fc40.x86_64/vmlinuz"
    assert k.initrd_name == "initramfs-6.10.2-200.fc40.x86_64.img"


def test_newer_kernel_in_modules_wins_over_boot(tmp_path):
    """All places are searched and the newest version is taken."""
    root = debian_root(tmp_path)
    put(root / "usr/lib/modules/6.2.0-1-amd64/vmlinuz")
    put(root / "usr/lib/modules/6.2.0-1-amd64/initramfs.img")
    assert kernels.find_kernel(root).kver == "6.2.0-1-amd64"


def test_symlinked_kernels_are_not_followed(tmp_path):
    """A symlink in an image could point at a host file; only regular files count."""
    root = tmp_path / "root"
    (root / "boot").mkdir(parents=True)
    host_file = put(tmp_path / "host-secret")
    os.symlink(host_file, root / "boot/vmlinuz-9.9.9")
    os.symlink(host_file, root / "boot/initrd.img-9.9.9")
    with pytest.raises(ImgbaseError, match="no kernel in the image"):
        kernels.find_kernel(root)


def test_missing_kernel_and_missing_initrd_are_clear_errors(tmp_path):
    """No kernel, or a kernel without an initrd: one-line errors naming what is missing."""
    root = tmp_path / "root"
    (root / "boot").mkdir(parents=True)
    with pytest.raises(ImgbaseError, match="no kernel in the image") as exc:
        kernels.find_kernel(root)
    assert "\n" not in str(exc.value)
    put(root / "boot/vmlinuz-6.1.0-1-amd64")
    with pytest.raises(ImgbaseError, match="kernel 6.1.0-1-amd64 but no initrd"):
        kernels.find_kernel(root)


def test_version_key_orders_naturally():
    """The kernel version order used to pick the newest."""
    vs = ["6.1.0-18-amd64", "6.1.0-9-amd64", "6.10.0-1-amd64", "5.19.0-2-amd64", "6.1.0-18-rt-amd64"]
    assert sorted(vs, key=kernels.version_key) == [
        "5.19.0-2-amd64", "6.1.0-9-amd64", "6.1.0-18-amd64", "6.1.0-18-rt-amd64", "6.10.0-1-amd64"]


# --- install ------------------------------------------------------------------------------------

def test_install_layer_copies_kernel_and_writes_entry(tmp_path):
    """/boot/<layer>/ gets the newest kernel and initrd; the entry points at them."""
    boot = tmp_path / "boot"
    boot.mkdir()
    entry = entries.install_layer(Runner(), "Base-0.1", debian_root(tmp_path), "HostVG", boot_dir=boot,
                                     host_args="BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro console=ttyS0")
    assert files(boot) == {"Base-0.1", f"Base-0.1/vmlinuz-{KV_NEW}", f"Base-0.1/initrd.img-{KV_NEW}",
                           "loader", "loader/entries", "loader/entries/imgbased-Base-0.1.conf"}
    assert (boot / f"Base-0.1/vmlinuz-{KV_NEW}").read_bytes() == f"kernel {KV_NEW}".encode()
    text = (boot / "loader/entries/imgbased-Base-0.1.conf").read_text()
    assert text == bls.render_entry(entry)
    e = bls.read_entry(boot / "loader/entries/imgbased-Base-0.1.conf")
    assert e.linux == f"/Base-0.1/vmlinuz-{KV_NEW}" and e.initrds == [f"/Base-0.1/initrd.img-{KV_NEW}"]
    assert e.options == ("root=/dev/HostVG/Base-0.1 rd.lvm.lv=HostVG/Base-0.1 ro rootflags=discard "
                         "img.bootid=Base-0.1 console=ttyS0")
    assert e.version == "Base-0.1"


def test_reinstall_with_a_new_kernel_prunes_the_old_files(tmp_path):
    """Installing a layer again replaces its kernel files; stale ones go."""
    boot = tmp_path / "boot"
    boot.mkdir()
    put(boot / "Base-0.1/vmlinuz-5.0.0")
    put(boot / "Base-0.1/initrd.img-5.0.0")
    entries.install_layer(Runner(), "Base-0.1", debian_root(tmp_path), "HostVG", boot_dir=boot)
    assert sorted(p.name for p in (boot / "Base-0.1").iterdir()) == [f"initrd.img-{KV_NEW}",
                                                                     f"vmlinuz-{KV_NEW}"]


@pytest.mark.parametrize("layer,vg,match", [
    ("Base-0", "HostVG", "is a base, not a layer"),
    ("../etc", "HostVG", "not a base or layer name"),
    ("Base-0.1", "bad vg", "not a usable volume group"),
])
def test_install_refuses_bad_names_and_writes_nothing(tmp_path, layer, vg, match):
    """Bases get no entries; bad names are refused before anything is written."""
    boot = tmp_path / "boot"
    boot.mkdir()
    with pytest.raises(ImgbaseError, match=match):
        entries.install_layer(Runner(), layer, debian_root(tmp_path), vg, boot_dir=boot)
    assert files(boot) == set()


def test_install_refuses_missing_kernel_and_writes_nothing(tmp_path):
    """An image without a kernel: clear error, /boot untouched."""
    boot = tmp_path / "boot"
    write_existing(boot)
    before = tree_state(boot)
    root = tmp_path / "empty-root"
    (root / "usr/lib/modules").mkdir(parents=True)
    with pytest.raises(ImgbaseError, match="no kernel in the image"):
        entries.install_layer(Runner(), "Base-1.1", root, "HostVG", boot_dir=boot)
    assert tree_state(boot) == before


def write_existing(boot: Path) -> None:
    """A /boot tree that already holds layer Base-0.1 and some grub files."""
    put(boot / "Base-0.1/vmlinuz-1")
    put(boot / "grub/grub.cfg", b"# cfg\n")
    path = bls.entry_path("Base-0.1", boot)
    put(path, bls.render_entry(bls.make_layer_entry("Base-0.1", "HostVG", "1", "/Base-0.1/vmlinuz-1",
                                                    ["/Base-0.1/initrd.img-1"])).encode())


def test_install_refuses_when_boot_is_full_and_writes_nothing(tmp_path, monkeypatch):
    """Too little free space: the error gives the numbers; nothing is written."""
    boot = tmp_path / "boot"
    write_existing(boot)
    before = tree_state(boot)
    root = debian_root(tmp_path)
    monkeypatch.setattr(space, "free_bytes", lambda path: 10 * MiB)
    with pytest.raises(ImgbaseError) as exc:
        entries.install_layer(Runner(), "Base-1.1", root, "HostVG", boot_dir=boot)
    msg = str(exc.value)
    assert "not enough space" in msg and "10.0 MiB free" in msg and "16.0 MiB margin" in msg
    assert tree_state(boot) == before


def test_space_check_uses_the_real_file_system(tmp_path):
    """With the real statvfs, a margin larger than any disk is refused; a small one passes."""
    boot = tmp_path / "boot"
    boot.mkdir()
    with pytest.raises(ImgbaseError, match="not enough space"):
        entries.install_layer(Runner(), "Base-0.1", debian_root(tmp_path), "HostVG", boot_dir=boot,
                                 margin=1 << 62)
    assert files(boot) == set()
    space.check_dir(boot, 1, "a test", margin=0)


def test_failed_copy_leaves_nothing(tmp_path):
    """A copy that fails half way removes the layer directory it created."""
    boot = tmp_path / "boot"
    boot.mkdir()

    with pytest.raises(ImgbaseError, match="No space left on device"):
        entries.install_layer(FakeRunner(fail_copy_at=2), "Base-0.1", debian_root(tmp_path), "HostVG", boot_dir=boot)
    assert files(boot) == set()


def test_dry_install_writes_nothing_and_prints_the_plan(tmp_path):
    """--dry: the plan is printed, /boot stays as it was."""
    boot = tmp_path / "boot"
    boot.mkdir()
    out = io.StringIO()
    entries.install_layer(Runner(dry=True, out=out), "Base-0.1", debian_root(tmp_path), "HostVG",
                             boot_dir=boot)
    assert files(boot) == set()
    plan = out.getvalue()
    assert f"copy {tmp_path}/root-debian/boot/vmlinuz-{KV_NEW}" in plan
    assert f"write {boot}/loader/entries/imgbased-Base-0.1.conf" in plan


# --- host arguments -------------------------------------------------------------------------------

def test_usual_kernel_args_drop_per_layer_ones(tmp_path):
    """The host's arguments, without the ones each entry sets itself."""
    cmdline = tmp_path / "cmdline"
    cmdline.write_text("BOOT_IMAGE=/Base-1.1/vmlinuz-6 root=/dev/HostVG/Base-1.1 rd.lvm.lv=HostVG/Base-1.1 "
                       "ro rootflags=discard img.bootid=Base-1.1 console=ttyS0 quiet\n")
    assert entries.usual_kernel_args(cmdline) == ["console=ttyS0", "quiet"]


# --- remove, orphans ------------------------------------------------------------------------------

def install_all(boot: Path, root: Path, layers: list[str]) -> None:
    """Install boot files for several layers."""
    for layer in layers:
        entries.install_layer(Runner(), layer, root, "HostVG", boot_dir=boot)


def test_remove_layer_leaves_nothing_behind(tmp_path):
    """Removing a layer removes its entry and its kernel directory, nothing else."""
    boot = tmp_path / "boot"
    boot.mkdir()
    install_all(boot, debian_root(tmp_path), ["Base-0.1", "Base-0.2"])
    before = files(boot)
    entries.remove_layer(Runner(), "Base-0.2", boot_dir=boot)
    gone = before - files(boot)
    assert gone == {"Base-0.2", f"Base-0.2/vmlinuz-{KV_NEW}", f"Base-0.2/initrd.img-{KV_NEW}",
                    "loader/entries/imgbased-Base-0.2.conf"}
    assert not (files(boot) - before)


def test_remove_orphans_only_touches_our_layer_files(tmp_path):
    """Entries and directories of vanished layers go; other files and directories stay."""
    boot = tmp_path / "boot"
    boot.mkdir()
    install_all(boot, debian_root(tmp_path), ["Base-0.1", "Base-1.1", "Base-1.2"])
    put(boot / "Base-7.1/vmlinuz-x")  # a directory whose entry was lost
    put(boot / "Base-3/keep")  # not a layer name
    put(boot / "grub/grub.cfg")
    put(boot / "loader/entries/ff00-6.1.0.conf", b"linux /vmlinuz\n")
    removed = entries.remove_orphans(Runner(), ["Base-0", "Base-0.1", "Base-1", "Base-1.2"], boot_dir=boot)
    assert removed == ["Base-1.1", "Base-7.1"]
    assert {p.name for p in boot.iterdir()} == {"Base-0.1", "Base-1.2", "Base-3", "grub", "loader"}
    assert sorted(p.name for p in bls.entries_dir(boot).iterdir()) == [
        "ff00-6.1.0.conf", "imgbased-Base-0.1.conf", "imgbased-Base-1.2.conf"]
    assert entries.remove_orphans(Runner(), ["Base-0.1", "Base-1.2"], boot_dir=boot) == []


# --- the shipped confirm unit ------------------------------------------------------------------

UNIT = REPO_ROOT / "data" / "systemd" / "imgbased-confirm.service"


def unit_keys(text: str) -> dict[str, list[str]]:
    """Key -> values of a unit file (comments skipped)."""
    keys: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", ";")):
            k, _, v = line.partition("=")
            keys.setdefault(k.strip(), []).append(v.strip())
    return keys


def test_confirm_unit_runs_after_boot_complete_and_only_confirms_a_try():
    """systemd.special(7): order after boot-complete.target and pull it in with Requires=."""
    keys = unit_keys(UNIT.read_text())
    assert "boot-complete.target" in keys["Requires"][0].split()
    assert "boot-complete.target" in keys["After"][0].split()
    assert keys["ExecStart"] == ["imgbase boot --confirm --if-pending"]
    assert keys["WantedBy"] == ["multi-user.target"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_confirm_unit_passes_systemd_analyze_verify(tmp_path):
    """The unit parses; ExecStart is swapped for `true` since imgbase is not installed here."""
    text = UNIT.read_text().replace("ExecStart=imgbase ", "ExecStart=true ")
    unit = tmp_path / UNIT.name
    unit.write_text(text)
    res = subprocess.run(["systemd-analyze", "verify", str(unit)], text=True, capture_output=True, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
