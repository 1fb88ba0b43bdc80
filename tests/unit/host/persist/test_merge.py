# SPDX-License-Identifier: GPL-2.0-or-later
"""Tests for the three-way /etc merge and the merge report, on temporary trees."""

from __future__ import annotations

import io
import json
import os
import stat

import pytest

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host.persist import FACTORY_ETC, migrate_config, plan_etc
from org_ovirt_imgbased.host.persist.report import CARRY, DELETE, KEEP_NEW, MERGE, SKIP
from org_ovirt_imgbased.runner import Runner
from tests.unit.host.persist.etctrees import (
    PASSWD,
    V1,
    V2,
    WANTS,
    actions,
    make_image,
    put,
    root_only,
    run,
)


def test_changed_added_deleted_and_untouched(layers):
    """Local edits and additions are carried, deletions stay, untouched files take v2."""
    old, new = layers
    (old / "etc/hosts").write_text("10.0.0.1 myhost\n")
    put(old / "etc", "myapp/app.conf", "local\n")
    (old / "etc/obsolete.conf").unlink()
    report = run(old, new)
    assert (new / "etc/hosts").read_text() == "10.0.0.1 myhost\n"
    assert (new / "etc/myapp/app.conf").read_text() == "local\n"
    assert not (new / "etc/obsolete.conf").exists()
    assert (new / "etc/motd").read_text() == "v2 motd\n"
    assert (new / "etc/new-in-v2.conf").read_text() == "hello\n"
    acts = actions(report)
    assert acts["/etc/hosts"] == CARRY and acts["/etc/obsolete.conf"] == DELETE
    assert acts["/etc/myapp"] == CARRY and acts["/etc/myapp/app.conf"] == CARRY
    assert "/etc/motd" not in acts and report.conflicts == []
    assert report.untouched >= 5


@pytest.mark.parametrize(("policy", "expected"), [("keep-local", "pool mine\n"), ("keep-new", "pool v2\n")])
def test_conflict_follows_policy_and_is_reported(layers, policy, expected):
    """A file changed locally and in v2 is a conflict; the policy picks the version."""
    old, new = layers
    (old / "etc/chrony.conf").write_text("pool mine\n")
    report = run(old, new, policy)
    assert (new / "etc/chrony.conf").read_text() == expected
    assert [e.path for e in report.conflicts] == ["/etc/chrony.conf"]
    assert report.conflicts[0].action == (CARRY if policy == "keep-local" else KEEP_NEW)
    assert "chrony.conf" in report.render().split("Conflicts (1):")[1]


def test_deleted_locally_but_changed_in_new_image(layers):
    """A deletion against a v2 change is a conflict: keep-local deletes, keep-new keeps."""
    old, new = layers
    (old / "etc/motd").unlink()
    report = plan_etc(old, new, "keep-local")
    assert [(e.path, e.action) for e in report.conflicts] == [("/etc/motd", DELETE)]
    run(old, new, "keep-new")
    assert (new / "etc/motd").read_text() == "v2 motd\n"


def test_same_change_on_both_sides_is_no_conflict(layers):
    """A local edit identical to v2's is simply there."""
    old, new = layers
    (old / "etc/motd").write_text("v2 motd\n")
    report = run(old, new)
    assert report.conflicts == [] and "/etc/motd" not in actions(report)


def test_symlink_compared_by_target_and_never_followed(layers, tmp_path):
    """A changed symlink is carried as a link; a link to a directory is not walked into."""
    old, new = layers
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("do not copy\n")
    (old / "etc/hosts").unlink()
    os.symlink(str(outside / "secret"), old / "etc/hosts")
    os.symlink(str(outside), old / "etc/linkdir")
    report = run(old, new)
    assert os.readlink(new / "etc/hosts") == str(outside / "secret")
    assert os.readlink(new / "etc/linkdir") == str(outside)
    assert not any("secret" in e.path for e in report.entries)
    assert (outside / "secret").read_text() == "do not copy\n"


