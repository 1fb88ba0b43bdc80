# SPDX-License-Identifier: GPL-2.0-or-later
"""The layering verbs on a real thinpool: layout, base and layer, with their JSON and LV attributes."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from org_ovirt_imgbased.host import image
from tests.lvmhelp import lvs, sh
from tests.vm.payloads import Imgbase, one_line_error, shared_payloads


@pytest.fixture(scope="session")
def payloads(tmp_path_factory):
    """Payloads built once for the whole session."""
    return shared_payloads(tmp_path_factory)


@pytest.fixture
def ib(loop_disk, vg_name, tmp_path):
    """An initialised imgbased VG on an 8 GiB loop disk, and the CLI to drive it."""
    dev = loop_disk("8G")
    tool = Imgbase(tmp_path, vg_name)
    tool("layout", "--init", "--pvs", dev)
    tool.dev = dev
    return tool


def lv_snapshot(vg: str) -> dict:
    """What lvs reports about vg's LVs, minus the device-open flag, for before/after comparisons."""
    rows = lvs(vg, "lv_name,lv_attr,lv_size,origin,lv_tags,lv_skip_activation")
    for row in rows.values():
        row["lv_attr"] = row["lv_attr"][:5] + row["lv_attr"][6:]
    return rows


def fs_uuid(dev: str) -> str:
    """The filesystem UUID on dev (probing the device itself)."""
    return sh("blkid", "-p", "-s", "UUID", "-o", "value", dev).stdout.strip()


def read_file_in(dev: str, path: str, tmp_path) -> str:
    """Mount dev read-only and read one file."""
    mnt = tmp_path / f"m{abs(hash(dev))}"
    mnt.mkdir(exist_ok=True)
    sh("mount", "-o", "ro", dev, str(mnt))
    try:
        return (mnt / path).read_text()
    finally:
        sh("umount", str(mnt))


def test_init_tags_vg_and_pool(ib):
    """--init --pvs makes a tagged VG and a tagged thin pool with the autoextend profile."""
    vgs = json.loads(sh("vgs", "--reportformat", "json", "-o", "vg_name,vg_tags", ib.vg).stdout)
    assert "imgbased:vg" in vgs["report"][0]["vg"][0]["vg_tags"].split(",")
    pool = lvs(ib.vg, "lv_name,lv_attr,lv_tags,lv_profile")["pool00"]
    assert pool["lv_attr"][0] == "t"
    assert "imgbased:pool" in pool["lv_tags"].split(",")
    assert pool["lv_profile"] == "imgbased-thin"
    layout = json.loads(ib("layout", "--json").stdout)
    assert layout["vg"] == ib.vg and layout["pool"]["name"] == "pool00" and layout["bases"] == []


def test_init_gives_big_disks_one_gib_of_metadata(loop_disk, vg_name, tmp_path):
    """A disk with room gets pool metadata of at least 1 GiB."""
    tool = Imgbase(tmp_path, vg_name)
    tool("layout", "--init", "--pvs", loop_disk("40G"), "--pool-size", "20G")
    row = lvs(vg_name, "lv_name,lv_metadata_size")["pool00"]
    assert int(row["lv_metadata_size"]) >= 1 << 30


def test_init_refusals_leave_nothing(ib, loop_disk, vg_name, tmp_path):
    """Re-init, a missing PV, hostile names and a used PV are refused with one line."""
    before = lv_snapshot(ib.vg)
    assert "already" in one_line_error(ib("layout", "--init", "--pvs", loop_disk("1G"), check=False))
    other = Imgbase(tmp_path / "o", "freshvg")
    assert "no such device" in one_line_error(other("layout", "--init", "--pvs", "/dev/nonexistent", check=False))
    for bad in ("a/b", "..", "-x", "a..b"):
        bad_tool = Imgbase(tmp_path / "o", bad)
        assert "bad VG name" in one_line_error(bad_tool("layout", "--init", "--pvs", loop_disk("1G"),
                                                        check=False))
    assert "belongs to VG" in one_line_error(other("layout", "--init", "--pvs", ib.dev, check=False))
    assert lv_snapshot(ib.vg) == before
    assert "freshvg" not in sh("vgs", "-o", "vg_name", "--noheadings").stdout


