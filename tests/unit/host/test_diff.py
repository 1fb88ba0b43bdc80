# SPDX-License-Identifier: GPL-2.0-or-later
"""Tree comparison of `imgbase diff` on temporary trees (the LV mounting is covered in the VM tier)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host import diff, layout
from org_ovirt_imgbased.host.storage import lvm


def put(root: Path, rel: str, data: bytes = b"x", mode: int = 0o644) -> Path:
    """A file with its parents and mode."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)
    return path


def trees(tmp_path: Path) -> tuple[Path, Path]:
    """An old and a new tree with one of every kind of change."""
    old, new = tmp_path / "old", tmp_path / "new"
    for root in (old, new):
        put(root, "etc/hostname", b"host\n")
        put(root, "usr/bin/tool", b"A" * 5000, 0o755)
        root.joinpath("usr/lib").mkdir(parents=True)
    put(old, "etc/motd", b"version one\n")
    put(new, "etc/motd", b"version two\n")          # same size, other bytes
    put(old, "etc/gone.conf")
    put(new, "etc/new.conf")
    put(new, "usr/lib/added/deep.so", b"lib")
    put(old, "etc/shadow", b"s", 0o640)
    put(new, "etc/shadow", b"s", 0o600)
    os.symlink("/usr/lib/one", old / "etc/alternative")
    os.symlink("/usr/lib/two", new / "etc/alternative")
    put(old, "etc/was-file")
    (new / "etc/was-file").mkdir()
    os.symlink("/", new / "etc/root-link")            # must not be followed
    return old, new


def summary(changes: list[diff.Change]) -> dict[str, tuple[str, list[str]]]:
    """path -> (status, reasons)."""
    return {c.path.decode(): (c.status, c.reasons) for c in changes}


def test_every_kind_of_change(tmp_path):
    """Added, removed, content, mode, link and type changes, and nothing for equal files."""
    old, new = trees(tmp_path)
    got = summary(diff.compare_trees(old, new))
    assert got == {
        "etc/alternative": ("changed", ["link"]),
        "etc/gone.conf": ("removed", []),
        "etc/motd": ("changed", ["content"]),
        "etc/new.conf": ("added", []),
        "etc/root-link": ("added", []),
        "etc/shadow": ("changed", ["mode"]),
        "etc/was-file": ("changed", ["type"]),
        "usr/lib/added": ("added", []),
        "usr/lib/added/deep.so": ("added", []),
    }


def test_etc_only(tmp_path):
    """--etc keeps /etc and drops everything else."""
    old, new = trees(tmp_path)
    got = summary(diff.compare_trees(old, new, etc_only=True))
    assert all(p.startswith("etc/") for p in got) and "etc/motd" in got and "usr/lib/added" not in got
    (tmp_path / "bare").mkdir()
    added = summary(diff.compare_trees(tmp_path / "bare", new, etc_only=True))
    assert added["etc"] == ("added", []) and added["etc/new.conf"] == ("added", [])


@pytest.mark.skipif(os.geteuid() != 0, reason="changing ownership needs root")
def test_owner_change(tmp_path):
    """A changed uid/gid is an owner change with both values in the details."""
    old, new = tmp_path / "o", tmp_path / "n"
    put(old, "etc/x")
    os.chown(put(new, "etc/x"), 12, 34)
    (change,) = diff.compare_trees(old, new)
    assert change.reasons == ["owner"] and change.details["owner"] == "owner 0:0 -> 12:34"


def test_details_in_text(tmp_path):
    """Text lines use A/M/D and show the mode, type and link details."""
    old, new = trees(tmp_path)
    result = diff.DiffResult("Base-0", "Base-0.1", False, diff.compare_trees(old, new))
    lines = result.render().splitlines()
    assert lines[0] == "Base-0 -> Base-0.1: 4 added, 4 changed, 1 removed"
    assert "M /etc/shadow (mode 0640 -> 0600)" in lines
    assert "M /etc/was-file (type file -> dir)" in lines
    assert "M /etc/alternative (link /usr/lib/one -> /usr/lib/two)" in lines
    assert "D /etc/gone.conf" in lines and "A /etc/new.conf" in lines and "M /etc/motd (content)" in lines


def test_hostile_names(tmp_path):
    """Newlines, tabs, a leading '-', backslashes and non-UTF-8 bytes survive JSON and are escaped in text."""
    old, new = tmp_path / "o", tmp_path / "n"
    old.mkdir()
    new.mkdir()
    names = [b"line\nbreak", b"-rf", b"tab\there", b"back\\slash", b"latin1-\xe9", b"esc\x1b[31m"]
    for name in names:
        (new / os.fsdecode(name)).write_bytes(b"")
    result = diff.DiffResult("a", "b", False, diff.compare_trees(old, new))
    data = json.loads(json.dumps(result.to_dict()))
    paths = {c["path"].encode("utf-8", "surrogateescape") for c in data["changes"]}
    assert paths == {b"/" + n for n in names}
    latin = next(c for c in data["changes"] if "path_hex" in c)
    assert bytes.fromhex(latin["path_hex"]) == b"/latin1-\xe9"
    text = result.render()
    assert len(text.splitlines()) == 1 + len(names)
    for shown in ("A /line\\nbreak", "A /-rf", "A /tab\\there", "A /back\\\\slash", "A /latin1-\\xe9",
                  "A /esc\\x1b[31m"):
        assert shown in text.splitlines()


def test_same_lineage_skips_reading_untouched_files(tmp_path, monkeypatch):
    """Within one lineage an unchanged inode is not read; across bases the bytes are compared."""
    old, new = tmp_path / "o", tmp_path / "n"
    put(old, "big", b"B" * 10000)
    new.mkdir()
    os.link(old / "big", new / "big")   # same inode, mtime and ctime: what a snapshot looks like
    reads = []
    real = diff.files_equal
    monkeypatch.setattr(diff, "files_equal", lambda a, b: reads.append(a) or real(a, b))
    assert diff.compare_trees(old, new, same_lineage=True) == [] and reads == []
    assert diff.compare_trees(old, new, same_lineage=False) == [] and len(reads) == 1


def test_symlinked_directory_is_not_walked(tmp_path):
    """A symlink to a directory is one entry; its target's contents are not listed."""
    old, new = tmp_path / "o", tmp_path / "n"
    old.mkdir()
    put(tmp_path, "outside/secret")
    new.mkdir()
    os.symlink(tmp_path / "outside", new / "link")
    assert summary(diff.compare_trees(old, new)) == {"link": ("added", [])}


def lv(name: str) -> lvm.LV:
    """A fake LV."""
    return lvm.LV(name=name, vg="HostVG", attr="Vwi-a-tz--", size=1)


def test_pick_pair():
    """One layer pairs with its base; two names keep their order; bad combinations are refused."""
    lay = layout.Layout("HostVG", None, [layout.Base(lv("Base-0"), [lv("Base-0.1"), lv("Base-0.2")]),
                                         layout.Base(lv("Base-1"), [lv("Base-1.1")])], [])
    assert [x.name for x in diff.pick_pair(lay, "Base-0.2", None)] == ["Base-0", "Base-0.2"]
    assert [x.name for x in diff.pick_pair(lay, "Base-1.1", "Base-0")] == ["Base-1.1", "Base-0"]
    for args, words in ((("Base-1", None), "is a base"), (("Base-0.1", "Base-0.1"), "the same"),
                        (("Base-0.3", None), "no layer Base-0.3")):
        with pytest.raises(ImgbaseError, match=words):
            diff.pick_pair(lay, *args)
