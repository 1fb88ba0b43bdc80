# SPDX-License-Identifier: GPL-2.0-or-later
"""Fast host tests of image-tools: recipe parsing and hashing, argument errors, liveimg layout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from imagelib import recipe
from imagelib.base import trim
from imagelib.common import ImgbaseError
from imagelib.final import append_lines
from imagelib.liveimg import check_listing, looks_like_ext4, parse_od
from imagelib.sizes import SizeReport, format_report, parse_dumpe2fs

from tests.repo import ROOT as REPO_ROOT

TOOLS = REPO_ROOT / "image-tools"
RECIPE = TOOLS / "image-recipe"


def tool(name: str, *args: str) -> subprocess.CompletedProcess:
    """Run one image-tools executable with the current Python and capture its output."""
    return subprocess.run([sys.executable, str(TOOLS / name), *args], capture_output=True, text=True,
                          timeout=60)


# --- apt mirror discovery -------------------------------------------------------------------------

def test_one_line_sources_skip_comments_options_and_deb_src():
    """Options in brackets are dropped; deb-src and comments are ignored."""
    text = ("# deb http://old.example/debian bookworm main\n"
            "deb-src http://src.example/debian bookworm main\n"
            "deb [arch=amd64 signed-by=/k.gpg] http://m.example/debian/ bookworm main contrib\n")
    found = recipe.parse_one_line_sources(text)
    assert found == [recipe.AptSource("http://m.example/debian/", ("bookworm",), ("main", "contrib"))]


def test_deb822_sources_parse_multiple_stanzas_and_disabled():
    """Each enabled deb stanza yields one source per URI; Enabled: no is skipped."""
    text = ("Types: deb deb-src\nURIs: http://a.example/debian http://b.example/debian\n"
            "Suites: bookworm bookworm-updates\nComponents: main\n\n"
            "Types: deb\nURIs: http://c.example/debian\nSuites: bookworm\nComponents: main\nEnabled: no\n\n"
            "Types: deb-src\nURIs: http://d.example/debian\nSuites: bookworm\nComponents: main\n")
    found = recipe.parse_deb822_sources(text)
    assert [s.uri for s in found] == ["http://a.example/debian", "http://b.example/debian"]
    assert found[0].suites == ("bookworm", "bookworm-updates")


def test_choose_mirror_wants_the_plain_suite_with_main():
    """Security and -updates entries and sources without main are not the debootstrap mirror."""
    sources = [recipe.AptSource("http://sec.example/debian-security", ("bookworm-security",), ("main",)),
               recipe.AptSource("http://contrib.example/debian", ("bookworm",), ("contrib",)),
               recipe.AptSource("http://main.example/debian/", ("bookworm", "bookworm-updates"), ("main",))]
    assert recipe.choose_mirror(sources, "bookworm") == "http://main.example/debian"
    assert recipe.choose_mirror(sources[:2], "bookworm") is None


def test_find_mirror_reads_list_and_sources_files(tmp_path, monkeypatch):
    """A deb822 .sources file is found when sources.list has nothing usable."""
    monkeypatch.delenv("IMGBASED_MIRROR", raising=False)
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text("# empty\n")
    (tmp_path / "sources.list.d" / "other.list").write_text("deb http://x.example/apt stable main\n")
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\nComponents: main\n")
    assert recipe.find_mirror(tmp_path, "bookworm") == "http://mirror.example/debian"
    monkeypatch.setenv("IMGBASED_MIRROR", "http://override.example/debian/")
    assert recipe.find_mirror(tmp_path, "bookworm") == "http://override.example/debian"


def test_find_mirror_without_a_source_fails_clearly(tmp_path, monkeypatch):
    """No usable source is an ImgbaseError naming the suite and the override."""
    monkeypatch.delenv("IMGBASED_MIRROR", raising=False)
    with pytest.raises(ImgbaseError, match="bookworm main.*IMGBASED_MIRROR"):
        recipe.find_mirror(tmp_path, "bookworm")


# --- recipe hashing -------------------------------------------------------------------------------

def _fake_repo(root: Path) -> Path:
    """Create a minimal tree with every input the cache keys hash."""
    for rel in recipe.BASE_INPUTS + recipe.INITRD_INPUTS:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not rel.endswith(("lvm", "initramfs-tools")):
            path.write_text(f"content of {rel}\n")
    (root / "org_ovirt_imgbased").mkdir()
    (root / "org_ovirt_imgbased" / "cli.py").write_text("x = 1\n")
    (root / "data" / "systemd").mkdir(parents=True)
    (root / "data" / "systemd" / "a.service").write_text("[Unit]\n")
    (root / "image-tools" / "build-image").write_text("#!/bin/sh\n")
    return root


def test_tree_hash_is_stable_and_sees_content_mode_and_names(tmp_path):
    """Same tree, same hash; a content, mode or name change gives a new hash."""
    repo = _fake_repo(tmp_path)
    first = recipe.tree_hash(["data", "org_ovirt_imgbased"], repo)
    assert recipe.tree_hash(["data", "org_ovirt_imgbased"], repo) == first
    unit = repo / "data" / "systemd" / "a.service"
    unit.write_text("[Unit]\nDescription=changed\n")
    second = recipe.tree_hash(["data", "org_ovirt_imgbased"], repo)
    assert second != first
    unit.chmod(0o755)
    third = recipe.tree_hash(["data", "org_ovirt_imgbased"], repo)
    assert third != second
    unit.rename(unit.with_name("b.service"))
    assert recipe.tree_hash(["data", "org_ovirt_imgbased"], repo) != third


def test_tree_hash_ignores_bytecode_caches(tmp_path):
    """__pycache__ directories and .pyc files do not change the key."""
    repo = _fake_repo(tmp_path)
    before = recipe.tree_hash(["org_ovirt_imgbased"], repo)
    cache = repo / "org_ovirt_imgbased" / "__pycache__"
    cache.mkdir()
    (cache / "cli.cpython-311.pyc").write_bytes(b"\0\1")
    (repo / "org_ovirt_imgbased" / "stray.pyc").write_bytes(b"\0")
    assert recipe.tree_hash(["org_ovirt_imgbased"], repo) == before


def test_tree_hash_distinguishes_missing_from_empty(tmp_path):
    """A data file that appears later changes the key (handles 'not there yet')."""
    repo = _fake_repo(tmp_path)
    before = recipe.tree_hash(["data/lvm"], repo)
    (repo / "data" / "lvm").mkdir(parents=True)
    after_dir = recipe.tree_hash(["data/lvm"], repo)
    (repo / "data" / "lvm" / "imgbased.profile").write_text("allocation {}\n")
    assert len({before, after_dir, recipe.tree_hash(["data/lvm"], repo)}) == 3


def test_code_change_keeps_the_base_key_but_changes_the_image_key(tmp_path):
    """Editing imgbased or data/ reuses the debootstrapped base; editing the package list does not."""
    repo = _fake_repo(tmp_path)
    base, img1, img2 = recipe.base_key(repo), recipe.image_key(1, repo), recipe.image_key(2, repo)
    assert img1 != img2
    (repo / "org_ovirt_imgbased" / "cli.py").write_text("x = 2\n")
    assert recipe.base_key(repo) == base
    assert recipe.image_key(1, repo) != img1
    img1 = recipe.image_key(1, repo)
    (repo / "image-tools/image-recipe/packages-base.txt").write_text("systemd-sysv\nless\n")
    assert recipe.base_key(repo) != base
    assert recipe.image_key(1, repo) != img1


def test_initrd_key_follows_lvm_profiles_but_not_code(tmp_path):
    """The initramfs copies /etc/lvm, so a new lvm profile rebuilds it; a code change does not."""
    repo = _fake_repo(tmp_path)
    key = recipe.initrd_key("6.1.0-1-amd64", repo)
    (repo / "org_ovirt_imgbased" / "cli.py").write_text("x = 3\n")
    assert recipe.initrd_key("6.1.0-1-amd64", repo) == key
    assert recipe.initrd_key("6.1.0-2-amd64", repo) != key
    (repo / "data" / "lvm" / "profile").mkdir(parents=True)
    (repo / "data" / "lvm" / "profile" / "imgbased-thin.profile").write_text("activation {}\n")
    assert recipe.initrd_key("6.1.0-1-amd64", repo) != key


def test_image_key_rejects_unknown_versions(tmp_path):
    """Only versions 1 and 2 exist."""
    with pytest.raises(ImgbaseError, match="unknown image version 3"):
        recipe.image_key(3, _fake_repo(tmp_path))


# --- small text transforms ------------------------------------------------------------------------

def test_read_list_drops_comments_and_blanks(tmp_path):
    """Inline and full-line comments are removed."""
    path = tmp_path / "list.txt"
    path.write_text("# header\nfoo\n\n  bar   # why\n#baz\n")
    assert recipe.read_list(path) == ["foo", "bar"]


def test_set_os_release_replaces_and_appends():
    """Existing keys are replaced in place, new keys appended, other lines kept."""
    text = 'NAME="Debian GNU/Linux"\nIMAGE_VERSION=0\nID=debian\n'
    out = recipe.set_os_release(text, {"IMAGE_ID": "imgbased-test", "IMAGE_VERSION": "2"})
    assert out.splitlines() == ['NAME="Debian GNU/Linux"', 'IMAGE_VERSION="2"', "ID=debian",
                                'IMAGE_ID="imgbased-test"']
    assert recipe.parse_os_release(out)["IMAGE_VERSION"] == "2"
    assert recipe.parse_os_release(out)["NAME"] == "Debian GNU/Linux"


def test_append_lines_adds_only_missing(tmp_path):
    """initramfs modules are appended once, however often the build runs."""
    path = tmp_path / "modules"
    path.write_text("# comment\ndm_mod\n")
    append_lines(path, ["dm_mod", "dm_thin_pool"])
    append_lines(path, ["dm_mod", "dm_thin_pool"])
    assert path.read_text() == "# comment\ndm_mod\ndm_thin_pool\n"


def test_trim_removes_matches_without_following_symlinks(tmp_path):
    """A matched symlink to a directory outside the root is unlinked, its target kept."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("x")
    root = tmp_path / "root"
    (root / "usr/share/doc/pkg").mkdir(parents=True)
    (root / "usr/share/doc/pkg/README").write_text("x")
    (root / "usr/share/doc/link").symlink_to(outside)
    (root / "etc").mkdir()
    (root / "etc/keep.conf").write_text("x")
    assert trim(root, ["usr/share/doc/*", "var/nothing/*"]) == 2
    assert list((root / "usr/share/doc").iterdir()) == []
    assert (outside / "keep").exists() and (root / "etc/keep.conf").exists()


