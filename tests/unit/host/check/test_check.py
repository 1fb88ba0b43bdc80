# SPDX-License-Identifier: GPL-2.0-or-later
"""The pure check groups of `imgbase check` on fake layouts, scratch /boot trees and mountinfo text."""

from __future__ import annotations

from pathlib import Path

import pytest

from org_ovirt_imgbased.host import txn
from org_ovirt_imgbased.host.boot import bls
from org_ovirt_imgbased.host.check import boot as check_host
from org_ovirt_imgbased.host.check import mounts as mounts_group
from org_ovirt_imgbased.host.check import storage as check
from org_ovirt_imgbased.host.check.report import FAILED, OK, WARNING, CheckReport, Finding
from org_ovirt_imgbased.host.layout import Base, Layout
from org_ovirt_imgbased.host.storage import lvm
from org_ovirt_imgbased.host.storage.mounts import Mount, parse_mountinfo, visible_at, whole_mount_of

VG = "HostVG"
BASE_ATTR, LAYER_ATTR = "Vri---tz-k", "Vwi-a-tz--"


def lv(name: str, attr: str, *tags: str, origin: str = "", skip: bool = False, dev=None, **kw) -> lvm.LV:
    """A fake LV in HostVG."""
    return lvm.LV(name=name, vg=VG, attr=attr, size=1 << 30, pool="pool00", origin=origin, tags=list(tags),
                  vg_tags=[lvm.TAG_VG], skip_activation=skip, dev=dev, **kw)


def pool(data: float = 10.0, meta: float = 5.0, profile: str = lvm.PROFILE) -> lvm.LV:
    """A fake thin pool."""
    return lvm.LV(name="pool00", vg=VG, attr="twi-aotz--", size=10 << 30, pool="", tags=[lvm.TAG_POOL],
                  vg_tags=[lvm.TAG_VG], data_percent=data, metadata_percent=meta, metadata_size=1 << 30,
                  profile=profile)


def healthy() -> tuple[Layout, list[lvm.LV]]:
    """Base-0 with layers Base-0.1 (dev 253:5) and Base-0.2, Base-1 with Base-1.1, and a var volume."""
    p = pool()
    b0 = lv("Base-0", BASE_ATTR, lvm.TAG_BASE, skip=True)
    b1 = lv("Base-1", BASE_ATTR, lvm.TAG_BASE, skip=True)
    l01 = lv("Base-0.1", LAYER_ATTR, lvm.TAG_LAYER, origin="Base-0", dev=(253, 5))
    l02 = lv("Base-0.2", LAYER_ATTR, lvm.TAG_LAYER, origin="Base-0", dev=(253, 6))
    l11 = lv("Base-1.1", LAYER_ATTR, lvm.TAG_LAYER, origin="Base-1", dev=(253, 7))
    var = lv("var", LAYER_ATTR, lvm.TAG_VOLUME, dev=(253, 9))
    lay = Layout(VG, p, [Base(b0, [l01, l02]), Base(b1, [l11])], [var], current="Base-0.1")
    return lay, [p, b0, b1, l01, l02, l11, var]


def by_name(findings: list[Finding]) -> dict[str, Finding]:
    """Findings keyed by name."""
    return {f.name: f for f in findings}


def statuses(findings: list[Finding]) -> dict[str, str]:
    """Status per finding name."""
    return {f.name: f.status for f in findings}


# --- storage -------------------------------------------------------------------------------------

def test_storage_healthy_is_all_ok():
    """A consistent layout gives only OK findings, one per base and layer."""
    lay, lvs = healthy()
    found = check.check_storage(lay, lvs, [lvm.TAG_VG], [])
    assert set(statuses(found).values()) == {OK}
    assert {"vg", "pool", "base Base-0", "base Base-1", "layer Base-0.1", "layer Base-1.1",
            "transactions"} <= set(statuses(found))


