# SPDX-License-Identifier: GPL-2.0-or-later
"""grubenv through grub-editenv: default, once, try, confirm, rollback, list; grub.cfg regeneration."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host.boot import bls, entries, grubcfg, grubenv
from org_ovirt_imgbased.host.boot.grubenv import NEXT, SAVED, TRY, GrubEnv
from org_ovirt_imgbased.runner import Runner
from tests.fakes import FakeRunner

pytestmark = pytest.mark.skipif(not (shutil.which("grub-editenv") or shutil.which("grub2-editenv")),
                                reason="grub-editenv is not installed")


def make_boot(tmp: Path, layers=("Base-0.1", "Base-1.1", "Base-1.2"), grub: str = "grub") -> Path:
    """A scratch /boot with entries for layers and an empty grub directory."""
    boot = tmp / "boot"
    (boot / grub).mkdir(parents=True)
    for layer in layers:
        path = bls.entry_path(layer, boot)
        path.parent.mkdir(parents=True, exist_ok=True)
        entry = bls.make_layer_entry(layer, "HostVG", "6.1", f"/{layer}/vmlinuz-6.1", [f"/{layer}/initrd.img-6.1"])
        path.write_text(bls.render_entry(entry))
    return boot


def env_of(boot: Path) -> dict[str, str]:
    """The grubenv variables of a boot tree, read through grub-editenv."""
    return GrubEnv.at(Runner(), boot).read()


def test_grubenv_path_detection(tmp_path):
    """grub2/ (Fedora) wins over grub/ (Debian); an explicit path wins over both."""
    (tmp_path / "grub").mkdir()
    assert grubenv.grubenv_path(tmp_path) == tmp_path / "grub/grubenv"
    (tmp_path / "grub2").mkdir()
    assert grubenv.grubenv_path(tmp_path) == tmp_path / "grub2/grubenv"
    assert grubenv.grubenv_path(tmp_path, tmp_path / "x/env") == tmp_path / "x/env"


def test_read_of_a_missing_grubenv_creates_nothing(tmp_path):
    """grub-editenv list would create the file; reading must not."""
    boot = make_boot(tmp_path)
    assert env_of(boot) == {}
    assert not (boot / "grub/grubenv").exists()


def test_set_default_writes_saved_entry(tmp_path):
    """set_default puts the layer's entry id into saved_entry, in a real 1 KiB env block."""
    boot = make_boot(tmp_path)
    assert entries.set_default(Runner(), "Base-1.1", boot_dir=boot) == "imgbased-Base-1.1"
    assert env_of(boot) == {SAVED: "imgbased-Base-1.1"}
    assert (boot / "grub/grubenv").stat().st_size == 1024
    assert entries.default_layer(Runner(), boot_dir=boot) == "Base-1.1"


def test_unknown_layer_is_refused_and_changes_nothing(tmp_path):
    """A layer without an entry (or a bad name) is refused; grubenv is untouched."""
    boot = make_boot(tmp_path)
    entries.set_default(Runner(), "Base-0.1", boot_dir=boot)
    for func in (entries.set_default, entries.boot_once, entries.arm_try):
        with pytest.raises(ImgbaseError, match="Base-9.1 has no boot entry"):
            func(Runner(), "Base-9.1", boot_dir=boot)
        with pytest.raises(ImgbaseError, match="is a base"):
            func(Runner(), "Base-1", boot_dir=boot)
    assert env_of(boot) == {SAVED: "imgbased-Base-0.1"}


def test_boot_once_sets_only_next_entry(tmp_path):
    """A one-time boot: next_entry, no marker, the default unchanged; the unit won't confirm it."""
    boot = make_boot(tmp_path)
    entries.set_default(Runner(), "Base-0.1", boot_dir=boot)
    entries.boot_once(Runner(), "Base-1.2", boot_dir=boot)
    assert env_of(boot) == {SAVED: "imgbased-Base-0.1", NEXT: "imgbased-Base-1.2"}
    # GRUB boots it and clears next_entry itself; then the unit runs in Base-1.2:
    GrubEnv.at(Runner(), boot).unset([NEXT])
    msg = entries.confirm(Runner(), "Base-1.2", if_pending=True, boot_dir=boot)
    assert "nothing to confirm" in msg
    assert env_of(boot) == {SAVED: "imgbased-Base-0.1"}


