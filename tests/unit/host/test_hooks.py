# SPDX-License-Identifier: GPL-2.0-or-later
"""Hooks: order, /etc overriding /usr/lib, pre-hook veto, post-hook warnings."""

from __future__ import annotations

import logging

import pytest

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host import hooks
from org_ovirt_imgbased.runner import Runner


def hook(directory, name: str, body: str):
    """Write an executable hook script."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def test_order_and_override(tmp_path):
    """Hooks run by name; a same-named hook in the first directory wins; non-executables are skipped."""
    etc, lib, log = tmp_path / "etc", tmp_path / "lib", tmp_path / "log"
    hook(lib, "20-b", f"echo lib-b $@ >> {log}\n")
    hook(lib, "10-a", f"echo lib-a $@ >> {log}\n")
    hook(etc, "10-a", f"echo etc-a $@ >> {log}\n")
    (etc / "30-not-executable").write_text("#!/bin/sh\nexit 1\n")
    hooks.run("post-update", "Base-1.1", runner=Runner(), dirs=(etc, lib))
    assert log.read_text().splitlines() == ["etc-a post-update Base-1.1", "lib-b post-update Base-1.1"]


def test_pre_hook_failure_raises_one_line(tmp_path):
    """A failing pre-update hook stops the update with its reason."""
    hook(tmp_path, "veto", "echo 'not now' >&2; exit 4\n")
    with pytest.raises(ImgbaseError, match="pre-update hook .*veto failed \\(exit 4\\): not now"):
        hooks.run("pre-update", "Base-0.1", "img", runner=Runner(), dirs=(tmp_path,))


def test_post_hook_failure_only_warns(tmp_path, caplog):
    """Other events only warn."""
    hook(tmp_path, "broken", "exit 2\n")
    with caplog.at_level(logging.WARNING, logger="org_ovirt_imgbased"):
        hooks.run("base-removed", "Base-0", runner=Runner(), dirs=(tmp_path,))
    assert "base-removed hook" in caplog.text


def test_dry_runner_prints_instead_of_running(tmp_path, capsys):
    """In dry mode hooks are printed, not run."""
    marker = tmp_path / "ran"
    hook(tmp_path, "h", f"touch {marker}\n")
    hooks.run("post-update", "x", runner=Runner(dry=True), dirs=(tmp_path,))
    assert not marker.exists() and "dry:" in capsys.readouterr().out
