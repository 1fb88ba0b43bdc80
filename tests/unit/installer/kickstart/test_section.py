# SPDX-License-Identifier: GPL-2.0-or-later
"""The %addon org_ovirt_imgbased section: round trips, every bad input with its line, ksvalidator on kickstarts/."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from pykickstart.errors import KickstartParseError

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.installer.kickstart import (
    AddonConfig,
    KickstartLineError,
    SectionReader,
    check_config,
    parse_kickstart,
    read_section,
    section_from_lines,
)
from org_ovirt_imgbased.installer.kickstart.payload import payload_command_classes, resolve_payload
from tests.repo import ROOT as REPO_ROOT

ROOT = REPO_ROOT
KICKSTARTS = ROOT / "kickstarts"
MiB, GiB = 1 << 20, 1 << 30
HEX = "0123456789abcdef" * 4
LIVE = "liveimg --url=https://example.com/img/rootfs.squashfs\n"


def ks(header: str = "", body: str = "", before: str = LIVE, after: str = "") -> str:
    """A kickstart with our section between before and after."""
    return f"{before}%addon org_ovirt_imgbased {header}\n{body}%end\n{after}"


def ksvalidator() -> str:
    """The ksvalidator of the venv running the tests."""
    found = Path(sys.executable).parent / "ksvalidator"
    return str(found) if found.exists() else shutil.which("ksvalidator") or "ksvalidator-not-found"


def validate(path: Path, tmp: Path) -> subprocess.CompletedProcess:
    """Run ksvalidator on path with TMPDIR in tmp (it leaves its preprocessed copy behind)."""
    return subprocess.run([ksvalidator(), str(path)], capture_output=True, text=True,
                          env={**os.environ, "TMPDIR": str(tmp)})


# ---- round trips --------------------------------------------------------------------------------

@pytest.mark.parametrize("header, attr, expected", [
    ("--vg=MyVG", "vg", "MyVG"),
    ("--pool=thin.pool+1", "pool", "thin.pool+1"),
    ("--disk=vdb", "disk", "vdb"),
    ("--disk=/dev/disk/by-id/virtio-abc", "disk", "/dev/disk/by-id/virtio-abc"),
    ("--boot-size=512MiB", "boot_size", 512 * MiB),
    ("--boot-size=1G", "boot_size", GiB),
    ("--boot-size=2048", "boot_size", 2 * GiB),
    ("--boot-size=1.5GiB", "boot_size", 1536 * MiB),
    ("--pool-size=30GiB", "pool_size", 30 * GiB),
    ("--pool-size=1T", "pool_size", 1 << 40),
    ("--grow", "pool_size", None),
    ("--base-size=8G", "base_size", 8 * GiB),
    ("--base-size=6000M", "base_size", 6000 * MiB),
    ("--liveimg=https://example.com/a/b.squashfs", "liveimg_url", "https://example.com/a/b.squashfs"),
    ("--liveimg=/srv/images/rootfs.squashfs", "liveimg_url", "/srv/images/rootfs.squashfs"),
    ("--liveimg=file:///srv/x.img", "liveimg_url", "file:///srv/x.img"),
    (f"--liveimg=http://e.com/x.img --checksum=sha256:{HEX.upper()}", "checksum", f"sha256:{HEX}"),
    (f"--liveimg=http://e.com/x.img --checksum={HEX}", "checksum", f"sha256:{HEX}"),
    ("'--liveimg=https://e.com/x.img?a=1&b=#2'", "liveimg_url", "https://e.com/x.img?a=1&b=#2"),
    ("--keep=5", "keep", 5),
    ("--no-layout", "no_layout", True),
    ("--signature=https://e.com/img/rootfs.squashfs.sig", "signature", "https://e.com/img/rootfs.squashfs.sig"),
    ("--signature=/srv/images/rootfs.squashfs.sig", "signature", "/srv/images/rootfs.squashfs.sig"),
    ("--signature=file:///srv/x.sig --signature-policy=if-present", "signature", "file:///srv/x.sig"),
    ("--signature-policy=required", "signature_policy", "required"),
    ("--signature-policy=if-present", "signature_policy", "if-present"),
    ("--signature-policy=off", "signature_policy", "off"),
])
def test_every_option_round_trips(header, attr, expected):
    """Each option parses to the expected value and survives to_kickstart -> parse."""
    before = "" if "--liveimg" in header else LIVE
    first = parse_kickstart(ks(header, before=before))
    assert getattr(first.section, attr) == expected
    again = read_section(first.section.to_kickstart())
    assert again == first.section
    assert again.to_kickstart() == first.section.to_kickstart()


def test_defaults_and_body_round_trip():
    """Defaults, volumes (also sizes in other units) and quoted persist paths survive a round trip."""
    body = "# data\nvolume /var 5GiB\n\nvolume /var/log 8192\nvolume /srv/data 1.5G\npersist /root/.ssh\n" \
           "persist '/root/my notes'\n"
    cfg = parse_kickstart(ks("", body)).section
    assert (cfg.vg, cfg.pool, cfg.disk, cfg.boot_size, cfg.grow, cfg.keep) == ("HostVG", "pool00", None, GiB, True, 2)
    assert cfg.volumes == [("/var", 5 * GiB), ("/var/log", 8 * GiB), ("/srv/data", 1536 * MiB)]
    assert cfg.persist == ["/root/.ssh", "/root/my notes"]
    text = cfg.to_kickstart()
    assert "volume /srv/data 1536MiB\n" in text and "persist '/root/my notes'\n" in text
    assert read_section(text) == cfg


def test_whole_file_round_trip_keeps_other_addons_and_passes_ksvalidator(tmp_path):
    """The standard parser's output plus our section reads back the same and stays valid."""
    text = "lang en_US.UTF-8\n" + LIVE + "%addon com_redhat_kdump --enable\n%end\n" + \
        ks("--disk=vda --pool-size=20G --keep=3", "volume /var 2GiB\n", before="")
    first = parse_kickstart(text)
    written = first.to_kickstart()
    assert "%addon com_redhat_kdump --enable" in written
    second = parse_kickstart(written)
    assert second.section == first.section and second.config == first.config
    out = tmp_path / "written.ks"
    out.write_text(written)
    proc = validate(out, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_payload_from_the_liveimg_command():
    """Without --liveimg the liveimg command is the payload; its bare hex checksum is normalised."""
    result = parse_kickstart(ks("--disk=vda", before=f"liveimg --url=http://e.com/r.sq --checksum={HEX}\n"))
    assert result.config.liveimg_url == "http://e.com/r.sq"
    assert result.config.checksum == f"sha256:{HEX}"
    assert result.section.liveimg_url is None  # the section as written has no --liveimg
    assert (result.payload.origin, result.payload.lineno) == ("liveimg", 1)
    assert "--liveimg" not in result.section.to_kickstart()


def test_same_payload_twice_is_accepted():
    """--liveimg and a liveimg command naming the same URL agree."""
    result = parse_kickstart(ks("--liveimg=https://e.com/r.sq", before="liveimg --url=https://e.com/r.sq\n"))
    assert result.payload.origin == "addon" and result.config.liveimg_url == "https://e.com/r.sq"


def test_from_lines_and_section_reader_like_anaconda():
    """The core that anaconda's AddonData calls line by line gives the same config, with its line numbers."""
    cfg = section_from_lines(["--vg=VG1", "--grow"], ["volume /var 1G", "# c", "persist /root"], lineno_offset=10)
    assert (cfg.vg, cfg.volumes, cfg.persist) == ("VG1", [("/var", GiB)], ["/root"])
    with pytest.raises(KickstartLineError) as err:
        section_from_lines([], ["volume /var 1G", "", "volume /var 2G"], lineno_offset=10)
    assert err.value.lineno == 13 and "first on line 11" in str(err.value)
    reader = SectionReader()
    reader.header(["--disk=vda"], 4)
    reader.line("volume /home 3GiB\n", 5)
    section = reader.finish()
    # an anaconda handler only has the commands of the addon's specification
    handler = SimpleNamespace(liveimg=SimpleNamespace(seen=True, lineno=2, url="https://e.com/a.sq",
                                                      checksum="", proxy=None, noverifyssl=False))
    config, payload = resolve_payload(section, 4, handler)
    assert config.liveimg_url == "https://e.com/a.sq" and payload.lineno == 2
    with pytest.raises(KickstartLineError) as err:
        resolve_payload(section, 4, SimpleNamespace())
    assert err.value.lineno == 4


def test_payload_command_classes_cover_liveimg_and_the_refused_payloads():
    """The anaconda specification gets pykickstart's classes for every payload command we check."""
    classes = payload_command_classes()
    assert {"liveimg", "url", "ostreesetup", "cdrom", "nfs", "harddrive"} <= set(classes)


def test_check_rejects_a_config_made_in_code():
    """check_config validates configs that did not come from a kickstart."""
    check_config(AddonConfig(disk="vda", volumes=[("/var", GiB)]))
    with pytest.raises(ImgbaseError, match="volume on / is not allowed"):
        check_config(AddonConfig(volumes=[("/", GiB)]))


# ---- errors, each with its line ----------------------------------------------------------------

@pytest.mark.parametrize("text, lineno, words", [
    (ks("--frobnicate"), 2, "unrecognized arguments: --frobnicate"),
    (ks("--po=1G"), 2, "unrecognized arguments"),
    (ks("--vg=A --vg=B"), 2, "--vg is given twice"),
    (ks("--boot-size=lots"), 2, "--boot-size: bad size 'lots'"),
    (ks("--boot-size=100MiB"), 2, "too small"),
    (ks("--pool-size=-3G"), 2, "--pool-size: bad size"),
    (ks("--base-size=0"), 2, "--base-size"),
    (ks("--pool-size=10G --grow"), 2, "--pool-size and --grow conflict"),
    (ks("--vg=-bad"), 2, "not a valid LVM name"),
    (ks("--pool=my_tmeta"), 2, "reserves"),
    (ks("--disk='v d a'"), 2, "not a disk name"),
    (ks("--keep=0"), 2, "--keep"),
    (ks("--signature=ftp://e.com/x.sig"), 2, "--signature: signature 'ftp://e.com/x.sig' is not a signature URL"),
    (ks("--signature=x.sig"), 2, "is not a signature URL: use http://, https://, file:/// or an absolute path"),
    (ks("--signature=file://server/x.sig"), 2, "--signature: signature 'file://server/x.sig' names a host"),
    (ks("--signature=https://e.com/sigs/"), 2, "names no signature file"),
    (ks("--signature=https:///x.sig"), 2, "names no host"),
    (ks("--signature=/srv/../x.sig"), 2, "signature path '/srv/../x.sig' is not normalised"),
    (ks("'--signature=https://e.com/a b.sig'"), 2, "without spaces"),
    (ks("--signature"), 2, "argument --signature: expected one argument"),
    (ks("--signature=https://e.com/a.sig --signature=https://e.com/b.sig"), 2, "--signature is given twice"),
    (ks("--signature-policy=maybe"), 2, "--signature-policy: policy 'maybe' is not one of required, if-present, off"),
    (ks("--signature-policy=Required"), 2, "--signature-policy: policy 'Required'"),
    (ks("--signature-policy=off --signature-policy=off"), 2, "--signature-policy is given twice"),
    (ks("--signature=https://e.com/a.sig --signature-policy=off"), 2,
     "--signature and --signature-policy=off conflict"),
    (ks("--signature-policy=if-present", before="liveimg --url=http://e.com/r.sq\n"), 1,
     "plain http without a checksum"),
    (ks("--liveimg=http://e.com/x --checksum=sha256:abc", before=""), 1, "not sha256: followed by 64 hex"),
    (ks("--liveimg=http://e.com/x --checksum=md5:" + HEX[:32], before=""), 1, "only sha256"),
    (ks("--checksum=sha256:" + HEX), 2, "--checksum needs --liveimg"),
    (ks("--liveimg=nfs:server:/x.img", before=""), 1, "not a liveimg URL"),
    (ks("--liveimg=images/x.img", before=""), 1, "not a liveimg URL"),
    (ks("--liveimg=ftp://e.com/x.img", before=""), 1, "not a liveimg URL: use http://, https://, file:///"),
    (ks("--liveimg=file://server/x.img", before=""), 1, "names a host in a file URL"),
    (ks("", "volume /var 5GiB\nvolume /var 6GiB\n"), 4, "duplicate volume /var (first on line 3)"),
    (ks("", "volume /var/log 1G\nvolume /var_log 1G\n"), 4, "LV name var_log, already used by /var/log"),
    (ks("--pool=data", "volume /data 1G\n"), 3, "already used by the pool data"),
    (ks("", "volume /Base-1 1G\n"), 3, "looks like an imgbased base"),
    (ks("", "# fine\nvolume / 5GiB\n"), 4, "a volume on / is not allowed"),
    (ks("", "volume /usr/local 5GiB\n"), 3, "/usr belongs to the image"),
    (ks("", "volume /boot/efi 1GiB\n"), 3, "/boot belongs to the image"),
    (ks("", "volume /var/ 5GiB\n"), 3, "not normalised"),
    (ks("", "volume var 5GiB\n"), 3, "must be an absolute path"),
    (ks("", "volume /var 5 GB\n"), 3, "volume needs a mount point and a size"),
    (ks("", "volume /var five\n"), 3, "volume: bad size 'five'"),
    (ks("", "volume /var 16MiB\n"), 3, "too small"),
    (ks("", "persist /root\npersist /root\n"), 4, "duplicate persist /root (first on line 3)"),
    (ks("", "persist relative/path\n"), 3, "must be an absolute path"),
    (ks("", "persist /\n"), 3, "persist / is not allowed"),
    (ks("", "frobnicate /var\n"), 3, "unknown line 'frobnicate /var'"),
    (ks("", "volume '/var 1G\n"), 3, "cannot split"),
    (ks("", before=""), 1, "no payload"),
    (ks("", before="lang en_US.UTF-8\nurl --url=http://e.com/os/\n"), 2, "the url payload cannot be used"),
    (ks("--liveimg=http://e.com/x.img", before="ostreesetup --osname=f --url=http://e.com/r --ref=f/x\n"), 1,
     "the ostreesetup payload cannot be used"),
    (ks("", before="", after="cdrom\n"), 3, "the cdrom payload cannot be used"),
    (ks("", before="liveimg --url=http://e.com/x --checksum=nothex\n"), 1, "liveimg: checksum 'nothex'"),
    (ks("", before="liveimg --url=nfs://e.com/x.img\n"), 1, "liveimg: payload"),
    (ks("--liveimg=http://e.com/a.img", before="liveimg --url=http://e.com/b.img\n"), 1, "different payloads"),
    (ks("--disk=vda", after="%addon org_ovirt_imgbased\n%end\n"), 4, "a second %addon org_ovirt_imgbased section"),
    (LIVE + "%addon\n%end\n", 2, "%addon needs an addon name"),
    (LIVE + "bogus-command --x\n" + ks(before=""), 2, "Unknown command: bogus-command"),
    (LIVE + "%addon org_ovirt_imgbased --disk=vda\nvolume /var 1G\n", 3, "does not end with %end"),
])
def test_bad_input_names_its_line(text, lineno, words):
    """Every problem is one KickstartLineError naming the line and what is wrong."""
    with pytest.raises(KickstartLineError) as err:
        parse_kickstart(text, name="test.ks")
    exc = err.value
    assert isinstance(exc, ImgbaseError) and isinstance(exc, KickstartParseError)
    assert exc.lineno == lineno, str(exc)
    assert str(exc).startswith(f"test.ks line {lineno}: "), str(exc)
    assert words in str(exc)
    assert "\n" not in str(exc)


def test_no_section_and_missing_file():
    """A kickstart without our section, or a missing file, is an ImgbaseError without a line."""
    with pytest.raises(ImgbaseError, match="has no %addon org_ovirt_imgbased section"):
        parse_kickstart(LIVE + "lang en_US.UTF-8\n")
    with pytest.raises(ImgbaseError, match="cannot read kickstart"):
        parse_kickstart(KICKSTARTS / "does-not-exist.ks")


# ---- the shipped kickstarts --------------------------------------------------------------------

def test_kickstarts_directory_has_the_three_files():
    """The compose, interactive and PXE kickstarts are all there."""
    assert {p.name for p in KICKSTARTS.glob("*.ks")} >= {"runtime-layout.ks", "interactive.ks", "pxe-auto.ks",
                                                          "standalone-auto.ks"}


@pytest.mark.parametrize("path", sorted(KICKSTARTS.glob("*.ks")), ids=lambda p: p.name)
def test_ksvalidator_accepts(path, tmp_path):
    """Every file in kickstarts/ passes pykickstart's ksvalidator."""
    proc = validate(path, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ksvalidator_is_able_to_fail(tmp_path):
    """The validator check above can fail: a broken kickstart is refused."""
    bad = tmp_path / "bad.ks"
    bad.write_text("lang en_US.UTF-8\nnot-a-command\n")
    assert validate(bad, tmp_path).returncode != 0


def test_plain_http_without_a_checksum_is_refused_on_the_liveimg_line():
    """Plain http proves nothing about the image: without a checksum it is refused before any fetch."""
    with pytest.raises(ImgbaseError, match="kickstart line 1: http://e.com/r.sq is plain http without a checksum"):
        parse_kickstart(ks("--disk=vda", before="liveimg --url=http://e.com/r.sq\n"))
    assert parse_kickstart(ks("--disk=vda", before=f"liveimg --url=http://e.com/r.sq --checksum={HEX}\n"))


def test_standalone_auto_is_a_complete_unattended_install():
    """standalone-auto.ks names the disk, a liveimg payload and a /var volume."""
    result = parse_kickstart(KICKSTARTS / "standalone-auto.ks")
    cfg = result.config
    assert cfg.disk == "vda" and cfg.liveimg_url.startswith("https://") and cfg.grow
    assert [mp for mp, _size in cfg.volumes] == ["/var"]
    assert result.payload.origin == "liveimg"
    assert result.handler.reboot.seen


def test_interactive_defaults_leave_the_disk_open():
    """interactive.ks gives defaults and the payload; the disk is chosen on screen."""
    result = parse_kickstart(KICKSTARTS / "interactive.ks")
    assert result.config.disk is None and result.config.liveimg_url.startswith("https://")
    assert result.config.persist == ["/root/.ssh"] and result.config.keep == 2


def test_a_kickstart_that_is_not_utf8_is_one_line(tmp_path):
    """A Latin-1 kickstart file is refused in one line naming the byte, not an internal error."""
    path = tmp_path / "latin1.ks"
    path.write_bytes(("# caf\xe9\n" + ks("--disk=vda")).encode("latin-1"))
    with pytest.raises(ImgbaseError, match="is not UTF-8 text \\(byte 0xe9 at offset 5\\)"):
        parse_kickstart(path)


# ---- the liveimg's signature ---------------------------------------------------------------------

def test_the_signature_options_are_written_back_and_pass_ksvalidator(tmp_path):
    """--signature and --signature-policy survive the section's and the whole file's round trip."""
    header = "--signature=https://e.com/img/rootfs.squashfs.sig --signature-policy=if-present"
    first = parse_kickstart(ks(header))
    assert (first.section.signature, first.section.signature_policy) == \
        ("https://e.com/img/rootfs.squashfs.sig", "if-present")
    assert (first.config.signature, first.config.signature_policy) == \
        ("https://e.com/img/rootfs.squashfs.sig", "if-present")  # the effective config keeps them too
    written = first.to_kickstart()
    assert header in written
    second = parse_kickstart(written)
    assert second.section == first.section
    out = tmp_path / "signed.ks"
    out.write_text(written)
    proc = validate(out, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_no_signature_options_write_none():
    """Without the options the section says nothing of signatures (the default policy applies)."""
    section = parse_kickstart(ks("--disk=vda")).section
    assert (section.signature, section.signature_policy) == (None, None)
    assert "--signature" not in section.to_kickstart()


@pytest.mark.parametrize("header", ["--signature=http://e.com/r.sq.sig", "--signature-policy=required"])
def test_plain_http_without_a_checksum_is_accepted_when_a_signature_is_certain(header):
    """A signature the install must check (or stop) proves the image as a checksum would."""
    result = parse_kickstart(ks(header, before="liveimg --url=http://e.com/r.sq\n"))
    assert result.config.liveimg_url == "http://e.com/r.sq" and result.config.checksum is None


def test_plain_http_refusal_names_the_signature_too():
    """The refusal of plain http without a checksum says that a signature would do as well."""
    with pytest.raises(KickstartLineError, match=r"--checksum=sha256:HEX, or serve it over https, or sign it "
                                                 r"\(%addon org_ovirt_imgbased --signature=URL\)"):
        parse_kickstart(ks("", before="liveimg --url=http://e.com/r.sq\n"))
