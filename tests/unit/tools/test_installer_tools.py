# SPDX-License-Identifier: GPL-2.0-or-later
"""Fast host tests of the PXE installer tools: iPXE script, kickstart pointing, PXE tree, HTTP server, keys."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from imagelib.common import ImgbaseError
from installerlib import pxe, pxevm, recipe, updates

from org_ovirt_imgbased.installer.kickstart import parse_kickstart
from tests.repo import ROOT as REPO_ROOT

ROOT = REPO_ROOT
TOOLS = ROOT / "image-tools"
KICKSTART = ROOT / "kickstarts/standalone-auto.ks"
PXE_KS = ROOT / "kickstarts/pxe-auto.ks"
SHA = "ab" * 32


# --- iPXE script and kickstart --------------------------------------------------------------------

def test_ipxe_script_loads_kernel_and_initrd_with_the_anaconda_options():
    """The script is an iPXE script whose kernel line carries ip=dhcp, inst.ks= and inst.stage2=."""
    text = pxe.ipxe_script("tftp://10.0.2.2/a.ks", "http://10.0.2.2:8080/installer.squashfs", ["rd.debug"])
    lines = text.splitlines()
    assert lines[0] == "#!ipxe" and lines[-1] == "boot"
    kernel = next(ln for ln in lines if ln.startswith("kernel "))
    args = kernel.split()[2:]
    assert kernel.split()[1] == recipe.KERNEL_NAME
    assert {"ip=dhcp", "inst.ks=tftp://10.0.2.2/a.ks", "inst.stage2=http://10.0.2.2:8080/installer.squashfs",
            "rd.debug"} <= set(args)
    assert not any(a.startswith("inst.updates=") for a in args)
    assert any(a.startswith("console=ttyS0") for a in args)
    assert f"initrd {recipe.INITRD_NAME}" in lines
    assert lines.index(kernel) < lines.index(f"initrd {recipe.INITRD_NAME}") < lines.index("boot")


def test_ipxe_script_passes_the_updates_image():
    """With an updates URL the kernel line carries inst.updates= (a URL with a space is refused)."""
    text = pxe.ipxe_script("http://h/a.ks", "http://h/r.squashfs", updates_url="http://h/u.img")
    assert "inst.updates=http://h/u.img" in text.split()
    with pytest.raises(ImgbaseError, match="not a usable URL"):
        pxe.ipxe_script("http://h/a.ks", "http://h/r.squashfs", updates_url="http://h/u v.img")


@pytest.mark.parametrize("url", ["", "http://h/a b.ks"])
def test_ipxe_script_refuses_urls_that_break_the_command_line(url):
    """An empty URL or one with whitespace cannot go on the kernel command line."""
    with pytest.raises(ImgbaseError, match="not a usable URL"):
        pxe.ipxe_script(url, "http://h/installer.squashfs")


def test_point_kickstart_rewrites_only_the_liveimg_line():
    """The real standalone-auto.ks gets the local URL and checksum; everything else stays as it was."""
    original = KICKSTART.read_text()
    text = pxe.point_kickstart(original, "http://10.0.2.2:4321/liveimg.squashfs", SHA)
    assert not [ln for ln in text.splitlines() if "192.0.2.1" in ln and not ln.startswith("#")]
    changed = [(a, b) for a, b in zip(original.splitlines(), text.splitlines()) if a != b]
    assert len(changed) == 1 and changed[0][0].startswith("liveimg ")
    assert len(text.splitlines()) == len(original.splitlines())
    result = parse_kickstart(text, name="pxe.ks")
    assert result.config.liveimg_url == "http://10.0.2.2:4321/liveimg.squashfs"
    assert result.config.checksum == f"sha256:{SHA}"
    assert result.config.disk == "vda"


def test_point_kickstart_without_checksum_and_without_liveimg():
    """No checksum leaves --checksum out; a kickstart with no liveimg line is an error."""
    text = pxe.point_kickstart("text\nliveimg --url=http://x/y\nreboot\n", "http://h/l.squashfs")
    assert "liveimg --url=http://h/l.squashfs\n" in text and "--checksum" not in text
    with pytest.raises(ImgbaseError, match="no liveimg line"):
        pxe.point_kickstart("text\nreboot\n", "http://h/l.squashfs")


def test_sign_section_names_the_signature_on_the_addon_line():
    """The real pxe-auto.ks gets --signature= on its %addon line only; the section reads it, --keep stays."""
    original = pxe.point_kickstart(PXE_KS.read_text(), "http://10.0.2.2:4321/liveimg.squashfs")
    text = pxe.sign_section(original, "http://10.0.2.2:4321/liveimg.squashfs.sig")
    changed = [(a, b) for a, b in zip(original.splitlines(), text.splitlines()) if a != b]
    assert len(changed) == 1 and changed[0][0].startswith("%addon org_ovirt_imgbased")
    assert len(text.splitlines()) == len(original.splitlines())
    result = parse_kickstart(text, name="pxe.ks")
    assert result.config.signature == "http://10.0.2.2:4321/liveimg.squashfs.sig"
    assert result.config.keep == 2 and result.config.checksum is None


@pytest.mark.parametrize("given", ["--signature=http://old/x.sig", "--signature http://old/x.sig"])
def test_sign_section_replaces_a_given_signature_and_keeps_the_policy(given):
    """One --signature= is left, the new one; --signature-policy is not an old signature."""
    header = f"%addon org_ovirt_imgbased {given} --signature-policy=required"
    line = pxe.sign_section(f"text\n{header}\n%end\n", "http://h/l.sig").splitlines()[1]
    assert line == "%addon org_ovirt_imgbased --signature-policy=required --signature=http://h/l.sig"


def test_sign_section_needs_the_addon_line_and_a_usable_url():
    """Another addon (or a comment naming ours) is not the section; a URL with a space is refused."""
    text = "# %addon org_ovirt_imgbased --keep=2\n%addon org_ovirt_imgbased_x\n%end\n"
    with pytest.raises(ImgbaseError, match="no %addon org_ovirt_imgbased line"):
        pxe.sign_section(text, "http://h/l.sig")
    with pytest.raises(ImgbaseError, match="not a usable signature URL"):
        pxe.sign_section("%addon org_ovirt_imgbased\n%end\n", "http://h/l v.sig")


# --- PXE tree and HTTP server ---------------------------------------------------------------------

def _fake_installer(path: Path) -> Path:
    """A directory shaped like a build-installer result."""
    path.mkdir()
    for name in (recipe.KERNEL_NAME, recipe.INITRD_NAME, recipe.ROOT_NAME):
        (path / name).write_bytes(name.encode())
    return path


def test_write_pxe_tree_places_the_files_and_defaults_stage2_beside_the_kickstart(tmp_path):
    """boot.ipxe, kernel, initramfs, root and updates image land in the tree; both default to the ks directory."""
    inst = _fake_installer(tmp_path / "inst")
    script = pxe.write_pxe_tree(tmp_path / "tree", inst, "http://10.0.2.2:81/ks/host.ks")
    assert script == tmp_path / "tree" / pxe.BOOTFILE
    for name in (recipe.KERNEL_NAME, recipe.INITRD_NAME, recipe.ROOT_NAME):
        assert (tmp_path / "tree" / name).read_bytes() == name.encode()
    assert (tmp_path / "tree" / recipe.UPDATES_NAME).stat().st_size > 0
    args = script.read_text().split()
    assert "inst.stage2=http://10.0.2.2:81/ks/installer.squashfs" in args
    assert f"inst.updates=http://10.0.2.2:81/ks/{recipe.UPDATES_NAME}" in args
    pxe.write_pxe_tree(tmp_path / "tree", inst, "tftp://10.0.2.2/h.ks", "http://s/r.squashfs", updates_url="http://s/u.img")
    assert {"inst.stage2=http://s/r.squashfs", "inst.updates=http://s/u.img"} <= set(script.read_text().split())


def _prepare(tmp_path: Path, signing: pxevm.Signing | None, checksum: str | None = None) -> str:
    """prepare_tree for a fake installer and liveimg, as if served on port 8080; the kickstart it wrote."""
    inst = tmp_path / "inst"
    if not inst.exists():
        _fake_installer(inst)
    (tmp_path / "live.squashfs").write_bytes(b"liveimg")
    tree = tmp_path / "tree"
    tree.mkdir(exist_ok=True)
    server = pxe.HttpServer(tree, port=8080)
    assert pxevm.prepare_tree(tree, inst, PXE_KS.read_text(), tmp_path / "live.squashfs", server, checksum,
                              "http", signing) == f"http://10.0.2.2:8080/{pxevm.KS_NAME}"
    return (tree / pxevm.KS_NAME).read_text()


def test_prepare_tree_serves_the_signature_and_the_key(tmp_path):
    """The signature beside the liveimg, named on the %addon line; the key in the served updates image."""
    (tmp_path / "live.sig").write_bytes(b"signature")
    (tmp_path / "publisher.gpg").write_bytes(b"key")
    ks = _prepare(tmp_path, pxevm.Signing(tmp_path / "live.sig", [tmp_path / "publisher.gpg"]))
    tree = tmp_path / "tree"
    assert (tree / pxevm.SIGNATURE_NAME).read_bytes() == b"signature"
    assert (tree / pxevm.LIVEIMG_NAME).read_bytes() == b"liveimg"
    config = parse_kickstart(ks, name="install.ks").config
    assert config.signature == f"http://10.0.2.2:8080/{pxevm.SIGNATURE_NAME}" and config.checksum is None
    assert config.liveimg_url == f"http://10.0.2.2:8080/{pxevm.LIVEIMG_NAME}"
    assert updates.key_member(tmp_path / "publisher.gpg") in updates.members(tree / recipe.UPDATES_NAME)


def test_prepare_tree_without_signing_serves_no_signature_and_no_key(tmp_path):
    """No signing: a signature left from an earlier run is gone, the %addon line and the image carry none."""
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / pxevm.SIGNATURE_NAME).write_bytes(b"stale")
    ks = _prepare(tmp_path, None, SHA)
    assert not (tmp_path / "tree" / pxevm.SIGNATURE_NAME).exists()
    assert "--signature" not in "".join(ln for ln in ks.splitlines() if not ln.startswith("#"))
    assert f"--checksum={SHA}" in ks
    names = updates.members(tmp_path / "tree" / recipe.UPDATES_NAME)
    assert not [n for n in names if n.startswith(updates.TRUSTED_DIR)]


def test_write_pxe_tree_needs_a_built_installer(tmp_path):
    """A directory without the artifacts names what is missing and the tool that builds it."""
    inst = _fake_installer(tmp_path / "inst")
    (inst / recipe.ROOT_NAME).unlink()
    with pytest.raises(ImgbaseError, match="no installer.squashfs.*build-installer"):
        pxe.write_pxe_tree(tmp_path / "tree", inst, "http://h/x.ks")


def test_serve_http_serves_the_directory_on_loopback_and_records_requests(tmp_path):
    """Files come back byte for byte; the record lists each request with its status."""
    (tmp_path / "a.ks").write_text("kickstart\n")
    with pxe.serve_http(tmp_path) as server:
        assert server.port > 0
        assert server.url("a.ks") == f"http://10.0.2.2:{server.port}/a.ks"
        with urllib.request.urlopen(server.url("a.ks", host="127.0.0.1"), timeout=10) as resp:
            assert resp.read() == b"kickstart\n"
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(server.url("missing", host="127.0.0.1"), timeout=10)
    assert server.requests == ["GET /a.ks 200", "GET /missing 404"]


# --- the disk-untouched check ---------------------------------------------------------------------

def test_nonzero_extents_of_sparse_and_written_files(tmp_path):
    """A sparse file and explicit zeros are blank; one written byte is found at its offset."""
    disk = tmp_path / "disk.img"
    with open(disk, "wb") as f:
        f.truncate(64 << 20)
    assert pxevm.nonzero_extents(disk) == []
    with open(disk, "r+b") as f:
        f.seek(8 << 20)
        f.write(b"\0" * 4096)
    assert pxevm.nonzero_extents(disk) == []
    with open(disk, "r+b") as f:
        f.seek((40 << 20) + 510)
        f.write(b"\x55\xaa")
    extents = pxevm.nonzero_extents(disk)
    assert len(extents) == 1
    start, length = extents[0]
    assert start <= (40 << 20) + 510 < start + length


# --- recipe, cache keys, scripts ------------------------------------------------------------------

def test_recipe_lists_name_what_the_installer_needs():
    """The live root has the blivet stack, anaconda's needs and tools; the initramfs the network and root modules."""
    pkgs = set(recipe.packages())
    assert {"python3-gi", "gir1.2-blockdev-2.0", "libblockdev-plugins-all", "udev", "lvm2",
            "thin-provisioning-tools", "squashfs-tools", "grub-common", "gpgv"} <= pkgs
    assert {"dbus", "rsync", "python3-rpm", "ndctl", "python3-systemd", "python3-pwquality"} <= pkgs
    assert {"virtio_net", "virtio_blk", "squashfs", "overlay", "loop"} <= set(recipe.initramfs_modules())
    assert {"dm_thin_pool", "ext4"} <= set(recipe.root_modules())
    pins = recipe.read_list("python.txt")
    dev = {ln.split("#")[0].strip() for ln in (ROOT / "requirements-dev.txt").read_text().splitlines()}
    assert {"blivet==3.7.1", "pykickstart==3.78", "simpleline==1.9.0", "dasbus==1.7"} <= set(pins)
    assert set(pins) <= dev, "the installer's pins differ from requirements-dev.txt"


