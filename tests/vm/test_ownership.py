# SPDX-License-Identifier: GPL-2.0-or-later
"""Reliability on a real thinpool: imgbased removes only what it made, and stops on a pending journal.

* LVs that imgbased did not create (no tag) but that carry the next Base-N / Base-N.M name are
  never removed, by a failing operation's rollback or by recover.
* An interrupted operation blocks new ones until `imgbase recover` ran; recover never removes
  the default (or running, or next-boot) layer.
* recover replays boot records on the boot directory the journal was written for.
* A hook that cannot start, or that anyone may change, never undoes an update.
* `layer --remove` of a busy layer is refused before any boot file is touched.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.lvmhelp import lvs, sh
from tests.vm.bootfix import booted_tool, grubenv, unmount_boot
from tests.vm.payloads import Imgbase, one_line_error, shared_payloads


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """v1 and v2 payloads, built once for this module."""
    return shared_payloads(tmp_path_factory, "1"), shared_payloads(tmp_path_factory, "2")


@pytest.fixture
def ib(loop_disk, vg_name, tmp_path, images):
    """A VG with Base-0 and Base-0.1, no boot management."""
    tool = Imgbase(tmp_path, vg_name)
    tool("layout", "--init", "--pvs", loop_disk("8G"))
    tool("base", "--add", str(images[0].ext4))
    tool("layer", "--add")
    return tool


@pytest.fixture
def host(loop_disk, vg_name, tmp_path, images):
    """A VG with Base-0 and Base-0.1 (the default), and a /boot with its entry."""
    tool = booted_tool(loop_disk, vg_name, tmp_path)
    tool("base", "--add", str(images[0].ext4))
    tool("layer", "--add")
    yield tool
    unmount_boot(tool.boot_dir)


def foreign_lv(vg: str, name: str, tmp_path: Path, pool: str = "pool00") -> None:
    """An LV imgbased did not make (no tags), holding a file."""
    sh("lvcreate", "-q", "--thin", "-V", "64M", "-n", name, f"{vg}/{pool}")
    sh("mkfs.ext4", "-q", f"/dev/{vg}/{name}")
    mnt = tmp_path / f"f-{name}"
    mnt.mkdir()
    sh("mount", f"/dev/{vg}/{name}", str(mnt))
    try:
        (mnt / "precious").write_text(f"data of {name}\n")
    finally:
        sh("umount", str(mnt))


def foreign_content(vg: str, name: str, tmp_path: Path) -> str:
    """The file in a foreign LV (the LV must still exist)."""
    assert name in lvs(vg), f"{name} was removed"
    mnt = tmp_path / f"r-{name}"
    mnt.mkdir(exist_ok=True)
    sh("mount", "-o", "ro", f"/dev/{vg}/{name}", str(mnt))
    try:
        return (mnt / "precious").read_text()
    finally:
        sh("umount", str(mnt))


def layout_names(tool: Imgbase) -> list[str]:
    """Bases and layers of the layout, in order."""
    d = json.loads(tool("layout", "--json").stdout)
    return [n for b in d["bases"] for n in [b["name"], *[lv["name"] for lv in b["layers"]]]]


def write_journal(tool: Imgbase, name: str, **fields) -> Path:
    """Put a journal of an interrupted operation into the tool's state directory."""
    journal = {"id": name, "op": "install", "vg": tool.vg, "step": "boot-entry", "committed": False,
               "lvs": [], "files": [], "undo": [], "started": 0.0, **fields}
    directory = Path(tool.env["IMGBASED_STATE_DIR"]) / "journal"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    path.write_text(json.dumps(journal))
    return path


# --- D1: ownership ---------------------------------------------------------------------------------

def test_next_names_skip_foreign_lvs(ib, images, tmp_path):
    """Untagged Base-0.2 and Base-1 exist: layer/base --add pick other names and leave them alone."""
    foreign_lv(ib.vg, "Base-0.2", tmp_path)
    foreign_lv(ib.vg, "Base-1", tmp_path)
    out = ib("layer", "--add", check=False)
    assert foreign_content(ib.vg, "Base-0.2", tmp_path) == "data of Base-0.2\n"
    assert out.returncode == 0, out.stderr
    ib("base", "--add", str(images[1].ext4))
    assert foreign_content(ib.vg, "Base-1", tmp_path) == "data of Base-1\n"
    assert layout_names(ib) == ["Base-0", "Base-0.1", "Base-0.3", "Base-2"]
    for name in ("Base-0.2", "Base-1"):
        assert lvs(ib.vg)[name]["lv_tags"] == "", name


