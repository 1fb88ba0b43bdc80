# SPDX-License-Identifier: GPL-2.0-or-later
"""The three-way /etc merge of ``imgbase update`` (the persist list is in listed_paths.py).

Three trees take part:

- base:  OLD_ROOT/usr/share/factory/etc, the old image's pristine /etc;
- local: OLD_ROOT/etc, the old layer's /etc as the host changed it;
- new:   NEW_ROOT/etc, the new image's /etc.  NEW_ROOT must be the freshly deployed layer (or,
  for a dry run, the new image mounted read-only), so this equals the new factory copy.

Rules per path (an entry's identity is its kind, content, mode, owner and symlink target;
symlinks are never followed; a directory is compared by its own mode and owner):

- local equals base: untouched, the new default stays;
- local changed or added, new equals base: carried; deleted locally: deleted in the new layer;
- local and new made the same change: nothing to do;
- both changed: a conflict, decided by the policy (keep-local, the default, carries the local
  version or deletion; keep-new leaves the new image's version).  A file that became a
  directory (or the reverse) on one side is a conflict as well;
- FIFOs, sockets and device nodes are never carried (reported as skipped);
- a directory deleted locally: its files are handled one by one, and the directory goes only
  if nothing of the new image remains in it; a directory added locally is carried whole;
- passwd, group, shadow and gshadow are merged by record (see accounts.py);
- generated caches (ld.so.cache, hwdb.bin, lock and backup files) always take the new image's;
- the report files /etc/imgbased/last-update.* are never carried.

A systemd unit disabled locally (its .wants symlink deleted) therefore stays disabled and one
enabled locally stays enabled.  When the old image has no complete factory copy (none, or one
without passwd, like systemd's partial factory) nothing but the account files (local records
win) and the persist list is carried, and the report warns about it.

Usage: ``report = plan_etc(old, new, policy, persist=patterns)`` (changes nothing; print
``report.render()``), then ``apply_plan(report, old, new, runner)`` and
``report.save(new, runner)``; ``migrate_config`` does all three.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host.config import CONFLICT_POLICIES, DEFAULT_CONFLICT_POLICY
from org_ovirt_imgbased.host.persist import fstree as fs
from org_ovirt_imgbased.host.persist.accounts import ACCOUNT_FILES, merge_accounts
from org_ovirt_imgbased.host.persist.apply import apply_plan
from org_ovirt_imgbased.host.persist.listed_paths import plan_persist
from org_ovirt_imgbased.host.persist.report import (
    CARRY,
    CARRY_MODE,
    DELETE,
    KEEP_NEW,
    MERGE,
    RECORD,
    REPORT_DIR,
    REPORT_JSON,
    REPORT_TEXT,
    SKIP,
    MergeReport,
)

log = logging.getLogger(__name__)

FACTORY_ETC = "usr/share/factory/etc"
EXCLUDED = frozenset({f"{REPORT_DIR[4:]}/{REPORT_TEXT}", f"{REPORT_DIR[4:]}/{REPORT_JSON}"})
GENERATED = frozenset({"ld.so.cache", "udev/hwdb.bin", ".pwd.lock", ".updated",
                       "passwd-", "group-", "shadow-", "gshadow-", "subuid-", "subgid-"})
_FACTORY_MARKER = "passwd"


class _Side:
    """One of the three /etc trees, with owner IDs optionally translated."""

    def __init__(self, root: str | None, uid_map: dict[int, int] | None = None,
                 gid_map: dict[int, int] | None = None) -> None:
        """Remember the tree root (None: the tree does not exist)."""
        self.root, self.uid_map, self.gid_map = root, uid_map, gid_map

    def path(self, rel: str) -> str:
        """The absolute path of rel in this tree."""
        return os.path.join(self.root or "/nonexistent", rel) if rel else (self.root or "/nonexistent")

    def node(self, rel: str) -> fs.Node | None:
        """The entry at rel, or None."""
        return fs.lstat_node(self.path(rel), self.uid_map, self.gid_map) if self.root else None

    def children(self, rel: str) -> set[str]:
        """Names inside rel when it is a real directory."""
        return set(fs.list_dir(self.path(rel))) if self.root else set()


def _is_dir(node: fs.Node | None) -> bool:
    """True when node is a real directory."""
    return node is not None and node.kind == fs.DIR


def _join(rel: str, name: str) -> str:
    """rel/name, with rel possibly empty."""
    return f"{rel}/{name}" if rel else name


def _etc(rel: str) -> str:
    """The path as seen in the host."""
    return f"/etc/{rel}" if rel else "/etc"


class _Planner:
    """Walks base, local and new together and fills a MergeReport."""

    def __init__(self, report: MergeReport, base: _Side, local: _Side, new: _Side) -> None:
        """Set up a walk over the three trees."""
        self.report, self.base, self.local, self.new = report, base, local, new
        self.keep_local = report.policy == "keep-local"

    def same(self, a: fs.Node | None, b: fs.Node | None) -> bool:
        """Entry equality (see fstree.same_node)."""
        return fs.same_node(a, b)

    def tree_same(self, a: _Side, b: _Side, rel: str) -> bool:
        """Whole-subtree equality of rel in two trees."""
        na, nb = a.node(rel), b.node(rel)
        if not self.same(na, nb):
            return False
        if not _is_dir(na):
            return True
        names = a.children(rel)
        return names == b.children(rel) and all(self.tree_same(a, b, _join(rel, n)) for n in names)

    def walk(self, rel: str) -> None:
        """Plan every child of the directory rel."""
        names = self.base.children(rel) | self.local.children(rel) | self.new.children(rel)
        for name in sorted(names):
            self.visit(_join(rel, name))

    def visit(self, rel: str) -> bool:
        """Plan one path; return whether the new layer has an entry there afterwards."""
        b, loc, n = self.base.node(rel), self.local.node(rel), self.new.node(rel)
        if rel in EXCLUDED:
            return n is not None
        if rel in ACCOUNT_FILES and self.report.account_texts.get(rel) is not None:
            return True
        if rel in GENERATED:
            if not self.same(loc, b):
                self.report.add(_etc(rel), KEEP_NEW, "generated file; the new image's copy is kept",
                                kind=(loc or n or b).kind)
            return n is not None
        if _is_dir(loc) or _is_dir(n):
            return self.visit_dir(rel, b, loc, n)
        return self.visit_leaf(rel, b, loc, n)

    def visit_leaf(self, rel: str, b, loc, n) -> bool:
        """Plan a path that is a directory on neither the local nor the new side."""
        if self.same(loc, b):
            self.report.untouched += loc is not None
            return n is not None
        if loc is not None and (loc.special or loc.kind == "unknown"):
            self.report.add(_etc(rel), SKIP, f"a {loc.kind} is never carried", kind=loc.kind)
            return n is not None
        if self.same(loc, n):
            return n is not None
        if self.same(n, b):
            reason = "deleted locally" if loc is None else "added locally" if b is None else "changed locally"
            return self.take_local(rel, loc, reason, conflict=False)
        return self.conflict(rel, b, loc, n)

    def visit_dir(self, rel: str, b, loc, n) -> bool:
        """Plan a path that is a directory on the local or the new side."""
        if _is_dir(loc) and _is_dir(n):
            self.dir_meta(rel, b, loc, n)
            self.walk(rel)
            return True
        if _is_dir(loc):
            if _is_dir(b) and self.tree_same(self.base, self.local, rel):
                return n is not None
            if n is None and _is_dir(b):  # the new image dropped a directory the host changed
                return any([self.visit(_join(rel, name)) for name in
                            sorted(self.local.children(rel) | self.base.children(rel))])
            if n is None and b is None:
                return self.take_local(rel, loc, "added locally", conflict=False)
            return self.conflict(rel, b, loc, n)
        if loc is None:
            if b is None:
                return True
            if _is_dir(b):  # a directory deleted locally: decide file by file
                kept = [self.visit(_join(rel, name)) for name in
                        sorted(self.base.children(rel) | self.new.children(rel))]
                if any(kept):
                    return True
                self.report.add(_etc(rel), DELETE, "deleted locally", kind=fs.DIR)
                return False
            return self.conflict(rel, b, loc, n)
        if self.same(loc, b):
            self.report.untouched += 1
            return True
        if loc.special or loc.kind == "unknown":
            self.report.add(_etc(rel), SKIP, f"a {loc.kind} is never carried", kind=loc.kind)
            return True
        return self.conflict(rel, b, loc, n)

    def dir_meta(self, rel: str, b, loc, n) -> None:
        """Carry a local change of a directory's mode or owner."""
        if self.same(loc, b) or self.same(loc, n):
            return
        if self.same(n, b):
            self.report.add(_etc(rel), CARRY_MODE, "mode or owner changed locally", kind=fs.DIR)
            return
        action = CARRY_MODE if self.keep_local else KEEP_NEW
        self.report.add(_etc(rel), action, f"mode or owner changed locally and in the new image; "
                        f"kept the {'local' if self.keep_local else 'new'} one", conflict=True, kind=fs.DIR)

    def conflict(self, rel: str, b, loc, n) -> bool:
        """Both sides changed rel: report it and follow the policy."""
        reason = _conflict_reason(b, loc, n)
        if self.keep_local:
            return self.take_local(rel, loc, f"{reason}; kept the local version", conflict=True)
        self.report.add(_etc(rel), KEEP_NEW, f"{reason}; kept the new image's version", conflict=True,
                        kind=(n or loc).kind)
        return n is not None

    def take_local(self, rel: str, loc, reason: str, *, conflict: bool) -> bool:
        """Plan the local state of rel (its deletion, or the entry itself) into the new layer."""
        if loc is None:
            self.report.add(_etc(rel), DELETE, reason, conflict=conflict, kind="")
            return False
        self.report.add(_etc(rel), CARRY, reason, conflict=conflict, kind=loc.kind)
        if loc.kind == fs.DIR:
            self.carry_subtree(rel)
        return True

    def carry_subtree(self, rel: str) -> None:
        """Carry everything inside a carried local directory."""
        for name in sorted(self.local.children(rel)):
            child = _join(rel, name)
            node = self.local.node(child)
            if node is None or child in EXCLUDED:
                continue
            if node.special or node.kind == "unknown":
                self.report.add(_etc(child), SKIP, f"a {node.kind} is never carried", kind=node.kind)
                continue
            self.report.add(_etc(child), CARRY, f"inside {display(_etc(rel))}, carried", kind=node.kind)
            if node.kind == fs.DIR:
                self.carry_subtree(child)