def _fake_repo(root: Path) -> Path:
    """Copy every input of the installer's cache keys into root."""
    for rel in recipe.FINAL_INPUTS:
        src = ROOT / rel
        if src.is_dir():
            shutil.copytree(src, root / rel, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, root / rel)
    return root


def test_cache_keys_follow_their_inputs(tmp_path):
    """A package-list change moves both keys; a recipe or kernel change only the final key; imgbased neither."""
    repo = _fake_repo(tmp_path)
    base, final = recipe.base_key(repo), recipe.installer_key("6.1.0-1", "bb", repo)
    assert recipe.base_key(repo) == base and recipe.installer_key("6.1.0-1", "bb", repo) == final
    (repo / "org_ovirt_imgbased/installer").mkdir(parents=True)
    (repo / "org_ovirt_imgbased/installer/cli.py").write_text("# changed\n")
    assert recipe.installer_key("6.1.0-1", "bb", repo) == final, "the addon comes with the updates image"
    (repo / "image-tools/installer-recipe/overlay/usr/libexec/imgbased-installer/stage2").write_text("# changed\n")
    assert recipe.base_key(repo) == base
    changed = recipe.installer_key("6.1.0-1", "bb", repo)
    assert changed != final
    assert recipe.installer_key("6.1.0-2", "bb", repo) != changed
    assert recipe.installer_key("6.1.0-1", "cc", repo) != changed
    with open(repo / "image-tools/installer-recipe/packages.txt", "a") as f:
        f.write("tree\n")
    assert recipe.base_key(repo) != base
    assert recipe.installer_key("6.1.0-1", "bb", repo) != changed


