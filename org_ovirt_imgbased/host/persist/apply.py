# SPDX-License-Identifier: GPL-2.0-or-later
"""Carrying out a planned configuration migration (see persist.py for the rules).

Order: re-own the new layer's files through the account ID maps (only the new image's files
are there yet), write the merged account files, apply the /etc entries in plan order (parents
before children), copy the persist list, then restore directory mtimes and flush directories.
With a dry runner the steps are printed and nothing changes.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host.persist import fstree as fs
from org_ovirt_imgbased.host.persist.listed_paths import copy_persisted
from org_ovirt_imgbased.host.persist.report import (
    CARRY,
    CARRY_MODE,
    CHANGING,
    DELETE,
    MERGE,
    PERSIST,
    Entry,
    MergeReport,
)
from org_ovirt_imgbased.runner import fsync_dir

log = logging.getLogger(__name__)


def print_plan(report: MergeReport, new_root: Path, runner) -> None:
    """Print what apply_plan would do, one 'dry:' line per step."""
    out = runner.out
    if report.uid_map or report.gid_map:
        maps = [f"uid {a}->{b}" for a, b in sorted(report.uid_map.items())]
        maps += [f"gid {a}->{b}" for a, b in sorted(report.gid_map.items())]
        print(f"dry: re-own files under {fs.display_path(str(new_root))}: {', '.join(maps)}", file=out)
    for entry in report.entries:
        if entry.action in CHANGING:
            print(f"dry: {entry.action} {fs.display_path(entry.path)}", file=out)


def apply_plan(report: MergeReport, old_root: Path, new_root: Path, runner) -> None:
    """Carry out the report's plan from old_root into new_root (a dry runner only prints it)."""
    if runner.dry:
        print_plan(report, new_root, runner)
        return
    old, new = str(old_root).rstrip("/"), str(new_root).rstrip("/")
    if os.path.realpath(old) == os.path.realpath(new):
        raise ImgbaseError("the old and the new layer are the same directory; mount the new layer elsewhere")
    if report.uid_map or report.gid_map:
        count = fs.remap_ownership(new, report.uid_map, report.gid_map)
        log.info("re-owned %d entries of the new layer after account ID changes", count)
    dir_times: list[str] = []
    touched: set[str] = set()
    for entry in report.entries:
        if entry.action in CHANGING:
            _apply_entry(entry, report, old, new, dir_times)
            touched.add(os.path.dirname(new + entry.path))
    for rel in dir_times:
        fs.copy_mtime(old + rel, new + rel)
    for directory in sorted(touched):
        fsync_dir(directory, missing_ok=True)


def _apply_entry(entry: Entry, report: MergeReport, old: str, new: str, dir_times: list[str]) -> None:
    """Carry out one changing entry."""
    rel = entry.path.lstrip("/")
    src, dst = f"{old}/{rel}", f"{new}/{rel}"
    log.debug("%s %s", entry.action, fs.display_path(entry.path))
    if entry.action == CARRY:
        fs.ensure_parents(new, rel, old)
        if fs.copy_entry(src, dst) == fs.DIR:
            dir_times.append(entry.path)
    elif entry.action == DELETE:
        fs.remove_path(dst)
    elif entry.action == CARRY_MODE:
        fs.set_dir_meta(src, dst)
        dir_times.append(entry.path)
    elif entry.action == MERGE:
        data, mode, uid, gid = report.account_texts[os.path.basename(rel)]
        fs.write_with_meta(dst, data, mode, uid, gid)
    elif entry.action == PERSIST:
        for special in copy_persisted(entry.path, Path(old or "/"), Path(new or "/")):
            report.warnings.append(f"persist: {fs.display_path(special)} is a special file; not copied")
