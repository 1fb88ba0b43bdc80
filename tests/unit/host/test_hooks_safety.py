# SPDX-License-Identifier: GPL-2.0-or-later
"""Hooks run as root: unsafe ones are skipped with a warning; ones that cannot start fail by the normal rules."""

from __future__ import annotations

import logging
import os

import pytest

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host import hooks
from org_ovirt_imgbased.runner import Runner


@pytest.fixture
def warnings():
    """Warnings logged by imgbased while the test runs."""
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    logger = logging.getLogger("org_ovirt_imgbased")
    handler, level = Keep(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    yield seen
    logger.removeHandler(handler)
    logger.setLevel(level)


def script(directory, name: str, text: str, mode: int = 0o755):
    """Write a hook file with an exact text and mode."""
    directory.mkdir(mode=0o755, parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o777, 0o775])
def test_hook_writable_by_others_is_skipped_with_a_warning(tmp_path, warnings, mode):
    """A group- or world-writable hook never runs; the warning names it."""
    marker = tmp_path / "ran"
    unsafe = script(tmp_path / "d", "10-open", f"#!/bin/sh\ntouch {marker}\n", mode)
    script(tmp_path / "d", "20-fine", f"#!/bin/sh\necho ok >> {tmp_path / 'fine'}\n")
    hooks.run("post-update", "Base-1.1", runner=Runner(), dirs=(tmp_path / "d",))
    assert not marker.exists()
    assert (tmp_path / "fine").read_text() == "ok\n"
    assert any(str(unsafe) in w and "writable" in w for w in warnings), warnings


def test_hook_dir_writable_by_others_is_skipped(tmp_path, warnings):
    """A hook directory anyone may write to is skipped as a whole."""
    marker = tmp_path / "ran"
    directory = tmp_path / "d"
    script(directory, "10-fine", f"#!/bin/sh\ntouch {marker}\n")
    directory.chmod(0o777)
    hooks.run("post-update", "Base-1.1", runner=Runner(), dirs=(directory,))
    assert not marker.exists()
    assert any(str(directory) in w for w in warnings), warnings


@pytest.mark.parametrize("text", ["echo no interpreter line\n", "#!/nonexistent/interpreter\n"])
def test_unstartable_hook_warns_after_the_point_of_no_return(tmp_path, warnings, text):
    """No #! line (ENOEXEC) or a missing interpreter: a warning for new-layer-added and post-update."""
    bad = script(tmp_path / "d", "10-bad", text)
    for event in ("new-layer-added", "post-update"):
        hooks.run(event, "Base-1.1", runner=Runner(), dirs=(tmp_path / "d",))
    assert len([w for w in warnings if str(bad) in w and "cannot be started" in w]) == 2, warnings


@pytest.mark.parametrize("text", ["echo no interpreter line\n", "#!/nonexistent/interpreter\n"])
def test_unstartable_pre_hook_aborts_in_one_line(tmp_path, text):
    """The same hooks for pre-update: a one-line ImgbaseError, as any failing pre-hook."""
    script(tmp_path / "d", "10-bad", text)
    with pytest.raises(ImgbaseError, match="pre-update hook .*10-bad failed \\(cannot be started\\)") as err:
        hooks.run("pre-update", "Base-0.1", "img", runner=Runner(), dirs=(tmp_path / "d",))
    assert "\n" not in str(err.value)


def test_hook_dir_under_a_writable_parent_is_skipped(tmp_path, warnings):
    """Anyone who may write a directory above the hook directory could swap it: skipped, the parent named."""
    marker = tmp_path / "ran"
    parent = tmp_path / "open"
    script(parent / "hooks.d", "10-fine", f"#!/bin/sh\ntouch {marker}\n")
    parent.chmod(0o777)
    hooks.run("post-update", "Base-1.1", runner=Runner(), dirs=(parent / "hooks.d",))
    assert not marker.exists()
    named = [w for w in warnings if f"the directory {parent} above it is writable by group or others" in w]
    assert len(named) == 1 and f"chmod go-w {parent}" in named[0] and "\n" not in named[0], warnings


def test_sticky_parent_like_tmp_is_accepted(tmp_path, warnings):
    """A sticky directory writable by others (as /tmp is) cannot have what it holds swapped: hooks run."""
    marker = tmp_path / "ran"
    parent = tmp_path / "sticky"
    script(parent / "hooks.d", "10-fine", f"#!/bin/sh\ntouch {marker}\n")
    parent.chmod(0o1777)
    hooks.run("post-update", "Base-1.1", runner=Runner(), dirs=(parent / "hooks.d",))
    assert marker.exists() and warnings == []


def test_hook_dir_reached_through_a_symlink_checks_the_real_parents(tmp_path, warnings):
    """A symlinked hook directory is checked where it really lives too."""
    marker = tmp_path / "ran"
    real_parent = tmp_path / "open"
    script(real_parent / "hooks.d", "10-fine", f"#!/bin/sh\ntouch {marker}\n")
    real_parent.chmod(0o777)
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "hooks.d").symlink_to(real_parent / "hooks.d")
    hooks.run("post-update", "Base-1.1", runner=Runner(), dirs=(tmp_path / "etc" / "hooks.d",))
    assert not marker.exists()
    assert any(f"the directory {real_parent} above it" in w for w in warnings), warnings


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a directory to another user")
def test_hook_dir_under_a_parent_owned_by_another_user_is_skipped(tmp_path, warnings):
    """A parent owned by someone other than root is named with the chown that fixes it."""
    marker = tmp_path / "ran"
    parent = tmp_path / "theirs"
    script(parent / "hooks.d", "10-fine", f"#!/bin/sh\ntouch {marker}\n")
    os.chown(parent, 65534, 65534)
    hooks.run("post-update", "Base-1.1", runner=Runner(), dirs=(parent / "hooks.d",))
    assert not marker.exists()
    assert any(f"the directory {parent} above it is owned by uid 65534" in w for w in warnings), warnings
