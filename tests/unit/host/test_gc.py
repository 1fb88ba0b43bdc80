# SPDX-License-Identifier: GPL-2.0-or-later
"""Retention planning: keep the newest N, the booted, default, next-boot and pinned bases."""

from __future__ import annotations

import logging

import pytest

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host import gc
from org_ovirt_imgbased.host.layout import Base, Layout
from org_ovirt_imgbased.host.storage import lvm
from org_ovirt_imgbased.runner import Runner
from tests.fakes import fake_context


def lv(name: str, *tags: str) -> lvm.LV:
    """A fake LV in VG HostVG."""
    return lvm.LV(name=name, vg="HostVG", attr="Vri---tz-k", size=1 << 30, pool="pool00", tags=list(tags))


def layout(bases: dict[str, int], pinned: tuple[str, ...] = (), shuffle: bool = True) -> Layout:
    """A layout with the given bases (name -> number of layers), listed out of order on purpose."""
    items = [Base(lv(name, lvm.TAG_BASE, *([lvm.TAG_PINNED] if name in pinned else [])),
                  [lv(f"{name}.{i}", lvm.TAG_LAYER) for i in range(1, n + 1)]) for name, n in bases.items()]
    if shuffle:
        items.reverse()
    return Layout("HostVG", lv("pool00", lvm.TAG_POOL), items, [])


def test_keeps_newest_n_and_removes_the_rest():
    """With nothing protected, the newest N survive and the older ones go, with their layers listed."""
    plan = gc.plan_gc(layout({"Base-0": 1, "Base-1": 2, "Base-2": 1, "Base-3": 1}), 2, None, None)
    assert plan.remove == ["Base-0", "Base-1"]
    assert plan.layers["Base-1"] == ["Base-1.1", "Base-1.2"]
    assert plan.kept == {"Base-2": [gc.NEWEST], "Base-3": [gc.NEWEST]}


def test_natural_order_past_nine():
    """Base-10 and Base-11 are newer than Base-9 and Base-2 (numbers, not strings)."""
    names = {f"Base-{n}": 1 for n in (2, 9, 10, 11)}
    plan = gc.plan_gc(layout(names), 2, None, None)
    assert sorted(plan.kept) == ["Base-10", "Base-11"]
    assert plan.remove == ["Base-2", "Base-9"]


def test_booted_default_next_and_pinned_are_never_removed():
    """Each protection keeps an otherwise old base, with its reason."""
    lay = layout({f"Base-{n}": 1 for n in range(7)}, pinned=("Base-0",))
    plan = gc.plan_gc(lay, 1, default_layer="Base-2.1", running="Base-1.1", next_layer="Base-3.1")
    assert plan.kept == {"Base-0": [gc.PINNED], "Base-1": [gc.BOOTED], "Base-2": [gc.DEFAULT],
                         "Base-3": [gc.NEXT_BOOT], "Base-6": [gc.NEWEST]}
    assert plan.remove == ["Base-4", "Base-5"]


def test_protections_stack_on_the_newest():
    """A base that is newest, booted and default lists every reason and nothing else is kept."""
    plan = gc.plan_gc(layout({"Base-0": 1, "Base-1": 1}), 1, "Base-1.1", "Base-1.1")
    assert plan.kept == {"Base-1": [gc.NEWEST, gc.BOOTED, gc.DEFAULT]}
    assert plan.remove == ["Base-0"]


def test_running_base_itself_and_odd_names():
    """A system running the base LV itself keeps that base; unknown names protect nothing."""
    plan = gc.plan_gc(layout({"Base-0": 0, "Base-1": 0, "Base-2": 0}), 1, "rescue", "Base-0")
    assert plan.kept == {"Base-0": [gc.BOOTED], "Base-2": [gc.NEWEST]}
    assert plan.remove == ["Base-1"]


def test_keep_larger_than_bases_removes_nothing():
    """Keeping more bases than exist removes none."""
    plan = gc.plan_gc(layout({"Base-0": 1}), 5, None, None)
    assert plan.remove == [] and plan.kept == {"Base-0": [gc.NEWEST]}
    assert "nothing to remove" in gc.GcResult(plan).render()


def test_keep_zero_is_refused():
    """keep below 1 would remove everything: refused."""
    with pytest.raises(ImgbaseError, match="keep = 0"):
        gc.plan_gc(layout({"Base-0": 1}), 0, None, None)


def test_result_json_and_text():
    """The result lists removals with layers, kept bases with reasons, failures and the dry-run flag."""
    plan = gc.plan_gc(layout({"Base-0": 2, "Base-1": 1, "Base-2": 1}, pinned=("Base-1",)), 1, None, None)
    res = gc.GcResult(plan, removed=[], failed={"Base-0": "lvremove failed"})
    data = res.to_dict()
    assert data["remove"] == [{"base": "Base-0", "layers": ["Base-0.1", "Base-0.2"]}]
    assert data["kept"] == [{"base": "Base-1", "reasons": ["pinned"]}, {"base": "Base-2", "reasons": ["newest"]}]
    assert data["failed"] == [{"base": "Base-0", "error": "lvremove failed"}] and not res.ok
    assert res.problems == ["cannot remove Base-0: lvremove failed"]
    text = res.render()
    assert "remove Base-0 (layers Base-0.1, Base-0.2)  FAILED" in text
    assert "keep   Base-1: pinned" in text
    dry = gc.GcResult(plan, dry_run=True).render()
    assert "would remove Base-0" in dry and "FAILED" not in dry


