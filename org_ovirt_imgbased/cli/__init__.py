# SPDX-License-Identifier: GPL-2.0-or-later
"""`imgbase`: the command line of the layering library (parse, call, print).

Every verb is a thin wrapper around a library function.  Expected failures
(ImgbaseError) print one line and exit 1; --debug adds the detail and, for
unexpected failures, the traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from org_ovirt_imgbased import __version__, defaults
from org_ovirt_imgbased.cli.admin import ADMIN_VERBS
from org_ovirt_imgbased.cli.boot import BOOT_VERBS
from org_ovirt_imgbased.cli.common import guarded, print_result, setup_logging
from org_ovirt_imgbased.cli.layers import VERBS
from org_ovirt_imgbased.cli.update import UPDATE_VERBS
from org_ovirt_imgbased.host.context import Context
from org_ovirt_imgbased.runner import Runner

EXAMPLES = """\
examples:
  imgbase layout --init --pvs /dev/sdb          create HostVG and its thin pool on /dev/sdb
  imgbase layout --init --from HostVG/root      adopt an installed thin root as Base-0 + Base-0.1
  imgbase base --add --checksum sha256:HEX image.squashfs
  imgbase layer --add                           new writable layer on the newest base
  imgbase update image.squashfs                 new base + layer, /etc carried over, made default
  imgbase update --check && imgbase update      update only when the channel has a newer image
  imgbase rollback                              boot the previous layer from the next boot on
  imgbase --dry layer --add                     print the commands instead of running them

exit status: 0 success, 1 a refused or failed operation (one-line reason on stderr),
2 bad usage, 70 an internal error (rerun with --debug for the traceback);
`update --check`: 0 a newer image is available, 3 up to date.
"""


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, one sub-parser per verb."""
    p = argparse.ArgumentParser(
        prog="imgbase", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES,
        description="Manage an image-based host on LVM thin provisioning: read-only bases "
                    "(one per OS image), writable layers on them, a boot entry per layer.")
    p.add_argument("--version", action="version", version=f"imgbase {__version__}")
    p.add_argument("--debug", action="store_true", help="log every command and its output")
    p.add_argument("--dry", action="store_true",
                   help="print the commands that would change something instead of running them")
    p.add_argument("--vg", metavar="VG", help="the imgbased VG (default: the VG tagged imgbased:vg)")
    p.add_argument("--boot-dir", metavar="DIR", type=Path, default=Path("/boot"),
                   help="the /boot directory holding kernels, entries and grubenv (default /boot)")
    p.add_argument("--config", metavar="FILE", type=Path, default=defaults.CONFIG_PATH,
                   help="configuration file (default /etc/imgbased.conf)")
    p.add_argument("--no-bootloader", action="store_true",
                   help="do not touch boot entries, kernels or grubenv (tests, image builds)")
    sub = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    for verb in VERBS + BOOT_VERBS + UPDATE_VERBS + ADMIN_VERBS:
        verb(sub)
    return p


def make_context(args: argparse.Namespace) -> Context:
    """Build the library context from the global options."""
    return Context(runner=Runner(dry=args.dry), vg=args.vg, boot_dir=args.boot_dir,
                          manage_boot=not args.no_bootloader, config_path=args.config)


def emit(result, as_json: bool) -> int:
    """Print a verb's result (JSON when asked, else its text form); return its exit status."""
    if result is None:
        return 0
    data, text, *status = result
    if as_json or text:
        print_result(data, text, as_json)
    return status[0] if status else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the imgbase command."""
    args = build_parser().parse_args(argv)
    setup_logging("imgbase", args.debug)

    def body() -> int:
        return emit(args.handler(make_context(args), args), getattr(args, "json", False))

    return guarded("imgbase", args.debug, body)


if __name__ == "__main__":
    sys.exit(main())