def test_storage_broken_base_and_layer():
    """A writable base without activation skip and a layer with skip and the wrong origin fail, with fixes."""
    lay, lvs = healthy()
    lay.bases[1].lv.attr = "Vwi---tz--"
    lay.bases[1].lv.skip_activation = False
    layer = lay.bases[0].layers[1]
    layer.skip_activation, layer.origin = True, "Base-1"
    found = by_name(check.check_storage(lay, lvs, [lvm.TAG_VG], []))
    assert found["base Base-1"].status == FAILED
    assert "writable" in found["base Base-1"].reason and "--setactivationskip y" in found["base Base-1"].reason
    assert found["base Base-0"].status == OK
    assert found["layer Base-0.2"].status == FAILED
    assert "not a thin snapshot of Base-0 (origin: Base-1)" in found["layer Base-0.2"].reason
    assert "--setactivationskip n" in found["layer Base-0.2"].reason


def test_storage_tags_vg_pool_and_strays():
    """Missing VG/pool tags, an untagged Base-N, an orphan layer and a stray tag are reported."""
    lay, lvs = healthy()
    untagged_pool = pool()
    untagged_pool.tags = []
    lay.pool = None
    strays = [lv("Base-7", BASE_ATTR), lv("Base-9.1", LAYER_ATTR, lvm.TAG_LAYER, origin=""),
              lv("junk", LAYER_ATTR, lvm.TAG_BASE)]
    found = by_name(check.check_storage(lay, [untagged_pool, *lvs[1:], *strays], [], []))
    assert found["vg"].status == FAILED and f"vgchange --addtag {lvm.TAG_VG}" in found["vg"].reason
    assert found["pool"].status == FAILED and "pool00 lacks the tag" in found["pool"].reason
    assert "lacks the tag imgbased:base" in found["lv Base-7"].reason
    assert "does not exist (Base-9)" in found["lv Base-9.1"].reason
    assert "not named Base-N" in found["lv junk"].reason
    lay.pool = None
    assert "has no thin pool" in by_name(check.check_storage(lay, lvs[1:], [lvm.TAG_VG], []))["pool"].reason


def test_storage_transactions():
    """A txn tag or an interrupted journal fails; a committed leftover journal only warns."""
    lay, lvs = healthy()
    lvs[3].tags.append("imgbased:txn=20260101T000000-42")
    open_j = txn.Journal("j1", "update", VG, step="copy-image")
    found = by_name(check.check_storage(lay, lvs, [lvm.TAG_VG], [(Path("j1.json"), open_j)]))
    reason = found["transactions"].reason
    assert found["transactions"].status == FAILED
    assert "Base-0.1 carries imgbased:txn=20260101T000000-42" in reason and "journal j1 (update, step copy-image)" \
        in reason and "imgbase recover" in reason
    lvs[3].tags.pop()
    done = txn.Journal("j2", "update", VG, committed=True)
    found = by_name(check.check_storage(lay, lvs, [lvm.TAG_VG], [(Path("j2.json"), done)]))
    assert found["transactions"].status == WARNING and "j2" in found["transactions"].reason


# --- thin ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("data,meta,want", [(10, 5, (OK, OK)), (75, 5, (WARNING, OK)), (95, 5, (FAILED, OK)),
                                            (10, 91, (OK, FAILED)), (90, 71, (WARNING, WARNING))])
def test_thin_thresholds(tmp_path, data, meta, want):
    """Above 70% warns, above max-fill fails, for data and metadata separately."""
    (tmp_path / f"{lvm.PROFILE}.profile").write_text(lvm.PROFILE_TEXT)
    found = by_name(check.check_thin(pool(data, meta), 90, "monitored", tmp_path))
    assert (found["data"].status, found["metadata"].status) == want
    assert found["autoextend"].status == OK and found["monitoring"].status == OK
    if want[0] == FAILED:
        assert "safe limit of 90%" in found["data"].reason and "imgbase gc" in found["data"].reason


def test_thin_low_max_fill_lowers_the_warning(tmp_path):
    """With max-fill 60 the warning starts at 60, not 70."""
    found = by_name(check.check_thin(pool(65, 1), 60, "monitored", tmp_path))
    assert found["data"].status == FAILED
    assert by_name(check.check_thin(pool(55, 1), 60, "monitored", tmp_path))["data"].status == OK