@pytest.mark.parametrize("kind", ["ext4", "liveimg", "tarball", "tree"])
def test_base_add_each_payload_kind(ib, payloads, kind, tmp_path):
    """Every payload kind becomes a read-only, activation-skipped, tagged base with the right files."""
    out = ib("base", "--add", str(getattr(payloads, kind)), "--json")
    assert json.loads(out.stdout) == {"base": "Base-0"}
    row = lvs(ib.vg, "lv_name,lv_attr,lv_tags,lv_skip_activation,pool_lv")["Base-0"]
    tags = row["lv_tags"].split(",")
    assert row["lv_attr"][0] == "V" and row["lv_attr"][1] == "r", row
    assert row["lv_skip_activation"] not in ("", "0", "false"), row
    assert "imgbased:base" in tags and "imgbased:image=imgtest-1" in tags, tags
    assert not any(t.startswith("imgbased:txn") for t in tags), tags
    if kind == "ext4":
        assert f"imgbased:sha256={payloads.ext4_sha256}" in tags
    sh("lvchange", "-ay", "-K", f"{ib.vg}/Base-0")
    assert read_file_in(f"/dev/{ib.vg}/Base-0", "etc/motd", tmp_path) == "payload version 1\n"
    blob = read_file_in(f"/dev/{ib.vg}/Base-0", "usr/lib/os-release", tmp_path)
    assert "IMAGE_VERSION=1" in blob


def test_base_add_grows_filesystem_to_size(ib, payloads):
    """--size larger than the image grows the filesystem to fit."""
    ib("base", "--add", "--size", "512M", str(payloads.ext4))
    sh("lvchange", "-ay", "-K", f"{ib.vg}/Base-0")
    info = sh("dumpe2fs", "-h", f"/dev/{ib.vg}/Base-0").stdout
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    assert int(fields["Block count"]) * int(fields["Block size"]) == 512 << 20


@pytest.mark.parametrize("case", ["too-small", "bad-checksum", "truncated", "not-liveimg", "bad-checksum-syntax",
                                  "missing-file"])
def test_base_add_bad_input_leaves_no_lv(ib, payloads, case):
    """Bad images are refused with one line and no new LV."""
    before = lv_snapshot(ib.vg)
    args = {"too-small": ["--size", "64M", str(payloads.ext4)],
            "bad-checksum": ["--checksum", "sha256:" + "0" * 64, str(payloads.ext4)],
            "bad-checksum-syntax": ["--checksum", "md5:abc", str(payloads.ext4)],
            "truncated": [str(payloads.truncated)],
            "not-liveimg": [str(payloads.not_liveimg)],
            "missing-file": ["/nonexistent/image.img"]}[case]
    msg = one_line_error(ib("base", "--add", *args, check=False))
    expected = {"too-small": "larger than --size", "bad-checksum": "checksum mismatch",
                "bad-checksum-syntax": "bad checksum", "truncated": "damaged squashfs",
                "not-liveimg": "not a liveimg", "missing-file": "does not exist"}[case]
    assert expected in msg
    assert lv_snapshot(ib.vg) == before


@pytest.mark.parametrize("case", ["zeros", "fifo", "char-device", "root", "huge-size"])
def test_base_add_garbage_leaves_no_lv(ib, payloads, tmp_path, case):
    """Zeros, a FIFO, /dev/zero, / itself or a size no disk has: one line at once, no new LV, no hang."""
    before = lv_snapshot(ib.vg)
    zeros, fifo = tmp_path / "zeros.img", tmp_path / "pipe"
    zeros.write_bytes(bytes(10240))
    os.mkfifo(fifo)
    args = {"zeros": [str(zeros)], "fifo": [str(fifo)], "char-device": ["/dev/zero"], "root": ["/"],
            "huge-size": ["--size", "9" * 400, str(payloads.ext4)]}[case]
    msg = one_line_error(ib("base", "--add", *args, check=False))
    expected = {"zeros": "holds no files", "fifo": "not a regular file or a directory",
                "char-device": "not a regular file or a directory", "root": "the running system",
                "huge-size": "bad size"}[case]
    assert expected in msg
    assert lv_snapshot(ib.vg) == before


