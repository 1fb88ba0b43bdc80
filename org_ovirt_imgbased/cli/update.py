# SPDX-License-Identifier: GPL-2.0-or-later
"""The update and recover verbs of `imgbase` (parsers and thin handlers)."""

from __future__ import annotations

from pathlib import Path

from org_ovirt_imgbased.cli.common import Result, json_flag
from org_ovirt_imgbased.host.context import Context
from org_ovirt_imgbased.units import parse_size

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
    json_flag(p)
    p.set_defaults(handler=do_update)


def do_update(ctx: Context, args) -> Result:
    """Run the update."""
    from org_ovirt_imgbased.host import update
    size = parse_size(args.size) if args.size else None
    result = update.update(ctx, args.image, args.checksum, args.from_layer, args.try_boot, args.dry_run, size)
    return result.to_dict(), result.render()


# --- recover --------------------------------------------------------------------------------------

def add_recover(sub) -> None:
    """imgbase recover [--list]."""
    p = sub.add_parser("recover", help="clean up after an interrupted imgbase run",
                       description="Find what an interrupted operation (crash, power cut, kill) left "
                       "behind, using the journal and the LV tags, and undo it; an update that had "
                       "already made its layer the default is completed instead.")
    p.add_argument("--list", action="store_true", help="only show what would be done")
    json_flag(p)
    p.set_defaults(handler=do_recover)


def do_recover(ctx: Context, args) -> Result:
    """Recover or list."""
    from org_ovirt_imgbased.host import recover
    result = recover.recover(ctx, listing=args.list)
    return result.to_dict(), result.render()


UPDATE_VERBS = [add_update, add_recover]
