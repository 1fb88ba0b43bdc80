# SPDX-License-Identifier: GPL-2.0-or-later
"""Adopt an installed thin root: the root itself becomes the layer Base-0.1, a frozen snapshot Base-0.

Both installers end here: anaconda (its Storage module built the thin root, its Payloads module
filled it) and ``imgbase-install`` (which fills a thin LV from the image).  The installed root
keeps its filesystem and its mount, so whatever the installer does after this step (anaconda's
initramfs step, its ``%post`` scripts, its log copies) lands in the layer that boots, never in a
volume nobody boots.  Base-0 is a thin snapshot of the mounted root (lvcreate suspends it with
its filesystem frozen, so the copy is consistent): sealed read-only with
activation skip, tagged with the image identity and digest, and given a fresh filesystem UUID so
that no two filesystems of the host share one.

Kernels: anaconda copies the image's /boot into the /boot partition, so the root's own /boot
directory (under the mount) is empty; the image's kernels are copied back into it first, because
every later layer of Base-0 takes its kernel from there.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host import image
from org_ovirt_imgbased.host.boot import journaled, kernels
from org_ovirt_imgbased.host.context import Context
from org_ovirt_imgbased.host.storage import filesystem, fstab, lvm
from org_ovirt_imgbased.host.storage.mounts import mounted_volume
from org_ovirt_imgbased.host.txn import Transaction
from org_ovirt_imgbased.runner import Runner

log = logging.getLogger(__name__)

BASE, LAYER = "Base-0", "Base-0.1"
KERNEL_FILES = ("vmlinuz-*", "initrd.img-*", "initramfs-*.img", "config-*", "System.map-*")


@dataclass
class Installed:
    """An installed root: its LV, where it is mounted, and what the image says it is."""

    vg: str
    lv: str
    root: Path
    identity: str | None = None
    sha256: str | None = None


def check_adoptable(runner: Runner, vg: str, lv_name: str) -> lvm.LV:
    """The root LV, after refusing (before any change) anything adopt cannot take."""
    lvs = lvm.list_lvs(runner, vg)
    lv = next((x for x in lvs if x.name == lv_name), None)
    if lv is None:
        raise ImgbaseError(f"there is no LV {vg}/{lv_name}: the installed root was not found")
    if not lv.is_thin or not lv.pool:
        raise ImgbaseError(f"the root {vg}/{lv_name} is not a thin LV in a thin pool; imgbased needs "
                           "it thin: use `autopart --type=thinp` or `logvol / --thin --poolname=POOL`")
    made = [x.name for x in lvs if {lvm.TAG_BASE, lvm.TAG_LAYER} & set(x.tags)]
    if made:
        raise ImgbaseError(f"VG {vg} already holds imgbased's {made[0]}; it is already an imgbased layout")
    taken = [x.name for x in lvs if x.name in (BASE, LAYER) and x.name != lv_name]
    if taken:
        raise ImgbaseError(f"VG {vg} already has an LV named {taken[0]}; imgbased needs that name for "
                           "the installed image: rename it (`lvrename`) and install again")
    return lv


def identity_of(root: Path) -> str | None:
    """name-version of the installed system, from its os-release."""
    for rel in ("usr/lib/os-release", "etc/os-release"):
        with contextlib.suppress(OSError):
            return image.parse_os_release((root / rel).read_text())
    return None


def adopt(ctx: Context, txn: Transaction, installed: Installed, fstab_extra: list[str] = ()) -> str:
    """Turn the installed root into Base-0 + Base-0.1 inside txn; returns the layer's name."""
    runner, vg = ctx.runner, installed.vg
    lv = check_adoptable(runner, vg, installed.lv)
    txn.step("tag")
    _tag(runner, txn, lv, lvm.list_lvs(runner, vg))
    txn.step("kernels")
    _fold_kernels(ctx, txn, f"/dev/{vg}/{lv.name}")
    txn.step("fstab")
    _retarget_fstab(runner, txn, installed.root, vg, list(fstab_extra))
    txn.step("create-base")
    tags = [lvm.TAG_BASE, *txn.will_create_lv(BASE)]
    if installed.identity:
        tags.append(f"imgbased:image={installed.identity}")
    # lvcreate suspends the mounted origin with its filesystem locked (frozen and flushed), so the
    # snapshot is consistent; freezing it beforehand makes that suspend fail with EBUSY.
    lvm.snapshot(runner, vg, lv.name, BASE, tags)
    filesystem.new_uuid(runner, f"/dev/{vg}/{BASE}")
    txn.step("seal-base")
    lvm.make_readonly(runner, vg, BASE, [f"imgbased:sha256={installed.sha256}"] if installed.sha256 else [])
    lvm.deactivate(runner, vg, BASE)
    txn.step("rename-root")
    txn.on_rollback(lambda: unrename(runner, vg, lv.name), {"unadopt": [vg, LAYER, lv.name]})
    if lv.name != LAYER:
        lvm.rename(runner, vg, lv.name, LAYER)
    lvm.change_tags(runner, f"{vg}/{LAYER}", add=[lvm.TAG_LAYER])
    txn.step("boot-entry")
    journaled.layer_added(ctx, txn, vg, LAYER)
    return LAYER


