# SPDX-License-Identifier: GPL-2.0-or-later
"""Garbage collection of old bases under the retention policy (``[gc] keep``).

The newest ``keep`` bases (natural Base-N order) are kept, and so are, whatever their age,
the base of the layer running now, the base of the default boot entry, the base of a layer
armed for the next boot, and every pinned base (tag ``imgbased:pinned``).  Every other base
is removed together with its layers and their boot entries.

Staged downloads (``paths.staging_dir()``) that are no longer newer than every base (applied
already, or older) are removed too, each exactly by the files its record names.

Removing one base can fail (an LV still open, say); that is reported in the result and the
other bases are still removed.  run_gc never raises for a single base, because the update
calls it as its last step and must not fail because of it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from org_ovirt_imgbased import paths
from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host import channel, config, hooks, layers, naming, staging
from org_ovirt_imgbased.host.boot import bls
from org_ovirt_imgbased.host.boot.grubenv import NEXT, SAVED, TRY, GrubEnv
from org_ovirt_imgbased.host.context import Context
from org_ovirt_imgbased.host.layout import Layout
from org_ovirt_imgbased.host.lock import locked
from org_ovirt_imgbased.host.storage import lvm
from org_ovirt_imgbased.host.txn import refuse_pending

log = logging.getLogger(__name__)

NEWEST, BOOTED, DEFAULT, NEXT_BOOT, PINNED = "newest", "booted", "default", "next boot", "pinned"
ENTRY = "has a boot entry (gc with --no-bootloader never removes entries)"


@dataclass
class GcPlan:
    """Which bases garbage collection removes, and why each other one is kept."""

    keep: int
    remove: list[str] = field(default_factory=list)
    kept: dict[str, list[str]] = field(default_factory=dict)
    layers: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """A JSON-ready description."""
        return {"keep": self.keep, "remove": [{"base": b, "layers": self.layers.get(b, [])} for b in self.remove],
                "kept": [{"base": b, "reasons": r} for b, r in self.kept.items()]}


@dataclass
class GcResult:
    """What run_gc did: the plan, the bases removed, and what went wrong on the way."""

    plan: GcPlan
    dry_run: bool = False
    removed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    staged: list[str] = field(default_factory=list)  # staged downloads removed (or, dry, to remove)

    @property
    def ok(self) -> bool:
        """True when every planned removal succeeded (or nothing was to be removed)."""
        return not self.failed

    @property
    def problems(self) -> list[str]:
        """One line per base that could not be removed, then the notes (hook failures)."""
        return [f"cannot remove {base}: {msg}" for base, msg in self.failed.items()] + self.notes

    def to_dict(self) -> dict:
        """A JSON-ready description."""
        return {**self.plan.to_dict(), "dry_run": self.dry_run, "removed": self.removed,
                "failed": [{"base": b, "error": e} for b, e in self.failed.items()], "notes": self.notes,
                "staged_removed": self.staged}

    def render(self) -> str:
        """The human report: one line per base, then what happened."""
        verb = "would remove" if self.dry_run else "remove"
        lines = [f"keeping the newest {self.plan.keep} base(s), plus booted, default, next-boot and "
                 "pinned ones"]
        for base, reasons in self.plan.kept.items():
            lines.append(f"keep   {base}: {', '.join(reasons)}")
        for base in self.plan.remove:
            layers = self.plan.layers.get(base, [])
            status = "" if self.dry_run else ("  removed" if base in self.removed else "  FAILED")
            lines.append(f"{verb} {base}" + (f" (layers {', '.join(layers)})" if layers else "") + status)
        lines += [f"error: {base}: {msg}" for base, msg in self.failed.items()]
        lines += [f"note: {note}" for note in self.notes]
        lines += [f"{verb} staged {name} (no newer than every base)" for name in self.staged]
        if not self.plan.remove and not self.staged:
            lines.append("nothing to remove")
        return "\n".join(lines)


def _base_of(name: str | None) -> str | None:
    """The base a layer (or base) name belongs to; None for anything else."""
    if not name or not naming.is_name(name):
        return None
    return str(naming.parse(name).base_name)


def plan_gc(layout: Layout, keep: int, default_layer: str | None, running: str | None,
            next_layer: str | None = None, with_entries: frozenset[str] = frozenset()) -> GcPlan:
    """Decide which bases to remove (pure: reads only the layout and the names given).

    with_entries names layers whose boot entries this run may not remove (--no-bootloader):
    their bases are kept, so no entry is left pointing at a removed LV.
    """
    if keep < 1:
        raise ImgbaseError(f"[gc] keep = {keep} would remove every base; use 1 or more")
    plan = GcPlan(keep)
    bases = sorted(layout.bases, key=lambda b: naming.parse(b.name).sort_key())
    newest = {b.name for b in bases[-keep:]}
    protected = {BOOTED: _base_of(running), DEFAULT: _base_of(default_layer), NEXT_BOOT: _base_of(next_layer)}
    for base in bases:
        reasons = [NEWEST] if base.name in newest else []
        reasons += [why for why, name in protected.items() if name == base.name]
        if base.lv.has(lvm.TAG_PINNED):
            reasons.append(PINNED)
        if any(lv.name in with_entries for lv in base.layers):
            reasons.append(ENTRY)
        if reasons:
            plan.kept[base.name] = reasons
        else:
            plan.remove.append(base.name)
            plan.layers[base.name] = [lv.name for lv in base.layers]
    return plan


def boot_state(ctx: Context) -> tuple[str | None, str | None]:
    """The default layer and the layer armed for the next boot, read-only from grubenv.

    Read with --no-bootloader too (reading changes nothing), when a grubenv is there.
    """
    env = GrubEnv.at(ctx.runner, ctx.boot_dir)
    if not ctx.manage_boot and not env.path.is_file():
        return None, None
    values = env.read()
    return bls.layer_of_id(values.get(SAVED)), bls.layer_of_id(values.get(NEXT) or values.get(TRY))


def run_gc(ctx: Context, dry_run: bool = False, keep: int | None = None, take_lock: bool = True) -> GcResult:
    """Remove the bases the retention policy lets go; per-base failures go into the result.

    keep overrides ``[gc] keep`` from the configuration.  Pass take_lock=False when the
    caller already holds the imgbased lock (the update does).  A pending journal blocks a real
    run (``imgbase recover`` first); a dry run only reads.  Raises ImgbaseError only when
    nothing can be planned at all (bad configuration, no layout, the lock held elsewhere).
    """
    if keep is None:
        keep = config.load_config(ctx.config_path).gc_keep
    if not take_lock:
        return collect(ctx, keep, dry_run)
    with locked():
        if not dry_run:
            refuse_pending(ctx.journal_dir)
        return collect(ctx, keep, dry_run)


def collect(ctx: Context, keep: int, dry_run: bool = False) -> GcResult:
    """The body of run_gc; the caller holds the lock."""
    layout = ctx.layout()
    default, armed = boot_state(ctx)
    entries = frozenset() if ctx.manage_boot else frozenset(e.layer for e in bls.layer_entries(ctx.boot_dir))
    plan = plan_gc(layout, keep, default, layout.current, armed, entries)
    result = GcResult(plan, dry_run=dry_run or ctx.runner.dry)
    if dry_run:
        result.staged = _clean_staging(ctx, dry_run)
        return result
    for name in plan.remove:
        try:
            layers.remove_base(ctx, name, force=True)  # the lock is re-entrant
        except ImgbaseError as exc:
            log.debug("gc: cannot remove %s: %s", name, exc)
            result.failed[name] = str(exc)
            continue
        if ctx.runner.dry:  # --dry printed the commands; nothing was removed
            continue
        result.removed.append(name)
        note = _fire_hook(ctx, name)
        if note:
            result.notes.append(note)
    result.staged = _clean_staging(ctx, dry_run)
    return result


def _clean_staging(ctx: Context, dry_run: bool) -> list[str]:
    """Remove the staged downloads that are not newer than every base; their names."""
    directory = paths.staging_dir()
    if not directory.is_dir():
        return []
    bases = channel.base_versions(ctx.layout())
    done = []
    for item in staging.list_staged(directory):
        if channel.is_newer(item.sha256, item.version, bases):
            continue
        if not dry_run:
            staging.remove(item, ctx.runner)
        done.append(item.name)
    return done


def _fire_hook(ctx: Context, base: str) -> str | None:
    """Run the base-removed hooks; a failure becomes a note."""
    try:
        hooks.run("base-removed", base, runner=ctx.runner,
                  timeout=config.load_config(ctx.config_path).hook_timeout)
    except (ImgbaseError, OSError) as exc:
        return f"base-removed hook for {base} failed: {exc}"
    return None