def test_try_then_confirm_by_the_unit(tmp_path):
    """arm_try sets next_entry and the marker; booted and confirmed, it becomes the default."""
    boot = make_boot(tmp_path)
    entries.set_default(Runner(), "Base-1.1", boot_dir=boot)
    entries.arm_try(Runner(), "Base-1.2", boot_dir=boot)
    assert env_of(boot) == {SAVED: "imgbased-Base-1.1", NEXT: "imgbased-Base-1.2", TRY: "imgbased-Base-1.2"}
    assert entries.pending_try(Runner(), boot_dir=boot) == "Base-1.2"
    # Before the reboot the unit (or a user) must not confirm anything:
    msg = entries.confirm(Runner(), "Base-1.1", if_pending=True, boot_dir=boot)
    assert "armed for the next boot" in msg
    assert env_of(boot)[TRY] == "imgbased-Base-1.2"
    GrubEnv.at(Runner(), boot).unset([NEXT])  # what GRUB's 00_header does when booting it
    msg = entries.confirm(Runner(), "Base-1.2", if_pending=True, boot_dir=boot)
    assert msg.startswith("confirmed the try of Base-1.2")
    assert env_of(boot) == {SAVED: "imgbased-Base-1.2"}


def test_failed_try_returns_to_the_old_default(tmp_path):
    """The tried layer never confirmed; the next boot runs the old default and the marker is cleared."""
    boot = make_boot(tmp_path)
    entries.set_default(Runner(), "Base-1.1", boot_dir=boot)
    entries.arm_try(Runner(), "Base-1.2", boot_dir=boot)
    GrubEnv.at(Runner(), boot).unset([NEXT])  # GRUB consumed it, Base-1.2 hung, the next boot is the default
    msg = entries.confirm(Runner(), "Base-1.1", if_pending=True, boot_dir=boot)
    assert "did not confirm" in msg and "stays Base-1.1" in msg
    assert env_of(boot) == {SAVED: "imgbased-Base-1.1"}


def test_explicit_confirm_makes_the_running_layer_default(tmp_path):
    """boot --confirm (without --if-pending) makes the running layer the default on purpose."""
    boot = make_boot(tmp_path)
    entries.set_default(Runner(), "Base-1.2", boot_dir=boot)
    assert entries.confirm(Runner(), "Base-0.1", boot_dir=boot) == "Base-0.1 is now the default"
    assert env_of(boot) == {SAVED: "imgbased-Base-0.1"}
    with pytest.raises(ImgbaseError, match="cannot tell which layer is running"):
        entries.confirm(Runner(), None, boot_dir=boot)
    with pytest.raises(ImgbaseError, match="Base-5.1 has no boot entry"):
        entries.confirm(Runner(), "Base-5.1", boot_dir=boot)
    assert env_of(boot) == {SAVED: "imgbased-Base-0.1"}


def test_explicit_confirm_keeps_a_try_armed_for_the_next_boot(tmp_path):
    """Confirming the running layer does not disarm a try that has not been booted yet."""
    boot = make_boot(tmp_path)
    entries.arm_try(Runner(), "Base-1.2", boot_dir=boot)
    entries.confirm(Runner(), "Base-1.1", boot_dir=boot)
    assert env_of(boot) == {SAVED: "imgbased-Base-1.1", NEXT: "imgbased-Base-1.2", TRY: "imgbased-Base-1.2"}


def test_boot_once_replaces_a_pending_try(tmp_path):
    """next_entry can hold one layer; a --once for another layer drops the try's marker."""
    boot = make_boot(tmp_path)
    entries.arm_try(Runner(), "Base-1.2", boot_dir=boot)
    entries.boot_once(Runner(), "Base-0.1", boot_dir=boot)
    assert env_of(boot) == {NEXT: "imgbased-Base-0.1"}


