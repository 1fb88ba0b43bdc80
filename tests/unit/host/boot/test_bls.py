# SPDX-License-Identifier: GPL-2.0-or-later
"""BLS entries: rendering, parsing others' entries, id ordering under blscfg, and 42_imgbased."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from functools import cmp_to_key
from pathlib import Path

import pytest

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host.boot import bls
from tests.repo import ROOT as REPO_ROOT

ROOT = REPO_ROOT
SCRIPT = ROOT / "data" / "grub.d" / "42_imgbased"
needs_script_check = pytest.mark.skipif(shutil.which("grub-script-check") is None,
                                        reason="grub-script-check (grub-common) is not installed")


# --- an independent rpmvercmp, written from the algorithm's description -----------------
# Facts (rpm's rpmvercmp and rhboot's blscfg vercmp): versions are compared segment by
# segment; a segment is a maximal run of digits or of letters, anything else separates;
# '~' sorts before everything (even the end); '+' (blscfg) sorts after the end; a numeric
# segment is newer than an alphabetic one; numbers compare by value (leading zeros dropped),
# letters by strcmp; when all segments tie, the string with segments left over is newer.

def _segments(text: str) -> list[str]:
    """Split into digit runs, letter runs and the '~' / '+' markers (other chars separate)."""
    return re.findall(r"\d+|[A-Za-z]+|~|\+", text)


def rpmvercmp(a: str, b: str) -> int:
    """1 if a is newer, -1 if b is newer, 0 if equal."""
    if a == b:
        return 0
    sa, sb = _segments(a), _segments(b)
    i = 0
    while True:
        x = sa[i] if i < len(sa) else None
        y = sb[i] if i < len(sb) else None
        if x == "~" or y == "~":
            if x != y:
                return -1 if x == "~" else 1
        elif x == "+" or y == "+":
            if x is None:
                return -1
            if y is None:
                return 1
            if x != y:
                return -1 if x == "+" else 1
        elif x is None or y is None:
            return 0 if x is None and y is None else (-1 if x is None else 1)
        elif x.isdigit() != y.isdigit():
            return 1 if x.isdigit() else -1
        elif x.isdigit():
            nx, ny = int(x), int(y)
            if nx != ny:
                return 1 if nx > ny else -1
        elif x != y:
            return 1 if x > y else -1
        i += 1


def split_nvr(ident: str) -> tuple[str, str, str]:
    """Split like blscfg: release after the last '-', version after the one before."""
    rest, _, release = ident.rpartition("-")
    name, _, version = rest.rpartition("-")
    return name, version, release


def blscfg_cmp(a: str, b: str) -> int:
    """blscfg's comparison of two entry ids (name, then version, then release)."""
    for x, y in zip(split_nvr(a), split_nvr(b)):
        r = rpmvercmp(x, y)
        if r:
            return r
    return 0


def blscfg_order(ids: list[str]) -> list[str]:
    """Ids in blscfg's menu order, newest first."""
    return sorted(ids, key=cmp_to_key(blscfg_cmp), reverse=True)


@pytest.mark.parametrize("a,b,expected", [
    ("1.0", "1.0", 0), ("1.0", "2.0", -1), ("2.0.1", "2.0", 1), ("1.0a", "1.0", 1),
    ("2_0", "2.0", 0), ("1.0~rc1", "1.0", -1), ("a", "1", -1), ("10", "9", 1), ("010", "10", 0),
    ("xyz.4", "8", -1), ("1.0+git", "1.0", 1),
])
def test_own_rpmvercmp_matches_known_rpm_results(a, b, expected):
    """The test's comparator agrees with well-known rpmvercmp results."""
    assert rpmvercmp(a, b) == expected
    assert rpmvercmp(b, a) == -expected


def test_split_nvr_of_our_ids():
    """imgbased-Base-10.1 reads as name imgbased, version Base, release 10.1."""
    assert split_nvr(bls.entry_id("Base-10.1")) == ("imgbased", "Base", "10.1")