def test_symlink_retarget_is_a_change_even_with_same_content(layers):
    """Two links to files with equal content but different targets differ."""
    old, new = layers
    put(old / FACTORY_ETC, "localtime", ("link", "../usr/share/zoneinfo/UTC"))
    put(old / "etc", "localtime", ("link", "../usr/share/zoneinfo/Europe/Berlin"))
    put(new / "etc", "localtime", ("link", "../usr/share/zoneinfo/UTC"))
    run(old, new)
    assert os.readlink(new / "etc/localtime") == "../usr/share/zoneinfo/Europe/Berlin"


def test_fifo_skipped_and_reported(layers):
    """A FIFO added locally is not carried and the report says so."""
    old, new = layers
    os.mkfifo(old / "etc/initctl")
    report = run(old, new)
    assert not os.path.lexists(new / "etc/initctl")
    assert actions(report)["/etc/initctl"] == SKIP
    assert "FIFO" in report.render()


def test_directory_mode_and_owner_kept(layers):
    """A directory whose mode changed locally gets that mode; an added one keeps its own."""
    old, new = layers
    (old / "etc/ssh").chmod(0o700)
    put(old / "etc", "private", ("dir", 0o750))
    put(old / "etc", "private/key", "k\n")
    run(old, new)
    assert stat.S_IMODE(os.lstat(new / "etc/ssh").st_mode) == 0o700
    assert stat.S_IMODE(os.lstat(new / "etc/private").st_mode) == 0o750
    assert (new / "etc/ssh/sshd_config").read_text() == "PermitRootLogin no\n"


@root_only
def test_ownership_mtime_and_xattrs_preserved(layers):
    """Carried files keep owner, group, mode, mtime and xattrs; directory owners are carried."""
    old, new = layers
    path = old / "etc/hosts"
    path.write_text("changed\n")
    os.chown(path, 1234, 4321)
    path.chmod(0o640)
    os.utime(path, ns=(1_000_000_000, 1_500_000_000_000_000_000))
    try:
        os.setxattr(path, "user.imgbased-test", b"42")
        has_xattr = True
    except OSError:
        has_xattr = False
    os.chown(old / "etc/ssh", 0, 4321)
    run(old, new)
    st = os.lstat(new / "etc/hosts")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1234, 4321, 0o640)
    assert st.st_mtime_ns == 1_500_000_000_000_000_000
    if has_xattr:
        assert os.getxattr(new / "etc/hosts", "user.imgbased-test") == b"42"
    assert os.lstat(new / "etc/ssh").st_gid == 4321


@root_only
def test_owner_only_change_is_carried(layers):
    """Comparison includes ownership: a chown alone is a local change, carried without conflict."""
    old, new = layers
    os.chown(old / "etc/hosts", 0, 10)
    report = run(old, new)
    assert os.lstat(new / "etc/hosts").st_gid == 10
    assert actions(report)["/etc/hosts"] == CARRY and report.conflicts == []


@pytest.mark.parametrize("policy", ["keep-local", "keep-new"])
def test_file_turned_into_directory_is_a_conflict(layers, policy):
    """A file made into a directory locally conflicts; keep-local carries the whole directory."""
    old, new = layers
    (old / "etc/hosts").unlink()
    put(old / "etc", "hosts/a", "a\n")
    report = run(old, new, policy)
    assert [e.path for e in report.conflicts] == ["/etc/hosts"]
    if policy == "keep-local":
        assert (new / "etc/hosts/a").read_text() == "a\n"
    else:
        assert (new / "etc/hosts").read_text() == "127.0.0.1 localhost\n"


@pytest.mark.parametrize("policy", ["keep-local", "keep-new"])
def test_directory_turned_into_file_is_a_conflict(layers, policy):
    """A directory made into a file locally conflicts; keep-new keeps v2's directory."""
    old, new = layers
    for name in os.listdir(old / "etc/ssh"):
        os.unlink(old / "etc/ssh" / name)
    os.rmdir(old / "etc/ssh")
    (old / "etc/ssh").write_text("now a file\n")
    report = run(old, new, policy)
    assert [e.path for e in report.conflicts] == ["/etc/ssh"]
    if policy == "keep-local":
        assert (new / "etc/ssh").read_text() == "now a file\n"
    else:
        assert (new / "etc/ssh/sshd_config").is_file()


