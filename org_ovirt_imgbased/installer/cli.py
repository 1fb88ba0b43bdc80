# SPDX-License-Identifier: GPL-2.0-or-later
"""`imgbase-install`: install an imgbased host from a kickstart, or interactively, without anaconda.

It runs the same install functions as the anaconda addon: the %addon
org_ovirt_imgbased section drives the disk layout, the liveimg payload becomes
Base-0 and its first layer Base-0.1 becomes the default boot entry.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time

from pykickstart.constants import (
    KS_REBOOT,
    KS_SCRIPT_ONERROR,
    KS_SCRIPT_POST,
    KS_SCRIPT_PRE,
    KS_SCRIPT_PREINSTALL,
    KS_SCRIPT_TRACEBACK,
    KS_SHUTDOWN,
)

from org_ovirt_imgbased.cli.common import guarded, setup_logging
from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host import fetch
from org_ovirt_imgbased.installer.kickstart import AddonConfig, parse_kickstart
from org_ovirt_imgbased.runner import Runner

log = logging.getLogger(__name__)

EPILOG = """\
examples:
  imgbase-install --ks standalone-auto.ks                 unattended, as the kickstart says
  imgbase-install --ks http://10.0.2.2:8080/host.ks --disk /dev/sdb
  imgbase-install --interactive                    the text-mode screens

The payload is verified (checksum, liveimg layout) before the disk is touched.  A failure
after partitioning removes the new layout again.  exit status: 0 installed, 1 refused or
failed (one-line reason), 2 bad usage.
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    p = argparse.ArgumentParser(prog="imgbase-install", epilog=EPILOG, description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--ks", metavar="FILE|URL", help="kickstart with an %%addon org_ovirt_imgbased section")
    src.add_argument("--interactive", action="store_true", help="choose everything on text screens")
    p.add_argument("--disk", metavar="DEV", help="target disk (overrides the kickstart's --disk)")
    p.add_argument("--wipe", action="store_true", help="allow erasing a disk that is not blank")
    p.add_argument("--dry", action="store_true", help="verify and plan, print the plan, write nothing")
    p.add_argument("--debug", action="store_true", help="log every command")
    return p


#: The kickstart commands imgbase-install carries out (besides %addon): the payload, the
#: kernel arguments of bootloader --append, and what to do at the end.  Display modes have
#: no effect on a text-only installer.
APPLIED = frozenset({"liveimg", "bootloader", "reboot", "poweroff", "shutdown", "halt", "text", "cmdline",
                     "graphical"})
_SCRIPT_NAMES = {KS_SCRIPT_PRE: "pre", KS_SCRIPT_POST: "post", KS_SCRIPT_TRACEBACK: "traceback",
                 KS_SCRIPT_PREINSTALL: "pre-install", KS_SCRIPT_ONERROR: "onerror"}


def _disks(runner: Runner) -> list:
    """Writable whole disks, from lsblk's JSON output."""
    from org_ovirt_imgbased.tui.screens import DiskInfo
    data = runner.query_json(["lsblk", "--json", "--bytes", "--nodeps", "-o", "NAME,SIZE,TYPE,RO,MODEL"])
    return [DiskInfo(d["name"], int(d["size"]), (d.get("model") or "").strip())
            for d in data.get("blockdevices", []) if d["type"] == "disk" and not int(d["ro"] or 0)
            and int(d["size"] or 0) > 0]


def _not_applied(handler) -> list[str]:
    """The kickstart's commands and sections that imgbase-install does not carry out."""
    found = set()
    for cmd in {id(c): c for c in handler.commands.values() if getattr(c, "seen", False)}.values():
        lines = [ln for ln in str(cmd).splitlines() if ln.strip() and not ln.startswith("#")]
        name = lines[0].split()[0] if lines else ""
        if name and name not in APPLIED:
            found.add(name)
    found |= {f"%{_SCRIPT_NAMES.get(script.type, 'script')}" for script in handler.scripts}
    if handler.packages.seen:
        found.add("%packages")
    return sorted(found)


def _from_kickstart(args) -> tuple[AddonConfig, list[str], str | None]:
    """Config, kernel arguments and the kickstart's reboot/poweroff choice."""
    text = fetch.fetch_text(args.ks)
    name = args.ks.rsplit("/", 1)[-1]
    result = parse_kickstart(text, name=name)
    handler = result.handler
    payload = result.payload
    for option, used in (("--proxy", payload.proxy), ("--noverifyssl", payload.noverifyssl)):
        if used:
            raise ImgbaseError(f"{name} line {payload.lineno}: liveimg {option} is not supported by "
                               "imgbase-install (it fetches directly and always verifies TLS); remove it")
    skipped = _not_applied(handler)
    if skipped:
        log.warning("warning: %s: not applied by imgbase-install, which installs the image as it is "
                    "(set these in the image): %s", name, ", ".join(skipped))
    append = getattr(handler.bootloader, "appendLine", "") or ""
    action = {KS_REBOOT: "reboot", KS_SHUTDOWN: "poweroff"}.get(getattr(handler.reboot, "action", None))
    return result.config, shlex.split(append), action


def _interactive(runner: Runner, args) -> AddonConfig | None:
    """Run the text screens on a real terminal."""
    if not sys.stdin.isatty():
        raise ImgbaseError("--interactive needs a terminal on stdin; use --ks FILE for unattended installs")
    from org_ovirt_imgbased.tui.screens import run_interactive
    defaults = AddonConfig()
    if args.disk:
        defaults.disk = args.disk
    return run_interactive(_disks(runner), defaults)


def main(argv: list[str] | None = None) -> int:
    """Entry point of imgbase-install."""
    args = build_parser().parse_args(argv)
    setup_logging("imgbase-install", args.debug)
    runner = Runner(dry=args.dry)
    start = time.monotonic()

    def progress(msg: str) -> None:
        print(f"imgbase-install: [{time.monotonic() - start:5.0f}s] {msg}", flush=True)

    def body() -> int:
        kernel_args, action = [], None
        if args.ks:
            config, kernel_args, action = _from_kickstart(args)
        else:
            config = _interactive(runner, args)
            if config is None:
                print("imgbase-install: quit; nothing was written")
                return 1
        if args.disk:
            config.disk = args.disk
        from org_ovirt_imgbased.installer import install  # imports blivet: only when installing
        layer = install.install(config, runner, kernel_args, progress, wipe=args.wipe)
        disk = install.disk_path(config.disk)
        progress(f"installed: {layer} on {disk} is the default boot entry")
        print(json.dumps({"layer": layer, "disk": disk, "after": action}))
        return 0

    return guarded("imgbase-install", args.debug, body)

if __name__ == "__main__":
    sys.exit(main())