def test_collect_goes_on_after_a_failing_base(monkeypatch):
    """One base failing to go is reported; the next one is still removed; nothing raises."""
    lay = layout({"Base-0": 1, "Base-1": 1, "Base-2": 1})
    calls = []

    def fake_remove(ctx, layout_, name):
        calls.append(name)
        if name == "Base-0":
            raise ImgbaseError("lvremove failed (exit 5): Logical volume in use")

    monkeypatch.setattr(gc.layers, "remove_base", lambda ctx, name, force: fake_remove(ctx, None, name))
    res = gc.collect(fake_context(lay), 1)
    assert calls == ["Base-0", "Base-1"]
    assert res.removed == ["Base-1"] and list(res.failed) == ["Base-0"] and "in use" in res.failed["Base-0"]
    calls.clear()
    assert gc.collect(fake_context(lay), 1, dry_run=True).removed == [] and calls == []


def test_global_dry_mode_prints_but_claims_nothing(monkeypatch):
    """Under --dry the removal runs (printing its commands) but nothing is reported as removed."""
    lay = layout({"Base-0": 1, "Base-1": 1})
    calls = []
    monkeypatch.setattr(gc.layers, "remove_base", lambda ctx, name, force: calls.append(name))
    res = gc.collect(fake_context(lay, dry=True), 1)
    assert calls == ["Base-0"] and res.removed == [] and res.dry_run
    assert "would remove Base-0" in res.render()


@pytest.fixture
def removals(monkeypatch, tmp_path):
    """Record lvremove calls of the real removal path (its lock and journal under tmp_path)."""
    monkeypatch.setenv("IMGBASED_LOCK", str(tmp_path / "lock"))
    monkeypatch.setenv("IMGBASED_STATE_DIR", str(tmp_path / "state"))
    removed: list[list[str]] = []
    monkeypatch.setattr(lvm, "remove", lambda runner, vg, names: removed.append(list(names)))
    monkeypatch.setattr(lvm, "list_lvs", lambda runner, vg=None: [])  # the journal's commit lists them
    return removed


def test_remove_refuses_the_running_base(removals):
    """The removal refuses the base holding the running layer before touching anything."""
    lay = layout({"Base-0": 1, "Base-1": 1})
    lay.current = "Base-0.1"
    assert gc.collect(fake_context(lay), 1).plan.kept["Base-0"] == [gc.BOOTED]  # the plan keeps it
    with pytest.raises(ImgbaseError, match="running now"):  # and the removal would refuse it too
        gc.layers.remove_base(fake_context(lay), "Base-0", force=True)
    assert removals == []


def test_remove_refuses_an_open_lv_before_changing_anything(removals):
    """A mounted layer makes its base fail cleanly: nothing is removed, the message says what to do."""
    lay = layout({"Base-0": 2, "Base-1": 1, "Base-2": 1})
    lay.bases[-1].layers[1].attr = "Vwi-aotz--"
    res = gc.collect(fake_context(lay), 1)
    assert "Base-0.2 is in use" in res.failed["Base-0"] and "unmount it" in res.failed["Base-0"]
    assert removals == [["Base-1.1"], ["Base-1"]] and res.removed == ["Base-1"], res.failed


def test_no_bootloader_gc_keeps_the_default_and_bases_with_entries(tmp_path):
    """--no-bootloader still reads grubenv (read-only) and never strands an entry on a removed LV."""
    import shutil
    if not (shutil.which("grub-editenv") or shutil.which("grub2-editenv")):
        pytest.skip("grub-editenv is not installed")
    from org_ovirt_imgbased.host.boot import bls
    from org_ovirt_imgbased.host.boot.grubenv import SAVED, GrubEnv
    from org_ovirt_imgbased.runner import Runner

    boot = tmp_path / "boot"
    (boot / "grub").mkdir(parents=True)
    GrubEnv.at(Runner(), boot).set({SAVED: bls.entry_id("Base-0.1")})
    entries = boot / "loader/entries"
    entries.mkdir(parents=True)
    (entries / "imgbased-Base-1.1.conf").write_text("title t\nlinux /Base-1.1/vmlinuz\n"
                                                    "options root=/dev/HostVG/Base-1.1 rd.lvm.lv=HostVG/Base-1.1\n")
    ctx = fake_context(layout({"Base-0": 1, "Base-1": 1, "Base-2": 1, "Base-3": 1}), manage_boot=False)
    ctx.boot_dir, ctx.runner = boot, Runner(dry=True)  # real reads of grubenv; nothing changes
    res = gc.collect(ctx, 1, dry_run=True)
    assert res.plan.kept == {"Base-0": [gc.DEFAULT], "Base-1": [gc.ENTRY], "Base-3": [gc.NEWEST]}
    assert res.plan.remove == ["Base-2"]


def test_base_removed_hook_gets_the_configured_timeout(tmp_path, monkeypatch, caplog):
    """[hooks] timeout from the configuration file limits the base-removed hooks gc runs."""
    hooks_dir = tmp_path / "hooks.d"
    hooks_dir.mkdir()
    hook = hooks_dir / "50-slow"
    hook.write_text("#!/bin/sh\nsleep 30\n")
    hook.chmod(0o755)
    monkeypatch.setenv("IMGBASED_HOOKS_DIRS", str(hooks_dir))
    conf = tmp_path / "imgbased.conf"
    conf.write_text("[hooks]\ntimeout = 1\n")
    ctx = fake_context(layout({"Base-0": 1}))
    ctx.config_path = conf
    ctx.runner = Runner()
    with caplog.at_level(logging.WARNING, logger="org_ovirt_imgbased"):
        assert gc._fire_hook(ctx, "Base-0") is None
    assert "base-removed hook" in caplog.text and "timed out after 1 s" in caplog.text
