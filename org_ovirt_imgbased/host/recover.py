# SPDX-License-Identifier: GPL-2.0-or-later
"""`imgbase recover`: finish or undo what an interrupted operation left behind.

Sources of truth: the journals (txn.py) and the ``imgbased:txn=<id>`` tags on
LVs.  A journal past its point of no return is completed (tags cleared); any
other is undone: its LVs and boot files are removed and the previous default
boot entry is restored.  Mounts left under /run/imgbased are unmounted first.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host import adopt, boot, layers, naming, txn
from org_ovirt_imgbased.host.boot import bls
from org_ovirt_imgbased.host.boot.grubenv import NEXT, SAVED, TRY, GrubEnv
from org_ovirt_imgbased.host.context import Context
from org_ovirt_imgbased.host.layout import running_layer_from_cmdline
from org_ovirt_imgbased.host.lock import locked
from org_ovirt_imgbased.host.storage import lvm, mounts
from org_ovirt_imgbased.runner import Runner


@dataclass
class RecoverStep:
    """One thing recover found, and what it does (or did) about it."""

    what: str
    action: str

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"what": self.what, "action": self.action}


@dataclass
class RecoverResult:
    """Everything recover found or did."""

    listing: bool = False
    findings: list[RecoverStep] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"findings": [f.to_dict() for f in self.findings], "problems": self.problems}

    def render(self) -> str:
        """Human summary."""
        if not self.findings:
            return "nothing to recover"
        head = "would" if self.listing else "did"
        lines = [f"{f.what}: {head} {f.action}" for f in self.findings]
        return "\n".join(lines + [f"problem: {p}" for p in self.problems])


def _journal_boot_dir(ctx: Context, journal: txn.Journal) -> Path:
    """The boot directory a journal's boot records refer to (not necessarily this host's /boot).

    Journals record it; older ones only name it in their file paths (<boot>/<layer>).
    """
    if journal.boot_dir:
        return Path(journal.boot_dir)
    layers = {r["boot-remove"] for r in journal.undo if "boot-remove" in r}
    for name in journal.files:
        if Path(name).name in layers:
            return Path(name).parent
    return ctx.boot_dir


def _undo_records(ctx: Context, journal: txn.Journal) -> list[str]:
    """Replay the journal's undo records (boot files on its own boot directory); returns problems met."""
    runner = ctx.runner
    problems = []
    boot_dir = _journal_boot_dir(ctx, journal)
    here = boot_dir.is_dir()
    if not here and any("boot-remove" in r or "default-was" in r for r in journal.undo):
        problems.append(f"{journal.op} {journal.id} changed boot files in {boot_dir}, which is not there "
                        "now; those boot files were left alone")
    for record in reversed(journal.undo):
        if "boot-remove" in record:
            if here:
                boot.remove_layer(runner, record["boot-remove"], boot_dir=boot_dir)
                boot.regenerate_config(runner, boot_dir)
        elif "default-was" in record:
            if here and record["default-was"] and boot.has_entry(record["default-was"], boot_dir):
                current = boot.default_layer(runner, boot_dir=boot_dir)
                if current is None or current in journal.lvs or not boot.has_entry(current, boot_dir):
                    boot.set_default(runner, record["default-was"], boot_dir=boot_dir)
        elif "untag" in record:
            adopted = _lv_named(runner, record["untag"])
            if adopted is not None:
                layers.untag_adopted(runner, adopted)
        elif "boot-orphan" in record:
            if here and _lv_named(runner, f"{journal.vg}/{record['boot-orphan']}") is None \
                    and boot.has_entry(record["boot-orphan"], boot_dir):
                boot.remove_layer(runner, record["boot-orphan"], boot_dir=boot_dir)
                boot.regenerate_config(runner, boot_dir)
        elif "untag-vg" in record:
            vg, _, pool = record["untag-vg"].partition("/")
            with contextlib.suppress(ImgbaseError):  # the VG may be gone with the install
                adopt.untag(runner, vg, pool, record.get("volumes", []))
        elif "unadopt" in record:
            vg, _layer, name = record["unadopt"]
            with contextlib.suppress(ImgbaseError):
                adopt.unrename(runner, vg, name)
        elif "vgremove" in record:
            unowned = _unowned_vg(runner, record["vgremove"], journal)
            if unowned:
                problems.append(unowned)
                continue
            runner.run(["vgremove", "-f", "-y", record["vgremove"]], check=False)
            runner.run(["pvremove", "-y", "-q", *record.get("pvs", [])], check=False)
    return problems


def _lv_named(runner: Runner, name: str) -> lvm.LV | None:
    """The LV VG/LV names, or None when it (or its VG) is gone."""
    vg, _, lv = name.partition("/")
    try:
        return next((x for x in lvm.list_lvs(runner, vg) if x.name == lv), None)
    except ImgbaseError:
        return None


def _unowned_vg(runner: Runner, vg: str, journal: txn.Journal) -> str | None:
    """Why the VG a layout-init journal names must be left alone (None: it made the VG, or none is left)."""
    group = next((g for g in lvm.list_vgs(runner) if g.name == vg), None)
    if group is None:
        return None
    tag = f"{txn.TXN_TAG}={journal.id}"
    foreign = [lv.name for lv in lvm.list_lvs(runner, vg) if tag not in lv.tags and not lv.name.startswith("[")]
    if lvm.TAG_VG not in group.tags or foreign:
        return (f"left VG {vg} alone: it is not tagged {lvm.TAG_VG} or holds LVs {journal.op} {journal.id} "
                f"did not create ({', '.join(foreign) or 'none'}); remove it by hand if it is yours to remove")
    return None


