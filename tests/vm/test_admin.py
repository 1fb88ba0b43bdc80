# SPDX-License-Identifier: GPL-2.0-or-later
"""gc, check and diff on a real thinpool, with boot entries in a scratch /boot."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.lvmhelp import lvs, sh
from tests.vm.payloads import Imgbase, one_line_error

KVER = "6.1.0-test"


@pytest.fixture(scope="session")
def image(tmp_path_factory) -> Path:
    """A small ext4 root image with a kernel and initrd in /boot."""
    top = tmp_path_factory.mktemp("admin-payload")
    tree = top / "tree"
    for rel, text in {"usr/lib/os-release": "ID=debian\nIMAGE_ID=admintest\nIMAGE_VERSION=1\n",
                      "etc/hostname": "admintest\n", "etc/motd": "version one\n",
                      "usr/bin/tool": "#!/bin/sh\necho tool\n",
                      f"boot/vmlinuz-{KVER}": "fake kernel\n", f"boot/initrd.img-{KVER}": "fake initrd\n"}.items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text(text)
    (tree / "usr/bin/tool").chmod(0o755)
    img = top / "rootfs.img"
    subprocess.run(["mkfs.ext4", "-q", "-F", "-b", "4096", "-d", str(tree), str(img), "48M"], check=True)
    return img


def make_tool(loop_disk, vg_name: str, work: Path, bootloader: bool) -> Imgbase:
    """An initialised VG on a fresh loop disk; with bootloader, a scratch /boot with a grubenv."""
    tool = Imgbase(work, vg_name, bootloader=bootloader)
    (tool.boot_dir / "grub").mkdir()
    tool.grubenv = tool.boot_dir / "grub/grubenv"
    sh("grub-editenv", str(tool.grubenv), "create")
    tool("layout", "--init", "--pvs", loop_disk("6G"))
    return tool


def lv_names(vg: str) -> set[str]:
    """The visible LVs of vg (not the pool's hidden sub-LVs)."""
    return {name for name in lvs(vg, "lv_name") if not name.startswith("[")}


def lv_attrs(vg: str) -> dict[str, str]:
    """LV name -> attr string minus the open flag (for before/after comparisons)."""
    return {n: r["lv_attr"][:5] + r["lv_attr"][6:] for n, r in lvs(vg, "lv_name,lv_attr").items()}


def boot_files(boot: Path) -> set[str]:
    """Every file and directory in the scratch /boot except grubenv."""
    return {str(p.relative_to(boot)) for p in boot.rglob("*") if p.name != "grubenv"}


def saved_entry(tool: Imgbase) -> str:
    """The grubenv default."""
    out = sh("grub-editenv", str(tool.grubenv), "list").stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line).get("saved_entry", "")


