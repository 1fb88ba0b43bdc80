# SPDX-License-Identifier: GPL-2.0-or-later
"""URL credentials never reach a message or a log line: errors, the runner's log, the CLIs' handler."""

from __future__ import annotations

import io
import logging

import pytest

from org_ovirt_imgbased.cli.common import setup_logging
from org_ovirt_imgbased.errors import CommandError, ImgbaseError
from org_ovirt_imgbased.host import fetch
from org_ovirt_imgbased.runner import Runner

SECRET = "s3cr3t"


@pytest.mark.parametrize("text,expected", [
    ("http://user:s3cr3t@host:8080/a.ks", "http://***@host:8080/a.ks"),
    ("https://user@host/x", "https://***@host/x"),
    ("a http://u:p@ss@h/p and ftp://x:y@z", "a http://***@h/p and ftp://***@z"),
    ("http://host/path@v2 user@host", "http://host/path@v2 user@host"),  # no userinfo: unchanged
])
def test_redact_masks_only_the_userinfo(text, expected):
    """The userinfo goes, the host, port and path stay, text without one is unchanged."""
    from org_ovirt_imgbased.redact import redact  # here, so the other tests run (and fail) without it
    assert redact(text) == expected


def test_errors_never_carry_credentials():
    """ImgbaseError (and CommandError, its command line in the detail) mask the userinfo."""
    err = ImgbaseError(f"cannot download http://root:{SECRET}@h/a", detail=f"url http://root:{SECRET}@h/a")
    assert SECRET not in str(err) and SECRET not in err.detail
    cmd = CommandError(["curl", f"http://root:{SECRET}@h/a"], 22, f"curl: (22) http://root:{SECRET}@h/a 404")
    assert SECRET not in str(cmd) and SECRET not in cmd.detail
    assert "http://***@h/a" in str(cmd)


def test_download_error_does_not_show_the_password(tmp_path, monkeypatch):
    """A failed download names the URL without its credentials."""
    monkeypatch.setenv("IMGBASED_RUN_DIR", str(tmp_path / "run"))
    with pytest.raises(ImgbaseError) as err:
        fetch.fetch_text(f"http://admin:{SECRET}@127.0.0.1:1/host.ks")
    assert SECRET not in str(err.value) and "http://***@127.0.0.1:1/host.ks" in str(err.value)
    with pytest.raises(ImgbaseError) as err:
        fetch.fetch(f"ftp://admin:{SECRET}@127.0.0.1:1/image", tmp_path)
    assert SECRET not in str(err.value)


def test_runner_log_masks_the_command_line(caplog):
    """The debug log of a command names its URL argument without the credentials."""
    caplog.set_level(logging.DEBUG, logger="org_ovirt_imgbased")
    Runner().run(["echo", f"http://root:{SECRET}@host/a.ks"])
    assert "http://***@host/a.ks" in caplog.text and SECRET not in caplog.text


def test_cli_log_handler_masks_every_record(monkeypatch):
    """A warning logged anywhere in the package is printed without the URL's credentials."""
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    package = logging.getLogger("org_ovirt_imgbased")
    for attr in ("handlers", "propagate", "level"):  # put the package logger back afterwards
        monkeypatch.setattr(package, attr, getattr(package, attr))
    package.handlers = list(package.handlers)
    setup_logging("imgbase", debug=False)
    logging.getLogger("org_ovirt_imgbased.host.update").warning("fetching %s", f"http://u:{SECRET}@h/i.img")
    assert "imgbase: fetching http://***@h/i.img" in stream.getvalue() and SECRET not in stream.getvalue()
