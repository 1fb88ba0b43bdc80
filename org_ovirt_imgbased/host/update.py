# SPDX-License-Identifier: GPL-2.0-or-later
"""`imgbase update`: new base + layer from an image, configuration carried over, one transaction.

Steps (journaled, so a crash at any of them is undone by `imgbase recover`):
verify, preflight, add-base, add-layer, migrate-config, boot-entry, set-default, gc.
The layer migrated from stays bootable and stays the default until set-default
has succeeded; that step is the point of no return.  Garbage collection runs
after it and can never fail an update that is otherwise good.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host import boot, config, gc, hooks, image, layers, naming, persist
from org_ovirt_imgbased.host.boot import journaled
from org_ovirt_imgbased.host.context import Context
from org_ovirt_imgbased.host.layout import Layout
from org_ovirt_imgbased.host.lock import locked
from org_ovirt_imgbased.host.storage import fstab, space
from org_ovirt_imgbased.host.storage.mounts import mounted, mounted_volume
from org_ovirt_imgbased.host.txn import refuse_pending

log = logging.getLogger(__name__)

BOOT_FALLBACK = 128 << 20  # /boot room assumed for a kernel + initrd when none is installed yet


@dataclass
class UpdateResult:
    """What an update did or, with --dry-run, would do."""

    image: str
    source_layer: str
    new_base: str
    new_layer: str
    dry_run: bool
    tried: bool = False
    report: str = ""
    conflicts: int = 0
    warnings: list[str] = field(default_factory=list)
    gc: dict | None = None

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return asdict(self)

    def render(self) -> str:
        """Human summary."""
        verb = "would create" if self.dry_run else "created"
        lines = [f"update from {self.source_layer}: {verb} {self.new_base} and {self.new_layer} "
                 f"from {self.image}"]
        if self.report:
            lines.append(self.report.rstrip())
        if not self.dry_run:
            lines.append(f"{self.new_layer} will boot once; confirm it with `imgbase boot --confirm`"
                         if self.tried else f"{self.new_layer} is the default from the next boot on")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def source_layer(ctx: Context, layout: Layout, named: str | None) -> str:
    """The layer to migrate from: --from-layer, else the running layer, else the default."""
    if named:
        return layout.layer(named).name
    names = [lv.name for lv in layout.layers()]
    if layout.current in names:
        return layout.current
    default = boot.default_layer(ctx.runner, boot_dir=ctx.boot_dir) if ctx.manage_boot else None
    if default in names:
        return default
    if names:
        return names[-1]
    raise ImgbaseError("there is no layer to update from; add one with `imgbase layer --add` first")


def _boot_need(ctx: Context, source: str) -> int:
    """Estimate /boot space for the new layer from the source layer's kernel files."""
    folder = ctx.boot_dir / source
    sizes = [p.stat().st_size for p in folder.iterdir() if p.is_file()] if folder.is_dir() else []
    return int(sum(sizes) * 1.2) if sizes else BOOT_FALLBACK


@contextlib.contextmanager
def _image_root(ctx: Context, payload: image.Payload) -> Iterator[Path | None]:
    """The new image's root, mounted read-only for the conflict preview (None for tarballs)."""
    if payload.kind == "dir":
        yield payload.source
    elif payload.kind == "ext4":
        with mounted(ctx.runner, str(payload.source), "ro,loop,noload", "ext4", readonly_query=True) as root:
            yield root
    else:
        yield None


def _preflight(ctx: Context, layout: Layout, payload: image.Payload, source: str,
               size: int | None, cfg: config.Config) -> persist.MergeReport | None:
    """Check pool and /boot space and preview /etc conflicts; nothing is changed."""
    layers.check_base_size(payload, size, layout.require_pool())
    space.check_pool(layout.require_pool(), payload.used, ctx.max_fill)
    if ctx.manage_boot:
        space.check_dir(ctx.boot_dir, _boot_need(ctx, source), "the new layer's kernel and initrd")
    with _image_root(ctx, payload) as new_root:
        if new_root is None:
            return None
        with mounted_volume(ctx.runner, f"/dev/{layout.vg}/{source}") as old_root:
            return persist.plan_etc(old_root, new_root, cfg.conflict_policy, cfg.persist_paths)