@pytest.mark.parametrize("pattern", ["/etc/*", "usr/../../x"])
def test_trim_refuses_patterns_leaving_the_root(tmp_path, pattern):
    """Absolute patterns and .. components are errors."""
    with pytest.raises(ImgbaseError, match="relative to the image root"):
        trim(tmp_path, [pattern])


# --- liveimg layout and size parsing --------------------------------------------------------------

LISTING_OK = ["drwxr-xr-x root/root                29 2026-11-22 00:40 squashfs-root",
              "drwxr-xr-x root/root                32 2026-11-22 00:40 squashfs-root/LiveOS",
              "-rw-r--r-- root/root        2147483648 2026-11-22 00:40 squashfs-root/LiveOS/rootfs.img"]


def test_liveimg_listing_accepts_liveos_rootfs():
    """The anaconda liveimg layout passes."""
    check_listing(LISTING_OK)


@pytest.mark.parametrize("listing", [
    LISTING_OK[:2],
    LISTING_OK[:2] + ["-rw-r--r-- root/root 10 2026-11-22 00:40 squashfs-root/rootfs.img"],
    LISTING_OK[:2] + ["-rw-r--r-- root/root 10 2026-11-22 00:40 squashfs-root/x/LiveOS/rootfs.img"],
])
def test_liveimg_listing_without_liveos_rootfs_is_rejected(listing):
    """A squashfs without LiveOS/rootfs.img at its top is not a liveimg payload."""
    with pytest.raises(ImgbaseError, match="no LiveOS/rootfs.img"):
        check_listing(listing)