def test_recover_leaves_an_untagged_lv_of_a_journal_alone(ib, tmp_path):
    """A journal names an LV that lacks its txn tag: recover keeps the LV and says so in one line."""
    foreign_lv(ib.vg, "Base-0.2", tmp_path)
    write_journal(ib, "20260101T000000-4242", op="layer-add", step="create-layer", lvs=["Base-0.2"])
    out = ib("recover", "--json")
    assert foreign_content(ib.vg, "Base-0.2", tmp_path) == "data of Base-0.2\n"
    problems = json.loads(out.stdout)["problems"]
    assert len(problems) == 1 and "Base-0.2" in problems[0] and "imgbased:txn=20260101T000000-4242" in problems[0]
    assert "\n" not in problems[0]
    assert "nothing to recover" in ib("recover", "--list").stdout


def test_init_from_refuses_a_foreign_base_0(loop_disk, vg_name, tmp_path):
    """Adopting a root in a VG that already has an untagged Base-0: one-line refusal, nothing removed."""
    dev = loop_disk("4G")
    sh("vgcreate", "-q", vg_name, dev)
    sh("lvcreate", "-q", "--type", "thin-pool", "-L", "1G", "-n", "pool", vg_name)
    sh("lvcreate", "-q", "--thin", "-V", "128M", "-n", "root", f"{vg_name}/pool")
    sh("mkfs.ext4", "-q", f"/dev/{vg_name}/root")
    foreign_lv(vg_name, "Base-0", tmp_path, pool="pool")
    tool = Imgbase(tmp_path, vg_name)
    line = one_line_error(tool("layout", "--init", "--from", f"{vg_name}/root", vg=False, check=False))
    assert "Base-0" in line
    assert foreign_content(vg_name, "Base-0", tmp_path) == "data of Base-0\n"
    assert set(lvs(vg_name)) >= {"pool", "root", "Base-0"}


def test_recover_leaves_a_foreign_vg_of_an_init_journal_alone(loop_disk, vg_name, tmp_path):
    """An interrupted `layout --init` journal names a VG that imgbased did not make: it survives."""
    dev = loop_disk("1G")
    sh("vgcreate", "-q", vg_name, dev)
    sh("lvcreate", "-q", "-L", "64M", "-n", "data", vg_name)
    tool = Imgbase(tmp_path, vg_name)
    write_journal(tool, "20260101T000000-5151", op="layout-init", step="create-vg",
                  undo=[{"vgremove": vg_name, "pvs": [dev]}])
    problems = json.loads(tool("recover", "--json").stdout)["problems"]
    assert "data" in lvs(vg_name)
    assert len(problems) == 1 and vg_name in problems[0], problems
    assert "nothing to recover" in tool("recover", "--list").stdout


# --- D2: a pending journal blocks new operations ---------------------------------------------------

def test_pending_journal_blocks_new_operations_until_recover(host, images):
    """Killed mid-update: base/layer --add and update are refused until recover; then update works."""
    clean = set(lvs(host.vg))
    host.env["IMGBASED_FAULT_STEP"] = "copy-image"
    assert host("update", str(images[1].ext4), check=False).returncode == -9
    del host.env["IMGBASED_FAULT_STEP"]
    for args in (("layer", "--add"), ("base", "--add", str(images[1].ext4)), ("update", str(images[1].ext4))):
        line = one_line_error(host(*args, check=False))
        assert "imgbase recover" in line, (args, line)
    host("recover")
    assert "nothing to recover" in host("recover", "--list").stdout
    assert set(lvs(host.vg)) == clean
    host("update", str(images[1].ext4))
    assert grubenv(host.boot_dir)["saved_entry"] == "imgbased-Base-1.1"


def test_recover_never_removes_the_default_layer(host, images):
    """The journal's layer became the default before the crash: recover keeps it and says why."""
    host.env["IMGBASED_FAULT_STEP"] = "set-default"
    assert host("update", str(images[1].ext4), check=False).returncode == -9
    del host.env["IMGBASED_FAULT_STEP"]
    sh("grub-editenv", str(host.boot_dir / "grub/grubenv"), "set", "saved_entry=imgbased-Base-1.1")
    out = host("recover", "--json")
    assert {"Base-1", "Base-1.1"} <= set(lvs(host.vg))
    assert (host.boot_dir / "Base-1.1").is_dir()
    assert grubenv(host.boot_dir)["saved_entry"] == "imgbased-Base-1.1"
    problems = json.loads(out.stdout)["problems"]
    assert len(problems) == 1 and "Base-1.1" in problems[0] and "default" in problems[0], problems
    # The operator picks the default back; recover then undoes the update.
    host("boot", "--set-default", "Base-0.1")
    host("recover")
    assert "nothing to recover" in host("recover", "--list").stdout
    assert not {"Base-1", "Base-1.1"} & set(lvs(host.vg))
    assert not (host.boot_dir / "Base-1.1").exists()


