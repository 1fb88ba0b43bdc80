# SPDX-License-Identifier: GPL-2.0-or-later
"""The check, diff and gc verbs of `imgbase` (parsers and thin handlers).

A verb whose report says something failed (a FAILED check, a base gc could not remove)
prints the full report itself, then raises ReportedFailure: the CLI prints that one-line
summary as ``imgbase: error: ...`` on stderr and exits 1, so the exit status tells scripts
what the report says while stdout keeps the complete text or JSON.
"""

from __future__ import annotations

from org_ovirt_imgbased.cli.common import ReportedFailure, Result, json_flag, print_result
from org_ovirt_imgbased.host.context import Context

# --- check ----------------------------------------------------------------------------------------

def add_check(sub) -> None:
    """imgbase check [--json]."""
    p = sub.add_parser("check", help="check the layout: storage, thin pool usage, boot entries, mounts",
                       description="Check that the VG, pool, bases and layers carry the right tags and "
                       "attributes, that no interrupted operation is left, that the thin pool's data and "
                       "metadata use are below the thresholds (warning above 70%, failure above [pool] "
                       "max-fill-percent) with autoextend set up, that every layer has a boot entry with its "
                       "kernel and initrd and the default exists, and that / is mounted with discard and "
                       "/var and the data volumes are separate mounts. Prints a line per check and "
                       "`Status: OK` or `Status: FAILED`; warnings do not fail. Exit status 1 on FAILED.")
    json_flag(p)
    p.set_defaults(handler=do_check)


def do_check(ctx: Context, args) -> Result:
    """Run the checks; print the report and fail when a check failed."""
    from org_ovirt_imgbased.host import check
    report = check.run_check(ctx)
    data, text = report.to_dict(), report.render()
    if report.failed:
        print_result(data, text, args.json)
        raise ReportedFailure(f"check found {report.count(check.FAILED)} problem(s) in {report.vg}; "
                              "see the FAILED lines for what to fix")
    return data, text


# --- diff -----------------------------------------------------------------------------------------

def add_diff(sub) -> None:
    """imgbase diff A [B] [--etc] [--json]."""
    p = sub.add_parser("diff", help="files added, changed and removed between two layers or bases",
                       description="Compare two bases or layers, or with one name the layer A and its base. "
                       "Both are mounted read-only for the comparison. Each path is reported as A (added), "
                       "M (changed, with the reasons: content, mode, owner, type, link, device) or D "
                       "(removed), from A to B. Control characters in names are shown escaped.")
    p.add_argument("a", metavar="A", help="the older layer or base (alone: a layer, compared with its base)")
    p.add_argument("b", metavar="B", nargs="?", help="the newer layer or base")
    p.add_argument("--etc", action="store_true", help="compare /etc only")
    json_flag(p)
    p.set_defaults(handler=do_diff)


def do_diff(ctx: Context, args) -> Result:
    """Compare the two trees."""
    from org_ovirt_imgbased.host import diff
    result = diff.diff(ctx, args.a, args.b, etc_only=args.etc)
    return result.to_dict(), result.render()


# --- gc -------------------------------------------------------------------------------------------

def add_gc(sub) -> None:
    """imgbase gc [--dry-run] [--keep N] [--json]."""
    p = sub.add_parser("gc", help="remove old bases under the retention policy",
                       description="Keep the newest N bases ([gc] keep in the configuration file, default 2), "
                       "the base of the running layer, of the default boot entry, of a layer armed for the "
                       "next boot, and every pinned base (imgbase base --pin); remove every other base with "
                       "its layers and their boot entries.")
    p.add_argument("--dry-run", action="store_true", help="print what would be removed and why the rest is kept")
    p.add_argument("--keep", type=int, metavar="N", help="keep the newest N bases (overrides [gc] keep)")
    json_flag(p)
    p.set_defaults(handler=do_gc)


def do_gc(ctx: Context, args) -> Result:
    """Plan or run garbage collection; fail (after printing) if a base could not be removed."""
    from org_ovirt_imgbased.host import gc
    result = gc.run_gc(ctx, dry_run=args.dry_run, keep=args.keep)
    data, text = result.to_dict(), result.render()
    if not result.ok:
        print_result(data, text, args.json)
        raise ReportedFailure(f"gc could not remove {', '.join(result.failed)}; see the errors above")
    return data, text


ADMIN_VERBS = [add_check, add_diff, add_gc]
