# SPDX-License-Identifier: GPL-2.0-or-later
"""Rollback: a problem while rolling back never replaces the error that caused the rollback."""

from __future__ import annotations

import pytest

from org_ovirt_imgbased.errors import CommandError, ImgbaseError
from org_ovirt_imgbased.host import layers, txn
from org_ovirt_imgbased.host.context import Context
from org_ovirt_imgbased.host.storage import lvm
from tests.fakes import FakeRunner


def _ctx(tmp_path) -> Context:
    """A context over a FakeRunner with its own journal directory and no boot management."""
    return Context(runner=FakeRunner(), journal_dir=tmp_path / "journal", manage_boot=False)


def _fail_hook() -> None:
    """A rollback hook that meets a full disk."""
    raise OSError(28, "No space left on device", "/boot/Base-1.1")


def test_oserror_in_rollback_hook_keeps_the_original_error(tmp_path, monkeypatch):
    """The operator sees the original error; the hook's OSError is appended as a cleanup problem."""
    monkeypatch.setenv("IMGBASED_LOCK", str(tmp_path / "lock"))
    with pytest.raises(ImgbaseError) as err, layers.transaction(_ctx(tmp_path), "HostVG", "base-add") as t:
        t.on_rollback(_fail_hook)
        raise ImgbaseError("mkfs.ext4 failed (exit 1): disk full")
    message = str(err.value)
    assert message.startswith("mkfs.ext4 failed (exit 1): disk full")
    assert "cleanup problems:" in message
    assert "No space left on device" in message and "/boot/Base-1.1" in message
    assert "\n" not in message


def test_rollback_continues_after_an_oserror_hook(tmp_path):
    """A hook that raises OSError is reported; the hooks before it (run newest first) still run."""
    ran = []
    t = txn.Transaction(FakeRunner(), "HostVG", "layer-add", tmp_path)
    t.on_rollback(lambda: ran.append("first"))
    t.on_rollback(_fail_hook)
    problems = t.rollback()
    assert ran == ["first"]
    assert len(problems) == 1 and "No space left on device" in problems[0]


def test_oserror_while_undoing_is_a_problem_not_the_error(tmp_path, monkeypatch):
    """An OSError raised by the undo itself (reading mounts, say) is appended, not raised."""
    def broken(*_args, **_kwargs):
        raise OSError(5, "Input/output error")
    monkeypatch.setattr(txn, "undo", broken)
    t = txn.Transaction(FakeRunner(), "HostVG", "layer-add", tmp_path)
    problems = t.rollback()
    assert problems and "Input/output error" in problems[0]


def test_rollback_problems_are_logged_when_the_original_is_not_imgbase_error(tmp_path, monkeypatch, caplog):
    """An unexpected original error is re-raised as it is, with the rollback problem logged beside it."""
    monkeypatch.setenv("IMGBASED_LOCK", str(tmp_path / "lock"))
    with pytest.raises(KeyError), layers.transaction(_ctx(tmp_path), "HostVG", "base-add") as t:
        t.on_rollback(_fail_hook)
        raise KeyError("original")
    assert "No space left on device" in caplog.text



def test_undo_goes_on_after_one_lv_fails(tmp_path, monkeypatch):
    """lvremove failing for one LV is a problem naming it; the other LVs are still removed."""
    mine = [lvm.LV(n, "HostVG", "Vwi---tz--", 1 << 30, tags=["imgbased:txn=1-x"]) for n in ("Base-1", "Base-1.1")]
    monkeypatch.setattr(lvm, "list_lvs", lambda runner, vg=None: mine)
    removed = []

    def remove(runner, vg, names):
        if names == ["Base-1.1"]:
            raise CommandError(["lvremove"], 5, "  Logical volume HostVG/Base-1.1 in use.")
        removed.extend(names)
    monkeypatch.setattr(lvm, "remove", remove)
    problems = txn.undo(FakeRunner(), txn.Journal("1-x", "update", "HostVG", lvs=["Base-1", "Base-1.1"]))
    assert removed == ["Base-1"]
    assert problems == ["cannot remove HostVG/Base-1.1: lvremove failed (exit 5): Logical volume HostVG/Base-1.1 "
                        "in use."]