def test_liveimg_listing_rejects_a_directory_named_rootfs():
    """LiveOS/rootfs.img must be a regular file."""
    bad = LISTING_OK[:2] + ["drwxr-xr-x root/root 3 2026-11-22 00:40 squashfs-root/LiveOS/rootfs.img"]
    with pytest.raises(ImgbaseError, match="not a regular file"):
        check_listing(bad)


def test_ext4_magic_detection_and_od_parsing():
    """The superblock magic sits at byte 1080; od hex output round-trips."""
    head = bytearray(2048)
    assert not looks_like_ext4(bytes(head))
    head[1080:1082] = b"\x53\xef"
    assert looks_like_ext4(bytes(head))
    assert parse_od(" 53 ef 00\n ff\n") == b"\x53\xef\x00\xff"


def test_parse_dumpe2fs_computes_used_bytes():
    """Used = (block count - free blocks) * block size."""
    text = "Filesystem volume name:   x\nBlock count:              524288\nFree blocks:   " \
           "            400000\nBlock size:               4096\nReserved block count: 5242\n"
    assert parse_dumpe2fs(text) == (524288 - 400000) * 4096
    with pytest.raises(ImgbaseError):
        parse_dumpe2fs("not a filesystem\n")


def test_size_report_ratios():
    """The report shows sparse and used sizes against the squashed size."""
    rep = SizeReport("r.img", 2 << 30, 800 << 20, 780 << 20, "l.squashfs", 250 << 20)
    assert rep.as_dict()["ratio_allocated_to_squashed"] == 3.2
    text = format_report(rep)
    assert "800.0 MiB" in text and "250.0 MiB" in text and "3.20 x" in text


