# SPDX-License-Identifier: GPL-2.0-or-later
"""imgbase-install's reading of a kickstart: what it refuses, and what it says it does not apply."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.installer import cli
from tests.repo import ROOT

PXE = (ROOT / "kickstarts/standalone-auto.ks").read_text()


def read(tmp_path, text: str):
    """_from_kickstart on text written to a file."""
    path = tmp_path / "host.ks"
    path.write_text(text)
    return cli._from_kickstart(SimpleNamespace(ks=str(path)))


@pytest.mark.parametrize("option", ["--proxy=http://proxy:3128", "--noverifyssl"])
def test_liveimg_options_it_cannot_honour_are_refused(tmp_path, option):
    """--proxy and --noverifyssl are not silently dropped: one line naming the line and option."""
    with pytest.raises(ImgbaseError, match=f"host.ks line 22: liveimg {option.split('=')[0]} is not supported"):
        read(tmp_path, PXE.replace("liveimg --url", f"liveimg {option} --url"))


def test_commands_it_does_not_apply_are_named(tmp_path, caplog):
    """rootpw, timezone, network, %post and the like are listed in one warning; the rest applies."""
    with caplog.at_level(logging.WARNING, logger="org_ovirt_imgbased"):
        config, kargs, action = read(tmp_path, PXE + "%post\necho hi\n%end\n%packages\nvim\n%end\n")
    assert action == "reboot" and "panic=5" in kargs and config.disk == "vda"
    warning = [r.getMessage() for r in caplog.records if "not applied" in r.getMessage()]
    assert len(warning) == 1
    assert warning[0].endswith(": %packages, %post, keyboard, lang, network, rootpw, timezone")
