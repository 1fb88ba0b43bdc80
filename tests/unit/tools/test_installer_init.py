# SPDX-License-Identifier: GPL-2.0-or-later
"""The PXE initramfs's own shell functions (installer-recipe/init), run with busybox as in the initramfs."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path

import pytest
from installerlib import pxe, recipe

pytestmark = pytest.mark.skipif(not os.path.exists("/bin/busybox"), reason="needs busybox (make setup)")
FUNCTIONS = ("once", "redact", "parse_cmdline", "verify")
SHOW = 'echo "ks=$ks stage2=$stage2 updates=$updates ip=$ipconf sums=$stage2_sum,$updates_sum"\n'


def init_functions() -> str:
    """The init's functions this test runs, cut out of the script as the initramfs has it."""
    init = (recipe.RECIPE_DIR / "init").read_text()
    found = []
    for name in FUNCTIONS:
        start = init.index(f"\n{name}() {{") + 1
        found.append(init[start:init.index("\n}\n", start) + 3])
    return "".join(found)


def run(tmp_path: Path, body: str, *args: str) -> subprocess.CompletedProcess:
    """Run body after the functions, with busybox's applets only and a fail() that just says why."""
    bindir = tmp_path / "bin"
    if not bindir.exists():
        bindir.mkdir()
        for applet in ("sed", "sha256sum", "cut"):
            (bindir / applet).symlink_to("/bin/busybox")
    script = f'export PATH={bindir}\nfail() {{ echo "FAIL: $*"; exit 1; }}\n{init_functions()}{body}'
    return subprocess.run(["/bin/busybox", "sh", "-c", script, "sh", *args], capture_output=True, text=True,
                          cwd=tmp_path)


def parse(tmp_path: Path, cmdline: str) -> str:
    """What parse_cmdline makes of a kernel command line (its FAIL line when it refuses)."""
    return run(tmp_path, f'parse_cmdline "$1"\n{SHOW}', cmdline).stdout.strip()


def test_the_boot_scripts_command_line_is_read_back(tmp_path):
    """What build-installer writes into boot.ipxe is exactly what the initramfs reads."""
    line = pxe.ipxe_script("http://h/ks/a.ks", "http://h/r.squashfs", updates_url="http://h/u.img",
                           digests={"stage2": "a" * 64, "updates": "b" * 64}).split("\n")[2]
    cmdline = line.split(" ", 2)[2]
    assert parse(tmp_path, cmdline) == (f"ks=http://h/ks/a.ks stage2=http://h/r.squashfs updates=http://h/u.img "
                                        f"ip=dhcp sums={'a' * 64},{'b' * 64}")


def test_arguments_are_never_file_patterns(tmp_path):
    """A * in the command line stays a *, even with files in the current directory."""
    (tmp_path / "ks.cfg").write_text("")
    assert "ks=http://h/* " in parse(tmp_path, "inst.ks=http://h/* inst.stage2=http://h/r")


@pytest.mark.parametrize("cmdline, words", [
    ("inst.ks=http://h/a.ks inst.ks=http://h/b.ks", "inst.ks= is given twice"),
    ("inst.ks=http://h/a.ks inst.stage2=x inst.stage2=y", "inst.stage2= is given twice"),
    ("inst.ks=http://h/a.ks?host=1", "has a query: give inst.stage2="),
    ("inst.ks=http://h", "names no directory: give inst.stage2="),
    ("ip=10.0.0.5 inst.ks=http://h/a.ks", "ip=10.0.0.5 is not supported"),
    ("quiet", "no inst.ks=URL"),
])
def test_bad_command_lines_are_refused_in_one_line(tmp_path, cmdline, words):
    """Each refusal is one FAIL line naming the option and what to give instead."""
    out = parse(tmp_path, cmdline)
    assert out.startswith("FAIL: ") and words in out and "\n" not in out, out


def test_the_stage2_default_is_beside_the_kickstart(tmp_path):
    assert "stage2=tftp://10.0.2.2/pxe/installer.squashfs " in parse(tmp_path, "inst.ks=tftp://10.0.2.2/pxe/h.ks")


def test_urls_on_the_console_hide_credentials(tmp_path):
    out = run(tmp_path, 'redact "$1"\n', "http://admin:s3cret@h/ks/a.ks").stdout
    assert out.strip() == "http://***@h/ks/a.ks"
    assert "s3cret" not in parse(tmp_path, "inst.ks=http://admin:s3cret@h?x")


def test_a_downloaded_file_must_have_the_boot_scripts_digest(tmp_path):
    """verify passes the right digest and no digest; a different file is refused naming both digests."""
    root = tmp_path / "installer.squashfs"
    root.write_bytes(b"root")
    good = hashlib.sha256(b"root").hexdigest()
    ok = run(tmp_path, 'verify "$1" "$2" root && echo OK\n', str(root), good)
    assert ok.stdout.strip() == "OK"
    assert run(tmp_path, 'verify "$1" "" root && echo OK\n', str(root)).stdout.strip() == "OK"
    bad = run(tmp_path, 'verify "$1" "$2" "the installer root" && echo OK\n', str(root), "0" * 64).stdout
    assert re.fullmatch(rf"FAIL: the installer root has sha256 {good}, but the boot script says 0{{64}}: .*\n", bad)