def test_thin_autoextend_and_monitoring(tmp_path):
    """No profile, a missing profile file and no monitoring each warn."""
    found = by_name(check.check_thin(pool(profile=""), 90, "not monitored", tmp_path))
    assert found["autoextend"].status == WARNING and "profile none" in found["autoextend"].reason
    assert found["monitoring"].status == WARNING and "lvchange --monitor y HostVG/pool00" in found["monitoring"].reason
    found = by_name(check.check_thin(pool(), 90, None, tmp_path))
    assert found["autoextend"].status == WARNING and "is missing" in found["autoextend"].reason
    assert check.check_thin(None, 90, None, tmp_path)[0].status == WARNING


# --- boot ----------------------------------------------------------------------------------------

def install(boot: Path, layer: str, vg: str = VG, kernel: bool = True) -> None:
    """Write a layer's entry (and its kernel and initrd unless kernel is False)."""
    entry = bls.make_layer_entry(layer, vg, "6.1.0-test", f"/{layer}/vmlinuz-6.1.0-test",
                                 [f"/{layer}/initrd.img-6.1.0-test"])
    bls.entries_dir(boot).mkdir(parents=True, exist_ok=True)
    bls.entry_path(layer, boot).write_text(bls.render_entry(entry))
    if kernel:
        (boot / layer).mkdir(exist_ok=True)
        (boot / layer / "vmlinuz-6.1.0-test").write_text("k")
        (boot / layer / "initrd.img-6.1.0-test").write_text("i")


def boot_findings(tmp_path: Path, env: dict | None, lay: Layout | None = None) -> dict[str, Finding]:
    """Run the boot group against tmp_path/boot."""
    lay = lay or healthy()[0]
    boot = tmp_path / "boot"
    return by_name(check_host.check_boot(lay, bls.read_entries(boot), env, boot / "grub/grubenv", boot))


def test_boot_healthy(tmp_path):
    """Every layer with its entry and files, and a default naming a layer: all OK."""
    for layer in ("Base-0.1", "Base-0.2", "Base-1.1"):
        install(tmp_path / "boot", layer)
    found = boot_findings(tmp_path, {"saved_entry": "imgbased-Base-1.1"})
    assert set(statuses(found.values()).values()) == {OK}, found
    assert found["default"].reason == "the default is Base-1.1"


def test_boot_problems(tmp_path):
    """A missing entry, a missing kernel, a wrong root, an orphan entry and a bad next_entry are reported."""
    boot = tmp_path / "boot"
    install(boot, "Base-0.1")
    install(boot, "Base-0.2", kernel=False)
    install(boot, "Base-1.1", vg="OtherVG")
    install(boot, "Base-5.1")
    found = boot_findings(tmp_path, {"saved_entry": "imgbased-Base-0.1", "next_entry": "imgbased-Base-8.1"})
    assert found["entry Base-0.1"].status == OK
    missing = found["entry Base-0.2"]
    assert missing.status == FAILED and "vmlinuz-6.1.0-test is missing" in missing.reason
    assert found["entry Base-1.1"].status == FAILED and "do not boot HostVG/Base-1.1" in found["entry Base-1.1"].reason
    assert found["orphans"].status == FAILED and "Base-5.1" in found["orphans"].reason
    assert found["next"].status == WARNING
    (bls.entry_path("Base-0.2", boot)).unlink()
    assert "has no boot entry" in boot_findings(tmp_path, {"saved_entry": "imgbased-Base-0.1"})["entry Base-0.2"].reason


@pytest.mark.parametrize("env,status,words", [
    (None, FAILED, "no grubenv"), ({}, FAILED, "saved_entry is unset"),
    ({"saved_entry": "imgbased-Base-3.1"}, FAILED, "not a layer in HostVG"),
    ({"saved_entry": "debian-rescue"}, FAILED, "has no entry"),
    ({"saved_entry": "other"}, WARNING, "not an imgbased layer")])
