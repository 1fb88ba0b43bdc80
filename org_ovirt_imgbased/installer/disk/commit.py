# SPDX-License-Identifier: GPL-2.0-or-later
"""Committing a disk plan: blivet's do_it, the boot flag, imgbased tags, and undo on failure."""

from __future__ import annotations

import os
from pathlib import Path

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host.storage import lvm
from org_ovirt_imgbased.installer.disk.model import CommittedLayout, fstab_lines, on_disk
from org_ovirt_imgbased.installer.disk.plan import Plan, action_line, one_line
from org_ovirt_imgbased.runner import Runner

__all__ = ["CommittedLayout", "commit", "fstab_lines"]
SYS_BLOCK = "/sys/class/block"


def commit(plan: Plan, runner: Runner | None = None, progress=None) -> CommittedLayout:
    """Carry the plan out with blivet's do_it, tag it for imgbased, and return the devices.

    ``progress(line)`` is called after each action.  If anything fails, the
    VG and partition table made so far are removed and ImgbaseError is raised.
    """
    runner = runner or Runner()
    if plan.on_file or plan.storage.disk_images:
        raise ImgbaseError(f"the plan for {plan.request.disk} is on a disk image file and cannot be "
                           "committed; attach the image as a disk and plan on that block device")
    if plan.state != "planned":
        raise ImgbaseError(f"this plan was already {plan.state}; make a new plan")
    if runner.dry:
        raise ImgbaseError("dry run: the layout was not created; show plan.actions() instead")
    plan.state = "committing"
    try:
        _do_it(plan, progress)
        _set_boot_flag(plan, runner, progress)
        _tag(plan, runner)
        done = _committed(plan, runner)
    except BaseException as exc:
        plan.state = "failed"
        _undo(plan, runner)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise ImgbaseError(f"creating the layout on {plan.request.disk} failed and was undone: "
                           f"{one_line(exc)}", detail=repr(exc)) from exc
    plan.state = "committed"
    return done


def _do_it(plan: Plan, progress) -> None:
    """Run blivet's actions, reporting each one that completes."""
    from blivet.callbacks import callbacks

    def executed(action=None, **_kw):
        """Pass the finished action on as a line."""
        if progress is not None:
            progress(action_line(action))

    callbacks.action_executed.add(executed)
    try:
        plan.storage.do_it()
    finally:
        callbacks.action_executed.remove(executed)


def _set_boot_flag(plan: Plan, runner: Runner, progress) -> None:
    """Mark /boot active on msdos, for BIOSes that look for the flag (after blivet's format step)."""
    for line in plan.follow_up_steps():
        number = str(plan.boot.parted_partition.number)
        runner.run(["parted", "-s", plan.disk.path, "set", number, "boot", "on"])
        if progress is not None:
            progress(line)


def _tag(plan: Plan, runner: Runner) -> None:
    """Add the imgbased tags to the VG, the pool and the data volumes."""
    req = plan.request
    lvm.change_tags(runner, req.vg, add=[lvm.TAG_VG], kind="vg")
    lvm.change_tags(runner, f"{req.vg}/{req.pool}", add=[lvm.TAG_POOL])
    for lv in plan.volumes.values():
        lvm.change_tags(runner, f"{req.vg}/{lv.lvname}", add=[lvm.TAG_VOLUME])


def _committed(plan: Plan, runner: Runner) -> CommittedLayout:
    """Collect the resulting device paths and the /boot UUID."""
    req = plan.request
    uuid = runner.query(["blkid", "-p", "-s", "UUID", "-o", "value", plan.boot.path]).strip()
    if not uuid:
        raise ImgbaseError(f"the new /boot filesystem on {plan.boot.path} has no UUID")
    return CommittedLayout(
        disk=plan.disk.path, boot=plan.boot.path, boot_uuid=uuid, pv=plan.pv.path, vg=req.vg,
        pool=f"{req.vg}/{req.pool}", fstype=req.fstype,
        volumes={mp: f"/dev/{req.vg}/{lv.lvname}" for mp, lv in plan.volumes.items()},
        biosboot=plan.biosboot.path if plan.biosboot is not None else None)


def undo(plan: Plan, runner: Runner | None = None) -> None:
    """Wipe what a committed plan made on its disk (used when a later install step fails)."""
    _undo(plan, runner or Runner())


def _undo(plan: Plan, runner: Runner) -> None:
    """Remove what a failed commit left: VGs and PVs on the disk, then all signatures."""
    disk = plan.disk.path
    pvs = {pv: vg for pv, vg in _safe(lambda: lvm.pv_names(runner), {}).items() if on_disk(pv, disk)}
    for vg in sorted({vg for vg in pvs.values() if vg}):
        runner.run(["vgchange", "-q", "-an", vg], check=False)
        runner.run(["vgremove", "-q", "-ff", "-y", vg], check=False)
    for pv in sorted(pvs):
        runner.run(["pvremove", "-q", "-ff", "-y", pv], check=False)
    name = os.path.basename(disk)
    parts = sorted(e for e in _safe(lambda: os.listdir(f"{SYS_BLOCK}/{name}"), []) if e.startswith(name))
    for part in parts:
        _remove_holders(part, runner)
        runner.run(["wipefs", "-q", "-a", f"/dev/{part}"], check=False)
    runner.run(["wipefs", "-q", "-a", disk], check=False)
    runner.run(["partx", "-d", disk], check=False)


def _remove_holders(dev: str, runner: Runner) -> None:
    """Remove device-mapper devices stacked on dev (LVs lvm no longer knows), top ones first."""
    for holder in sorted(_safe(lambda: os.listdir(f"{SYS_BLOCK}/{dev}/holders"), [])):
        _remove_holders(holder, runner)
        dm_name = _safe(lambda h=holder: Path(f"{SYS_BLOCK}/{h}/dm/name").read_text().strip(), "")
        if dm_name:
            runner.run(["dmsetup", "remove", "--retry", dm_name], check=False)


def _safe(fn, default):
    """Call fn, returning default if it raises (cleanup must go on)."""
    try:
        return fn()
    except Exception:  # noqa: BLE001 - best effort during cleanup
        return default
