# SPDX-License-Identifier: GPL-2.0-or-later
"""`imgbase update` on a real thinpool: /etc carried over, data volumes untouched, crash-safe."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.lvmhelp import lvs, sh
from tests.vm.bootfix import booted_tool, grubenv, unmount_boot
from tests.vm.payloads import one_line_error, shared_payloads

# The journal steps of an update, in order (see org_ovirt_imgbased/update.py and layers.py).
STEPS = ["add-base", "create-base", "copy-image", "seal-base", "add-layer", "create-layer", "new-uuid",
         "migrate-config", "boot-entry", "set-default", "committed"]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """v1 and v2 payloads, built once."""
    return shared_payloads(tmp_path_factory, "1"), shared_payloads(tmp_path_factory, "2")


def mount_rw(dev: str, where: Path):
    """Mount dev read-write at where (the caller unmounts)."""
    where.mkdir(parents=True, exist_ok=True)
    sh("mount", dev, str(where))
    return where


def customise(vg: str, tmp_path: Path) -> None:
    """Local changes in Base-0.1: edits, an added file, a deletion and a local user."""
    root = mount_rw(f"/dev/{vg}/Base-0.1", tmp_path / "edit")
    try:
        (root / "etc/hostname").write_text("myhost\n")
        (root / "etc/app.conf").write_text("setting=local\n")
        (root / "etc/deleteme").unlink()
        (root / "etc/local-added").write_text("mine\n")
        with open(root / "etc/passwd", "a") as f:
            f.write("alice:x:1000:1000:Alice:/home/alice:/bin/bash\n")
        with open(root / "etc/group", "a") as f:
            f.write("alice:x:1000:\n")
        with open(root / "etc/shadow", "a") as f:
            f.write("alice:$6$salt$hash:19000:0:99999:7:::\n")
    finally:
        sh("umount", str(root))


def data_volume(vg: str, tmp_path: Path) -> str:
    """A thin data volume (like /var) with some files; returns its device path."""
    sh("lvcreate", "-q", "--thin", "-V", "256M", "-n", "var", "--addtag", "imgbased:volume", f"{vg}/pool00")
    dev = f"/dev/{vg}/var"
    sh("mkfs.ext4", "-q", dev)
    root = mount_rw(dev, tmp_path / "var")
    try:
        (root / "lib").mkdir()
        (root / "lib/data.bin").write_bytes(bytes(range(256)) * 4096)
    finally:
        sh("umount", str(root))
    return dev


def digest(dev: str) -> str:
    """sha256 of a whole block device."""
    with open(dev, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


@pytest.fixture
def host(loop_disk, vg_name, tmp_path, images):
    """A host on v1: Base-0, Base-0.1 (customised, default), a var data volume."""
    tool = booted_tool(loop_disk, vg_name, tmp_path)
    tool("base", "--add", str(images[0].ext4))
    tool("layer", "--add")
    customise(vg_name, tmp_path)
    tool.var = data_volume(vg_name, tmp_path)
    yield tool
    unmount_boot(tool.boot_dir)


def read_layer(vg: str, layer: str, tmp_path: Path, *paths: str) -> dict[str, str | None]:
    """Read files (None when absent) from a layer, mounted read-only."""
    mnt = tmp_path / f"ro-{layer}"
    mnt.mkdir(exist_ok=True)
    sh("mount", "-o", "ro", f"/dev/{vg}/{layer}", str(mnt))
    try:
        return {p: (mnt / p).read_text() if (mnt / p).exists() else None for p in paths}
    finally:
        sh("umount", str(mnt))


def test_update_carries_config_and_leaves_data_alone(host, images, tmp_path):
    """v1 -> v2: local edits kept, new defaults taken, deletions kept, users kept, /var untouched."""
    before_var = digest(host.var)
    out = host("update", "--json", str(images[1].liveimg))
    result = json.loads(out.stdout)
    assert (result["new_base"], result["new_layer"], result["source_layer"]) == ("Base-1", "Base-1.1", "Base-0.1")
    assert result["conflicts"] >= 1 and "app.conf" in result["report"]
    assert grubenv(host.boot_dir)["saved_entry"] == "imgbased-Base-1.1"
    files = read_layer(host.vg, "Base-1.1", tmp_path, "etc/hostname", "etc/app.conf", "etc/motd", "etc/deleteme",
                       "etc/local-added", "etc/new-in-v2", "etc/passwd", "etc/imgbased/last-update.report")
    assert files["etc/hostname"] == "myhost\n"            # edited locally, unchanged in v2
    assert files["etc/app.conf"] == "setting=local\n"     # both changed: keep-local
    assert files["etc/motd"] == "payload version 2\n"     # untouched: new default
    assert files["etc/deleteme"] is None                  # deleted locally stays deleted
    assert files["etc/local-added"] == "mine\n"
    assert files["etc/new-in-v2"] == "added in v2\n"
    assert "alice:x:1000:1000:" in files["etc/passwd"] and "newsvc:x:998:998:" in files["etc/passwd"]
    assert "app.conf" in files["etc/imgbased/last-update.report"]
    assert digest(host.var) == before_var
    layout = json.loads(host("layout", "--json").stdout)
    assert [b["name"] for b in layout["bases"]] == ["Base-0", "Base-1"]
    assert [v["name"] for v in layout["volumes"]] == ["var"]
    assert (host.boot_dir / "Base-0.1/vmlinuz-6.1.0-test").exists()  # the old layer stays bootable


def test_update_while_source_layer_is_in_use(host, images, tmp_path):
    """The running layer is mounted read-write (as at / on a host); update still reads it."""
    running = mount_rw(f"/dev/{host.vg}/Base-0.1", tmp_path / "running")
    try:
        (running / "etc/written-while-running").write_text("live\n")
        host("update", str(images[1].ext4))
    finally:
        sh("umount", str(running))
    files = read_layer(host.vg, "Base-1.1", tmp_path, "etc/hostname", "etc/written-while-running")
    assert files == {"etc/hostname": "myhost\n", "etc/written-while-running": "live\n"}


def test_dry_run_plans_without_changes(host, images):
    """--dry-run prints the plan and conflict report and changes nothing."""
    before = (lvs(host.vg), grubenv(host.boot_dir))
    out = host("update", "--dry-run", str(images[1].ext4)).stdout
    assert "would create Base-1 and Base-1.1" in out and "app.conf" in out
    assert (lvs(host.vg), grubenv(host.boot_dir)) == before


def test_try_then_confirm(host, images):
    """--try boots the new layer once; confirming on that boot makes it the default."""
    host("update", "--try", str(images[1].ext4))
    env = grubenv(host.boot_dir)
    assert env["saved_entry"] == "imgbased-Base-0.1" and env["next_entry"] == "imgbased-Base-1.1"
    host.boot_into("Base-1.1")
    sh("grub-editenv", str(host.boot_dir / "grub/grubenv"), "unset", "next_entry")
    host("boot", "--confirm", "--if-pending")
    assert grubenv(host.boot_dir)["saved_entry"] == "imgbased-Base-1.1"


def test_pre_update_hook_can_abort_and_post_hooks_run(host, images, tmp_path):
    """A failing pre-update hook aborts cleanly; the other hooks get their events."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    log = tmp_path / "hooks.log"
    (hooks / "10-log").write_text(f"#!/bin/sh\necho \"$@\" >> {log}\n")
    (hooks / "20-veto").write_text("#!/bin/sh\n[ \"$1\" = pre-update ] && [ -e /run/vmtmp/veto ] && "
                                   "{ echo 'maintenance window closed' >&2; exit 3; }\nexit 0\n")
    for hook in hooks.iterdir():
        hook.chmod(0o755)
    host.env["IMGBASED_HOOKS_DIRS"] = str(hooks)
    Path("/run/vmtmp/veto").write_text("")
    before = lvs(host.vg)
    try:
        assert "maintenance window closed" in one_line_error(host("update", str(images[1].ext4), check=False))
    finally:
        Path("/run/vmtmp/veto").unlink()
    assert lvs(host.vg) == before
    host("update", str(images[1].ext4))
    events = [line.split()[0] for line in log.read_text().splitlines()]
    assert events == ["pre-update", "pre-update", "new-layer-added", "post-update"], events