def test_ids_sort_under_blscfg_like_natural_layer_order():
    """blscfg's order of our ids is exactly the natural layer order, newest first."""
    layers = ["Base-0.1", "Base-9.3", "Base-10.1", "Base-1.9", "Base-1.10", "Base-2.1", "Base-1.2",
              "Base-100.1", "Base-10.12"]
    ids = [bls.entry_id(n) for n in layers]
    want = ["Base-100.1", "Base-10.12", "Base-10.1", "Base-9.3", "Base-2.1", "Base-1.10", "Base-1.9",
            "Base-1.2", "Base-0.1"]
    assert blscfg_order(ids) == [bls.entry_id(n) for n in want]
    assert blscfg_cmp(bls.entry_id("Base-10.1"), bls.entry_id("Base-9.3")) == 1


def test_no_two_ids_compare_equal():
    """blscfg drops an entry equal to one it has, so distinct layers must never tie."""
    ids = [bls.entry_id(f"Base-{b}.{m}") for b in (0, 1, 2, 10, 11, 21) for m in (1, 2, 10, 11, 12)]
    for a in ids:
        for b in ids:
            assert (blscfg_cmp(a, b) == 0) == (a == b)


def test_version_key_orders_like_the_ids_for_older_blscfg():
    """Older blscfg compared the version key first; it holds the layer name, so it agrees."""
    layers = ["Base-9.3", "Base-10.1", "Base-1.10", "Base-1.9"]
    by_version = sorted(layers, key=cmp_to_key(rpmvercmp), reverse=True)
    assert by_version == ["Base-10.1", "Base-9.3", "Base-1.10", "Base-1.9"]


def test_layer_entries_are_listed_in_blscfg_order(tmp_path):
    """layer_entries() returns the same order blscfg shows."""
    for layer in ("Base-9.3", "Base-10.1", "Base-0.1", "Base-1.10", "Base-1.9"):
        write_entry(tmp_path, layer)
    ids = [e.id for e in bls.layer_entries(tmp_path)]
    assert ids == blscfg_order(ids)
    assert ids[0] == "imgbased-Base-10.1"


# --- ids, options, rendering ----------------------------------------------------------------

def test_entry_id_and_back():
    """Ids are imgbased-<layer>; only our own ids map back to a layer."""
    assert bls.entry_id("Base-3.2") == "imgbased-Base-3.2"
    assert bls.layer_of_id("imgbased-Base-3.2") == "Base-3.2"
    for other in ("imgbased-Base-3", "Base-3.2", "ff00-6.1.0-18-amd64", "imgbased-Base-3.2x", None, ""):
        assert bls.layer_of_id(other) is None


@pytest.mark.parametrize("bad", ["Base-3", "../x", "Base-1.1 ro", "Base-01.1", ""])
def test_entry_id_refuses_bases_and_bad_names(bad):
    """Bases get no entries, and hostile names never reach a file name."""
    with pytest.raises(ImgbaseError):
        bls.entry_id(bad)


def test_options_put_ours_first_and_drop_the_hosts_copies():
    """The host's root=, rd.lvm.lv=, img.bootid=, BOOT_IMAGE=, ro/rw are replaced by ours."""
    host = "BOOT_IMAGE=/vmlinuz root=/dev/HostVG/Base-0.1 rd.lvm.lv=HostVG/Base-0.1 ro " \
           "img.bootid=Base-0.1 console=ttyS0,115200 quiet rw rootflags=x"
    opts = bls.layer_options("HostVG", "Base-1.1", host)
    assert opts == ("root=/dev/HostVG/Base-1.1 rd.lvm.lv=HostVG/Base-1.1 ro rootflags=discard "
                    "img.bootid=Base-1.1 console=ttyS0,115200 quiet")
    assert bls.layer_options("vg", "Base-0.1", ["console=ttyS0", "a=1 b"]).endswith(
        "img.bootid=Base-0.1 console=ttyS0 a=1 b")


@pytest.mark.parametrize("vg", ["", "my vg", "-vg", "vg\n", ".."])
def test_bad_vg_names_are_refused(vg):
    """A VG name that would break the command line is refused."""
    with pytest.raises(ImgbaseError):
        bls.layer_options(vg, "Base-0.1")


