# SPDX-License-Identifier: GPL-2.0-or-later
"""The layering operations: initialise a layout, add and remove bases and layers.

Every operation runs under the imgbased lock and inside a Transaction, so a
failure at any step removes what the operation created and the error says
which step failed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from org_ovirt_imgbased import defaults
from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host import image, naming
from org_ovirt_imgbased.host.adopt import identity_of
from org_ovirt_imgbased.host.boot import journaled
from org_ovirt_imgbased.host.context import Context
from org_ovirt_imgbased.host.layout import Layout, load, root_dev
from org_ovirt_imgbased.host.lock import locked
from org_ovirt_imgbased.host.storage import filesystem, lvm, space
from org_ovirt_imgbased.host.txn import Transaction, problem_text, refuse_pending
from org_ovirt_imgbased.runner import Runner
from org_ovirt_imgbased.units import GiB, MiB

log = logging.getLogger(__name__)


@contextlib.contextmanager
def transaction(ctx: Context, vg: str, op: str) -> Iterator[Transaction]:
    """Run an operation under the lock; roll back everything it made if it fails."""
    refuse_pending(ctx.journal_dir)
    txn = Transaction(ctx.runner, vg, op, ctx.journal_dir)
    txn.journal.boot_dir = str(Path(ctx.boot_dir).absolute()) if ctx.manage_boot else ""
    try:
        yield txn
    except BaseException as exc:
        try:
            problems = txn.rollback()
        except Exception as rb:  # the original error is what the operator sees; this is appended
            problems = [f"rollback failed: {problem_text(rb)}"]
        if isinstance(exc, ImgbaseError):
            step = f" (at step {txn.journal.step})" if txn.journal.step != "start" else ""
            extra = f"; cleanup problems: {'; '.join(problems)}" if problems else ""
            raise ImgbaseError(f"{exc}{step}{extra}", detail=exc.detail) from None
        for problem in problems:
            log.warning("warning: cleanup problem after %s failed: %s", op, problem)
        raise
    txn.commit()


def _block_device(path: str) -> str:
    """Refuse paths that are not existing block devices."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        raise ImgbaseError(f"no such device {path}: give an existing block device such as /dev/sdb") \
            from None
    if not stat.S_ISBLK(mode):
        raise ImgbaseError(f"{path} is not a block device")
    return path


def init_pvs(ctx: Context, pvs: list[str], vg: str = defaults.VG, pool: str = defaults.POOL,
             pool_size: int | None = None, pool_percent: int = 80) -> None:
    """Create the VG and the thin pool on fresh PVs, tagged for imgbased."""
    lvm.check_name(vg, "VG")
    lvm.check_name(pool, "pool")
    if not pvs:
        raise ImgbaseError("no PVs given: use --pvs DEV [DEV...]")
    for dev in pvs:
        _block_device(dev)
    if not 1 <= pool_percent <= 95:
        raise ImgbaseError(f"--pool-percent {pool_percent} is out of range: use 1 to 95")
    runner = ctx.runner
    with locked():
        existing = {g.name: g for g in lvm.list_vgs(runner)}
        if vg in existing:
            tagged = any(t.startswith("imgbased:") for t in existing[vg].tags)
            raise ImgbaseError(f"VG {vg} already exists" + (" and is already an imgbased layout"
                               if tagged else "; adopt an installed root with --from VG/LV instead"))
        used = {pv: g for pv, g in lvm.pv_names(runner).items() if pv in pvs and g}
        if used:
            pv, g = next(iter(used.items()))
            raise ImgbaseError(f"{pv} already belongs to VG {g}; give an unused device")
        with transaction(ctx, vg, "layout-init") as txn:
            txn.step("create-vg")
            txn.on_rollback(lambda: _remove_vg(runner, vg, pvs), {"vgremove": vg, "pvs": pvs})
            lvm.create_vg(runner, vg, pvs, [lvm.TAG_VG])
            txn.step("create-pool")
            size, meta = _pool_geometry(runner, vg, pool_size, pool_percent)
            lvm.ensure_profile(runner)
            lvm.create_pool(runner, vg, pool, size, meta, [lvm.TAG_POOL, *txn.will_create_lv(pool)])