# --- D3: a journal's own boot directory -------------------------------------------------------------

def test_recover_of_another_boot_dir_leaves_the_host_boot_alone(host, tmp_path):
    """Interrupted installs to another disk: recover does not touch this host's /boot."""
    entry = host.boot_dir / "loader/entries/imgbased-Base-0.1.conf"
    kernel_dir = host.boot_dir / "Base-0.1"
    before = (entry.read_text(), sorted(p.name for p in kernel_dir.iterdir()), grubenv(host.boot_dir))
    gone = "/run/imgbased/mnt-gone0000"
    # As written by an interrupted install (boot dir only visible in its file paths) ...
    write_journal(host, "20260101T000000-1111", files=[f"{gone}/Base-0.1",
                  f"{gone}/loader/entries/imgbased-Base-0.1.conf"], undo=[{"boot-remove": "Base-0.1"}])
    host("recover")
    assert (entry.read_text(), sorted(p.name for p in kernel_dir.iterdir()), grubenv(host.boot_dir)) == before
    # ... and with the boot directory recorded: a second /boot with its own Base-0.1 files.
    other = tmp_path / "otherboot"
    (other / "Base-0.1").mkdir(parents=True)
    (other / "Base-0.1/vmlinuz-x").write_text("k")
    (other / "loader/entries").mkdir(parents=True)
    (other / "loader/entries/imgbased-Base-0.1.conf").write_text(entry.read_text())
    write_journal(host, "20260101T000000-2222", boot_dir=str(other), files=[str(other / "Base-0.1")],
                  undo=[{"boot-remove": "Base-0.1"}, {"default-was": "Base-0.1"}])
    host("recover")
    assert not (other / "Base-0.1").exists() and not (other / "loader/entries/imgbased-Base-0.1.conf").exists()
    after = (entry.read_text(), sorted(p.name for p in kernel_dir.iterdir()), grubenv(host.boot_dir))
    assert after == before
    assert "nothing to recover" in host("recover", "--list").stdout


# --- D4: hooks that cannot start, and hooks anyone may change ---------------------------------------

def test_unstartable_and_unsafe_hooks_do_not_undo_an_update(host, images, tmp_path):
    """A hook with no #! line fails as a warning; a world-writable hook is skipped; the update commits."""
    hooks = tmp_path / "hooks"
    hooks.mkdir(mode=0o755)
    hooks.chmod(0o755)
    marker = tmp_path / "unsafe-ran"
    # Fine for pre-update, which then replaces it by a file with no #! line (exec fails: ENOEXEC).
    (hooks / "10-no-shebang").write_text('#!/bin/sh\nif [ "$1" = pre-update ]; then\n'
                                         '  printf "echo no interpreter line\\n" > "$0.new"\n'
                                         '  chmod 755 "$0.new"; mv "$0.new" "$0"\nfi\nexit 0\n')
    (hooks / "10-no-shebang").chmod(0o755)
    (hooks / "20-open").write_text(f"#!/bin/sh\ntouch {marker}\n")
    (hooks / "20-open").chmod(0o777)
    host.env["IMGBASED_HOOKS_DIRS"] = str(hooks)
    proc = host("update", str(images[1].ext4), check=False)
    assert proc.returncode == 0, proc.stderr
    assert "10-no-shebang" in proc.stderr and "20-open" in proc.stderr, proc.stderr
    assert not marker.exists()
    assert grubenv(host.boot_dir)["saved_entry"] == "imgbased-Base-1.1"
    assert {"Base-1", "Base-1.1"} <= set(lvs(host.vg))


# --- D7: removal of a busy layer --------------------------------------------------------------------

def test_remove_of_a_mounted_layer_is_refused_before_boot_files(host, tmp_path):
    """A mounted layer: `layer --remove` fails in one line and its entry and kernel stay."""
    host("layer", "--add")
    mnt = tmp_path / "busy"
    mnt.mkdir()
    sh("mount", f"/dev/{host.vg}/Base-0.2", str(mnt))
    try:
        proc = host("layer", "--remove", "Base-0.2", check=False)
        assert (host.boot_dir / "Base-0.2").is_dir()
        assert (host.boot_dir / "loader/entries/imgbased-Base-0.2.conf").is_file()
        assert grubenv(host.boot_dir)["saved_entry"] == "imgbased-Base-0.2"
        line = one_line_error(proc)
        assert "Base-0.2" in line and "mounted" in line, line
    finally:
        sh("umount", str(mnt))
    host("layer", "--remove", "Base-0.2")
    assert "Base-0.2" not in lvs(host.vg)
    assert not (host.boot_dir / "Base-0.2").exists()
