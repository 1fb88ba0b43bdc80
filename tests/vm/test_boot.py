# SPDX-License-Identifier: GPL-2.0-or-later
"""Boot entries on a real thinpool with a separate /boot filesystem: add, remove, default, once, confirm."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.lvmhelp import lvs, sh
from tests.vm.bootfix import booted_tool, grubenv, unmount_boot
from tests.vm.payloads import ROOT, one_line_error, shared_payloads

SCRIPT = ROOT / "data/grub.d/42_imgbased"


@pytest.fixture(scope="module")
def payloads(tmp_path_factory):
    """Payloads (with a fake kernel) built once for this module."""
    return shared_payloads(tmp_path_factory)


@pytest.fixture
def ib(loop_disk, vg_name, tmp_path, payloads):
    """A VG with Base-0 and a mounted /boot."""
    tool = booted_tool(loop_disk, vg_name, tmp_path)
    tool("base", "--add", str(payloads.ext4))
    yield tool
    unmount_boot(tool.boot_dir)


def entry(boot: Path, layer: str) -> dict[str, str]:
    """Parse a layer's BLS entry into {key: value}."""
    text = (boot / "loader/entries" / f"imgbased-{layer}.conf").read_text()
    return dict(line.split(None, 1) for line in text.splitlines() if line.strip() and not line.startswith("#"))


def menu_ids(boot: Path) -> list[str]:
    """The menuentry ids the grub.d script generates for boot, after grub-script-check accepts them."""
    out = subprocess.run([str(SCRIPT)], env={**os.environ, "IMGBASED_BOOT_DIR": str(boot)},
                         capture_output=True, text=True, check=True).stdout
    subprocess.run(["grub-script-check"], input=out, text=True, check=True)
    return [line.split("--id", 1)[1].split()[0].strip("'\"") for line in out.splitlines() if "--id" in line]


def test_layer_lifecycle_files_grubenv_and_menu(ib):
    """Layers get kernels, entries and the default; once/confirm/rollback/remove move grubenv right."""
    boot, vg = ib.boot_dir, ib.vg
    ib("layer", "--add")
    assert sorted(os.listdir(boot / "Base-0.1")) == ["initrd.img-6.1.0-test", "vmlinuz-6.1.0-test"]
    e = entry(boot, "Base-0.1")
    assert e["linux"] == "/Base-0.1/vmlinuz-6.1.0-test" and e["initrd"] == "/Base-0.1/initrd.img-6.1.0-test"
    opts = e["options"].split()
    for want in (f"root=/dev/{vg}/Base-0.1", f"rd.lvm.lv={vg}/Base-0.1", "ro", "rootflags=discard",
                 "img.bootid=Base-0.1", "console=ttyS0"):
        assert want in opts, (want, opts)
    assert grubenv(boot)["saved_entry"] == "imgbased-Base-0.1"

    ib("layer", "--add")
    assert grubenv(boot)["saved_entry"] == "imgbased-Base-0.2"
    rows = json.loads(ib("boot", "--list", "--json").stdout)
    assert [(r["layer"], r["default"]) for r in rows] == [("Base-0.2", True), ("Base-0.1", False)]

    ib("boot", "--set-default", "Base-0.1")
    assert grubenv(boot)["saved_entry"] == "imgbased-Base-0.1"
    ib("boot", "--once", "Base-0.2")
    env = grubenv(boot)
    assert env["next_entry"] == "imgbased-Base-0.2" and env["saved_entry"] == "imgbased-Base-0.1"

    ib.boot_into("Base-0.2")  # GRUB consumed next_entry and booted Base-0.2
    sh("grub-editenv", str(boot / "grub/grubenv"), "unset", "next_entry")
    ib("boot", "--confirm", "--if-pending")  # a plain once is never confirmed automatically
    assert grubenv(boot)["saved_entry"] == "imgbased-Base-0.1"
    ib("boot", "--confirm")  # an explicit confirm makes the running layer the default
    assert grubenv(boot)["saved_entry"] == "imgbased-Base-0.2"

    ib("rollback")
    assert grubenv(boot)["saved_entry"] == "imgbased-Base-0.1"
    ib("rollback", "--to", "Base-0.2")
    assert grubenv(boot)["saved_entry"] == "imgbased-Base-0.2"
    assert menu_ids(boot) == ["imgbased-Base-0.2", "imgbased-Base-0.1"]

    ib("layer", "--remove", "Base-0.1")
    assert not (boot / "Base-0.1").exists()
    assert not (boot / "loader/entries/imgbased-Base-0.1.conf").exists()
    assert "Base-0.1" not in lvs(vg)
    assert menu_ids(boot) == ["imgbased-Base-0.2"]
    assert "nothing to roll back to" in one_line_error(ib("rollback", check=False))