def test_render_layer_entry():
    """A layer entry has title, version, linux, initrd and options, in that order."""
    entry = bls.make_layer_entry("Base-1.1", "HostVG", "6.1.0-18-amd64", "/Base-1.1/vmlinuz-6.1.0-18-amd64",
                                 ["/Base-1.1/initrd.img-6.1.0-18-amd64"], ["console=ttyS0"])
    assert bls.render_entry(entry) == (
        "title imgbased Base-1.1 (6.1.0-18-amd64)\n"
        "version Base-1.1\n"
        "linux /Base-1.1/vmlinuz-6.1.0-18-amd64\n"
        "initrd /Base-1.1/initrd.img-6.1.0-18-amd64\n"
        "options root=/dev/HostVG/Base-1.1 rd.lvm.lv=HostVG/Base-1.1 ro rootflags=discard "
        "img.bootid=Base-1.1 console=ttyS0\n")
    assert bls.kernel_version(entry) == "6.1.0-18-amd64"


def test_render_refuses_newlines():
    """A value with a newline would forge another key; it is refused."""
    with pytest.raises(ImgbaseError):
        bls.render_entry(bls.BlsEntry("x", [("title", "a\noptions init=/bin/sh")]))


FOREIGN = """# Created by kernel-install, edited by hand
title\tFedora Linux (6.5.6-300.fc39.x86_64) 39 (Thirty Nine)
version   6.5.6-300.fc39.x86_64
machine-id 0123456789abcdef0123456789abcdef

linux /vmlinuz-6.5.6-300.fc39.x86_64
initrd /intel-ucode.img
\tinitrd  /initramfs-6.5.6-300.fc39.x86_64.img
options root=UUID=abcd ro
options rhgb quiet
grub_users $grub_users
grub_arg --unrestricted
grub_class fedora
"""


def test_parse_foreign_entry_keeps_everything():
    """Comments, tabs, several initrd and options lines, unknown keys: all understood or kept."""
    e = bls.parse_entry(FOREIGN, "0123-6.5.6-300.fc39.x86_64")
    assert e.title == "Fedora Linux (6.5.6-300.fc39.x86_64) 39 (Thirty Nine)"
    assert e.version == "6.5.6-300.fc39.x86_64"
    assert e.linux == "/vmlinuz-6.5.6-300.fc39.x86_64"
    assert e.initrds == ["/intel-ucode.img", "/initramfs-6.5.6-300.fc39.x86_64.img"]
    assert e.options == "root=UUID=abcd ro rhgb quiet"
    assert e.get("grub_arg") == "--unrestricted" and e.get("machine-id").startswith("0123")
    assert e.layer is None
    again = bls.parse_entry(bls.render_entry(e), e.id)
    assert again.lines == e.lines


def test_parse_our_own_entry_round_trips(tmp_path):
    """What we write, we read back unchanged."""
    path = write_entry(tmp_path, "Base-2.1")
    e = bls.read_entry(path)
    assert e.id == "imgbased-Base-2.1" and e.layer == "Base-2.1"
    assert bls.render_entry(e) == path.read_text()


def test_read_entries_skips_non_conf_and_hidden(tmp_path):
    """Only *.conf files count, not temp files from an interrupted atomic write."""
    write_entry(tmp_path, "Base-0.1")
    d = bls.entries_dir(tmp_path)
    (d / ".imgbased-Base-0.2.conf.tmp").write_text("title x\n")
    (d / "README").write_text("hello\n")
    (d / "ff-6.1.0.conf").write_text(FOREIGN)
    assert [e.id for e in bls.read_entries(tmp_path)] == ["ff-6.1.0", "imgbased-Base-0.1"]
    assert [e.id for e in bls.layer_entries(tmp_path)] == ["imgbased-Base-0.1"]
    assert bls.read_entries(tmp_path / "nothing") == []


# --- 42_imgbased ------------------------------------------------------------------------------

def write_entry(boot: Path, layer: str, vg: str = "HostVG", kver: str = "6.1.0-18-amd64") -> Path:
    """Write a layer entry into a scratch /boot tree."""
    entry = bls.make_layer_entry(layer, vg, kver, f"/{layer}/vmlinuz-{kver}", [f"/{layer}/initrd.img-{kver}"],
                                 "console=ttyS0")
    path = bls.entry_path(layer, boot)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(bls.render_entry(entry))
    return path