def test_new_image_turning_untouched_file_into_directory_is_no_conflict(layers):
    """Only local changes conflict: an untouched file may become a directory in v2."""
    old, new = layers
    (new / "etc/hosts").unlink()
    put(new / "etc", "hosts/x", "x\n")
    report = run(old, new)
    assert report.conflicts == [] and (new / "etc/hosts/x").is_file()


@pytest.mark.parametrize("policy", ["keep-local", "keep-new"])
def test_directory_dropped_by_new_image(layers, policy):
    """v2 drops /etc/ssh: untouched it goes; an edited file inside is a conflict."""
    old, new = layers
    for name in os.listdir(new / "etc/ssh"):
        os.unlink(new / "etc/ssh" / name)
    os.rmdir(new / "etc/ssh")
    (old / "etc/ssh").chmod(0o711)
    (old / "etc/ssh/sshd_config").write_text("PermitRootLogin yes\n")
    report = run(old, new, policy)
    assert [e.path for e in report.conflicts] == ["/etc/ssh/sshd_config"]
    if policy == "keep-local":
        assert (new / "etc/ssh/sshd_config").read_text() == "PermitRootLogin yes\n"
        assert stat.S_IMODE(os.lstat(new / "etc/ssh").st_mode) == 0o711
    else:
        assert not os.path.lexists(new / "etc/ssh")


def test_untouched_directory_dropped_by_new_image_stays_gone(layers):
    """A directory v2 removed and the host never touched is not brought back."""
    old, new = layers
    for name in os.listdir(new / "etc/ssh"):
        os.unlink(new / "etc/ssh" / name)
    os.rmdir(new / "etc/ssh")
    report = run(old, new)
    assert not os.path.lexists(new / "etc/ssh") and report.conflicts == []


@pytest.mark.parametrize(("policy", "mode"), [("keep-local", 0o700), ("keep-new", 0o750)])
def test_directory_mode_changed_on_both_sides(layers, policy, mode):
    """Different mode changes of one directory conflict and follow the policy."""
    old, new = layers
    (old / "etc/ssh").chmod(0o700)
    (new / "etc/ssh").chmod(0o750)
    report = run(old, new, policy)
    assert stat.S_IMODE(os.lstat(new / "etc/ssh").st_mode) == mode
    assert [e.path for e in report.conflicts] == ["/etc/ssh"]


HOSTILE = ["new\nline.conf", "-rf", "--help", "with space .conf", " lead", "tab\tname",
           os.fsdecode(b"latin-\xe9.conf")]


def test_hostile_names_carried_and_reported_on_one_line(layers):
    """Newlines, leading dashes, spaces and non-UTF-8 bytes in names work end to end."""
    old, new = layers
    for name in HOSTILE:
        put(old / "etc", f"weird/{name}", f"{name!r}\n")
    put(old / FACTORY_ETC, "-changed", "a\n")
    put(old / "etc", "-changed", "b\n")
    put(new / "etc", "-changed", "a\n")
    report = run(old, new)
    for name in HOSTILE:
        assert (new / "etc/weird" / name).read_text() == f"{name!r}\n"
    assert (new / "etc/-changed").read_text() == "b\n"
    text = report.render()
    change_lines = [ln for ln in text.splitlines() if "/etc/weird/" in ln]
    assert len(change_lines) == len(HOSTILE)
    assert '"/etc/weird/new\\nline.conf"' in text and "latin-\\xe9.conf" in text
    data = json.loads(report.to_json())
    hexes = [e.get("path_hex") for e in data["entries"] if e.get("path_hex")]
    assert os.fsencode("/etc/weird/" + HOSTILE[-1]).hex() in hexes


