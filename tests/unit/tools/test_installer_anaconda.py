# SPDX-License-Identifier: GPL-2.0-or-later
"""Fast host tests of the PXE installer's anaconda side: stage2's outcome, the updates image, the root's shims."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
from imagelib.common import ImgbaseError
from installerlib import anaconda, baseroot, outcome, pxevm, recipe, updates

from org_ovirt_imgbased.host import signature
from org_ovirt_imgbased.runner import Runner
from tests import gpgkeys
from tests.repo import ROOT

PXE_KS = ROOT / "kickstarts/pxe-auto.ks"
publisher = gpgkeys.publisher


def _lvs(*rows: tuple[str, str, str]) -> dict:
    """An `lvs --reportformat json` report."""
    return {"report": [{"lv": [{"vg_name": vg, "lv_name": lv, "lv_tags": tags} for vg, lv, tags in rows]}]}


# --- outcome: stage2's result line ----------------------------------------------------------------

@pytest.mark.parametrize(("text", "action"), [
    ("text\nreboot\n", "reboot"),
    ("reboot --eject\n", "reboot"),
    ("poweroff\n", "poweroff"),
    ("shutdown\n", "poweroff"),
    ("halt\n", "none"),
    ("text\n", "none"),
    ("%post\nreboot\n%end\n", "none"),
    ("%addon org_ovirt_imgbased\n%end\n# reboot\npoweroff\n", "poweroff"),
])
def test_power_action_reads_the_top_level_command(text, action):
    """reboot/poweroff/shutdown outside sections decide; comments and %post bodies do not."""
    assert outcome.power_action(text) == action


def test_power_action_of_the_pxe_kickstart_is_reboot():
    """kickstarts/pxe-auto.ks ends with reboot."""
    assert outcome.power_action(PXE_KS.read_text()) == "reboot"


def test_find_layer_is_the_lv_tagged_as_a_layer():
    """Base-0 (the base) and the data volumes are not the layer; Base-0.1 is."""
    report = _lvs(("HostVG", "Base-0", "imgbased:base,imgbased:image=x"), ("HostVG", "var", "imgbased:volume"),
                  ("HostVG", "Base-0.1", "imgbased:layer,imgbased:base=Base-0"), ("HostVG", "pool00", ""))
    assert outcome.find_layer(report) == ("HostVG", "Base-0.1")
    assert outcome.find_layer(_lvs(("anaconda", "root", ""))) is None
    assert outcome.find_layer({}) is None


def test_pv_of_names_the_vgs_first_pv():
    """The physical volume of the layer's VG, not of another VG."""
    report = {"report": [{"pv": [{"pv_name": "/dev/vdb1", "vg_name": "other"},
                                 {"pv_name": "/dev/vda2", "vg_name": "HostVG"}]}]}
    assert outcome.pv_of(report, "HostVG") == "/dev/vda2"
    assert outcome.pv_of(report, "missing") is None


def test_failure_reason_is_anacondas_error_on_one_line():
    """The error from the result JSON; a missing result or error says what is known."""
    assert outcome.failure_reason({"ok": False, "phase": "install", "error": "Checksum\n mismatch"}, 1) \
        == "Checksum mismatch"
    assert "phase partitioning" in outcome.failure_reason({"ok": False, "phase": "partitioning"}, 1)
    assert "wrote no result (exit 139)" in outcome.failure_reason(None, 139)


def test_summarize_a_failed_run_without_asking_lvm(tmp_path):
    """A failed result becomes the FAILED line (no LVM command runs for it)."""
    ok, line = outcome.summarize({"ok": False, "phase": "install", "error": "bad checksum"}, 1, "reboot\n")
    assert not ok and line == "IMGBASED_INSTALL_FAILED: bad checksum"
    ok, line = outcome.summarize({"ok": True}, 1, "reboot\n")
    assert not ok and line.startswith("IMGBASED_INSTALL_FAILED: ")


def test_timings_line_in_phase_order():
    """Phases are listed in the order they started, as the installer prints them for the test."""
    result = {"timings": {"install": 120.5, "launcher": 20.1}, "phase_start": {"launcher": 1.0, "install": 9.0}}
    line = outcome.timings_line(result)
    assert line == "imgbased-installer: anaconda timings: launcher 20.1s, install 120.5s"
    assert pxevm.anaconda_timings("x\n" + line + "\n") == {"anaconda launcher": 20.1, "anaconda install": 120.5}
    assert pxevm.anaconda_timings("nothing here") == {}


