# SPDX-License-Identifier: GPL-2.0-or-later
"""The kickstart rules the addon applies inside anaconda, read with pykickstart's real parser."""

from __future__ import annotations

import re

import pytest
from pykickstart.parser import KickstartParser
from pykickstart.version import F38, makeVersion

from org_ovirt_imgbased.installer.kickstart import KickstartLineError, read_section
from org_ovirt_imgbased.installer.kickstart.anaconda_rules import check
from tests.repo import ROOT

LIVE = "liveimg --url=file:///srv/node.squashfs\n"
THIN = """part /boot --fstype=ext4 --size=1024
part pv.01 --size=1 --grow
volgroup HostVG pv.01
logvol none --vgname=HostVG --name=pool00 --thinpool --size=1 --grow
logvol / --vgname=HostVG --name=root --thin --poolname=pool00 --fstype=ext4 --size=3072
logvol /var --vgname=HostVG --name=var --thin --poolname=pool00 --fstype=ext4 --size=1024
"""


def run(commands: str, header: str = "") -> object:
    """Check commands plus a %addon section with header options, as the addon's module does."""
    handler = makeVersion(F38)
    KickstartParser(handler).readKickstartFromString(commands)
    section = read_section(f"%addon org_ovirt_imgbased {header}\n%end\n")
    return check(handler, section, 40)


def refused(commands: str, header: str = "") -> KickstartLineError:
    """The error check raises."""
    with pytest.raises(KickstartLineError) as info:
        run(commands, header)
    return info.value


def test_autopart_thinp_is_accepted_and_anaconda_names_the_vg():
    plan = run(LIVE + "autopart --type=thinp --nohome --noswap\n")
    assert plan.automatic and plan.vg is None


def test_explicit_thin_layout_gives_its_vg_and_pool():
    plan = run(LIVE + THIN, "--vg=HostVG --keep=3")
    assert (plan.automatic, plan.vg, plan.pool) == (False, "HostVG", "pool00")


def test_no_partitioning_command_leaves_the_choice_to_the_storage_spoke():
    assert run("text\n" + LIVE).automatic


def test_no_partitioning_command_in_cmdline_mode_names_the_line_to_add():
    err = refused("cmdline\n" + LIVE)
    assert err.lineno == 40 and "autopart --type=thinp" in err.message


@pytest.mark.parametrize("commands, line, words", [
    ("autopart --type=lvm\n", 2, "--type=thinp"),
    ("part /boot --size=1024\npart / --size=4096\n", 3, "on a partition"),
    ("part /boot --size=1024\npart pv.01 --grow --size=1\nvolgroup HostVG pv.01\n"
     "logvol / --vgname=HostVG --name=root --size=3072\n", 5, "--thin"),
    ("mount /dev/vda2 /\n", 2, "mount"),
])
def test_a_root_imgbased_cannot_adopt_is_refused_on_its_line(commands, line, words):
    err = refused(LIVE + commands)
    assert err.lineno == line and words in err.message


def test_thin_root_without_a_boot_partition_is_refused():
    err = refused(LIVE + THIN.replace("part /boot --fstype=ext4 --size=1024\n", ""))
    assert "part /boot" in err.message


def test_a_vg_other_than_the_layouts_is_refused_on_the_header():
    err = refused(LIVE + THIN, "--vg=OtherVG")
    assert err.lineno == 40 and "--vg=HostVG" in err.message


def test_autopart_with_a_vg_is_refused():
    assert "autopart" in refused(LIVE + "autopart --type=thinp\n", "--vg=MyVG").message


@pytest.mark.parametrize("header", ["--disk=vda", "--boot-size=2GiB", "--pool-size=10GiB", "--no-layout",
                                    "--base-size=8GiB", "--liveimg=file:///x.squashfs"])
def test_imgbase_install_options_are_refused_inside_anaconda(header):
    err = refused(LIVE + THIN, header)
    assert err.lineno == 40 and header.split("=")[0] in err.message


def test_explicit_layout_without_a_root_is_refused():
    assert "no layout for /" in refused(LIVE + "part /boot --size=1024\npart /srv --size=1024\n").message


def test_the_liveimg_command_is_required():
    assert "liveimg --url=" in refused(THIN).message


@pytest.mark.parametrize("name, automatic", [("pxe-auto.ks", False), ("interactive.ks", True)])
def test_the_shipped_anaconda_kickstarts_pass(name, automatic):
    """kickstarts/pxe-auto.ks (explicit thin layout) and interactive.ks (the spoke chooses) pass."""
    text = (ROOT / "kickstarts" / name).read_text()
    handler = makeVersion(F38)
    KickstartParser(handler, missingIncludeIsFatal=False).readKickstartFromString(
        re.sub(r"(?ms)^%addon.*?^%end\n", "", text))
    section = re.search(r"(?ms)^%addon.*?^%end\n", text).group(0)
    plan = check(handler, read_section(section), 1)
    assert plan.automatic is automatic and plan.vg in (None, "HostVG")


def test_a_prefixed_checksum_is_refused_naming_the_bare_digest():
    """anaconda compares --checksum as bare hex after downloading: sha256:HEX would fail only then."""
    digest = "ab" * 32
    err = refused(THIN + f"liveimg --url=https://h/i.squashfs --checksum=sha256:{digest}\n")
    assert err.lineno == 7 and f"give --checksum={digest}" in err.message
    assert run(THIN + f"liveimg --url=https://h/i.squashfs --checksum={digest.upper()}\n").vg == "HostVG"
