# SPDX-License-Identifier: GPL-2.0-or-later
"""The update and recover verbs of `imgbase` (parsers and thin handlers)."""

from __future__ import annotations

import argparse
import sys

from org_ovirt_imgbased.cli.common import Result, json_flag
from org_ovirt_imgbased.host.context import Context
from org_ovirt_imgbased.units import parse_size

# --- update ---------------------------------------------------------------------------------------

def add_update(sub) -> None:
    """imgbase update [--check | --download-only | --from-downloaded] [--dry-run] [--try] [IMAGE]."""
    p = sub.add_parser("update", help="install a new image as a new base + layer and make it the default",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=UPDATE_EPILOG,
                       description="One crash-safe transaction: verify IMAGE, check pool and /boot space "
                       "and /etc conflicts, add the new base and its first layer, carry /etc over "
                       "(three-way merge against the images' factory copies, plus the persist list), "
                       "install the layer's kernel and boot entry, make it the default, then garbage-"
                       "collect old bases. Data volumes such as /var are never touched. If a step fails, "
                       "what the run created is removed and the old layer stays the default.")
    p.add_argument("image", nargs="?", metavar="IMAGE",
                   help="a liveimg squashfs, ext4 image, tarball or directory, or an http://, https:// or "
                   "file:// URL of an image (default: the newest image of the configured channel)")
    p.add_argument("--checksum", metavar="sha256:HEX", help="verify IMAGE before anything")
    p.add_argument("--signature", metavar="URL|FILE",
                   help="IMAGE's detached OpenPGP signature (default: IMAGE.sig, when the policy wants one)")
    p.add_argument("--allow-unverified", action="store_true",
                   help="accept a plain-http image or channel with neither a checksum nor a signature")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="only ask the channel whether a newer image exists (exit 0: yes, 3: up to date)")
    mode.add_argument("--download-only", action="store_true",
                      help="download and verify the image into the staging directory, then stop")
    mode.add_argument("--from-downloaded", action="store_true",
                      help="apply the newest downloaded image, re-verified, without the network")
    p.add_argument("--size", metavar="SIZE", help="size of the new base (default: the image's filesystem size)")
    p.add_argument("--from-layer", metavar="LAYER",
                   help="migrate configuration from LAYER (default: the running layer, else the default)")
    p.add_argument("--try", dest="try_boot", action="store_true",
                   help="boot the new layer once; it becomes the default only when confirmed after boot")
    p.add_argument("--dry-run", dest="dry_run", action="store_true",
                   help="print the plan and the /etc conflict report, change nothing (a remote image must be "
                   "downloaded first: --download-only, then --dry-run --from-downloaded)")
    json_flag(p)
    p.set_defaults(handler=do_update)


UPDATE_EPILOG = """\
channel: [update] channel = URL in /etc/imgbased.conf names a directory holding index.json and
  index.json.sig; `imgbase update` with no IMAGE takes its newest image.
signatures: [update] signature = required | if-present | off; the default is required as soon as a
  key is installed in /etc/imgbased/trusted.d, else off.  Downloads are staged in
  /var/lib/imgbased/images and resume where they stopped.
exit status of --check: 0 a newer image is available, 3 up to date, 1 the check failed; so
  `imgbase update --check && imgbase update` updates only when there is something new.
"""


def do_update(ctx: Context, args) -> Result:
    """Check, download, or run the update."""
    from org_ovirt_imgbased.host import delivery, update
    size = parse_size(args.size) if args.size else None
    request = delivery.Request(args.image, args.checksum, args.signature, args.allow_unverified,
                               progress=sys.stderr.isatty() and not args.json)
    if args.check:
        found = delivery.check(ctx, request)
        return found.to_dict(), found.render(), found.exit_status
    if args.download_only:
        staged = delivery.download_only(ctx, request)
        return staged.to_dict(), staged.render()
    image = delivery.prepare(ctx, request, from_downloaded=args.from_downloaded, dry_run=args.dry_run)
    if image.up_to_date:
        return image.to_dict(), image.render()
    result = update.update(ctx, image.path, image.checksum, args.from_layer, args.try_boot, args.dry_run,
                           size, image.origin)
    text = result.render() if not image.note else f"{image.note}\n{result.render()}"
    return {**result.to_dict(), "delivered": image.to_dict()}, text


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