# --- the recipe files themselves ------------------------------------------------------------------

def test_versions_differ_in_a_default_an_added_file_and_a_package():
    """v2 changes a default config file, adds a file and adds a package."""
    v1, v2 = RECIPE / "overlay/v1/etc", RECIPE / "overlay/v2/etc"
    assert (v1 / "imgbased-test.conf").read_text() != (v2 / "imgbased-test.conf").read_text()
    assert "version=2" in (v2 / "imgbased-test.conf").read_text()
    assert (v2 / "imgbased-test.d/new-in-v2").is_file() and not (v1 / "imgbased-test.d").exists()
    assert recipe.version_packages(2) and not recipe.version_packages(1)
    assert not set(recipe.version_packages(2)) & set(recipe.base_packages())


def test_recipe_scripts_are_executable_and_parse():
    """The test units' helpers are executable shell scripts without syntax errors."""
    scripts = sorted((RECIPE / "overlay/common/usr/libexec/imgbased-test").iterdir())
    assert scripts
    for script in scripts:
        assert os.access(script, os.X_OK), script
        subprocess.run(["bash", "-n", str(script)], check=True)


def test_recipe_names_no_mirror_host():
    """The mirror is read at run time: no recipe file names a URL."""
    for path in RECIPE.rglob("*"):
        if path.is_file():
            assert "http://" not in path.read_text() and "https://" not in path.read_text(), path


# --- the executables' arguments -------------------------------------------------------------------

@pytest.mark.parametrize("name", ["build-image", "make-liveimg", "sparsify", "size-report"])
def test_every_tool_has_help(name):
    """--help works and describes the tool."""
    res = tool(name, "--help")
    assert res.returncode == 0 and name in res.stdout