def _in_use(ctx: Context, journal: txn.Journal) -> tuple[str, str] | None:
    """A layer of the journal that is running, the default or set for the next boot, and which."""
    roles = {running_layer_from_cmdline(ctx.cmdline): "layer running now"}
    boot_dir = _journal_boot_dir(ctx, journal)
    if boot_dir.is_dir():
        values = GrubEnv.at(ctx.runner, boot_dir).read()
        for var, role in ((TRY, "pending try"), (NEXT, "next-boot entry"), (SAVED, "default boot entry")):
            roles.setdefault(bls.layer_of_id(values.get(var)), role)
    for name in journal.lvs:
        if name in roles:
            return name, roles[name]
    return None


def _orphan_tags(runner: Runner, known: set[str], protected: set[str]) -> list[lvm.LV]:
    """LVs tagged by a transaction that has no journal any more."""
    found = []
    for lv in lvm.list_lvs(runner):
        ids = [t.split("=", 1)[1] for t in lv.tags if t.startswith(txn.TXN_TAG + "=")]
        if ids and not set(ids) & known and lv.name not in protected:
            found.append(lv)
    return found


def recover(ctx: Context, listing: bool = False) -> RecoverResult:
    """Find interrupted operations; unless listing, complete or undo them."""
    result = RecoverResult(listing)
    runner = ctx.runner
    with locked():
        for point in mounts.own_mounts():
            result.findings.append(RecoverStep(f"stale mount {point}", "unmount it"))
            if not listing:
                runner.run(["umount", "-l", point], check=False)
        journals, unreadable = txn.scan(ctx.journal_dir)
        for path, reason in unreadable:
            _report_unreadable(result, path, reason)
        vgs = {g.name for g in lvm.list_vgs(runner)} if journals else set()
        for path, journal in journals:
            try:
                _recover_journal(ctx, result, path, journal, vgs, listing)
            except (ImgbaseError, OSError) as exc:  # one journal's trouble never stops the others
                result.problems.append(f"{journal.op} {journal.id} could not be recovered: {txn.problem_text(exc)}; "
                                       f"its journal {path} is kept: fix that and run `imgbase recover` again")
        known = {j.id for _, j in journals} | {path.stem for path, _ in unreadable}
        _recover_orphans(ctx, result, known, listing)
    return result


def _recover_journal(ctx: Context, result: RecoverResult, path: Path, journal: txn.Journal, vgs: set[str],
                     listing: bool) -> None:
    """Complete (committed) or undo (interrupted) what one journal names, unless it made a layer in use."""
    runner = ctx.runner
    made = ", ".join(journal.lvs) or "no LVs"
    if journal.committed and journal.vg not in vgs:
        result.findings.append(RecoverStep(f"{journal.op} {journal.id} (done, step {journal.step}; "
                                           f"its VG {journal.vg} is gone)", "drop its journal"))
        if not listing and not runner.dry:
            path.unlink(missing_ok=True)
        return
    if journal.committed:
        result.findings.append(RecoverStep(f"{journal.op} {journal.id} (done, step {journal.step})",
                                       "clear its transaction tags"))
        if not listing:
            txn.finish(runner, journal, path)
        return
    used = _in_use(ctx, journal)
    if used:
        result.findings.append(RecoverStep(f"{journal.op} {journal.id} (stopped at step {journal.step})",
                                       f"keep it: it created {used[0]}, the {used[1]}"))
        result.problems.append(f"{journal.op} {journal.id} was not undone: it created {used[0]}, "
                               f"which is the {used[1]}; boot or choose another layer (`imgbase "
                               "boot --set-default LAYER`) and run `imgbase recover` again")
        return
    result.findings.append(RecoverStep(f"{journal.op} {journal.id} (stopped at step {journal.step})",
                                   f"remove what it created ({made}) and restore the default"))
    if not listing:
        result.problems += txn.undo(runner, journal)
        result.problems += _undo_records(ctx, journal)
        if not runner.dry:
            path.unlink(missing_ok=True)


def _report_unreadable(result: RecoverResult, path: Path, reason: str) -> None:
    """Record a journal recover cannot read: it is skipped (its LVs kept), the others go on."""
    result.findings.append(RecoverStep(f"unreadable journal {path}", "skip it and keep what it names"))
    result.problems.append(f"the journal {path} is unreadable ({reason}) and was skipped, with every LV "
                           f"tagged {txn.TXN_TAG}={path.stem}: look at it, remove what that operation "
                           "left by hand, move the file away and run `imgbase recover` again")


def _recover_orphans(ctx: Context, result: RecoverResult, known: set[str], listing: bool) -> None:
    """Remove LVs carrying a transaction tag without a journal (never the running or default one)."""
    runner = ctx.runner
    protected = {running_layer_from_cmdline(ctx.cmdline) or ""}
    if ctx.manage_boot:
        protected.add(boot.default_layer(runner, boot_dir=ctx.boot_dir) or "")
    orphans = _orphan_tags(runner, known, protected)
    orphans.sort(key=lambda lv: not (naming.is_name(lv.name) and naming.parse(lv.name).is_layer))
    for lv in orphans:
        result.findings.append(RecoverStep(f"{lv.vg}/{lv.name} (from an unjournaled operation)",
                                       "remove it and its boot entry"))
        if listing:
            continue
        is_layer = naming.is_name(lv.name) and naming.parse(lv.name).is_layer
        if ctx.manage_boot and is_layer and boot.has_entry(lv.name, ctx.boot_dir):
            boot.remove_layer(runner, lv.name, boot_dir=ctx.boot_dir)
        lvm.remove(runner, lv.vg, [lv.name])
