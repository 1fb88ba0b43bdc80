# SPDX-License-Identifier: GPL-2.0-or-later
"""Bad input to every verb on a real layout: one error line, exit 1 or 2, nothing changed on disk."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest

from tests.lvmhelp import lvs
from tests.vm.bootfix import booted_tool, grubenv, unmount_boot
from tests.vm.payloads import shared_payloads

HUGE = "9" * 400
# (verb and arguments, words the error must contain); {img}, {zeros}, {fifo} and {bad} are files.
CASES = [
    (["layout", "--init"], "give --from VG/LV"),
    (["layout", "--init", "--pvs", "/dev/nonexistent"], "no such device"),
    (["layout", "--init", "--from", "no/such"], "there is no LV"),
    (["layout", "--init", "--from", "../x"], "bad VG name"),
    (["layout", "--frobnicate"], "unrecognized arguments"),
    (["base", "--add", "/nonexistent.img"], "does not exist"),
    (["base", "--add", "{zeros}"], "holds no files"),
    (["base", "--add", "{fifo}"], "not a regular file"),
    (["base", "--add", "--size", HUGE, "{img}"], "bad size"),
    (["base", "--add", "--size=-1G", "{img}"], "bad size"),
    (["base", "--add", "--checksum", "md5:00", "{img}"], "bad checksum"),
    (["base", "--add", "--checksum", "sha256:" + "0" * 64, "{img}"], "checksum mismatch"),
    (["base", "--remove", "Base-7"], "Base-7"),
    (["base", "--remove", "../../etc"], "../../etc"),
    (["base", "--pin", "Base-0;rm"], "Base-0;rm"),
    (["layer", "--add", "--base", "Base-7"], "Base-7"),
    (["layer", "--remove", "Base-0.9"], "Base-0.9"),
    (["layer", "--remove", "Base-0.1"], "running now"),
    (["update", "/nonexistent.img"], "does not exist"),
    (["update", "{zeros}"], "holds no files"),
    (["update", "--from-layer", "Base-4.4", "{img}"], "Base-4.4"),
    (["update", "--size", "lots", "{img}"], "bad size"),
    (["update", "--checksum", "sha256:" + "f" * 64, "{img}"], "checksum mismatch"),
    (["rollback", "--to", "Base-3.1"], "Base-3.1"),
    (["rollback", "--to", "nonsense"], "nonsense"),
    (["boot", "--set-default", "Base-5.5"], "Base-5.5"),
    (["boot", "--once", "../x"], "../x"),
    (["boot", "--if-pending", "--list"], "--if-pending only goes with --confirm"),
    (["boot"], "one of the arguments"),
    (["diff", "Base-0.1", "Base-8.8"], "Base-8.8"),
    (["gc", "--keep", "0"], "keep"),
    (["recover", "--bogus"], "unrecognized arguments"),
    (["--config", "{bad}", "gc"], "imgbased.conf"),
    (["--config", "{bad}", "update", "{img}"], "imgbased.conf"),
    (["--vg", "NoSuchVG", "layout"], "NoSuchVG"),
    (["--boot-dir", "/nonexistent/boot", "update", "{img}"], "/nonexistent/boot"),
    (["frobnicate"], "invalid choice"),
]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """A payload, built once."""
    return shared_payloads(tmp_path_factory, "1")


def disk_state(tool) -> tuple:
    """What must not change: the LVs (names, attributes, tags), /boot's files and grubenv."""
    rows = {n: (r["lv_attr"][:5], r["lv_tags"]) for n, r in lvs(tool.vg).items()}
    files = {}
    for path in sorted(tool.boot_dir.rglob("*")):
        if path.is_file():
            files[str(path.relative_to(tool.boot_dir))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return rows, files, grubenv(tool.boot_dir)


def test_bad_input_to_every_verb_changes_nothing(loop_disk, vg_name, tmp_path, images):
    """Each bad call: exit 1 (or 2 for usage), the error as the last line, no traceback, no change."""
    tool = booted_tool(loop_disk, vg_name, tmp_path)
    tool("base", "--add", str(images.ext4))
    tool("layer", "--add")
    tool.boot_into("Base-0.1")
    files = {"img": str(images.ext4), "zeros": str(tmp_path / "zeros.img"), "fifo": str(tmp_path / "pipe"),
             "bad": str(tmp_path / "imgbased.conf")}
    Path(files["zeros"]).write_bytes(bytes(8192))
    os.mkfifo(files["fifo"])
    Path(files["bad"]).write_text("[pool]\nmax-fill-percent = lots\n")
    before = disk_state(tool)
    tried = 0
    for args, words in CASES:
        argv = [a.format(**files) for a in args]
        proc = tool(*argv, check=False)
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        assert proc.returncode in (1, 2), (argv, proc.returncode, proc.stderr)
        assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, (argv, proc.stderr)
        assert lines and re.match(r"imgbase( \w+)?: error: ", lines[-1]) and words in lines[-1], (argv, proc.stderr)
        if proc.returncode == 1:
            assert len(lines) == 1, (argv, proc.stderr)
        assert disk_state(tool) == before, argv
        tried += 1
    unmount_boot(tool.boot_dir)
    print(f"\nbad inputs tried: {tried}, each refused with nothing changed")