def test_service_disabled_locally_stays_disabled_and_enabled_stays_enabled(layers):
    """systemd .wants symlinks: a removed one stays removed, an added one (and a mask) stays."""
    old, new = layers
    os.unlink(old / "etc" / WANTS / "chronyd.service")
    put(old / "etc", f"{WANTS}/myagent.service", ("link", "/etc/systemd/system/myagent.service"))
    put(old / "etc", "systemd/system/myagent.service", "[Service]\nExecStart=/bin/true\n")
    put(old / "etc", "systemd/system/bluetooth.service", ("link", "/dev/null"))
    put(new / "etc", f"{WANTS}/newdefault.service", ("link", "/usr/lib/systemd/system/newdefault.service"))
    report = run(old, new)
    wants = new / "etc" / WANTS
    assert not os.path.lexists(wants / "chronyd.service")
    assert os.readlink(wants / "myagent.service") == "/etc/systemd/system/myagent.service"
    assert os.readlink(wants / "sshd.service") == "/usr/lib/systemd/system/sshd.service"
    assert os.readlink(wants / "newdefault.service").endswith("newdefault.service")
    assert os.readlink(new / "etc/systemd/system/bluetooth.service") == "/dev/null"
    assert actions(report)[f"/etc/{WANTS}/chronyd.service"] == DELETE


def test_service_disabled_whose_link_changed_in_new_image_stays_disabled(layers):
    """Deleted locally, retargeted in v2: keep-local keeps it disabled."""
    old, new = layers
    os.unlink(old / "etc" / WANTS / "chronyd.service")
    os.unlink(new / "etc" / WANTS / "chronyd.service")
    put(new / "etc", f"{WANTS}/chronyd.service", ("link", "/usr/lib/systemd/system/chronyd@.service"))
    report = run(old, new)
    assert not os.path.lexists(new / "etc" / WANTS / "chronyd.service")
    assert [e.path for e in report.conflicts] == [f"/etc/{WANTS}/chronyd.service"]


def test_locally_deleted_directory_keeps_new_image_additions(layers):
    """A wants directory removed locally goes, except for what v2 newly puts in it."""
    old, new = layers
    wants = old / "etc" / WANTS
    for name in os.listdir(wants):
        os.unlink(wants / name)
    os.rmdir(wants)
    run(old, new)
    assert not os.path.lexists(new / "etc" / WANTS)
    old2, new2 = make_image(old.parent / "old2", V1), make_image(old.parent / "new2", V2)
    for name in os.listdir(old2 / "etc" / WANTS):
        os.unlink(old2 / "etc" / WANTS / name)
    os.rmdir(old2 / "etc" / WANTS)
    put(new2 / "etc", f"{WANTS}/newdefault.service", ("link", "/usr/lib/systemd/system/newdefault.service"))
    run(old2, new2)
    assert sorted(os.listdir(new2 / "etc" / WANTS)) == ["newdefault.service"]


@pytest.mark.parametrize("factory_has_devices_dir", [False, True])
def test_lvm_devices_file_added_locally_is_carried(layers, factory_has_devices_dir):
    """/etc/lvm/devices/system.devices written at install time survives the update."""
    old, new = layers
    if factory_has_devices_dir:
        for root in (old / FACTORY_ETC, old / "etc", new / "etc"):
            (root / "lvm/devices").mkdir()
    put(old / "etc", "lvm/devices/system.devices",
        "VERSION=1.1.2\nIDTYPE=sys_wwid IDNAME=x DEVNAME=/dev/sda2\n")
    report = run(old, new)
    assert (new / "etc/lvm/devices/system.devices").read_text().startswith("VERSION=1.1.2")
    assert actions(report)["/etc/lvm/devices/system.devices"] == CARRY


def test_no_factory_copy_falls_back_to_persist_list_with_warning(tmp_path):
    """Without a factory copy only the persist list and the account records are carried."""
    old = make_image(tmp_path / "old", V1, factory=False)
    new = make_image(tmp_path / "new", V2)
    (old / "etc/hosts").write_text("local\n")
    (old / "etc/passwd").write_text(PASSWD + "alice:x:1000:1000::/home/alice:/bin/bash\n")
    put(old, "root/.ssh/authorized_keys", "ssh-ed25519 AAAA\n")
    report = run(old, new, persist=["/root/.ssh"])
    assert report.factory_missing and any("no complete factory copy" in w for w in report.warnings)
    assert (new / "etc/hosts").read_text() == "127.0.0.1 localhost\n"
    assert (new / "root/.ssh/authorized_keys").read_text() == "ssh-ed25519 AAAA\n"
    assert "alice:x:1000:1000:" in (new / "etc/passwd").read_text()
    assert "Warnings (1):" in report.render()


