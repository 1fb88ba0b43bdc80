# SPDX-License-Identifier: GPL-2.0-or-later
"""The /etc merge report: what an update carries, deletes, skips, and where both sides changed.

It is printed before the new layer becomes the default (and by ``update --dry-run``) and saved
into the new layer as ``/etc/imgbased/last-update.report`` plus a JSON twin
``last-update.json``.  /etc is the right home: it belongs to the layer the report describes, it
is where an administrator looks for configuration, and unlike /var (possibly a data volume
shared by every layer) it cannot be overwritten by another layer's update.  The merge itself
never carries these two files, so each layer holds the report of the update that made it.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from org_ovirt_imgbased.host.persist.fstree import display_path

REPORT_DIR = "etc/imgbased"
REPORT_TEXT = "last-update.report"
REPORT_JSON = "last-update.json"
REPORT_FORMAT = 1

CARRY = "carry"            # the local entry replaces the new layer's
DELETE = "delete"          # removed from the new layer (deleted locally)
CARRY_MODE = "carry-mode"  # a directory gets the local mode and owner
KEEP_NEW = "keep-new"      # the new image's version stays (a conflict, or a generated file)
SKIP = "skip"              # a FIFO, socket or device node: never carried
MERGE = "merge-records"    # passwd/group/shadow/gshadow written from the record merge
RECORD = "record"          # information about one account record (no file action of its own)
PERSIST = "persist"        # a persist-list path copied verbatim from the old layer
CHANGING = (CARRY, DELETE, CARRY_MODE, MERGE, PERSIST)


@dataclass
class Entry:
    """One planned step: the path in the host, the action, and why."""

    path: str
    action: str
    reason: str
    conflict: bool = False
    kind: str = ""

    def to_dict(self) -> dict:
        """A JSON-ready form; undecodable bytes of a name are escaped and also given as hex."""
        data = {"path": self.path, "action": self.action, "reason": self.reason,
                "conflict": self.conflict, "kind": self.kind}
        try:
            self.path.encode("utf-8")
        except UnicodeEncodeError:
            data["path"] = display_path(self.path)
            data["path_hex"] = os.fsencode(self.path).hex()
        return data

    def line(self) -> str:
        """One human-readable line."""
        return f"{self.action:<13} {display_path(self.path)}  ({self.reason})"


@dataclass
class MergeReport:
    """The plan of a configuration migration: entries, conflicts and warnings."""

    policy: str
    entries: list[Entry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    uid_map: dict[int, int] = field(default_factory=dict)
    gid_map: dict[int, int] = field(default_factory=dict)
    factory_missing: bool = False
    untouched: int = 0
    old_layer: str = ""
    new_layer: str = ""
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    account_texts: dict[str, tuple[bytes, int, int, int]] = field(default_factory=dict, repr=False)

    def add(self, path: str, action: str, reason: str, *, conflict: bool = False, kind: str = "") -> Entry:
        """Append an entry and return it."""
        entry = Entry(path, action, reason, conflict, kind)
        self.entries.append(entry)
        return entry

    @property
    def conflicts(self) -> list[Entry]:
        """Entries where the local system and the new image both changed something."""
        return [e for e in self.entries if e.conflict]

    @property
    def changes(self) -> list[Entry]:
        """Entries that change the new layer."""
        return [e for e in self.entries if e.action in CHANGING]

    def counts(self) -> dict[str, int]:
        """How many entries of each action, plus conflicts and untouched files."""
        counts = dict(Counter(e.action for e in self.entries))
        counts["conflicts"] = len(self.conflicts)
        counts["untouched"] = self.untouched
        return counts

    def summary(self) -> str:
        """A one-line summary."""
        c = self.counts()
        return (f"{c.get(CARRY, 0)} carried, {c.get(DELETE, 0)} deleted, {c.get(MERGE, 0)} account files "
                f"merged, {c.get(PERSIST, 0)} persisted, {c.get(SKIP, 0)} skipped, {c['conflicts']} "
                f"conflicts, {self.untouched} untouched files take the new defaults")

    def render(self) -> str:
        """The human-readable report."""
        lines = ["imgbased configuration migration report", f"created: {self.created}"]
        if self.old_layer or self.new_layer:
            lines.append(f"from layer: {self.old_layer or '?'}  to layer: {self.new_layer or '?'}")
        lines += [f"conflict policy: {self.policy}", f"summary: {self.summary()}"]
        lines += self._section("Warnings", self.warnings)
        lines += self._section("Conflicts", [e.line() for e in self.conflicts])
        lines += self._section("Changes", [e.line() for e in self.changes])
        lines += self._section("Not carried", [e.line() for e in self.entries
                                               if e.action in (SKIP, KEEP_NEW) and not e.conflict])
        lines += self._section("Accounts", [e.line() for e in self.entries
                                            if e.action == RECORD and not e.conflict])
        if self.uid_map or self.gid_map:
            maps = [f"uid {a} -> {b}" for a, b in sorted(self.uid_map.items())]
            maps += [f"gid {a} -> {b}" for a, b in sorted(self.gid_map.items())]
            lines += self._section("New layer files re-owned", maps)
        return "\n".join(lines) + "\n"

    @staticmethod
    def _section(title: str, items: list[str]) -> list[str]:
        """A titled, indented block, or nothing when items is empty."""
        if not items:
            return []
        return ["", f"{title} ({len(items)}):"] + [f"  {item}" for item in items]

    def to_dict(self) -> dict:
        """A JSON-ready form of the whole report."""
        return {
            "format": REPORT_FORMAT, "created": self.created, "policy": self.policy,
            "old_layer": self.old_layer, "new_layer": self.new_layer,
            "factory_missing": self.factory_missing, "counts": self.counts(),
            "warnings": list(self.warnings),
            "conflicts": [e.to_dict() for e in self.conflicts],
            "entries": [e.to_dict() for e in self.entries],
            "uid_map": {str(k): v for k, v in sorted(self.uid_map.items())},
            "gid_map": {str(k): v for k, v in sorted(self.gid_map.items())},
        }

    def to_json(self) -> str:
        """The JSON text of to_dict()."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def save(self, new_root: Path, runner) -> list[Path]:
        """Write the text and JSON reports into the new layer's /etc/imgbased; return the paths.

        The new image decides what etc/ and etc/imgbased are, so no symlink is followed on the way.
        """
        directory = Path(new_root) / REPORT_DIR
        text_path, json_path = directory / REPORT_TEXT, directory / REPORT_JSON
        for path, text in ((text_path, self.render()), (json_path, self.to_json())):
            runner.write_file(path, text, mode=0o600, beneath=Path(new_root), make_dirs=True)
        return [text_path, json_path]