def test_boot_default(tmp_path, env, status, words):
    """The default must exist and name a layer; another entry of the system only warns."""
    boot = tmp_path / "boot"
    for layer in ("Base-0.1", "Base-0.2", "Base-1.1", "Base-3.1"):
        install(boot, layer)
    (bls.entries_dir(boot) / "other.conf").write_text("title other\nlinux /vmlinuz\n")
    lay = healthy()[0]
    found = boot_findings(tmp_path, env, lay)["default"]
    assert found.status == status and words in found.reason


def test_boot_orphan_directory_warns(tmp_path):
    """A kernel directory of a removed layer (without its entry) only warns."""
    boot = tmp_path / "boot"
    for layer in ("Base-0.1", "Base-0.2", "Base-1.1"):
        install(boot, layer)
    (boot / "Base-4.2").mkdir()
    (boot / "grub").mkdir()
    found = boot_findings(tmp_path, {"saved_entry": "imgbased-Base-0.1"})["orphans"]
    assert found.status == WARNING and "Base-4.2" in found.reason and "grub" not in found.reason


# --- mounts --------------------------------------------------------------------------------------

def mi(*rows: tuple[str, str, str, str]) -> list[Mount]:
    """Mountinfo from (dev, mountpoint, per-mount options, super options) rows."""
    lines = [f"{20 + i} 1 {dev} / {point} {opts} shared:{i} - ext4 /dev/mapper/x{i} {sup}"
             for i, (dev, point, opts, sup) in enumerate(rows)]
    return parse_mountinfo("\n".join(lines))


def test_mounts_healthy():
    """/ is the layer with discard, /var is the var volume: all OK."""
    lay, _ = healthy()
    mounts = mi(("253:5", "/", "rw,relatime", "rw,discard"), ("253:9", "/var", "rw", "rw"))
    found = by_name(mounts_group.check_mounts(lay, mounts, lambda dev: ""))
    assert statuses(found.values()) == {"root": OK, "discard": OK, "/var": OK, "volume var": OK}
    assert found["volume var"].reason == "mounted on /var"


def test_mounts_discard_from_default_options_and_missing():
    """Discard may come from the filesystem's default options; without it, a warning naming tune2fs."""
    lay, _ = healthy()
    mounts = mi(("253:5", "/", "rw", "rw"), ("253:9", "/var", "rw", "rw"))
    asked = []
    found = by_name(mounts_group.check_mounts(lay, mounts, lambda dev: asked.append(dev) or "user_xattr acl discard"))
    assert found["discard"].status == OK and asked == ["/dev/HostVG/Base-0.1"]
    found = by_name(mounts_group.check_mounts(lay, mounts, lambda dev: "user_xattr acl"))
    assert found["discard"].status == WARNING and "tune2fs -o discard /dev/HostVG/Base-0.1" in found["discard"].reason


def test_mounts_var_on_root_and_volume_problems():
    """/var on the layer fails; a volume at / or sharing a mount point fails; mismatched bootid warns."""
    lay, _ = healthy()
    lay.current = "Base-1.1"
    mounts = mi(("253:5", "/", "rw", "discard"), ("253:9", "/srv", "rw", ""), ("253:6", "/srv", "rw", ""))
    found = by_name(mounts_group.check_mounts(lay, mounts, lambda dev: ""))
    assert found["/var"].status == FAILED and "own data volume" in found["/var"].reason
    assert found["root"].status == WARNING and "says Base-1.1 runs, but / is Base-0.1" in found["root"].reason
    assert found["volume var"].status == FAILED and "shared with Base-0.2" in found["volume var"].reason
    mounts = mi(("253:9", "/", "rw", ""))
    found = by_name(mounts_group.check_mounts(lay, mounts, lambda dev: ""))
    assert found["volume var"].status == FAILED and "mounted at /" in found["volume var"].reason
    assert found["root"].status == WARNING and "/ is data volume var" in found["root"].reason