def test_rollback_to_the_previous_layer(tmp_path):
    """Rollback goes to the layer before the default in natural order, then further back."""
    boot = make_boot(tmp_path, layers=("Base-0.1", "Base-9.3", "Base-10.1"))
    entries.set_default(Runner(), "Base-10.1", boot_dir=boot)
    entries.arm_try(Runner(), "Base-10.1", boot_dir=boot)
    assert entries.rollback(Runner(), boot_dir=boot) == "Base-9.3"
    assert env_of(boot) == {SAVED: "imgbased-Base-9.3"}
    assert entries.rollback(Runner(), boot_dir=boot) == "Base-0.1"
    with pytest.raises(ImgbaseError, match="nothing to roll back to: Base-0.1 is the oldest"):
        entries.rollback(Runner(), boot_dir=boot)
    assert entries.rollback(Runner(), to="Base-10.1", boot_dir=boot) == "Base-10.1"
    assert env_of(boot) == {SAVED: "imgbased-Base-10.1"}


def test_rollback_refusals(tmp_path):
    """Unknown target, the default itself, no entries, unknown default: refused, nothing changed."""
    boot = make_boot(tmp_path)
    with pytest.raises(ImgbaseError, match="name a layer"):
        entries.rollback(Runner(), boot_dir=boot)
    assert entries.rollback(Runner(), running="Base-1.2", boot_dir=boot) == "Base-1.1"
    with pytest.raises(ImgbaseError, match="cannot roll back to Base-4.1"):
        entries.rollback(Runner(), to="Base-4.1", boot_dir=boot)
    with pytest.raises(ImgbaseError, match="already the default"):
        entries.rollback(Runner(), to="Base-1.1", boot_dir=boot)
    assert env_of(boot) == {SAVED: "imgbased-Base-1.1"}
    with pytest.raises(ImgbaseError, match="no layer has a boot entry"):
        entries.rollback_target([], "Base-0.1")


def test_rollback_target_uses_natural_order():
    """Base-10.1 comes after Base-9.3, so rolling back from Base-10.1 goes to Base-9.3."""
    layers = ["Base-9.3", "Base-10.1", "Base-1.10", "Base-1.9", "Base-2"]
    assert entries.rollback_target(layers, "Base-10.1") == "Base-9.3"
    assert entries.rollback_target(layers, "Base-1.10") == "Base-1.9"


def test_remove_layer_repoints_grubenv(tmp_path):
    """Removing the default layer makes the newest remaining one the default; once/try are cleared."""
    boot = make_boot(tmp_path)
    entries.set_default(Runner(), "Base-1.2", boot_dir=boot)
    entries.arm_try(Runner(), "Base-1.2", boot_dir=boot)
    notes = entries.remove_layer(Runner(), "Base-1.2", boot_dir=boot)
    assert env_of(boot) == {SAVED: "imgbased-Base-1.1"}
    assert any("now Base-1.1" in n for n in notes)
    assert not bls.entry_path("Base-1.2", boot).exists()
    assert entries.remove_layer(Runner(), "Base-0.1", boot_dir=boot) == []
    entries.remove_layer(Runner(), "Base-1.1", boot_dir=boot)
    assert env_of(boot) == {}


def test_list_boot_flags(tmp_path):
    """The list shows newest first with default, next, pending-try and running flags."""
    boot = make_boot(tmp_path)
    entries.set_default(Runner(), "Base-1.1", boot_dir=boot)
    entries.arm_try(Runner(), "Base-1.2", boot_dir=boot)
    rows = entries.list_boot(Runner(), running="Base-0.1", boot_dir=boot)
    assert [r.layer for r in rows] == ["Base-1.2", "Base-1.1", "Base-0.1"]
    flags = {r.layer: (r.default, r.next, r.pending_try, r.running) for r in rows}
    assert flags == {"Base-1.2": (False, True, True, False), "Base-1.1": (True, False, False, False),
                     "Base-0.1": (False, False, False, True)}
    d = rows[0].to_dict()
    assert d["id"] == "imgbased-Base-1.2" and d["kernel"] == "6.1"
    assert d["entry"] == str(boot / "loader/entries/imgbased-Base-1.2.conf")


