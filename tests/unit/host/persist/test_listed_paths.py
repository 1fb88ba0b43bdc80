# SPDX-License-Identifier: GPL-2.0-or-later
"""Tests for the persist list, dry runs and plans that change nothing."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host.persist import migrate_config, persist_paths, plan_etc
from org_ovirt_imgbased.host.persist.report import CARRY, PERSIST
from org_ovirt_imgbased.runner import Runner
from tests.unit.host.persist.etctrees import (
    PASSWD,
    V1,
    V2,
    actions,
    make_image,
    put,
    root_only,
    run,
    snapshot,
)


def test_dry_runner_changes_nothing(layers):
    """A dry runner prints the steps and leaves both trees as they were."""
    old, new = layers
    (old / "etc/hosts").write_text("changed\n")
    (old / "etc/obsolete.conf").unlink()
    (old / "etc/passwd").write_text(PASSWD + "alice:x:1000:1000::/home/alice:/bin/bash\n")
    (new / "etc/passwd").write_text(PASSWD.replace("997:997", "996:997"))
    put(old, "root/.ssh/id", "key\n")
    before = snapshot(new.parent)
    out = io.StringIO()
    report = migrate_config(old, new, Runner(dry=True, out=out), persist=["/root/.ssh"])
    assert snapshot(new.parent) == before
    printed = out.getvalue()
    for expected in ("dry: carry /etc/hosts", "dry: delete /etc/obsolete.conf",
                     "dry: merge-records /etc/passwd", "dry: persist /root/.ssh", "uid 996->997",
                     "last-update.report"):
        assert expected in printed
    assert report.changes


def test_persist_list_with_globs_overrides_verbatim(tmp_path):
    """Globs expand in the old layer; directories replace the new layer's copy entirely."""
    old = make_image(tmp_path / "old", V1)
    new = make_image(tmp_path / "new", V2)
    put(old, "root/.ssh/authorized_keys", "old keys\n")
    put(new, "root/.ssh/stale", "from the image\n")
    put(old, "srv/app/a.conf", "a\n")
    put(old, "srv/app/b.conf", "b\n")
    put(old, "srv/app/c.txt", "c\n")
    put(old, "etc/motd", "local motd\n")
    out = io.StringIO()
    done = persist_paths(["/root/.ssh", "/srv/app/*.conf", "/etc/motd", "/nothing/here*"], old, new,
                         Runner(out=out))
    assert done == ["/etc/motd", "/root/.ssh", "/srv/app/a.conf", "/srv/app/b.conf"]
    assert os.listdir(new / "root/.ssh") == ["authorized_keys"]
    assert (new / "srv/app/a.conf").read_text() == "a\n" and not (new / "srv/app/c.txt").exists()
    assert (new / "etc/motd").read_text() == "local motd\n"


@root_only
def test_persist_from_the_running_root(tmp_path):
    """The old root may be / itself (the running layer)."""
    new = make_image(tmp_path / "new", V2)
    src = tmp_path / "src"
    put(src, "keys/id", "key\n")
    os.mkfifo(src / "keys/pipe")
    done = persist_paths([str(src / "keys")], Path("/"), new, Runner(out=io.StringIO()))
    assert done == [str(src / "keys")]
    copied = Path(str(new) + str(src / "keys"))
    assert (copied / "id").read_text() == "key\n" and not os.path.lexists(copied / "pipe")


def test_persist_skips_specials_inside_directories_with_warning(layers):
    """A FIFO inside a persisted directory is left out and named in the report."""
    old, new = layers
    put(old, "srv/keys/id", "key\n")
    os.mkfifo(old / "srv/keys/pipe")
    report = run(old, new, persist=["/srv/keys"])
    assert (new / "srv/keys/id").read_text() == "key\n" and not os.path.lexists(new / "srv/keys/pipe")
    assert any("/srv/keys/pipe" in w for w in report.warnings)


def test_persist_refuses_paths_escaping_the_layer(tmp_path):
    """A persist path behind a symlink that leaves the layer is not copied."""
    old, new = make_image(tmp_path / "old", V1), make_image(tmp_path / "new", V2)
    outside = tmp_path / "host-root"
    put(outside, "data/secret", "host\n")
    os.symlink(str(outside), old / "root")
    report = plan_etc(old, new, persist=["/root/data"])
    assert not [e for e in report.entries if e.action == PERSIST]
    assert any("leaves the layer" in w for w in report.warnings)


def test_persist_bad_pattern_refused(layers):
    """Persist patterns are validated like the config file does."""
    old, new = layers
    with pytest.raises(ImgbaseError, match="not an absolute path"):
        plan_etc(old, new, persist=["root/.ssh"])


def test_plan_changes_nothing(layers):
    """plan_etc alone never writes."""
    old, new = layers
    (old / "etc/hosts").write_text("changed\n")
    before = snapshot(new.parent)
    report = plan_etc(old, new)
    assert snapshot(new.parent) == before and actions(report)["/etc/hosts"] == CARRY
