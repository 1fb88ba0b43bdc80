"""The boot, rollback, update and recover verbs of `imgbase` (parsers and thin handlers)."""

from __future__ import annotations

from pathlib import Path

from . import layers, naming
from .cli_verbs import Result, _json_flag, _one_of
from .errors import ImgbaseError
from .units import parse_size


def _running(ctx: layers.Context) -> str | None:
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
    g = _one_of(p)
    g.add_argument("--list", action="store_true", help="list the layers' boot entries")
    g.add_argument("--set-default", metavar="LAYER", help="boot LAYER from now on")
    g.add_argument("--once", metavar="LAYER", help="boot LAYER on the next boot only")
    g.add_argument("--confirm", action="store_true",
                   help="make the running layer the default (the shipped unit adds --if-pending)")
    g.add_argument("--remove-orphans", action="store_true", help="remove entries of layers that are gone")
    p.add_argument("--if-pending", action="store_true",
                   help="with --confirm: only confirm a pending try (`update --try`) of the running layer")
    _json_flag(p)
    p.set_defaults(handler=do_boot)


def do_boot(ctx: layers.Context, args) -> Result:
    """Dispatch the boot actions."""
    from . import bootloader
    runner, boot = ctx.runner, ctx.boot_dir
    if args.if_pending and not args.confirm:
        raise ImgbaseError("--if-pending only goes with --confirm")
    if args.list:
        rows = bootloader.list_boot(runner, running=_running(ctx), boot_dir=boot)
        text = "\n".join(_boot_line(r) for r in rows) or "no layer has a boot entry"
        return [r.to_dict() for r in rows], text
    with layers.locked():
        layout = ctx.layout()
        if args.set_default or args.once:
            layer = layout.layer(args.set_default or args.once).name
            if args.set_default:
                bootloader.set_default(runner, layer, boot_dir=boot)
                return {"default": layer}, f"{layer} is the default from the next boot on"
            bootloader.boot_once(runner, layer, boot_dir=boot)
            return {"next": layer}, f"{layer} boots once on the next boot; then the default boots again"
        if args.confirm:
            message = bootloader.confirm(runner, _running(ctx), if_pending=args.if_pending, boot_dir=boot)
            return {"message": message}, message
        removed = bootloader.remove_orphans(runner, [lv.name for lv in layout.layers()], boot_dir=boot)
        bootloader.regenerate_config(runner, boot)
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
    _json_flag(p)
    p.set_defaults(handler=do_rollback)


def do_rollback(ctx: layers.Context, args) -> Result:
    """Roll the default back."""
    from . import bootloader
    with layers.locked():
        layout = ctx.layout()
        if args.to:
            layout.layer(args.to)
        target = bootloader.rollback(ctx.runner, to=args.to, running=_running(ctx), boot_dir=ctx.boot_dir)
    return {"default": target}, f"{target} is the default from the next boot on"


# --- update ---------------------------------------------------------------------------------------

def add_update(sub) -> None:
    """imgbase update [--checksum] [--dry-run] [--try] [--from-layer L] IMAGE."""
    p = sub.add_parser("update", help="install a new image as a new base + layer and make it the default",
                       description="One crash-safe transaction: verify IMAGE, check pool and /boot space "
                       "and /etc conflicts, add the new base and its first layer, carry /etc over "
                       "(three-way merge against the images' factory copies, plus the persist list), "
                       "install the layer's kernel and boot entry, make it the default, then garbage-"
                       "collect old bases. Data volumes such as /var are never touched. If a step fails, "
                       "what the run created is removed and the old layer stays the default.")
    p.add_argument("image", type=Path, metavar="IMAGE", help="liveimg squashfs, ext4 image, tarball or directory")
    p.add_argument("--checksum", metavar="sha256:HEX", help="verify IMAGE before anything")
    p.add_argument("--size", metavar="SIZE", help="size of the new base (default: the image's filesystem size)")
    p.add_argument("--from-layer", metavar="LAYER",
                   help="migrate configuration from LAYER (default: the running layer, else the default)")
    p.add_argument("--try", dest="try_boot", action="store_true",
                   help="boot the new layer once; it becomes the default only when confirmed after boot")
    p.add_argument("--dry-run", "--check", dest="dry_run", action="store_true",
                   help="print the plan and the /etc conflict report, change nothing")
    _json_flag(p)
    p.set_defaults(handler=do_update)


def do_update(ctx: layers.Context, args) -> Result:
    """Run the update."""
    from . import update
    size = parse_size(args.size) if args.size else None
    result = update.update(ctx, args.image, args.checksum, args.from_layer, args.try_boot, args.dry_run, size)
    return result.to_dict(), result.text()


# --- recover --------------------------------------------------------------------------------------

def add_recover(sub) -> None:
    """imgbase recover [--list]."""
    p = sub.add_parser("recover", help="clean up after an interrupted imgbase run",
                       description="Find what an interrupted operation (crash, power cut, kill) left "
                       "behind, using the journal and the LV tags, and undo it; an update that had "
                       "already made its layer the default is completed instead.")
    p.add_argument("--list", action="store_true", help="only show what would be done")
    _json_flag(p)
    p.set_defaults(handler=do_recover)


def do_recover(ctx: layers.Context, args) -> Result:
    """Recover or list."""
    from . import recover
    result = recover.recover(ctx, listing=args.list)
    return ({"findings": [f.to_dict() for f in result.findings], "problems": result.problems},
            result.text(args.list))


BOOT_VERBS = [add_boot, add_rollback, add_update, add_recover]