@pytest.mark.parametrize("name", ["build-image", "build-installer", "make-liveimg", "sparsify", "size-report"])
def test_help_starts_with_the_description(name):
    """The description --help shows is the tool's own docstring, not an import line."""
    res = tool(name, "--help")
    description = res.stdout.split("\n\n", 1)[1]
    assert res.returncode == 0 and description.startswith(f"{name}:") and "__future__" not in res.stdout


@pytest.mark.parametrize("args", [[], ["--version", "3"], ["--version", "1", "--comp", "rar"]])
def test_build_image_argument_errors(args):
    """Bad arguments exit 2 with argparse's message, before anything is built."""
    res = tool("build-image", *args)
    assert res.returncode == 2 and "error:" in res.stderr


def test_make_liveimg_argument_errors(tmp_path):
    """One path, or a rootfs that is not ext4, is refused."""
    res = tool("make-liveimg", str(tmp_path / "only.img"))
    assert res.returncode == 2
    junk = tmp_path / "junk.img"
    junk.write_bytes(b"x" * 4096)
    res = tool("make-liveimg", str(junk), str(tmp_path / "out.squashfs"))
    assert res.returncode == 1 and "not an ext4 filesystem image" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.squashfs").exists()


def test_size_report_and_sparsify_missing_files(tmp_path):
    """Missing inputs are one-line errors with exit code 1."""
    res = tool("size-report", str(tmp_path / "nope.img"))
    assert res.returncode == 1 and "no such image file" in res.stderr
    res = tool("sparsify", str(tmp_path / "nope.img"))
    assert res.returncode == 1 and "no such image file" in res.stderr


# --- real tools on a tiny image (no root needed) --------------------------------------------------

needs_tools = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("mke2fs", "mksquashfs", "unsquashfs", "e2image", "dumpe2fs")),
    reason="e2fsprogs and squashfs-tools are needed")


@needs_tools
def test_tiny_image_liveimg_sizes_and_sparsify(tmp_path):
    """A small ext4 image becomes a valid liveimg; size-report and sparsify work on it."""
    src = tmp_path / "tree"
    (src / "etc").mkdir(parents=True)
    (src / "etc" / "hello").write_text("hello\n")
    (src / "blob").write_bytes(os.urandom(2 << 20))
    img = tmp_path / "rootfs.img"
    subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", "-d", str(src), str(img), "32M"], check=True)
    out = tmp_path / "out" / "live.squashfs"
    res = tool("make-liveimg", "--comp", "gzip", str(img), str(out))
    assert res.returncode == 0, res.stderr
    digest = res.stdout.split()[0]
    assert len(digest) == 64 and out.is_file()
    assert tool("make-liveimg", "--check", str(out)).returncode == 0
    assert tool("make-liveimg", "--check", str(img)).returncode == 1
    listing = subprocess.run(["unsquashfs", "-lls", str(out)], capture_output=True, text=True).stdout
    assert "squashfs-root/LiveOS/rootfs.img" in listing
    rep = tool("size-report", "--json", str(img), str(out))
    assert rep.returncode == 0, rep.stderr
    assert '"squashed"' in rep.stdout and '"fs_used"' in rep.stdout
    # Fill free space with data, delete it: sparsify must give the space back.
    subprocess.run(["debugfs", "-w", "-R", f"write {src / 'blob'} junk", str(img)], check=True,
                   capture_output=True)
    subprocess.run(["debugfs", "-w", "-R", "rm junk", str(img)], check=True, capture_output=True)
    before = img.stat().st_blocks
    res = tool("sparsify", str(img))
    assert res.returncode == 0, res.stderr
    assert img.stat().st_blocks < before and img.stat().st_size == 32 << 20
    check = subprocess.run(["e2fsck", "-fn", str(img)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
    assert subprocess.run(["debugfs", "-R", "cat /etc/hello", str(img)], capture_output=True,
                          text=True).stdout == "hello\n"
