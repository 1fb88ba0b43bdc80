# SPDX-License-Identifier: GPL-2.0-or-later
"""The persist list: extra paths or globs (``[persist] paths`` in imgbased.conf) copied verbatim.

Each match in the old layer replaces the same path in the new layer, recursively for a
directory, after the /etc merge (so it also overrides the merge for paths under /etc).
Matches inside another match are copied once, with their ancestor.  A path whose parent
leaves the layer (through a symlink, or onto another filesystem such as a data volume, which
an update never modifies) is not copied and a warning says so; FIFOs, sockets and device
nodes are skipped.  Globs follow Python's glob: ``*`` does not match a leading dot and
``**`` matches any depth.
"""

from __future__ import annotations

import glob
import logging
import os
from pathlib import Path

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host.config import persist_path_problem
from org_ovirt_imgbased.host.persist import fstree as fs
from org_ovirt_imgbased.host.persist.report import PERSIST, SKIP, MergeReport
from org_ovirt_imgbased.runner import fsync_dir

log = logging.getLogger(__name__)


def expand_persist(patterns: list[str], old_root: Path) -> tuple[list[str], list[str]]:
    """Expand persist patterns in the old layer: (absolute host paths, warnings)."""
    root = str(old_root).rstrip("/")
    found: list[str] = []
    warnings: list[str] = []
    for pattern in patterns:
        problem = persist_path_problem(pattern)
        if problem:
            raise ImgbaseError(f"persist path {pattern!r} {problem}")
        pattern = "/" + "/".join(p for p in pattern.split("/") if p)
        if glob.has_magic(pattern):
            matches = glob.glob(glob.escape(root) + pattern, recursive=True)
        else:
            matches = [root + pattern] if os.path.lexists(root + pattern) else []
        if not matches:
            warnings.append(f"persist path {fs.display_path(pattern)} matches nothing in the old layer")
        found += ["/" + os.path.relpath(m, root or "/") for m in matches]
    found = sorted(set(found))
    top = [p for p in found if not any(p.startswith(q + "/") for q in found if q != p)]
    return top, warnings


def leaves_root(root: Path, host_path: str) -> bool:
    """True when the parent of host_path under root resolves outside root or onto another fs."""
    base = str(root).rstrip("/")
    existing = os.path.dirname(base + host_path)
    while not os.path.lexists(existing) and len(existing) > len(base):
        existing = os.path.dirname(existing)
    real, real_root = os.path.realpath(existing), os.path.realpath(base or "/")
    if real != real_root and not real.startswith(real_root.rstrip("/") + "/"):
        return True
    return os.stat(real).st_dev != os.stat(real_root).st_dev


def plan_persist(report: MergeReport, patterns: list[str], old_root: Path, new_root: Path) -> None:
    """Add persist-list entries (and warnings) to the report; changes nothing."""
    paths, warnings = expand_persist(patterns, Path(old_root))
    report.warnings += warnings
    for path in paths:
        if leaves_root(Path(old_root), path) or leaves_root(Path(new_root), path):
            report.warnings.append(f"persist path {fs.display_path(path)} leaves the layer (a symlink or "
                                   "another filesystem, such as a data volume) and is not copied")
            continue
        node = fs.lstat_node(str(old_root).rstrip("/") + path)
        if node is None or node.special or node.kind == "unknown":
            kind = node.kind if node else "vanished entry"
            report.add(path, SKIP, f"a {kind} is never copied", kind=node.kind if node else "")
            continue
        report.add(path, PERSIST, "on the persist list; copied verbatim", kind=node.kind)


def copy_persisted(path: str, old_root: Path, new_root: Path) -> list[str]:
    """Copy one persist-list path from the old layer to the new one; return skipped specials."""
    rel = path.lstrip("/")
    old, new = str(old_root).rstrip("/"), str(new_root).rstrip("/")
    fs.ensure_parents(new, rel, old)
    skipped: list[str] = []
    log.debug("persist: %s", fs.display_path(path))
    fs.copy_tree(f"{old}/{rel}", f"{new}/{rel}", skipped)
    fsync_dir(os.path.dirname(f"{new}/{rel}"), missing_ok=True)
    return ["/" + os.path.relpath(s, old or "/") for s in skipped]


def persist_paths(patterns: list[str], old_root: Path, new_root: Path, runner) -> list[str]:
    """Copy the persist list from old_root to new_root (dry runner: print only); return the paths."""
    report = MergeReport(policy="keep-local")
    plan_persist(report, list(patterns), Path(old_root), Path(new_root))
    for warning in report.warnings:
        log.warning("%s", warning)
    done = []
    for entry in report.entries:
        if entry.action != PERSIST:
            continue
        if runner.dry:
            print(f"dry: persist {fs.display_path(entry.path)}", file=runner.out)
        else:
            for special in copy_persisted(entry.path, Path(old_root), Path(new_root)):
                log.warning("persist: %s is a special file and was not copied", fs.display_path(special))
        done.append(entry.path)
    return done
