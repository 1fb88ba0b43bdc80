# SPDX-License-Identifier: GPL-2.0-or-later
"""Glue between layer operations and the boot entries: install, remove, make default.

Adding a layer copies its own kernel and initrd to /boot/<layer>/ and writes
its BLS entry; removing a layer removes both.  Both regenerate grub.cfg where
the platform's grub has no blscfg.  Inside a transaction, the boot files are
journaled first, so a failure (or recover) removes them again.
"""

from __future__ import annotations

from org_ovirt_imgbased.host.boot import bls, entries, grubcfg
from org_ovirt_imgbased.host.context import Context
from org_ovirt_imgbased.host.storage.mounts import mounted_volume
from org_ovirt_imgbased.host.txn import Transaction


def host_args(ctx: Context) -> list[str]:
    """Kernel arguments every entry gets: explicit ones, else the running kernel's usual ones."""
    return list(ctx.kernel_args) if ctx.kernel_args else entries.usual_kernel_args(ctx.cmdline)


def layer_added(ctx: Context, txn: Transaction, vg: str, layer: str, make_default: bool = True) -> None:
    """Install the kernel, initrd and entry of a new layer; optionally make it the default."""
    runner = ctx.runner
    if runner.dry:
        runner.plan(f"install the kernel, initrd and boot entry of {layer} in {ctx.boot_dir}")
        return
    txn.will_create_file(ctx.boot_dir / layer)
    txn.will_create_file(bls.entry_path(layer, ctx.boot_dir))
    txn.on_rollback(lambda: _forget(ctx, layer), {"boot-remove": layer})
    with mounted_volume(runner, f"/dev/{vg}/{layer}") as root:
        entries.install_layer(runner, layer, root, vg, boot_dir=ctx.boot_dir, host_args=host_args(ctx))
    if make_default:
        set_default(ctx, txn, layer)
    grubcfg.regenerate_config(runner, ctx.boot_dir)


def set_default(ctx: Context, txn: Transaction, layer: str) -> None:
    """Make layer the default, restoring the previous default if the transaction rolls back."""
    runner = ctx.runner
    previous = entries.default_layer(runner, boot_dir=ctx.boot_dir)
    txn.on_rollback(lambda: _restore_default(ctx, previous), {"default-was": previous})
    entries.set_default(runner, layer, boot_dir=ctx.boot_dir)


def _restore_default(ctx: Context, previous: str | None) -> None:
    """Point the default back at previous (if it still has an entry)."""
    if previous and entries.has_entry(previous, ctx.boot_dir):
        entries.set_default(ctx.runner, previous, boot_dir=ctx.boot_dir)


def _forget(ctx: Context, layer: str) -> None:
    """Undo layer_added: remove the entry and kernel directory, fix grubenv and grub.cfg."""
    entries.remove_layer(ctx.runner, layer, boot_dir=ctx.boot_dir)
    grubcfg.regenerate_config(ctx.runner, ctx.boot_dir)


def layer_removed(ctx: Context, vg: str, layer: str) -> list[str]:
    """Remove a layer's boot files and entry; returns notes on default changes."""
    notes = entries.remove_layer(ctx.runner, layer, boot_dir=ctx.boot_dir)
    grubcfg.regenerate_config(ctx.runner, ctx.boot_dir)
    return notes