def test_gc_keeps_pinned_booted_default_newest(loop_disk, vg_name, tmp_path, image):
    """gc removes exactly the unprotected bases with their layers and boot files; --dry-run changes nothing."""
    tool = make_tool(loop_disk, vg_name, tmp_path, bootloader=True)
    for n in range(6):
        tool("base", "--add", str(image))
        if n < 5:
            tool("layer", "--add")
    tool("layer", "--add", "--base", "Base-3")
    tool("base", "--pin", "Base-0")
    tool.boot_into("Base-1.1")
    sh("grub-editenv", str(tool.grubenv), "set", "saved_entry=imgbased-Base-2.1")
    conf = tmp_path / "imgbased.conf"
    conf.write_text("[gc]\nkeep = 1\n")
    attrs, files = lv_attrs(vg_name), boot_files(tool.boot_dir)
    assert {"loader/entries/imgbased-Base-3.2.conf", "Base-4.1", f"Base-3.1/vmlinuz-{KVER}"} <= files

    plan = json.loads(tool("--config", str(conf), "gc", "--dry-run", "--json").stdout)
    assert plan["remove"] == [{"base": "Base-3", "layers": ["Base-3.1", "Base-3.2"]},
                              {"base": "Base-4", "layers": ["Base-4.1"]}]
    assert plan["kept"] == [{"base": "Base-0", "reasons": ["pinned"]}, {"base": "Base-1", "reasons": ["booted"]},
                            {"base": "Base-2", "reasons": ["default"]}, {"base": "Base-5", "reasons": ["newest"]}]
    assert "would remove Base-4 (layers Base-4.1)" in tool("--config", str(conf), "gc", "--dry-run").stdout
    assert lv_attrs(vg_name) == attrs and boot_files(tool.boot_dir) == files

    mnt = tmp_path / "busy"
    mnt.mkdir()
    sh("mount", f"/dev/{vg_name}/Base-3.1", str(mnt))
    try:
        proc = tool("--config", str(conf), "gc", "--json", check=False)
    finally:
        sh("umount", str(mnt))
    assert "gc could not remove Base-3" in one_line_error(proc)
    first = json.loads(proc.stdout)
    assert first["removed"] == ["Base-4"] and first["failed"][0]["base"] == "Base-3"
    assert "Base-3.1 is in use" in first["failed"][0]["error"]
    assert {"Base-3", "Base-3.1", "Base-3.2"} <= lv_names(vg_name) and "Base-4" not in lv_names(vg_name)
    assert "loader/entries/imgbased-Base-3.1.conf" in boot_files(tool.boot_dir)

    done = json.loads(tool("--config", str(conf), "gc", "--json").stdout)
    assert done["removed"] == ["Base-3"] and done["failed"] == []
    assert lv_names(vg_name) == {"pool00", "Base-0", "Base-0.1", "Base-1", "Base-1.1", "Base-2", "Base-2.1",
                                 "Base-5"}
    left = boot_files(tool.boot_dir)
    assert {f for f in left if f.startswith("loader/entries/")} == {
        f"loader/entries/imgbased-Base-{n}.1.conf" for n in range(3)}
    assert not any(f.startswith(("Base-3", "Base-4")) for f in left), left
    assert saved_entry(tool) == "imgbased-Base-2.1"
    again = json.loads(tool("--config", str(conf), "gc", "--json").stdout)
    assert again["remove"] == [] and again["removed"] == []


def test_check_healthy_then_broken(loop_disk, vg_name, tmp_path, image):
    """A fresh layout checks OK (exit 0); each injected fault is a FAILED line with its reason (exit 1)."""
    tool = make_tool(loop_disk, vg_name, tmp_path, bootloader=True)
    tool("base", "--add", str(image))
    tool("layer", "--add")
    proc = tool("check")
    assert proc.stdout.splitlines()[-1] == "Status: OK", proc.stdout
    assert "FAILED" not in proc.stdout
    report = json.loads(tool("check", "--json").stdout)
    assert report["status"] == "OK" and report["problems"] == 0
    storage = {f["name"]: f["status"] for f in report["groups"]["storage"]}
    assert storage == {"vg": "OK", "pool": "OK", "base Base-0": "OK", "layer Base-0.1": "OK", "transactions": "OK"}
    boot = {f["name"]: f["status"] for f in report["groups"]["boot"]}
    assert boot == {"entry Base-0.1": "OK", "default": "OK", "orphans": "OK"}
    assert {f["name"] for f in report["groups"]["thin"]} == {"data", "metadata", "autoextend", "monitoring"}

    sh("lvchange", "-q", "--permission", "rw", f"{vg_name}/Base-0")
    Imgbase(tmp_path, vg_name, boot_dir=tool.boot_dir)("layer", "--add")          # Base-0.2, no entry
    sh("lvchange", "-q", "--addtag", "imgbased:txn=20260101T000000-1", f"{vg_name}/Base-0.1")
    (tool.boot_dir / f"Base-0.1/initrd.img-{KVER}").unlink()
    entries = tool.boot_dir / "loader/entries"
    (entries / "imgbased-Base-7.1.conf").write_text((entries / "imgbased-Base-0.1.conf").read_text())

    proc = tool("check", check=False)
    assert "check found 5 problem(s)" in one_line_error(proc)
    lines = proc.stdout.splitlines()
    assert lines[-1] == "Status: FAILED"
    failed = [ln for ln in lines if ln.startswith("FAILED")]
    expect = ["storage: base Base-0: writable", "storage: transactions: Base-0.1 carries imgbased:txn=",
              "boot: entry Base-0.1: initrd:", "boot: entry Base-0.2: Base-0.2 has no boot entry",
              "boot: orphans: entries of layers that do not exist: Base-7.1"]
    for words in expect:
        assert any(words in ln for ln in failed), (words, failed)
    assert len(failed) == 5
    data = json.loads(tool("check", "--json", check=False).stdout)
    assert data["status"] == "FAILED" and data["problems"] == 5