def display(path: str) -> str:
    """A path for messages (see fstree.display_path)."""
    return fs.display_path(path)


def _conflict_reason(b, loc, n) -> str:
    """Describe how both sides changed an entry."""
    def state(node) -> str:
        """'absent' or 'a <kind>'."""
        return "absent" if node is None else f"a {node.kind}"
    if loc is None:
        return "deleted locally, changed in the new image"
    if n is None:
        return "changed locally, removed by the new image"
    if loc.kind != n.kind:
        return f"{state(loc)} locally but {state(n)} in the new image (was {state(b)})"
    if b is None:
        return "added locally and in the new image, differently"
    return "changed locally and in the new image"


def _check_policy(policy: str) -> None:
    """Refuse an unknown conflict policy."""
    if policy not in CONFLICT_POLICIES:
        raise ImgbaseError(f"unknown conflict policy {policy!r}; use {' or '.join(CONFLICT_POLICIES)}")


def factory_dir(root: Path) -> Path | None:
    """The usable factory copy of /etc under root, or None when absent or partial."""
    path = Path(root) / FACTORY_ETC
    marker = fs.lstat_node(str(path / _FACTORY_MARKER))
    if fs.lstat_node(str(path)) is None or marker is None or marker.kind != fs.FILE:
        return None
    return path