def test_remove_orphans(ib):
    """Entries whose layer is gone are removed; live ones stay."""
    ib("layer", "--add")
    boot = ib.boot_dir
    orphan = boot / "loader/entries/imgbased-Base-7.1.conf"
    orphan.write_text((boot / "loader/entries/imgbased-Base-0.1.conf").read_text().replace("Base-0.1", "Base-7.1"))
    (boot / "Base-7.1").mkdir()
    (boot / "Base-7.1/vmlinuz-6.1.0-test").write_text("x")
    assert json.loads(ib("boot", "--remove-orphans", "--json").stdout) == {"removed": ["Base-7.1"]}
    assert not orphan.exists() and not (boot / "Base-7.1").exists()
    assert (boot / "loader/entries/imgbased-Base-0.1.conf").exists()


def test_remove_orphans_keeps_layers_without_base_and_other_vgs(ib):
    """A layer whose base LV is gone still exists (its entry stays); another VG's entry is not ours."""
    ib("layer", "--add")
    boot, vg = ib.boot_dir, ib.vg
    sh("lvremove", "-f", f"{vg}/Base-0")  # a thin snapshot outlives its origin
    assert "Base-0.1" in lvs(vg) and "Base-0" not in lvs(vg)
    other = boot / "loader/entries/imgbased-Base-9.1.conf"
    other.write_text((boot / "loader/entries/imgbased-Base-0.1.conf").read_text()
                     .replace("Base-0.1", "Base-9.1").replace(f"{vg}/", "OtherVG/"))
    assert json.loads(ib("boot", "--remove-orphans", "--json").stdout) == {"removed": []}
    assert (boot / "loader/entries/imgbased-Base-0.1.conf").exists() and (boot / "Base-0.1").is_dir()
    assert other.exists()


def test_rollback_never_picks_an_entry_whose_lv_is_gone(ib):
    """An entry left behind by an LV removed outside imgbase is not a rollback target."""
    ib("layer", "--add")
    ib("layer", "--add")
    sh("lvremove", "-f", f"{ib.vg}/Base-0.1")
    assert (ib.boot_dir / "loader/entries/imgbased-Base-0.1.conf").exists()
    assert "nothing to roll back to" in one_line_error(ib("rollback", check=False))
    assert grubenv(ib.boot_dir)["saved_entry"] == "imgbased-Base-0.2"


def test_bad_input_changes_nothing(ib, payloads, tmp_path):
    """Unknown layers, a full /boot and a kernel-less image give one line and change nothing."""
    ib("layer", "--add")
    boot = ib.boot_dir
    before = (grubenv(boot), sorted(p.name for p in boot.rglob("*")), set(lvs(ib.vg)))
    for args in (["boot", "--set-default", "Base-4.1"], ["boot", "--once", "Base-4.1"],
                 ["rollback", "--to", "Base-4.1"], ["boot", "--set-default", "../x"]):
        one_line_error(ib(*args, check=False))
    assert "nothing to roll back to" in one_line_error(ib("rollback", check=False))

    filler = boot / "filler"
    free = os.statvfs(boot).f_bavail * os.statvfs(boot).f_frsize
    sh("fallocate", "-l", str(max(free - (64 << 10), 0)), str(filler))
    msg = one_line_error(ib("layer", "--add", check=False))
    assert "space" in msg or "room" in msg, msg
    filler.unlink()
    assert (grubenv(boot), sorted(p.name for p in boot.rglob("*")), set(lvs(ib.vg))) == before

    kernelless = tmp_path / "nokernel"
    (kernelless / "etc").mkdir(parents=True)
    (kernelless / "etc/hostname").write_text("x\n")
    image = tmp_path / "nokernel.img"
    sh("mkfs.ext4", "-q", "-F", "-d", str(kernelless), str(image), "64M")
    ib("base", "--add", str(image))
    before = (grubenv(boot), sorted(p.name for p in boot.rglob("*")), set(lvs(ib.vg)))
    assert "kernel" in one_line_error(ib("layer", "--add", check=False))
    assert (grubenv(boot), sorted(p.name for p in boot.rglob("*")), set(lvs(ib.vg))) == before