def test_pool_too_small_refused_before_writing(loop_disk, vg_name, tmp_path, images):
    """An update that would overfill the pool is refused before anything is written."""
    tool = booted_tool(loop_disk, vg_name, tmp_path, disk="1G")
    sh("lvremove", "-f", f"{vg_name}/pool00")
    sh("lvcreate", "-q", "--type", "thin-pool", "-L", "40M", "-n", "pool00", "--addtag", "imgbased:pool", vg_name)
    tool("base", "--add", str(images[0].ext4))
    tool("layer", "--add")
    before = (lvs(vg_name), grubenv(tool.boot_dir))
    assert "full" in one_line_error(tool("update", str(images[1].ext4), check=False))
    assert (lvs(vg_name), grubenv(tool.boot_dir)) == before
    unmount_boot(tool.boot_dir)


def test_killed_at_every_step_then_recover_then_update(host, images):
    """SIGKILL at each journal step: the old layer stays default, recover cleans up, a re-run works."""
    clean = set(lvs(host.vg))
    for step in STEPS:
        host.env["IMGBASED_FAULT_STEP"] = step
        proc = host("update", str(images[1].ext4), check=False)
        assert proc.returncode == -9, (step, proc.returncode, proc.stderr)
        del host.env["IMGBASED_FAULT_STEP"]
        expected_default = "imgbased-Base-1.1" if step == "committed" else "imgbased-Base-0.1"
        assert grubenv(host.boot_dir)["saved_entry"] == expected_default, step
        assert "stopped at step" in host("recover", "--list").stdout or step == "committed", step
        host("recover")
        assert "nothing to recover" in host("recover", "--list").stdout, step
        if step == "committed":
            assert set(lvs(host.vg)) == clean | {"Base-1", "Base-1.1"}
            assert not any("imgbased:txn" in row["lv_tags"] for row in lvs(host.vg).values())
        else:
            assert set(lvs(host.vg)) == clean, step
            assert not (host.boot_dir / "Base-1.1").exists(), step
            assert "Base-0.1" in [r["layer"] for r in json.loads(host("boot", "--list", "--json").stdout)]
    host("layer", "--remove", "Base-1.1")
    host("base", "--remove", "Base-1")
    host("boot", "--set-default", "Base-0.1")
    host("update", str(images[1].ext4))
    assert grubenv(host.boot_dir)["saved_entry"] == "imgbased-Base-1.1"
