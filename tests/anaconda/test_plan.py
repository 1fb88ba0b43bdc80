# SPDX-License-Identifier: GPL-2.0-or-later
"""No VM: the tier's kickstart generation, the one VM command line, and reading results."""

from __future__ import annotations

import hashlib
import json
import shlex
from pathlib import Path

import pytest

from tests.anaconda import checks, driver, guest_stage, plan

LIVE = Path("/cache/image/imgbased-test-v1-abc.zstd.squashfs")


@pytest.mark.parametrize("variant", [v for v in plan.VARIANTS if not v.dialog], ids=lambda v: v.name)
def test_every_kickstart_renders_with_its_disk_and_image(variant):
    """Each template names only its disk and the liveimg, with the common safety lines."""
    text = plan.render_kickstart((plan.KICKSTARTS / f"{variant.name}.ks").read_text(), variant.disk, LIVE)
    assert "@" not in text.replace("%addon", "")
    lines = text.splitlines()
    assert f"ignoredisk --only-use={variant.disk}" in lines
    assert f"clearpart --all --initlabel --drives={variant.disk}" in lines
    assert {"zerombr", f"liveimg --url=file://{LIVE}"} <= set(lines)
    # no bootloader install (imgbased writes the entries), a serial console for the e2e boot
    assert 'bootloader --location=none --append="console=tty0 console=ttyS0,115200n8 panic=5"' in lines
    assert plan.addon_line(text) > 0


def test_every_kickstart_template_is_a_variant():
    """No template is left out of the run, none is missing."""
    assert sorted(p.stem for p in plan.KICKSTARTS.glob("*.ks")) == sorted(v.name for v in plan.VARIANTS
                                                                         if not v.dialog)


def test_render_refuses_relative_images_and_templates_without_placeholders():
    """A relative liveimg or a template without placeholders is a clear error."""
    with pytest.raises(ValueError, match="absolute"):
        plan.render_kickstart("@DISK@ @LIVEIMG@", "vdb", Path("rel.squashfs"))
    with pytest.raises(ValueError, match="@DISK@"):
        plan.render_kickstart("liveimg --url=file://@LIVEIMG@", "vdb", LIVE)


def test_addon_line_counts_from_one():
    """The %addon header's line number, as anaconda counts it."""
    assert plan.addon_line("# c\nzerombr\n%addon org_ovirt_imgbased --x\n%end\n") == 3
    with pytest.raises(ValueError):
        plan.addon_line("zerombr\n")


def test_variants_use_the_disks_vm_run_attaches_in_order():
    """--attach order is vdb, vdc, ...: the variants must agree, the kept disk runs last."""
    plan.check_disk_order(plan.VARIANTS)
    assert [v.name for v in plan.VARIANTS if v.keep] == [plan.KEPT] and plan.VARIANTS[-1].keep
    with pytest.raises(ValueError, match="must be"):
        plan.check_disk_order([plan.Variant("x", "vdc")])


def test_one_vm_command_attaches_every_disk_and_shares_the_work_dir(tmp_path):
    """One vm-run with --udev and 3 GiB, the work dir shared, a disk per variant, the script."""
    cmd = plan.vm_command(tmp_path, plan.VARIANTS, tmp_path / "guest.sh", 2400)
    assert cmd[0].endswith("image-tools/vm-run") and "--udev" in cmd
    assert cmd[cmd.index("--mem") + 1] == "3072" and cmd[cmd.index("--share") + 1] == str(tmp_path)
    attached = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--attach"]
    assert attached == [str(plan.disk_path(tmp_path, v)) for v in plan.VARIANTS]
    assert cmd[-2:] == ["bash", str(tmp_path / "guest.sh")]