def _fold_kernels(ctx: Context, txn: Transaction, device: str) -> None:
    """Copy the image's kernels from the /boot partition into the root's own /boot if it has none."""
    runner = ctx.runner
    if runner.dry:
        runner.plan(f"copy the kernels in {ctx.boot_dir} into {device}'s own /boot if it has none")
        return
    with mounted_volume(runner, device, writable=True) as own:
        with contextlib.suppress(ImgbaseError):
            kernels.find_kernel(own)
            return
        files = sorted({p for pattern in KERNEL_FILES for p in Path(ctx.boot_dir).glob(pattern)
                        if p.is_file() and not p.is_symlink() and "rescue" not in p.name})
        if not files:
            raise ImgbaseError(f"no kernel in the installed root nor in {ctx.boot_dir}: the image needs "
                               "a kernel and an initrd in its /boot")
        runner.makedirs(own / "boot")
        for src in files:
            runner.copy_file(src, own / "boot" / src.name)
        log.info("copied %s from %s into the root's own /boot", ", ".join(p.name for p in files),
                 ctx.boot_dir)
        kernels.find_kernel(own)  # the copy must now be a complete kernel + initrd
    txn.on_rollback(lambda: _unfold(runner, device, [p.name for p in files]))


def _retarget_fstab(runner: Runner, txn: Transaction, root: Path, vg: str, extra: list[str]) -> None:
    """Point the root's fstab at the layer; the rollback puts the installer's text back."""
    path = root / "etc/fstab"
    try:
        before: bytes | None = path.read_bytes()
    except FileNotFoundError:
        before = None
    fstab.retarget(runner, root, vg, LAYER, extra)
    if before is None:
        txn.on_rollback(lambda: runner.remove(path))
    else:
        txn.on_rollback(lambda: runner.write_file(path, before, beneath=root))


def _unfold(runner: Runner, device: str, names: list[str]) -> None:
    """Undo _fold_kernels: remove the copied kernel files from the root's own /boot."""
    with mounted_volume(runner, device, writable=True) as own:
        for name in names:
            with contextlib.suppress(OSError):
                runner.remove(own / "boot" / name)


def _tag(runner: Runner, txn: Transaction, root: lvm.LV, lvs: list[lvm.LV]) -> None:
    """Tag the VG, the pool and the installer's other thin LVs (the data volumes) for imgbased."""
    volumes = [x.name for x in lvs if x.pool == root.pool and x.name != root.name and x.is_thin
               and lvm.TAG_VOLUME not in x.tags]
    if lvm.TAG_VG in root.vg_tags and not volumes:
        return  # imgbase-install's layout is tagged when it is made
    txn.on_rollback(lambda: untag(runner, root.vg, root.pool, volumes),
                    {"untag-vg": f"{root.vg}/{root.pool}", "volumes": volumes})
    lvm.change_tags(runner, root.vg, add=[lvm.TAG_VG], kind="vg")
    lvm.change_tags(runner, f"{root.vg}/{root.pool}", add=[lvm.TAG_POOL])
    for name in volumes:
        lvm.change_tags(runner, f"{root.vg}/{name}", add=[lvm.TAG_VOLUME])


def untag(runner: Runner, vg: str, pool: str, volumes: list[str] = ()) -> None:
    """Undo the VG, pool and volume tags (rollback, and recover's replay)."""
    lvm.change_tags(runner, vg, delete=[lvm.TAG_VG], kind="vg")
    lvm.change_tags(runner, f"{vg}/{pool}", delete=[lvm.TAG_POOL])
    for name in volumes:
        lvm.change_tags(runner, f"{vg}/{name}", delete=[lvm.TAG_VOLUME])


def unrename(runner: Runner, vg: str, name: str) -> None:
    """Undo the rename and the layer tag: the installed root gets its own name back."""
    names = {x.name for x in lvm.list_lvs(runner, vg)}
    if LAYER in names:
        lvm.change_tags(runner, f"{vg}/{LAYER}", delete=[lvm.TAG_LAYER])
        if name != LAYER and name not in names:
            lvm.rename(runner, vg, LAYER, name)
