# SPDX-License-Identifier: GPL-2.0-or-later
"""The boot and rollback verbs of `imgbase` (parsers and thin handlers)."""

from __future__ import annotations

from org_ovirt_imgbased.cli.common import Result, json_flag, one_of
from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host import naming
from org_ovirt_imgbased.host.context import Context
from org_ovirt_imgbased.host.lock import locked
from org_ovirt_imgbased.host.storage import lvm


def _running(ctx: Context) -> str | None:
    """The running layer: img.bootid, else the LV mounted at /."""
    current = ctx.layout().current
    return current if current and naming.is_name(current) and naming.parse(current).is_layer else None


# --- boot -----------------------------------------------------------------------------------------

def add_boot(sub) -> None:
    """imgbase boot --list|--set-default|--once|--confirm|--remove-orphans."""
    p = sub.add_parser("boot", help="list boot entries, set the default, boot a layer once, confirm",
                       description="Each layer has a boot entry (BLS Type #1) with its own kernel and "
                       "initrd under /boot/<layer>/. The default is grubenv's saved_entry; --once sets "
                       "next_entry for a single boot, after which the default boots again.")
    g = one_of(p)
    g.add_argument("--list", action="store_true", help="list the layers' boot entries")
    g.add_argument("--set-default", metavar="LAYER", help="boot LAYER from now on")
    g.add_argument("--once", metavar="LAYER", help="boot LAYER on the next boot only")
    g.add_argument("--confirm", action="store_true",
                   help="make the running layer the default (the shipped unit adds --if-pending)")
    g.add_argument("--remove-orphans", action="store_true", help="remove entries of layers that are gone")
    p.add_argument("--if-pending", action="store_true",
                   help="with --confirm: only confirm a pending try (`update --try`) of the running layer")
    json_flag(p)
    p.set_defaults(handler=do_boot)


def do_boot(ctx: Context, args) -> Result:
    """Dispatch the boot actions."""
    from org_ovirt_imgbased.host import boot
    runner, boot_dir = ctx.runner, ctx.boot_dir
    if args.if_pending and not args.confirm:
        raise ImgbaseError("--if-pending only goes with --confirm")
    if args.list:
        rows = boot.list_boot(runner, running=_running(ctx), boot_dir=boot_dir)
        text = "\n".join(_boot_line(r) for r in rows) or "no layer has a boot entry"
        return [r.to_dict() for r in rows], text
    with locked():
        layout = ctx.layout()
        if args.set_default or args.once:
            layer = layout.layer(args.set_default or args.once).name
            if args.set_default:
                boot.set_default(runner, layer, boot_dir=boot_dir)
                return {"default": layer}, f"{layer} is the default from the next boot on"
            boot.boot_once(runner, layer, boot_dir=boot_dir)
            return {"next": layer}, f"{layer} boots once on the next boot; then the default boots again"
        if args.confirm:
            message = boot.confirm(runner, _running(ctx), if_pending=args.if_pending, boot_dir=boot_dir)
            return {"message": message}, message
        existing = {lv.name for lv in lvm.list_lvs(runner) if lv.vg == layout.vg} | {layout.current}
        removed = boot.remove_orphans(runner, existing - {None}, boot_dir=boot_dir, vg=layout.vg)
        boot.regenerate_config(runner, boot_dir)
        return {"removed": removed}, ("removed entries of " + ", ".join(removed)) if removed else "no orphans"


def _boot_line(row) -> str:
    """One line of `boot --list`."""
    flags = [word for flag, word in ((row.default, "default"), (row.next, "next boot"),
                                     (row.pending_try, "pending try"), (row.running, "running")) if flag]
    return f"{row.layer}  {row.kernel or '?'}  {row.title}" + (f"  ({', '.join(flags)})" if flags else "")


# --- rollback -------------------------------------------------------------------------------------

def add_rollback(sub) -> None:
    """imgbase rollback [--to LAYER]."""
    p = sub.add_parser("rollback", help="make the previous layer (or --to LAYER) the default",
                       description="Make the layer before the current default (or the one named) the "
                       "default boot entry. It takes effect on the next boot; nothing is removed.")
    p.add_argument("--to", metavar="LAYER", help="the layer to roll back to")
    json_flag(p)
    p.set_defaults(handler=do_rollback)


def do_rollback(ctx: Context, args) -> Result:
    """Roll the default back."""
    from org_ovirt_imgbased.host import boot
    with locked():
        layout = ctx.layout()
        if args.to:
            layout.layer(args.to)
        target = boot.rollback(ctx.runner, to=args.to, running=_running(ctx), boot_dir=ctx.boot_dir,
                               existing=[lv.name for lv in layout.layers()])
    return {"default": target}, f"{target} is the default from the next boot on"


BOOT_VERBS = [add_boot, add_rollback]