def test_guest_script_runs_the_driver_once_per_variant_in_order(tmp_path):
    """A driver run per variant, each with its kickstart, disk and result; only the kept disk is not wiped."""
    script = plan.guest_script(tmp_path, plan.VARIANTS, Path("/cache/anaconda-x"), 900)
    runs = [shlex.split(line.split(" || ")[0]) for line in script.splitlines() if "driver.py" in line]
    assert [r[r.index("--disk") + 1] for r in runs] == [v.disk for v in plan.VARIANTS]
    for run, v in zip(runs, plan.VARIANTS):
        assert run[run.index("--ks") + 1] == str(tmp_path / f"{v.name}.ks")
        assert run[run.index("--result") + 1] == str(tmp_path / f"{v.name}.json")
        assert ("--wipe-after" in run) == (not v.keep)
        assert (run[run.index("--mode") + 1] if "--mode" in run else "cmdline") == ("text" if v.dialog else "cmdline")


def test_prepare_writes_kickstarts_and_blank_sparse_disks(tmp_path):
    """Kickstarts rendered, stale results removed, disks fresh and all zero (sparse)."""
    (tmp_path / "d-not-thin.json").write_text("{}")
    live, other = tmp_path / "v1.squashfs", tmp_path / "v2.squashfs"
    live.write_bytes(b"v1")
    plan.prepare(tmp_path, live, plan.VARIANTS, other)
    assert not (tmp_path / "d-not-thin.json").exists()
    disk = plan.disk_path(tmp_path, plan.VARIANTS[0])
    assert disk.stat().st_size == plan.DISK_SIZE and disk.stat().st_blocks == 0
    assert "--only-use=vdb" in (tmp_path / "e-bad-addon-option.ks").read_text()
    tui = (tmp_path / f"{plan.TUI_KEPT}.ks").read_text()
    assert "console=ttyS0" in tui and f"liveimg --url=file://{other}\n" in tui  # the example, made installable
    steps = json.loads((tmp_path / f"{plan.TUI_KEPT}.dialog.json").read_text())
    assert any(s.get("send") == f"file://{live}" for s in steps) and steps[-1]["send"] == ""
    assert any(s.get("send") == hashlib.sha256(b"v1").hexdigest() for s in steps)


def test_dialog_steps_match_the_screens_they_wait_for():
    """The patterns match anaconda's text (as drawn) and type the number anaconda gave the item."""
    import re
    steps = plan.dialog("install", "vdf", LIVE, "0" * 64)
    [pick_disk] = [s for s in steps if "vdf" in s["expect"] and "send_group" in s]
    screen = ("1) [ ] DISK: 32 GiB (vdb)\n2) [ ] DISK: 32 GiB (vdf)\n3) [ ] Select all\n\n"
              "Please make a selection from the above ['c' to continue]: ")
    assert re.search(pick_disk["expect"], screen).group(1) == "2"
    hub = steps[6]
    screen = (" 1) [x] Installation Destination       2) [ ] Image-based host\n"
              "        (Automatic partitioning selected)     (Base-0 from file:///x)\n\n"
              "Please make a selection from the above ['b' to begin installation]: ")
    assert re.search(hub["expect"], screen).group(1) == "2"
    refused = [s for s in plan.dialog("incomplete", "vdf", LIVE, "0" * 64) if s.get("send") == "b"][0]
    screen = (" 1) [x] Installation Destination       2) [!] Image-based host\n"
              "        (Automatic partitioning               (Not ready: the image cannot\n"
              "        selected)                             be read: file:///missing.img:\n\n"
              "Please make a selection from the above ['b' to begin installation]: ")
    assert re.search(refused["expect"], screen)


def test_load_result_turns_missing_and_broken_files_into_failures(tmp_path):
    """A driver that never finished is a failure with a reason, not a crash of the tier."""
    assert plan.load_result(tmp_path / "none.json")["phase"] == "missing"
    (tmp_path / "bad.json").write_text("{")
    assert "unreadable" in plan.load_result(tmp_path / "bad.json")["error"]
    (tmp_path / "odd.json").write_text("[]")
    assert plan.load_result(tmp_path / "odd.json")["ok"] is False
    (tmp_path / "ok.json").write_text(json.dumps({"ok": True, "phase": "done"}))
    assert plan.load_result(tmp_path / "ok.json")["ok"] is True