@dataclass(frozen=True)
class Origin:
    """Where a delivered image came from: the sha256 of its one read, and the tags naming it."""

    sha256: str
    tags: tuple[str, ...] = ()


def update(ctx: Context, path: Path, checksum: str | None = None, from_layer: str | None = None,
           try_boot: bool = False, dry_run: bool = False, size: int | None = None,
           origin: Origin | None = None) -> UpdateResult:
    """Run the whole update as one transaction (or only its checks with dry_run)."""
    cfg = config.load_config(ctx.config_path)
    with locked():
        refuse_pending(ctx.journal_dir)
        layout = ctx.layout()
        source = source_layer(ctx, layout, from_layer)
        verified = origin.sha256 if origin else None
        with image.open_image(ctx.runner, path, checksum, verified) as payload:
            preview = _preflight(ctx, layout, payload, source, size, cfg)
            new_base = str(naming.next_base(layout.names_in_use()))
            result = UpdateResult(str(path), source, new_base, f"{new_base}.1", dry_run, try_boot)
            if preview is not None:
                result.report, result.conflicts = preview.render(), len(preview.conflicts)
            if dry_run:
                return result
            hooks.run("pre-update", source, str(path), runner=ctx.runner, timeout=cfg.hook_timeout)
            with layers.transaction(ctx, layout.vg, "update") as txn:
                _apply(ctx, txn, payload, size, source, result, cfg, origin.tags if origin else ())
        result.gc = _collect_garbage(ctx, result)
    hooks.run("post-update", result.new_layer, runner=ctx.runner, timeout=cfg.hook_timeout)
    return result


def _apply(ctx: Context, txn, payload: image.Payload, size: int | None, source: str,
           result: UpdateResult, cfg: config.Config, origin_tags: tuple[str, ...] = ()) -> None:
    """Steps add-base to set-default, inside the transaction."""
    txn.step("add-base")
    base = layers.base_from_payload(ctx, txn, payload, size, origin_tags)
    txn.step("add-layer")
    layer = layers.layer_on(ctx, txn, ctx.layout(), base, with_boot=False)
    result.new_base, result.new_layer = base, layer
    txn.step("migrate-config")
    vg = txn.journal.vg
    with mounted_volume(ctx.runner, f"/dev/{vg}/{source}") as old_root, \
            mounted_volume(ctx.runner, f"/dev/{vg}/{layer}", writable=True) as new_root:
        report = persist.migrate_config(old_root, new_root, ctx.runner, cfg.conflict_policy,
                                        cfg.persist_paths, old_layer=source, new_layer=layer)
        fstab.retarget(ctx.runner, new_root, vg, layer)
        _request_relabel(ctx, new_root)
        hooks.run("new-layer-added", layer, str(new_root), runner=ctx.runner, timeout=cfg.hook_timeout)
    result.report, result.conflicts = report.render(), len(report.conflicts)
    if ctx.manage_boot:
        txn.step("boot-entry")
        journaled.layer_added(ctx, txn, vg, layer, make_default=False)
        txn.step("set-default")
        if result.tried:
            boot.arm_try(ctx.runner, layer, boot_dir=ctx.boot_dir)
        else:
            journaled.set_default(ctx, txn, layer)
    txn.mark_committed()
    txn.step("committed")


def _request_relabel(ctx: Context, new_root: Path) -> None:
    """Ask for a full SELinux relabel on first boot when the new image uses SELinux."""
    conf = new_root / "etc/selinux/config"
    try:
        text = conf.read_text()
    except OSError:
        return
    modes = [ln.split("=", 1)[1].strip() for ln in text.splitlines() if ln.strip().startswith("SELINUX=")]
    if modes and modes[-1] in ("enforcing", "permissive"):
        ctx.runner.write_file(new_root / ".autorelabel", "", beneath=new_root)


def _collect_garbage(ctx: Context, result: UpdateResult) -> dict | None:
    """Run GC after a good update; report, never raise."""
    try:
        outcome = gc.run_gc(ctx, take_lock=False)
    except Exception as exc:  # noqa: BLE001 - GC must never fail a good update
        result.warnings.append(f"garbage collection failed: {exc}; run `imgbase gc` later")
        log.warning("warning: garbage collection failed: %s", exc)
        return None
    result.warnings += [f"garbage collection: {problem}" for problem in outcome.problems]
    return outcome.to_dict()