def test_outcome_main_without_a_result_file_fails_with_a_marker(tmp_path, capsys):
    """anaconda-run that crashed before writing its result still gives one FAILED line, exit 1."""
    ks = tmp_path / "ks.cfg"
    ks.write_text("reboot\n")
    assert outcome.main(["--result", str(tmp_path / "none.json"), "--ks", str(ks), "--exit-code", "1"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "IMGBASED_INSTALL_FAILED: anaconda-run wrote no result (exit 1); see the console above"
    (tmp_path / "r.json").write_text(json.dumps({"ok": False, "phase": "install", "error": "no space"}))
    assert outcome.main(["--result", str(tmp_path / "r.json"), "--ks", str(ks), "--exit-code", "1"]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "IMGBASED_INSTALL_FAILED: no space"


def test_ok_line_matches_what_the_vm_test_waits_for():
    """The success line parses with pxevm's result pattern."""
    match = pxevm.RESULT.search(outcome.ok_line("Base-0.1", "/dev/vda", "reboot"))
    assert match and match.group("ok") == "layer=Base-0.1 disk=/dev/vda after=reboot"


# --- the root's anaconda parts --------------------------------------------------------------------

def test_plain_lvm_drops_lvm_dbus_only_from_the_lvm_section():
    """lvm-dbus goes, the plain plugin stays; other sections are unchanged."""
    text = "[lvm]\nsonames=libbd_lvm-dbus.so.2;libbd_lvm.so.2\n\n[dm]\nsonames=libbd_dm.so.2\n"
    assert anaconda.plain_lvm(text) == "[lvm]\nsonames=libbd_lvm.so.2\n\n[dm]\nsonames=libbd_dm.so.2\n"
    assert "sonames=libbd_lvm.so.2" in anaconda.plain_lvm("[lvm]\nsonames=libbd_lvm-dbus.so.2\n")


def test_fixed_paths_and_shims_from_an_anaconda_tree(tmp_path):
    """Bus configuration, services, start-module, anaconda.conf, mpathconf, libblockdev: where anaconda looks."""
    src = tmp_path / "src"
    for rel in ("data/dbus/anaconda-bus.conf", "data/dbus/org.fedoraproject.Anaconda.Boss.service",
                "data/dbus/org.fedoraproject.Anaconda.Boss.conf", "scripts/start-module", "data/anaconda.conf"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(rel + "\n")
    root = tmp_path / "root"
    names = anaconda.add_fixed_paths(root, src)
    anaconda.add_shims(root)
    assert names == ["org.fedoraproject.Anaconda.Boss.conf", "org.fedoraproject.Anaconda.Boss.service"]
    for rel in ("usr/share/anaconda/dbus/anaconda-bus.conf", "usr/share/anaconda/dbus/services/"
                "org.fedoraproject.Anaconda.Boss.service", "usr/share/anaconda/dbus/confs/"
                "org.fedoraproject.Anaconda.Boss.conf", "etc/anaconda/anaconda.conf"):
        assert (root / rel).is_file(), rel
    assert os.access(root / "usr/libexec/anaconda/start-module", os.X_OK)
    assert subprocess.run([str(root / anaconda.MPATHCONF), "--enable"]).returncode == 0
    assert "libbd_lvm.so.2" in (root / anaconda.BLOCKDEV_DIR / "00-default.cfg").read_text()
    assert not list((root / anaconda.ADDONS_DIR).iterdir()), "the root must not carry an addon"


def test_stage2_paths_match_the_root_layout():
    """stage2 exports the directories anaconda.py lays out, and runs the helpers where they are installed."""
    stage2 = (recipe.RECIPE_DIR / "overlay" / recipe.STAGE2).read_text()
    for rel in (anaconda.SRC_DIR, anaconda.ADDONS_DIR, anaconda.LOCALE_DIR, anaconda.BLOCKDEV_DIR):
        assert f"/{rel}" in stage2, rel
    for rel in (anaconda.RUN_LAUNCHER, anaconda.RUN_OUTCOME):
        assert Path(rel).parent.as_posix() == Path(recipe.STAGE2).parent.as_posix()
        assert f'"$HERE/{Path(rel).name}"' in stage2
    assert "imgbase-install" not in stage2


def test_install_meh_unpacks_only_the_package(tmp_path, monkeypatch):
    """meh/ and meh/ui/ Python files go into the site directory; a tarball without them is refused."""
    def tarball(path: Path, names: list[str]) -> None:
        with tarfile.open(path, "w:gz") as tar:
            for name in names:
                data = f"# {name}\n".encode()
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    third = tmp_path / "third"
    third.mkdir()
    tarball(third / recipe.MEH_TARBALL, ["python-meh-0.52/setup.py", "python-meh-0.52/meh/__init__.py",
                                         "python-meh-0.52/meh/ui/text.py", "python-meh-0.52/ui/x.glade"])
    monkeypatch.setenv("IMGBASED_THIRD_PARTY", str(third))
    assert baseroot.install_meh(tmp_path / "root") == ["meh/__init__.py", "meh/ui/text.py"]
    assert (tmp_path / "root" / recipe.SITE_PACKAGES / "meh/ui/text.py").is_file()
    tarball(third / recipe.MEH_TARBALL, ["python-meh-0.52/setup.py"])
    with pytest.raises(ImgbaseError, match="no meh/__init__.py"):
        baseroot.install_meh(tmp_path / "root2")


def test_a_missing_third_party_tarball_says_where_it_was_expected(tmp_path, monkeypatch):
    """One line naming the tarball, the directory and the variable."""
    monkeypatch.setenv("IMGBASED_THIRD_PARTY", str(tmp_path))
    with pytest.raises(ImgbaseError, match=r"anaconda-38.23.4.tar.gz not found in .*IMGBASED_THIRD_PARTY"):
        recipe.third_party(recipe.ANACONDA_TARBALL)


# --- the updates image ----------------------------------------------------------------------------

def test_updates_image_holds_the_addon_and_its_dbus_files(tmp_path):
    """make updates-img into a chosen file: the addon, its D-Bus service and the drop-in, root-owned."""
    img = updates.build_updates(tmp_path / "u.img")
    names = updates.members(img)
    assert {updates.ADDON_INIT, updates.ADDON_SERVICE, "etc/anaconda/conf.d/90-imgbased.conf"} <= set(names)
    assert not [n for n in names if "__pycache__" in n]
    assert not [n for n in names if n.startswith(updates.TRUSTED_DIR)], "a key no one asked for"
    listing = subprocess.run(["cpio", "-tv", "--quiet"], input=gzip.decompress(img.read_bytes()),
                             capture_output=True, check=True).stdout.decode()
    assert all(" root " in ln for ln in listing.splitlines() if ln), "the image's files are not root-owned"


def _unpack(img: Path, dest: Path) -> Path:
    """Unpack an updates image into dest (as the init lays it over the root); return dest."""
    dest.mkdir()
    subprocess.run(["cpio", "-i", "-d", "--quiet"], input=gzip.decompress(img.read_bytes()), cwd=dest, check=True)
    return dest


def test_updates_image_carries_the_trusted_keys_byte_for_byte(tmp_path):
    """Each key lands as etc/imgbased/trusted.d/NAME, root-owned and 0644, with the bytes it was given."""
    keys = [tmp_path / "publisher.gpg", tmp_path / "site.asc"]
    for key in keys:
        key.write_bytes(f"key {key.name}\n".encode())
    img = updates.build_updates(tmp_path / "u.img", trusted_keys=keys)
    assert {updates.key_member(k) for k in keys} | {updates.ADDON_INIT} <= set(updates.members(img))
    root = _unpack(img, tmp_path / "root")
    for key in keys:
        assert (root / updates.key_member(key)).read_bytes() == key.read_bytes()
    listing = subprocess.run(["cpio", "-tv", "--quiet"], input=gzip.decompress(img.read_bytes()),
                             capture_output=True, check=True).stdout.decode()
    rows = [ln for ln in listing.splitlines() if ln.endswith(tuple(updates.key_member(k) for k in keys))]
    assert len(rows) == 2 and all(ln.startswith("-rw-r--r--") and " root " in ln for ln in rows), listing


def test_a_key_from_the_updates_image_checks_the_publishers_signature(tmp_path, publisher):
    """The unpacked trusted.d is a trust the addon's gpgv check accepts: the signer is the publisher."""
    img = updates.build_updates(tmp_path / "u.img", trusted_keys=[publisher.export(tmp_path / "publisher.gpg")])
    root = _unpack(img, tmp_path / "root")
    trust = signature.load_trust(directory=root / updates.TRUSTED_DIR)
    assert trust.policy == "required" and [k.name for k in trust.keyrings] == ["publisher.gpg"]
    data = tmp_path / "liveimg.squashfs"
    data.write_bytes(b"a liveimg\n" * 1000)
    sig = publisher.sign(data)
    assert signature.verify_file(Runner(), trust, data, sig, data.name) == publisher.fingerprint


@pytest.mark.parametrize(("names", "message"), [
    (["a/key.txt"], "name it NAME.gpg"),
    (["a/.hidden.gpg"], "name it NAME.gpg"),
    (["a/k.gpg", "b/k.gpg"], "two trusted keys are named k.gpg"),
    (["a/missing.gpg"], "missing.gpg: no such file"),
])
def test_updates_image_refuses_keys_the_addon_would_not_read(tmp_path, names, message):
    """A key name the addon skips, a name given twice or a missing file: refused before make runs."""
    keys = [tmp_path / n for n in names]
    for key in keys:
        key.parent.mkdir(exist_ok=True)
        if key.name != "missing.gpg":
            key.write_bytes(b"k")
    with pytest.raises(ImgbaseError, match=message):
        updates.build_updates(tmp_path / "u.img", trusted_keys=keys)
    assert not (tmp_path / "u.img").exists()


def test_make_updates_img_refuses_a_trusted_key_not_named_for_the_addon(tmp_path):
    """A site's TRUSTED_KEYS= with a name other than *.gpg or *.asc stops make with the reason."""
    (tmp_path / "site.key").write_bytes(b"k")
    res = subprocess.run(["make", "-s", "-C", str(ROOT), "updates-img", f"UPDATES_IMG={tmp_path / 'u.img'}",
                          f"UPDATES_DIR={tmp_path / 'tree'}", f"TRUSTED_KEYS={tmp_path / 'site.key'}"],
                         capture_output=True, text=True)
    assert res.returncode != 0 and "is not named *.gpg or *.asc" in res.stderr, res.stderr
    assert not (tmp_path / "u.img").exists()


def test_updates_image_members_of_something_else(tmp_path):
    """Not a gzip'd cpio: one line naming the file."""
    (tmp_path / "x.img").write_bytes(b"not gzip")
    with pytest.raises(ImgbaseError, match="x.img is not a gzip'd cpio archive"):
        updates.members(tmp_path / "x.img")


@pytest.mark.skipif(not os.path.exists("/bin/busybox"), reason="needs busybox (make setup)")
def test_init_lays_the_updates_image_over_the_root(tmp_path):
    """The init's apply_updates (busybox gzip + cpio) replaces a file the root has and adds the rest."""
    img = updates.build_updates(tmp_path / "u.img")
    root = tmp_path / "root"
    addon = root / updates.ADDON_INIT
    addon.parent.mkdir(parents=True)
    addon.write_text("# the root's own copy\n")
    bindir = tmp_path / "bin"  # busybox's applets only, as in the initramfs
    bindir.mkdir()
    for applet in ("gzip", "cpio"):
        (bindir / applet).symlink_to("/bin/busybox")
    init = (recipe.RECIPE_DIR / "init").read_text()
    func = init[init.index("apply_updates() {"):init.index("}\n", init.index("apply_updates() {")) + 2]
    script = f"export PATH={bindir}\n{func}apply_updates \"$1\" \"$2\"\n"

    def apply(image: Path) -> subprocess.CompletedProcess:
        """Run the init's function on image and root."""
        return subprocess.run(["/bin/busybox", "sh", "-c", script, "sh", str(image), str(root)],
                              capture_output=True, text=True)
    res = apply(img)
    assert res.returncode == 0, res.stderr
    assert addon.read_text() == (ROOT / "org_ovirt_imgbased/__init__.py").read_text()
    assert (root / updates.ADDON_SERVICE).is_file()
    bad = tmp_path / "bad.img"
    bad.write_bytes(b"plain")
    assert apply(bad).returncode != 0