def test_load_run_only_for_the_same_liveimg(tmp_path):
    """Reused results must come from the same liveimg."""
    (tmp_path / "summary.json").write_text(json.dumps({"liveimg": str(LIVE), "vm_rc": 0, "vm_seconds": 5}))
    assert plan.load_run(tmp_path, LIVE) is not None
    assert plan.load_run(tmp_path, Path("/other.squashfs")) is None


RESULT = {
    "ok": True, "phase": "done",
    "inspect": {
        "vgs": [{"vg_name": "HostVG", "vg_tags": "imgbased:vg"}],
        "lvs": [{"vg_name": "HostVG", "lv_name": "Base-0", "lv_tags": "imgbased:base,imgbased:image=x",
                 "pool_lv": "pool00", "lv_permissions": "read-only", "lv_skip_activation": "skip activation"},
                {"vg_name": "HostVG", "lv_name": "Base-0.1", "lv_tags": "imgbased:layer", "pool_lv": "pool00"}],
        "boot": {"loader/entries": {"Base-0.1.conf": "linux /vmlinuz\noptions root=/dev/HostVG/Base-0.1 rw\n",
                                    "Base-0.0.conf": "options root=/dev/HostVG/Base-0.10 rw\n"},
                 "grub/grubenv": "# GRUB Environment Block\nsaved_entry=Base-0.1\n####\n"},
        "roots": {"HostVG/Base-0.1": {"etc/fstab": "# c\n/dev/mapper/HostVG-Base--0.1 / ext4 defaults 1 1\n"}},
    },
}


def test_checks_read_tags_entries_grubenv_and_fstab():
    """The result readers find the imgbased VG, the layer's entry and its fstab root line."""
    assert checks.imgbased_vg(RESULT) == "HostVG"
    assert checks.lv(RESULT, "Base-0")["lv_permissions"] == "read-only"
    assert checks.layer_entry(RESULT, "HostVG") == "Base-0.1"
    assert checks.grubenv_vars(RESULT["inspect"]["boot"]["grub/grubenv"])["saved_entry"] == "Base-0.1"
    (dev, mnt), = checks.fstab_entries(checks.layer_fstab(RESULT, "HostVG"))
    assert mnt == "/" and checks.names_lv(dev, "HostVG", "Base-0.1")
    assert not checks.names_lv("/dev/HostVG/root", "HostVG", "Base-0.1")
    assert checks.imgbased_vg({"inspect": {"vgs": [{"vg_name": "anaconda", "vg_tags": ""}]}}) is None


def test_disk_untouched_names_every_change():
    """Same hashes, zero head, no table, no signature, no VG: untouched; anything else is named."""
    blank = {"head_sha256": "a", "tail_sha256": "b", "head_zero": True, "partitions": None, "blkid": ""}
    assert checks.disk_untouched({"disk_before": blank, "disk_after": blank, "inspect": {"vgs": []}}) == []
    changed = dict(blank, head_sha256="c", head_zero=False, partitions=[{"node": "/dev/vdc1"}])
    problems = checks.disk_untouched({"disk_before": blank, "disk_after": changed,
                                      "inspect": {"vgs": [{"vg_name": "HostVG"}]}})
    assert len(problems) == 4 and any("HostVG" in p for p in problems)
    assert checks.disk_untouched({}) != []