def change_layer(vg: str, layer: str, mnt: Path, edits) -> None:
    """Mount a layer read-write, apply edits(root), unmount."""
    mnt.mkdir(exist_ok=True)
    sh("mount", f"/dev/{vg}/{layer}", str(mnt))
    try:
        edits(mnt)
    finally:
        sh("umount", str(mnt))


def edit_one(root: Path) -> None:
    """Layer 1: add, change, remove, chmod, and a hostile name."""
    (root / "etc/new.conf").write_text("new\n")
    (root / "etc/motd").write_text("version 1.1\n")
    (root / "etc/hostname").unlink()
    (root / "usr/bin/tool").chmod(0o700)
    (root / "etc/bad\nname").write_text("x")


def edit_two(root: Path) -> None:
    """Layer 2: a different motd and another file."""
    (root / "etc/motd").write_text("version two, longer\n")
    (root / "usr/bin/other").write_text("other\n")


def changes(proc: subprocess.CompletedProcess) -> dict[str, tuple[str, list[str]]]:
    """path -> (status, reasons) from diff --json output."""
    return {c["path"]: (c["status"], c["reasons"]) for c in json.loads(proc.stdout)["changes"]}


def test_diff_layer_vs_base_and_between_layers(loop_disk, vg_name, tmp_path, image):
    """diff sees added, changed and removed files; --etc narrows it; bases are deactivated again."""
    tool = make_tool(loop_disk, vg_name, tmp_path, bootloader=False)
    tool("base", "--add", str(image))
    tool("layer", "--add")
    tool("layer", "--add")
    change_layer(vg_name, "Base-0.1", tmp_path / "m1", edit_one)
    change_layer(vg_name, "Base-0.2", tmp_path / "m2", edit_two)
    assert lvs(vg_name, "lv_name,lv_attr")["Base-0"]["lv_attr"][4] != "a"

    one = {"/etc/new.conf": ("added", []), "/etc/motd": ("changed", ["content"]),
           "/etc/hostname": ("removed", []), "/usr/bin/tool": ("changed", ["mode"]),
           "/etc/bad\nname": ("added", [])}
    assert changes(tool("diff", "Base-0.1", "--json")) == one
    assert changes(tool("diff", "Base-0.1", "--etc", "--json")) == {k: v for k, v in one.items()
                                                                     if k.startswith("/etc/")}
    text = tool("diff", "Base-0.1").stdout.splitlines()
    assert text[0] == "Base-0 -> Base-0.1: 2 added, 2 changed, 1 removed"
    assert "A /etc/bad\\nname" in text and "M /usr/bin/tool (mode 0755 -> 0700)" in text
    assert lvs(vg_name, "lv_name,lv_attr")["Base-0"]["lv_attr"][4] != "a"

    mnt = tmp_path / "m2"
    sh("mount", f"/dev/{vg_name}/Base-0.2", str(mnt))            # a mounted layer is seen through a bind mount
    try:
        between = changes(tool("diff", "Base-0.1", "Base-0.2", "--json"))
        assert os.path.ismount(mnt) and (mnt / "usr/bin/other").read_text() == "other\n"
    finally:
        sh("umount", str(mnt))
    assert between == {"/etc/new.conf": ("removed", []), "/etc/motd": ("changed", ["content"]),
                       "/etc/hostname": ("added", []), "/usr/bin/tool": ("changed", ["mode"]),
                       "/etc/bad\nname": ("removed", []), "/usr/bin/other": ("added", [])}
    assert changes(tool("diff", "Base-0.1", "Base-0.2", "--etc", "--json")).keys() == {
        "/etc/new.conf", "/etc/motd", "/etc/hostname", "/etc/bad\nname"}
    run_dir = str(tmp_path / "run")
    assert run_dir not in Path("/proc/self/mountinfo").read_text()
    assert "no layer Base-0.9" in one_line_error(tool("diff", "Base-0.9", check=False))