def test_base_add_right_checksum(ib, payloads):
    """The right checksum is accepted."""
    ib("base", "--add", "--checksum", f"sha256:{payloads.ext4_sha256}", str(payloads.ext4))
    assert "Base-0" in lvs(ib.vg)


def test_pool_too_small_is_refused_before_writing(loop_disk, vg_name, tmp_path, payloads):
    """A pool without room for the image refuses with the numbers and creates nothing."""
    tool = Imgbase(tmp_path, vg_name)
    tool("layout", "--init", "--pvs", loop_disk("1G"), "--pool-size", "12M")
    before = lv_snapshot(vg_name)
    msg = one_line_error(tool("base", "--add", str(payloads.ext4), check=False))
    assert "would be" in msg and "full" in msg and "safe limit" in msg
    assert lv_snapshot(vg_name) == before


def test_every_verb_honours_the_configured_fill_limit(loop_disk, vg_name, tmp_path, payloads):
    """[pool] max-fill-percent applies to base --add too, not only to update."""
    used = image.ext4_geometry(payloads.ext4)[1]
    extent = 4 << 20
    pool = -(-used * 10 // 7 // extent) * extent  # the image fills the pool to 55-70 %
    tool = Imgbase(tmp_path, vg_name)
    tool("layout", "--init", "--pvs", loop_disk("1G"), "--pool-size", f"{pool}")
    conf = tmp_path / "imgbased.conf"
    conf.write_text("[pool]\nmax-fill-percent = 50\n")
    before = lv_snapshot(vg_name)
    msg = one_line_error(tool("--config", str(conf), "base", "--add", str(payloads.ext4), check=False))
    assert "safe limit is 50%" in msg and lv_snapshot(vg_name) == before
    tool("base", "--add", str(payloads.ext4))  # the default limit, 90 %, lets it in
    assert "Base-0" in lvs(vg_name)


def test_failed_copy_removes_the_new_lv(ib, payloads, tmp_path):
    """A copy that fails midway removes the LV the run created, and says which step failed."""
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "e2image").write_text("#!/bin/sh\necho 'e2image: simulated write error' >&2\nexit 1\n")
    (shim / "e2image").chmod(0o755)
    before = lv_snapshot(ib.vg)
    ib.env["PATH"] = f"{shim}:{ib.env['PATH']}"
    msg = one_line_error(ib("base", "--add", str(payloads.ext4), check=False))
    assert "simulated write error" in msg and "copy-image" in msg
    assert lv_snapshot(ib.vg) == before
    assert list((tmp_path / "state" / "journal").glob("*.json")) == []


def test_layers_are_writable_snapshots_with_fresh_uuids(ib, payloads, tmp_path):
    """layer --add makes Base-N.M: thin snapshot of the base, writable, no skip flag, new UUID."""
    ib("base", "--add", str(payloads.ext4))
    assert json.loads(ib("layer", "--add", "--json").stdout) == {"layer": "Base-0.1"}
    ib("layer", "--add")
    rows = lvs(ib.vg, "lv_name,lv_attr,origin,lv_tags,lv_skip_activation,pool_lv")
    for name in ("Base-0.1", "Base-0.2"):
        row = rows[name]
        assert row["origin"] == "Base-0" and row["pool_lv"] == "pool00"
        assert row["lv_attr"][0] == "V" and row["lv_attr"][1] == "w" and row["lv_attr"][4] == "a", row
        assert row["lv_skip_activation"] in ("", "0", "false"), row
        assert "imgbased:layer" in row["lv_tags"].split(",")
    sh("lvchange", "-ay", "-K", f"{ib.vg}/Base-0")
    uuids = {fs_uuid(f"/dev/{ib.vg}/{n}") for n in ("Base-0", "Base-0.1", "Base-0.2")}
    assert len(uuids) == 3 and "" not in uuids
    assert read_file_in(f"/dev/{ib.vg}/Base-0.2", "etc/motd", tmp_path) == "payload version 1\n"