def plan_etc(old_root: Path, new_root: Path, policy: str = DEFAULT_CONFLICT_POLICY,
             persist: list[str] | tuple[str, ...] = ()) -> MergeReport:
    """Plan the /etc merge and the persist list; reads both trees and changes nothing."""
    _check_policy(policy)
    old_root, new_root = Path(old_root), Path(new_root)
    report = MergeReport(policy=policy)
    for root, label in ((old_root, "old layer"), (new_root, "new layer")):
        if fs.lstat_node(str(root / "etc")) is None or fs.lstat_node(str(root / "etc")).kind != fs.DIR:
            raise ImgbaseError(f"{display(str(root / 'etc'))} is not a directory; mount the {label} there")
    base = factory_dir(old_root)
    _plan_accounts(report, base, old_root / "etc", new_root / "etc")
    if base is None:
        report.factory_missing = True
        report.warnings.append(f"the old layer has no complete factory copy of /etc ({FACTORY_ETC}); only "
                               "the account files (local records win) and the persist list are carried, "
                               "other changes to /etc are NOT carried")
    else:
        planner = _Planner(report, _Side(str(base)), _Side(str(old_root / "etc")),
                           _Side(str(new_root / "etc"), report.uid_map, report.gid_map))
        planner.walk("")
    plan_persist(report, list(persist), old_root, new_root)
    return report


def _plan_accounts(report: MergeReport, base: Path | None, old_etc: Path, new_etc: Path) -> None:
    """Run the record merge of the account files and enter its results."""
    result = merge_accounts(base, old_etc, new_etc, report.policy)
    report.uid_map.update(result.uid_map)
    report.gid_map.update(result.gid_map)
    for kind, message in result.conflicts:
        report.add(f"/etc/{kind}", RECORD, message, conflict=True, kind=fs.FILE)
    for kind, message in result.notes:
        report.add(f"/etc/{kind}", RECORD, message, kind=fs.FILE)
    for kind, text in result.texts.items():
        local, base_node = fs.lstat_node(str(old_etc / kind)), None
        if base is not None:
            base_node = fs.lstat_node(str(base / kind))
        new = fs.lstat_node(str(new_etc / kind), report.uid_map, report.gid_map)
        meta = local if base is None or not _same_meta(local, base_node) else new
        data = text.encode("utf-8", "surrogateescape")
        report.account_texts[kind] = (data, meta.mode, meta.uid, meta.gid)
        if _same_meta(meta, new) and data == Path(new_etc / kind).read_bytes():
            continue
        report.add(f"/etc/{kind}", MERGE, "merged record by record with the local accounts", kind=fs.FILE)


def _same_meta(a: fs.Node | None, b: fs.Node | None) -> bool:
    """Equal mode and owner (both present)."""
    return a is not None and b is not None and (a.mode, a.uid, a.gid) == (b.mode, b.uid, b.gid)


def migrate_config(old_root: Path, new_root: Path, runner, policy: str = DEFAULT_CONFLICT_POLICY,
                   persist: list[str] | tuple[str, ...] = (), old_layer: str = "",
                   new_layer: str = "") -> MergeReport:
    """Plan, apply and save the configuration migration; return the report (print its render())."""
    report = plan_etc(old_root, new_root, policy, persist)
    report.old_layer, report.new_layer = old_layer, new_layer
    apply_plan(report, old_root, new_root, runner)
    report.save(new_root, runner)
    return report