def test_partial_factory_without_passwd_counts_as_missing(layers):
    """A factory directory without passwd (systemd's partial factory) is not trusted."""
    old, new = layers
    os.unlink(old / FACTORY_ETC / "passwd")
    assert plan_etc(old, new).factory_missing


@root_only
def test_accounts_merged_and_new_layer_files_reowned(layers):
    """passwd is merged by record; v2 files owned by a drifted uid move to the local uid first."""
    old, new = layers
    (old / "etc/passwd").write_text(PASSWD + "alice:x:1000:1000::/home/alice:/bin/bash\n")
    v2_passwd = PASSWD.replace("polkitd:x:997:997", "polkitd:x:996:997")
    for root in (new / "etc", new / FACTORY_ETC):
        (root / "passwd").write_text(v2_passwd)
    put(new, "usr/share/polkit-1/rules", "r\n")
    os.chown(new / "usr/share/polkit-1/rules", 996, 997)
    put(old / "etc", "polkit-1/local.rules", "mine\n")
    os.chown(old / "etc/polkit-1/local.rules", 1000, 1000)
    report = run(old, new)
    text = (new / "etc/passwd").read_text()
    assert "polkitd:x:997:997" in text and "alice:x:1000:1000" in text
    assert os.lstat(new / "usr/share/polkit-1/rules").st_uid == 997
    assert os.lstat(new / "etc/polkit-1/local.rules").st_uid == 1000
    assert actions(report)["/etc/passwd"] == MERGE and report.uid_map == {996: 997}


def test_generated_files_take_the_new_image(layers):
    """ld.so.cache is never carried even when it differs locally."""
    old, new = layers
    for root in (old / FACTORY_ETC, new / "etc"):
        put(root, "ld.so.cache", "image cache\n")
    put(old / "etc", "ld.so.cache", "regenerated locally\n")
    report = run(old, new)
    assert (new / "etc/ld.so.cache").read_text() == "image cache\n"
    assert actions(report)["/etc/ld.so.cache"] == KEEP_NEW and report.conflicts == []


@pytest.mark.parametrize("image_has_dir", [False, True])
def test_report_saved_in_new_layer_and_not_carried_next_time(layers, image_has_dir):
    """The report lands in /etc/imgbased of the new layer and is excluded from later merges."""
    old, new = layers
    if image_has_dir:
        for root in (old / FACTORY_ETC, old / "etc", new / "etc"):
            (root / "imgbased").mkdir()
    (old / "etc/chrony.conf").write_text("pool mine\n")
    put(old / "etc", "imgbased/last-update.report", "report of an earlier update\n")
    report = migrate_config(old, new, Runner(out=io.StringIO()), old_layer="Base-0.1", new_layer="Base-1.1")
    text = (new / "etc/imgbased/last-update.report").read_text()
    assert "Base-0.1" in text and "/etc/chrony.conf" in text and "report of an earlier" not in text
    data = json.loads((new / "etc/imgbased/last-update.json").read_text())
    assert data["counts"]["conflicts"] == 1 and data["conflicts"][0]["path"] == "/etc/chrony.conf"
    assert stat.S_IMODE(os.lstat(new / "etc/imgbased/last-update.json").st_mode) == 0o600
    assert "/etc/imgbased/last-update.report" not in actions(report)


def test_missing_etc_and_bad_policy_refused(tmp_path, layers):
    """Plans need both /etc trees and a known policy."""
    old, new = layers
    with pytest.raises(ImgbaseError, match="keep-local or keep-new"):
        plan_etc(old, new, "theirs")
    with pytest.raises(ImgbaseError, match="mount the new layer"):
        plan_etc(old, tmp_path / "empty")