def test_fedora_layout_uses_grub2_dir(tmp_path):
    """With /boot/grub2 the grubenv lives there."""
    boot = make_boot(tmp_path, grub="grub2")
    entries.set_default(Runner(), "Base-0.1", boot_dir=boot)
    assert (boot / "grub2/grubenv").is_file() and not (boot / "grub/grubenv").exists()


def test_dry_mode_changes_nothing(tmp_path):
    """--dry prints the grub-editenv commands and leaves grubenv as it was."""
    boot = make_boot(tmp_path)
    entries.set_default(Runner(), "Base-0.1", boot_dir=boot)
    out = io.StringIO()
    entries.arm_try(Runner(dry=True, out=out), "Base-1.2", boot_dir=boot)
    assert "set next_entry=imgbased-Base-1.2 imgbased_try=imgbased-Base-1.2" in out.getvalue()
    assert env_of(boot) == {SAVED: "imgbased-Base-0.1"}


# --- platform and grub.cfg regeneration ------------------------------------------------------

def test_detect_platform(tmp_path):
    """grub.cfg calling blscfg means grub reads entries itself; Debian's grub.cfg does not."""
    fedora = tmp_path / "fedora"
    (fedora / "grub2").mkdir(parents=True)
    (fedora / "grub2/grub.cfg").write_text("insmod blscfg\nblscfg\n")
    p = grubcfg.detect_platform(fedora, tmp_path / "no-default-grub")
    assert p.blscfg and not p.needs_regeneration
    debian = tmp_path / "debian"
    (debian / "grub").mkdir(parents=True)
    (debian / "grub/grub.cfg").write_text("menuentry 'x' { linux /vmlinuz }\n")
    p = grubcfg.detect_platform(debian, tmp_path / "no-default-grub")
    assert not p.blscfg and p.needs_regeneration and p.grub_cfg == debian / "grub/grub.cfg"
    default_grub = tmp_path / "default-grub"
    default_grub.write_text('GRUB_ENABLE_BLSCFG="true"\n')
    assert grubcfg.detect_platform(debian, default_grub).blscfg


def test_regenerate_config(tmp_path):
    """Skipped, no grub.cfg or blscfg: nothing runs; Debian: grub-mkconfig with our boot dir."""
    grub_d = tmp_path / "grub.d"
    grub_d.mkdir()
    nodef = tmp_path / "no-default-grub"
    scratch = make_boot(tmp_path)
    rec = FakeRunner()
    assert grubcfg.regenerate_config(rec, scratch, grub_d=grub_d, default_grub=nodef) is False
    (scratch / "grub/grub.cfg").write_text("set default=0\n")
    assert grubcfg.regenerate_config(rec, scratch, skip=True, grub_d=grub_d, default_grub=nodef) is False
    assert rec.calls == []
    with pytest.raises(ImgbaseError, match="42_imgbased is missing"):
        grubcfg.regenerate_config(rec, scratch, grub_d=grub_d, default_grub=nodef)
    (grub_d / "42_imgbased").write_text("#! /bin/sh\n")
    if not (shutil.which("grub-mkconfig") or shutil.which("grub2-mkconfig")):
        pytest.skip("grub-mkconfig is not installed")
    assert grubcfg.regenerate_config(rec, scratch, grub_d=grub_d, default_grub=nodef) is True
    (argv, env), = rec.calls
    assert argv[0] in ("grub-mkconfig", "grub2-mkconfig")
    assert argv[1:] == ["-o", str(scratch / "grub/grub.cfg")]
    assert env == {"IMGBASED_BOOT_DIR": str(scratch)}
    (scratch / "grub/grub.cfg").write_text("blscfg\n")
    assert grubcfg.regenerate_config(rec, scratch, grub_d=grub_d, default_grub=nodef) is False
    assert len(rec.calls) == 1
