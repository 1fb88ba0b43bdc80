# SPDX-License-Identifier: GPL-2.0-or-later
"""Hooks: order, /etc overriding /usr/lib, pre-hook veto, post-hook warnings."""

from __future__ import annotations

import logging
import time

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


def test_hook_that_runs_too_long_is_killed_and_reported(tmp_path, caplog):
    """A hook past its timeout is killed with its children; one warning names the hook and the timeout."""
    marker = tmp_path / "still-running"
    hook(tmp_path, "slow", f"(sleep 1; touch {marker}) & sleep 30\n")
    with caplog.at_level(logging.WARNING, logger="org_ovirt_imgbased"):
        hooks.run("post-update", "Base-1.1", runner=Runner(), dirs=(tmp_path,), timeout=0.5)
    lines = [r.getMessage() for r in caplog.records if "slow" in r.getMessage()]
    assert len(lines) == 1 and "post-update hook" in lines[0] and "timed out after 0.5 s" in lines[0]
    time.sleep(1.5)
    assert not marker.exists()  # the child the hook left running was killed too


def test_pre_hook_that_times_out_aborts_in_one_line(tmp_path):
    """A pre-update hook that times out aborts like any failed pre-update hook."""
    hook(tmp_path, "hang", "sleep 30\n")
    with pytest.raises(ImgbaseError, match="pre-update hook .*hang failed \\(timed out after 0.3 s\\)") as err:
        hooks.run("pre-update", "Base-0.1", "img", runner=Runner(), dirs=(tmp_path,), timeout=0.3)
    assert "\n" not in str(err.value) and "[hooks] timeout" in str(err.value)

