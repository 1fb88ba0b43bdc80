# SPDX-License-Identifier: GPL-2.0-or-later
"""`imgbase check`: is the layout healthy?  Storage, thin usage, boot entries and mounts.

Every check gives a Finding: OK, WARNING or FAILED with a one-line reason that says what is
wrong and how to fix it.  Warnings do not fail the check; any FAILED finding does.  The
group functions (``storage``, ``boot``, ``mounts``, ``staged``) are pure (they take what was read), so
they can be tested without LVM; ``run_check`` reads everything (one ``lvs`` call for the
layout, one for the pool's monitoring) under the imgbased lock, so it never sees an operation
half-way.  ``report`` holds the Finding and CheckReport types.
"""

from __future__ import annotations

from pathlib import Path

from org_ovirt_imgbased import paths
from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host import config, txn
from org_ovirt_imgbased.host.check.boot import check_boot, read_boot_state
from org_ovirt_imgbased.host.check.mounts import check_mounts, tune2fs_default_options
from org_ovirt_imgbased.host.check.report import FAILED, OK, CheckReport, Finding
from org_ovirt_imgbased.host.check.staged import check_staging
from org_ovirt_imgbased.host.check.storage import PROFILE_DIR, check_storage, check_thin, pool_monitoring
from org_ovirt_imgbased.host.context import Context
from org_ovirt_imgbased.host.layout import Layout, build, find_vg
from org_ovirt_imgbased.host.lock import locked
from org_ovirt_imgbased.host.storage import lvm
from org_ovirt_imgbased.host.storage.mounts import read_mountinfo

__all__ = ["CheckReport", "Finding", "run_check"]


def _load(ctx: Context) -> tuple[Layout, list[lvm.LV], list[str]]:
    """The layout (also of a VG that lost its tag, when named with --vg), its LVs and the VG tags."""
    lvs = lvm.list_lvs(ctx.runner)
    try:
        vg = find_vg(lvs, ctx.runner, ctx.vg)
    except ImgbaseError:
        if not ctx.vg or ctx.vg not in {g.name for g in lvm.list_vgs(ctx.runner)}:
            raise
        vg = ctx.vg
    mine = [lv for lv in lvs if lv.vg == vg]
    vg_tags = mine[0].vg_tags if mine else next(g.tags for g in lvm.list_vgs(ctx.runner) if g.name == vg)
    return build(vg, lvs, ctx.cmdline), mine, vg_tags


def _journals(ctx: Context) -> tuple[list[tuple[Path, txn.Journal]], list[Finding]]:
    """Pending journals, or a finding saying why they cannot be read."""
    try:
        return txn.pending(ctx.journal_dir), []
    except ImgbaseError as exc:
        return [], [Finding("storage", "journals", FAILED, str(exc))]


def run_check(ctx: Context, profile_dir: Path = PROFILE_DIR) -> CheckReport:
    """Run every check group and return the report (never raises for a failed check)."""
    cfg = config.load_config(ctx.config_path)
    with locked():
        layout, lvs, vg_tags = _load(ctx)
        journals, unreadable = _journals(ctx)
        findings = check_storage(layout, lvs, vg_tags, journals) + unreadable
        findings += check_thin(layout.pool, cfg.max_fill_percent, pool_monitoring(ctx.runner, layout.pool),
                               profile_dir)
        if ctx.manage_boot:
            findings += check_boot(layout, *read_boot_state(ctx.runner, ctx.boot_dir), ctx.boot_dir)
        else:
            findings.append(Finding("boot", "entries", OK, "not checked (--no-bootloader)"))
        findings += check_mounts(layout, read_mountinfo(), lambda dev: tune2fs_default_options(ctx.runner, dev))
        findings += check_staging(paths.staging_dir())
    return CheckReport(layout.vg, findings)