def test_mounts_not_on_a_layer_and_on_a_base():
    """A root that is no imgbased LV only warns; a root on a base fails."""
    lay, _ = healthy()
    found = by_name(mounts_group.check_mounts(lay, mi(("0:31", "/", "rw", "rw")), lambda dev: ""))
    assert found["root"].status == WARNING and set(found) == {"root", "volume var"}
    lay.bases[0].lv.dev = (253, 3)
    found = by_name(mounts_group.check_mounts(lay, mi(("253:3", "/", "ro", "ro")), lambda dev: ""))
    assert found["root"].status == FAILED and "base Base-0" in found["root"].reason


def test_mountinfo_parsing():
    """Escapes, optional fields, covering mounts and lines of the wrong shape."""
    text = ("36 35 98:0 /mnt1 /mnt\\040two rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue\n"
            "37 35 98:0 / / rw - ext4 /dev/a rw\n38 35 98:1 / / rw - ext4 /dev/b rw,discard\nbogus line\n")
    mounts = parse_mountinfo(text)
    assert len(mounts) == 3
    assert mounts[0].mountpoint == "/mnt two" and mounts[0].root == "/mnt1" and mounts[0].fstype == "ext3"
    assert mounts[0].options == ("rw", "noatime") and mounts[0].super_options == ("rw", "errors=continue")
    assert visible_at(mounts, "/").source == "/dev/b" and visible_at(mounts, "/x") is None
    assert whole_mount_of(mounts, (98, 0)).source == "/dev/a"
    assert mounts[2].has_option("discard") and not mounts[1].has_option("discard")


# --- the report ----------------------------------------------------------------------------------

def test_report_status_text_and_json():
    """Warnings keep OK; one FAILED makes FAILED; text ends with the Status line; JSON groups."""
    ok = CheckReport(VG, [Finding("thin", "data", OK, "1%"), Finding("thin", "monitoring", WARNING, "off")])
    assert ok.status == OK and not ok.failed
    assert ok.render().splitlines()[-1] == "Status: OK"
    bad = CheckReport(VG, [*ok.findings, Finding("boot", "entry Base-0.1", FAILED, "no entry")])
    lines = bad.render().splitlines()
    assert lines[-1] == "Status: FAILED" and lines[-2] == "1 problem(s), 1 warning(s) in HostVG"
    assert "FAILED  boot: entry Base-0.1: no entry" in lines
    data = bad.to_dict()
    assert data["status"] == FAILED and data["problems"] == 1 and data["warnings"] == 1
    assert list(data["groups"]) == ["storage", "thin", "boot", "mounts"]
    assert data["groups"]["boot"] == [{"name": "entry Base-0.1", "status": FAILED, "reason": "no entry"}]


def test_boot_reports_grubenv_temporaries_of_a_killed_write(tmp_path):
    """A .grubenv.<hex>.tmp left by a killed write is a warning naming it; look-alikes are not counted."""
    for layer in ("Base-0.1", "Base-0.2", "Base-1.1"):
        install(tmp_path / "boot", layer)
    grub = tmp_path / "boot" / "grub"
    grub.mkdir()
    (grub / ".grubenv.0123456789ab.tmp").write_bytes(b"# GRUB Environment Block\n")
    (grub / ".grubenv.backup.tmp").write_text("not ours")
    found = boot_findings(tmp_path, {"saved_entry": "imgbased-Base-1.1"})
    assert found["grubenv"].status == WARNING
    assert ".grubenv.0123456789ab.tmp" in found["grubenv"].reason and "backup" not in found["grubenv"].reason


def test_the_adopted_root_is_a_layer_whose_base_was_snapshotted_from_it():
    """host/adopt.py: Base-0 is a snapshot of the installed root Base-0.1, so the origins point the other way."""
    base = lv("Base-0", BASE_ATTR, lvm.TAG_BASE, origin="Base-0.1", skip=True)
    adopted = lv("Base-0.1", LAYER_ATTR, lvm.TAG_LAYER)
    assert check._check_layer(adopted, base).status == OK
    stray = lv("Base-0.1", LAYER_ATTR, lvm.TAG_LAYER)
    assert "origin: none" in check._check_layer(stray, lv("Base-0", BASE_ATTR, lvm.TAG_BASE, skip=True)).reason