@pytest.mark.skipif(not os.path.exists("/bin/busybox"), reason="needs busybox (make setup)")
def test_guest_scripts_parse():
    """The initramfs init and udhcpc hook parse with busybox sh, stage2 with bash."""
    for script in ("init", "udhcpc.script"):
        res = subprocess.run(["/bin/busybox", "sh", "-n", str(recipe.RECIPE_DIR / script)],
                             capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
    res = subprocess.run(["bash", "-n", str(recipe.RECIPE_DIR / "overlay" / recipe.STAGE2)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    for script in ("init", "udhcpc.script", "overlay/" + recipe.STAGE2):
        assert os.access(recipe.RECIPE_DIR / script, os.X_OK), f"{script} is not executable"


# --- command line ---------------------------------------------------------------------------------

def tool(*args: str) -> subprocess.CompletedProcess:
    """Run build-installer with the current Python."""
    return subprocess.run([sys.executable, str(TOOLS / "build-installer"), *args], capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize(("args", "message"), [
    (["--pxe-dir", "/nonexistent/x"], "--pxe-dir needs --ks URL (http:// or tftp://)"),
    (["--pxe-dir", "a", "--vm-install", "b"], "choose one of --pxe-dir and --vm-install"),
    (["--vm-install", "d.img", "--ks", "a.ks"], "--vm-install needs --ks FILE and --liveimg FILE"),
])
def test_build_installer_usage_errors(args, message):
    """Bad option combinations fail with exit 1 and one line, before anything is built."""
    res = tool(*args)
    assert res.returncode == 1
    assert res.stderr.strip() == f"build-installer: error: {message}", res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
