# SPDX-License-Identifier: GPL-2.0-or-later
"""`imgbase recover`: finish or undo what an interrupted operation left behind.

Sources of truth: the journals (txn.py) and the ``imgbased:txn=<id>`` tags on
LVs.  A journal past its point of no return is completed (tags cleared); any
other is undone: its LVs and boot files are removed and the previous default
boot entry is restored.  Mounts left under /run/imgbased are unmounted first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from org_ovirt_imgbased import paths
from org_ovirt_imgbased.host import boot, naming, txn
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


def _stale_mounts() -> list[str]:
    """Mount points imgbased left under its run directory, deepest first."""
    prefix = str(paths.run_dir()) + "/"
    points = [m.mountpoint for m in mounts.read_mountinfo() if m.mountpoint.startswith(prefix)]
    return sorted(points, key=len, reverse=True)


def _undo_records(ctx: Context, journal: txn.Journal) -> None:
    """Replay the journal's undo records: boot files and the previous default."""
    runner = ctx.runner
    for record in reversed(journal.undo):
        if "boot-remove" in record:
            boot.remove_layer(runner, record["boot-remove"], boot_dir=ctx.boot_dir)
            boot.regenerate_config(runner, ctx.boot_dir)
        elif record.get("default-was") and boot.has_entry(record["default-was"], ctx.boot_dir):
            boot.set_default(runner, record["default-was"], boot_dir=ctx.boot_dir)
        elif "vgremove" in record:
            runner.run(["vgremove", "-f", "-y", record["vgremove"]], check=False)
            runner.run(["pvremove", "-y", "-q", *record.get("pvs", [])], check=False)


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
        for point in _stale_mounts():
            result.findings.append(RecoverStep(f"stale mount {point}", "unmount it"))
            if not listing:
                runner.run(["umount", "-l", point], check=False)
        journals = txn.pending(ctx.journal_dir)
        for path, journal in journals:
            made = ", ".join(journal.lvs) or "no LVs"
            if journal.committed:
                result.findings.append(RecoverStep(f"{journal.op} {journal.id} (done, step {journal.step})",
                                               "clear its transaction tags"))
                if not listing:
                    txn.finish(runner, journal, path)
                continue
            result.findings.append(RecoverStep(f"{journal.op} {journal.id} (stopped at step {journal.step})",
                                           f"remove what it created ({made}) and restore the default"))
            if not listing:
                result.problems += txn.undo(runner, journal)
                _undo_records(ctx, journal)
                if not runner.dry:
                    path.unlink(missing_ok=True)
        _recover_orphans(ctx, result, {j.id for _, j in journals}, listing)
    return result


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