def test_driver_maps_addon_calls_to_phases(tmp_path):
    """dbus-monitor lines to the addon's bus name become 'phase: interface.member path'."""
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs/dbus-monitor.log").write_text(
        "method call time=100.5 sender=:1.1 -> destination=org.fedoraproject.Anaconda.Addons.OvirtImgbased "
        "serial=5 path=/org/fedoraproject/Anaconda/Addons/OvirtImgbased; "
        "interface=org.fedoraproject.Anaconda.Module; member=ReadKickstart\n"
        "method call time=101 sender=:1.1 -> destination=org.fedoraproject.Anaconda.Modules.Storage serial=6 "
        "path=/x; interface=y; member=Z\n"
        "method call time=200 sender=:1.1 -> destination=org.fedoraproject.Anaconda.Addons.OvirtImgbased "
        "serial=9 path=/o; interface=org.fedoraproject.Anaconda.Module; member=InstallWithTasks\n")
    calls = driver.anaconda_run.addon_calls(tmp_path / "logs", {"launcher": 90.0, "kickstart": 100.0, "install": 150.0})
    assert calls == ["kickstart: org.fedoraproject.Anaconda.Module.ReadKickstart "
                     "/org/fedoraproject/Anaconda/Addons/OvirtImgbased",
                     "install: org.fedoraproject.Anaconda.Module.InstallWithTasks /o"]


def test_driver_error_text_is_one_line():
    """anaconda's messages are reported on one line; D-Bus errors keep their remote message."""
    class Remote(Exception):
        message = "line 11: unknown\n  option"
    assert driver.anaconda_run.error_text(Remote()) == "line 11: unknown option"
    assert driver.anaconda_run.error_text(RuntimeError()) == "RuntimeError"


def test_driver_refuses_to_run_as_a_normal_user(monkeypatch, capsys):
    """Outside the VM lab as non-root, the driver says where to run it (exit 2)."""
    monkeypatch.setattr(driver.os, "geteuid", lambda: 1000)
    assert driver.main(["--ks", "x.ks", "--result", "r.json", "--anaconda", "/a"]) == driver.EXIT_DRIVER
    assert "vm-run" in capsys.readouterr().err


def test_test_dropin_configures_the_lab():
    """The test drop-in sorts after the product's 90-imgbased* and sets what the lab needs."""
    text = guest_stage.TEST_DROPIN.read_text()
    assert guest_stage.TEST_DROPIN.name > "90-imgbased"
    for line in ("selinux = 0", "disk_label_type = mbr", "can_configure_network = False",
                 "default_scheme = LVM_THINP"):
        assert line in text


def test_driver_takes_anaconda_s_printed_kickstart_error():
    """anaconda prints a kickstart error and exits: the driver reports the printed message."""
    printed = ("noise\n\nAn error occurred during reading the kickstart file:\n"
               "%addon org_ovirt_imgbased: line 11: unknown option\n\nThe installer will now terminate.\n")
    assert driver.anaconda_run.kickstart_message(printed) == "%addon org_ovirt_imgbased: line 11: unknown option"
    assert driver.anaconda_run.kickstart_message("nothing printed") == ""


def test_kept_result_only_for_the_same_liveimg(tmp_path):
    """The e2e boot reuses the tier's disk only when it was installed from the same image."""
    live, other = tmp_path / "v1.squashfs", tmp_path / "v2.squashfs"
    live.write_bytes(b"v1")
    assert plan.kept_result(tmp_path, live) is None
    v = plan.Variant(plan.KEPT, "vdb", keep=True, dialog="install")
    plan.prepare(tmp_path, live, [v], other)
    assert plan.kept_result(tmp_path, live) is None
    (tmp_path / f"{plan.KEPT}.json").write_text(json.dumps({"ok": False, "phase": "install", "error": "x"}))
    assert plan.kept_result(tmp_path, live)["phase"] == "install"  # the answers named this very image
    assert plan.kept_result(tmp_path, Path("/other.squashfs")) is None


def test_a_second_run_on_the_same_work_directory_is_refused(tmp_path):
    """Two runs at once would rewrite each other's kickstarts and disks: the second stops first."""
    with plan.work_lock(tmp_path), pytest.raises(RuntimeError, match="another anaconda tier run is using"):
        plan.run_all(tmp_path, LIVE)
    with plan.work_lock(tmp_path):  # released again
        pass