def run_script(boot: Path, **env: str) -> subprocess.CompletedProcess:
    """Run 42_imgbased standalone (not under grub-mkconfig) on a /boot tree."""
    full = {k: v for k, v in os.environ.items() if k != "pkgdatadir"}
    full.update({"IMGBASED_BOOT_DIR": str(boot), **env})
    return subprocess.run(["sh", str(SCRIPT)], env=full, text=True, capture_output=True, check=False)


def script_check(text: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run grub-script-check on GRUB script text."""
    cfg = tmp_path / "check.cfg"
    cfg.write_text(text)
    return subprocess.run(["grub-script-check", str(cfg)], text=True, capture_output=True, check=False)


def menu_ids(text: str) -> list[str]:
    """The --id of each menuentry, in order."""
    return re.findall(r"^menuentry .* --id '([^']*)' \{$", text, re.MULTILINE)


def test_script_is_executable():
    """grub-mkconfig only runs executable scripts."""
    assert os.access(SCRIPT, os.X_OK)


@needs_script_check
def test_grub_script_check_can_fail(tmp_path):
    """The cross-check below is meaningful: broken GRUB script is rejected."""
    assert script_check("menuentry 'x' --id 'y' {\n\tlinux /a 'b\n", tmp_path).returncode != 0


@needs_script_check
def test_script_output_passes_grub_script_check(tmp_path):
    """Menuentries for our entries, newest first, with ids equal to the entry ids."""
    boot = tmp_path / "boot"
    for layer in ("Base-0.1", "Base-9.3", "Base-10.1", "Base-1.10"):
        write_entry(boot, layer)
    (bls.entries_dir(boot) / "0123-6.5.6-300.fc39.x86_64.conf").write_text(FOREIGN)
    res = run_script(boot, IMGBASED_BOOT_UUID="0b1c2d3e-aaaa-4bbb-8ccc-123456789abc")
    assert res.returncode == 0, res.stderr
    assert menu_ids(res.stdout) == blscfg_order([bls.entry_id(n) for n in
                                                 ("Base-0.1", "Base-9.3", "Base-10.1", "Base-1.10")])
    assert res.stdout.count("menuentry ") == 4  # the foreign entry is not ours to list
    assert "search --no-floppy --fs-uuid --set=root 0b1c2d3e-aaaa-4bbb-8ccc-123456789abc" in res.stdout
    assert ("\tlinux '/Base-10.1/vmlinuz-6.1.0-18-amd64' 'root=/dev/HostVG/Base-10.1' "
            "'rd.lvm.lv=HostVG/Base-10.1' 'ro' 'rootflags=discard' 'img.bootid=Base-10.1' 'console=ttyS0'\n"
            in res.stdout)
    assert "\tinitrd '/Base-10.1/initrd.img-6.1.0-18-amd64'\n" in res.stdout
    check = script_check(res.stdout, tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr


@needs_script_check
def test_script_handles_hand_edited_entries(tmp_path):
    """Tabs, comments, CRLF, quotes, several initrds; an entry without linux is skipped."""
    boot = tmp_path / "boot"
    d = bls.entries_dir(boot)
    d.mkdir(parents=True)
    (d / "imgbased-Base-3.1.conf").write_text(
        "# edited\r\n\ttitle\tO'Brien's  $layer {test}\r\n"
        "linux   /Base-3.1/vmlinuz-6.1\r\ninitrd /Base-3.1/ucode.img\r\n"
        "initrd\t/Base-3.1/initrd.img-6.1\r\nsomething else\r\n"
        "options a=1 b=\"x y\"\r\noptions c=';' d=\\n\\t")
    (d / "imgbased-Base-3.2.conf").write_text("title no kernel here\noptions x\n")
    res = run_script(boot, IMGBASED_BOOT_PREFIX="/boot")
    assert res.returncode == 0, res.stderr
    assert menu_ids(res.stdout) == ["imgbased-Base-3.1"]
    assert "imgbased-Base-3.2" in res.stderr
    assert "menuentry 'O'\\''Brien'\\''s  $layer {test}' " in res.stdout
    assert "\tlinux '/boot/Base-3.1/vmlinuz-6.1' 'a=1' 'b=\"x' 'y\"' 'c='\\'';'\\''' 'd=\\n\\t'\n" in res.stdout
    assert "\tinitrd '/boot/Base-3.1/ucode.img' '/boot/Base-3.1/initrd.img-6.1'\n" in res.stdout
    assert "search" not in res.stdout
    check = script_check(res.stdout, tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr


def test_script_prints_nothing_for_an_empty_tree(tmp_path):
    """No entries directory, or no entries of ours: no output and success."""
    assert run_script(tmp_path).stdout == ""
    bls.entries_dir(tmp_path).mkdir(parents=True)
    (bls.entries_dir(tmp_path) / "other.conf").write_text("linux /vmlinuz\n")
    res = run_script(tmp_path)
    assert (res.returncode, res.stdout) == (0, "")


def test_script_refuses_a_bad_uuid(tmp_path):
    """The UUID goes into GRUB script unquoted, so only UUID characters are allowed."""
    write_entry(tmp_path, "Base-0.1")
    res = run_script(tmp_path, IMGBASED_BOOT_UUID="x; reboot")
    assert res.returncode != 0
    assert "reboot" not in res.stdout


HEADER = Path("/etc/grub.d/00_header")
GRUB_LIB = Path("/usr/share/grub/grub-mkconfig_lib")


@needs_script_check
@pytest.mark.skipif(not GRUB_LIB.is_file(), reason="grub-mkconfig_lib (grub-common) is not installed")
def test_script_under_grub_mkconfig_environment(tmp_path):
    """With pkgdatadir set (as grub-mkconfig exports it) the script uses grub-mkconfig_lib."""
    boot = tmp_path / "boot"
    write_entry(boot, "Base-0.1")
    write_entry(boot, "Base-0.2")
    res = run_script(boot, pkgdatadir=str(GRUB_LIB.parent), IMGBASED_BOOT_PREFIX="",
                     IMGBASED_BOOT_UUID="1234-ABCD")
    assert res.returncode == 0, res.stderr
    assert menu_ids(res.stdout) == ["imgbased-Base-0.2", "imgbased-Base-0.1"]
    assert "\tlinux '/Base-0.2/vmlinuz-6.1.0-18-amd64' " in res.stdout
    res = run_script(boot, pkgdatadir=str(GRUB_LIB.parent))  # prefix and device from the grub tools
    assert res.returncode == 0, res.stderr
    assert menu_ids(res.stdout) == ["imgbased-Base-0.2", "imgbased-Base-0.1"]
    check = script_check(res.stdout, tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr


@needs_script_check
@pytest.mark.skipif(not (HEADER.is_file() and GRUB_LIB.is_file()), reason="Debian's grub 00_header is not here")
def test_real_00_header_with_our_defaults_honours_saved_and_next_entry(tmp_path):
    """Our /etc/default/grub.d/imgbased.cfg makes Debian's 00_header select saved_entry / next_entry."""
    boot = tmp_path / "boot"
    write_entry(boot, "Base-0.1")
    cfg = ROOT / "data" / "etc" / "default" / "grub.d" / "imgbased.cfg"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRUB_")}
    env.update(pkgdatadir=str(GRUB_LIB.parent), IMGBASED_BOOT_DIR=str(boot), CFG=str(cfg),
               HEADER=str(HEADER), SCRIPT=str(SCRIPT))
    # What grub-mkconfig does: source the settings, export them, run the scripts in order.
    shell = 'set -e; . "$CFG"; export GRUB_DEFAULT GRUB_SAVEDEFAULT; sh "$HEADER"; sh "$SCRIPT"'
    res = subprocess.run(["sh", "-c", shell], env=env, text=True, capture_output=True, check=False)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "load_env" in out
    assert 'set default="${next_entry}"' in out and "save_env next_entry" in out
    assert 'set default="${saved_entry}"' in out
    assert menu_ids(out) == ["imgbased-Base-0.1"]
    check = script_check(out, tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