def _remove_vg(runner: Runner, vg: str, pvs: list[str]) -> None:
    """Undo init_pvs: remove the VG and wipe the PV labels."""
    runner.run(["vgremove", "-f", "-y", vg], check=False)
    runner.run(["pvremove", "-y", "-q", *pvs], check=False)


def _pool_geometry(runner: Runner, vg: str, pool_size: int | None, percent: int) -> tuple[int, int | None]:
    """Pick the pool data size and metadata size (1 GiB when the VG allows)."""
    group = next((g for g in lvm.list_vgs(runner) if g.name == vg), None)
    free = group.free if group else 0
    if runner.dry and group is None:
        return pool_size or 0, None
    meta = GiB if free >= 16 * GiB else None
    reserve = 2 * (meta or free // 100 + 4 * MiB)  # metadata plus its spare copy
    size = pool_size if pool_size else free * percent // 100 - reserve
    if size <= 0 or size + reserve > free:
        raise ImgbaseError(f"VG {vg} has {free} bytes free, too little for a {size}-byte pool "
                           "plus metadata; use a bigger disk or a smaller --pool-size")
    extent = group.extent_size if group else 4 * MiB
    return size - size % extent, meta


def _lv_for_root(ctx: Context, lvs: list[lvm.LV]) -> lvm.LV:
    """The LV mounted at /, or an error if / is not on LVM."""
    root = root_dev()
    for lv in lvs:
        if lv.dev == root:
            return lv
    raise ImgbaseError("the root filesystem is not on an LVM logical volume; give --from VG/LV")


def init_from(ctx: Context, source: str | None) -> str:
    """Adopt an installed root LV in a thin pool: tag it, make Base-0 and layer Base-0.1."""
    runner = ctx.runner
    with locked():
        lvs = lvm.list_lvs(runner)
        if source:
            vg, _, name = source.partition("/")
            lvm.check_name(vg, "VG")
            lvm.check_name(name, "LV")
            lv = next((x for x in lvs if x.vg == vg and x.name == name), None)
            if lv is None:
                raise ImgbaseError(f"there is no LV {source}; give --from VG/LV of the installed root")
        else:
            lv = _lv_for_root(ctx, lvs)
        if any(t.startswith("imgbased:") for t in lv.vg_tags):
            raise ImgbaseError(f"VG {lv.vg} already carries imgbased tags; it is already initialised")
        if not lv.is_thin or not lv.pool:
            raise ImgbaseError(f"{lv.vg}/{lv.name} is not a thin LV in a thin pool; imgbased needs "
                               "the root on a thinpool (reinstall with the imgbased layout)")
        if any(x.vg == lv.vg and x.name == "Base-0" for x in lvs):
            raise ImgbaseError(f"{lv.vg} already has an LV named Base-0 that imgbased did not make; "
                               f"rename it (`lvrename {lv.vg} Base-0 NEWNAME`) and run again")
        with transaction(ctx, lv.vg, "layout-init-from") as txn:
            txn.step("tag")
            txn.on_rollback(lambda: untag_adopted(runner, lv), {"untag": f"{lv.vg}/{lv.name}"})
            lvm.change_tags(runner, lv.vg, add=[lvm.TAG_VG], kind="vg")
            lvm.change_tags(runner, f"{lv.vg}/{lv.pool}", add=[lvm.TAG_POOL])
            lvm.change_tags(runner, f"{lv.vg}/{lv.name}", add=[lvm.TAG_INIT])
            txn.step("base")
            ident = identity_of(Path("/"))
            tags = [lvm.TAG_BASE, *txn.will_create_lv("Base-0")]
            if ident:
                tags.append(f"imgbased:image={ident}")
            lvm.snapshot(runner, lv.vg, lv.name, "Base-0", tags)
            lvm.make_readonly(runner, lv.vg, "Base-0")
            lvm.deactivate(runner, lv.vg, "Base-0")
            txn.step("layer")
            return layer_on(ctx, txn, load(runner, lv.vg, ctx.cmdline), "Base-0")


def untag_adopted(runner: Runner, lv: lvm.LV) -> None:
    """Undo init_from's tags (its rollback, and recover's replay of its journal)."""
    lvm.change_tags(runner, lv.vg, delete=[lvm.TAG_VG], kind="vg")
    lvm.change_tags(runner, f"{lv.vg}/{lv.pool}", delete=[lvm.TAG_POOL])
    lvm.change_tags(runner, f"{lv.vg}/{lv.name}", delete=[lvm.TAG_INIT])


def add_base(ctx: Context, path: Path, size: int | None = None, checksum: str | None = None) -> str:
    """Create Base-N from an image, filled sparsely, read-only with activation skip."""
    with locked():
        layout = ctx.layout()
        if size:  # before anything is opened or created
            space.check_volume_size(layout.require_pool(), size)
        with transaction(ctx, layout.vg, "base-add") as txn:
            txn.step("verify-image")
            with image.open_image(ctx.runner, path, checksum) as payload:
                return base_from_payload(ctx, txn, payload, size)


def check_base_size(payload: image.Payload, size: int | None, pool: lvm.LV | None = None) -> int:
    """The LV size for payload: size if given and big enough (and, with pool, not above it), else the image's."""
    want = size or payload.fs_size
    if want < payload.fs_size:
        raise ImgbaseError(f"the image's filesystem is {payload.fs_size} bytes, larger than --size "
                           f"{want}; use --size {payload.fs_size} or more")
    if size and pool is not None:
        space.check_volume_size(pool, size)
    return want


def base_from_payload(ctx: Context, txn: Transaction, payload: image.Payload, size: int | None,
                      origin_tags: Sequence[str] = ()) -> str:
    """Create, fill and seal the next base from an opened payload, inside txn (origin_tags: where it came from)."""
    runner = ctx.runner
    layout = ctx.layout()
    pool = layout.require_pool()
    want = check_base_size(payload, size, pool)
    space.check_pool(pool, payload.used, ctx.max_fill)
    name = str(naming.next_base(layout.names_in_use()))
    tags = [lvm.TAG_BASE, *txn.will_create_lv(name)]
    if payload.identity:
        tags.append(f"imgbased:image={payload.identity}")
    tags += origin_tags
    txn.step("create-base")
    lvm.create_thin(runner, layout.vg, pool.name, name, want, tags)
    txn.step("copy-image")
    image.fill(runner, payload, f"/dev/{layout.vg}/{name}", want)
    txn.step("seal-base")
    digest = payload.sha256
    lvm.make_readonly(runner, layout.vg, name, [f"imgbased:sha256={digest}"] if digest else [])
    lvm.deactivate(runner, layout.vg, name)
    return name


def add_layer(ctx: Context, base: str | None = None) -> str:
    """Create the next writable layer Base-N.M on base (default: the newest base)."""
    with locked():
        layout = ctx.layout()
        with transaction(ctx, layout.vg, "layer-add") as txn:
            return layer_on(ctx, txn, layout, base)


def layer_on(ctx: Context, txn: Transaction, layout: Layout, base: str | None, with_boot: bool = True) -> str:
    """Create the next layer on base inside txn; with_boot also installs its entry as the default."""
    runner = ctx.runner
    pool = layout.require_pool()
    if base is None:
        latest = layout.latest_base()
        if latest is None:
            raise ImgbaseError("there are no bases yet; add one with `imgbase base --add IMAGE`")
        base = latest.name
    layout.base(base)
    space.check_pool(pool, 0, ctx.max_fill)
    name = str(naming.next_layer(naming.parse_base(base), layout.names_in_use()))
    txn.step("create-layer")
    lvm.snapshot(runner, layout.vg, base, name, [lvm.TAG_LAYER, *txn.will_create_lv(name)])
    txn.step("new-uuid")
    filesystem.new_uuid(runner, f"/dev/{layout.vg}/{name}")
    if ctx.manage_boot and with_boot:
        txn.step("boot-entry")
        journaled.layer_added(ctx, txn, layout.vg, name)
    return name


def remove_layer(ctx: Context, name: str) -> None:
    """Remove a layer and its boot entry; never the running one."""
    with locked():
        layout = ctx.layout()
        lv = layout.layer(name)
        if lv.name == layout.current:
            raise ImgbaseError(f"{name} is the layer running now and cannot be removed; "
                               "boot another layer first")
        refuse_pending(ctx.journal_dir)
        _refuse_busy(layout, [lv])
        _remove_lvs(ctx, layout, [name])


def remove_base(ctx: Context, name: str, force: bool = False) -> None:
    """Remove a base; with force also its layers. Never the one in use now."""
    with locked():
        layout = ctx.layout()
        base = layout.base(name)
        names = [lv.name for lv in base.layers]
        if layout.current in names or layout.current == name:
            raise ImgbaseError(f"{name} holds {layout.current}, the layer running now; it cannot be removed")
        if names and not force:
            raise ImgbaseError(f"{name} has layers ({', '.join(names)}); use --force to remove them too")
        refuse_pending(ctx.journal_dir)
        _refuse_busy(layout, [*base.layers, base.lv])
        _remove_lvs(ctx, layout, [*reversed(names), name])


def set_pinned(ctx: Context, name: str, pinned: bool) -> None:
    """Pin a base (garbage collection keeps it) or unpin it; stored as a tag."""
    with locked():
        layout = ctx.layout()
        layout.base(name)
        target = f"{layout.vg}/{name}"
        if pinned:
            lvm.change_tags(ctx.runner, target, add=[lvm.TAG_PINNED])
        else:
            lvm.change_tags(ctx.runner, target, delete=[lvm.TAG_PINNED])


def _refuse_busy(layout: Layout, lvs: list[lvm.LV]) -> None:
    """Refuse, before anything changes, to remove LVs that are mounted or open."""
    for lv in lvs:
        if lv.name in layout.mounts or lv.attr[5:6] == "o":
            where = f"mounted at {layout.mounts[lv.name]}" if lv.name in layout.mounts else "mounted or open"
            raise ImgbaseError(f"{lv.name} is in use ({where}); unmount it (or stop what holds it open) "
                               "and run again")


def _remove_lvs(ctx: Context, layout: Layout, names: list[str]) -> None:
    """Remove LVs (layers before their base), each LV before its boot entry, in a journal.

    If an lvremove fails, that layer keeps its boot entry and nothing after it is touched.  A
    crash between a layer's lvremove and its boot files leaves a journal whose "boot-orphan"
    record lets `imgbase recover` remove the entry of an LV that is gone (never of one that is not).
    """
    with transaction(ctx, layout.vg, "remove") as txn:
        for name in names:
            txn.step(f"remove-{name}")
            if ctx.manage_boot and naming.parse(name).is_layer:
                txn.on_rollback(lambda n=name: _drop_orphan_entry(ctx, layout.vg, n), {"boot-orphan": name})
            lvm.remove(ctx.runner, layout.vg, [name])
            if ctx.manage_boot and naming.parse(name).is_layer:
                txn.step(f"removed-{name}")  # the LV is gone, its boot files not yet
                journaled.layer_removed(ctx, layout.vg, name)


def _drop_orphan_entry(ctx: Context, vg: str, layer: str) -> None:
    """Remove layer's boot files if its LV is gone (a removal stopped between the two)."""
    if not any(lv.name == layer for lv in lvm.list_lvs(ctx.runner, vg)):
        journaled.layer_removed(ctx, vg, layer)