def test_listing_verbs(ib, payloads):
    """base/layer --list, --latest, --of-layer, --current and the layout tree agree."""
    ib("base", "--add", str(payloads.ext4))
    ib("base", "--add", str(payloads.liveimg))
    ib("layer", "--add", "--base", "Base-0")
    ib("layer", "--add")
    assert ib("base", "--latest").stdout.strip() == "Base-1"
    assert ib("layer", "--latest").stdout.strip() == "Base-1.1"
    assert ib("base", "--of-layer", "Base-0.1").stdout.strip() == "Base-0"
    assert [r["name"] for r in json.loads(ib("base", "--list", "--json").stdout)] == ["Base-0", "Base-1"]
    assert [r["name"] for r in json.loads(ib("layer", "--list", "--json").stdout)] == ["Base-0.1", "Base-1.1"]
    assert "not running from an imgbased layer" in one_line_error(ib("layer", "--current", check=False))
    ib.boot_into("Base-0.1")
    assert ib("layer", "--current").stdout.strip() == "Base-0.1"
    layout = json.loads(ib("layout", "--json").stdout)
    flags = {lay["name"]: (lay["current"], lay["newest"]) for b in layout["bases"] for lay in b["layers"]}
    assert flags == {"Base-0.1": (True, False), "Base-1.1": (False, True)}
    tree = ib("layout").stdout
    assert "Base-0.1" in tree and "current" in tree and "newest" in tree and "image imgtest-1" in tree


def test_remove_rules(ib, payloads):
    """The running layer can't be removed; a base with layers needs --force."""
    ib("base", "--add", str(payloads.ext4))
    ib("layer", "--add")
    ib("layer", "--add")
    ib.boot_into("Base-0.1")
    assert "running now" in one_line_error(ib("layer", "--remove", "Base-0.1", check=False))
    assert "running now" in one_line_error(ib("base", "--remove", "Base-0", "--force", check=False))
    ib("layer", "--remove", "Base-0.2")
    assert "Base-0.2" not in lvs(ib.vg)
    ib.boot_into("Base-9.9")
    assert "--force" in one_line_error(ib("base", "--remove", "Base-0", check=False))
    ib("base", "--remove", "Base-0", "--force")
    assert not {"Base-0", "Base-0.1"} & set(lvs(ib.vg))


def test_bad_names_and_unknown_lvs(ib, payloads):
    """Names that are not Base-N(.M), or that don't exist, get one-line errors."""
    ib("base", "--add", str(payloads.ext4))
    for args, needle in ((["layer", "--remove", "../etc"], "not a base or layer name"),
                         (["layer", "--remove", "Base-0/x"], "not a base or layer name"),
                         (["layer", "--remove", "Base-7.1"], "there is no layer"),
                         (["layer", "--add", "--base", "Base-3"], "there is no base"),
                         (["base", "--remove", "Base-0.1"], "is a layer, not a base")):
        assert needle in one_line_error(ib(*args, check=False)), args


def test_missing_pool_is_refused(ib, payloads):
    """Without the tagged pool, base --add says how to create one."""
    sh("lvremove", "-f", f"{ib.vg}/pool00")
    assert "no thin pool" in one_line_error(ib("base", "--add", str(payloads.ext4), check=False))


def test_second_run_waits_then_fails(ib, payloads):
    """While another imgbase holds the lock, a second run fails with a clear message."""
    holder = subprocess.Popen(["flock", "-o", ib.env["IMGBASED_LOCK"], "sleep", "30"])
    try:
        import time
        time.sleep(0.5)
        before = lv_snapshot(ib.vg)
        assert "another imgbase is running" in one_line_error(ib("base", "--add", str(payloads.ext4), check=False))
        assert lv_snapshot(ib.vg) == before
    finally:
        holder.kill()
        holder.wait()
    ib("base", "--add", str(payloads.ext4))


def test_dry_changes_nothing(ib, payloads):
    """--dry prints the commands and leaves lvs identical."""
    ib("base", "--add", str(payloads.ext4))
    before = lv_snapshot(ib.vg)
    out = ib("--dry", "layer", "--add").stdout
    assert "dry: lvcreate" in out and "Base-0.1" in out
    out = ib("--dry", "base", "--add", str(payloads.liveimg)).stdout
    assert "dry: lvcreate" in out and "Base-1" in out
    assert lv_snapshot(ib.vg) == before
