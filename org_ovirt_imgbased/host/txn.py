# SPDX-License-Identifier: GPL-2.0-or-later
"""Transactions: a journal of what an operation created, so failures leave nothing behind.

Before an LV or file is created its name is written to the journal (and
the LV is tagged ``imgbased:txn=<id>``).  If the operation fails, everything
it created is removed in reverse order; if the process dies, ``imgbase
recover`` finds the journal (or the tags) and does the same.  Once an
operation passes its point of no return (for an update: the new layer became
the default) the journal is marked committed and recover only tidies up.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from org_ovirt_imgbased import paths
from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host.storage import lvm, mounts
from org_ovirt_imgbased.runner import Runner, fsync_dir

log = logging.getLogger(__name__)

TXN_TAG = "imgbased:txn"


@dataclass
class Journal:
    """The persistent record of one operation."""

    id: str
    op: str
    vg: str
    step: str = "start"
    committed: bool = False
    lvs: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    undo: list[dict] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    boot_dir: str = ""  # the boot directory the undo records refer to ("" in older journals)


class Transaction:
    """Record, and on failure undo, what one imgbase operation creates."""

    def __init__(self, runner: Runner, vg: str, op: str, journal_dir: Path | None = None) -> None:
        """Start a journal for op on vg (nothing is written in dry mode)."""
        self.runner = runner
        self.dir = journal_dir or paths.journal_dir()
        self.journal = Journal(f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}", op, vg)
        self.undo_hooks: list[Callable[[], None]] = []

    @property
    def path(self) -> Path:
        """Where this transaction's journal lives."""
        return self.dir / f"{self.journal.id}.json"

    @property
    def tag(self) -> str:
        """The tag put on LVs this transaction creates."""
        return f"{TXN_TAG}={self.journal.id}"

    def _save(self) -> None:
        """Write the journal atomically (skipped in dry mode)."""
        if self.runner.dry:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            json.dump(asdict(self.journal), f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        fsync_dir(self.dir)

    def step(self, name: str) -> None:
        """Record that the operation reached step name."""
        self.journal.step = name
        self._save()
        log.debug("txn %s: step %s", self.journal.id, name)
        if os.environ.get("IMGBASED_FAULT_STEP") == name:  # fault injection for the crash tests
            os.kill(os.getpid(), signal.SIGKILL)

    def mark_committed(self) -> None:
        """Record the point of no return: from here on, recover completes instead of undoing."""
        self.journal.committed = True
        self._save()

    def will_create_lv(self, name: str) -> list[str]:
        """Journal an LV before it is created; returns the tags to create it with."""
        self.journal.lvs.append(name)
        self._save()
        return [self.tag]

    def will_create_file(self, path: Path) -> None:
        """Journal a file or directory before it is created."""
        self.journal.files.append(str(path))
        self._save()

    def on_rollback(self, hook: Callable[[], None], record: dict | None = None) -> None:
        """Run hook when rolling back (record describes it for recover)."""
        self.undo_hooks.append(hook)
        if record:
            self.journal.undo.append(record)
            self._save()

    def commit(self) -> None:
        """Mark the operation done: drop txn tags and the journal."""
        self.journal.committed = True
        self._save()
        finish(self.runner, self.journal, self.path)

    def rollback(self) -> list[str]:
        """Undo everything recorded, newest first; return problems met on the way."""
        try:
            problems = undo(self.runner, self.journal)
        except (ImgbaseError, OSError) as exc:  # never let the undo replace the caller's error
            problems = [f"undoing stopped: {problem_text(exc)}"]
        for hook in reversed(self.undo_hooks):
            try:
                hook()
            except (ImgbaseError, OSError) as exc:
                problems.append(problem_text(exc))
        if not problems and not self.runner.dry:
            try:
                self.path.unlink(missing_ok=True)
            except OSError as exc:
                problems.append(f"cannot remove the journal {self.path}: {problem_text(exc)}")
        return problems


def problem_text(exc: BaseException) -> str:
    """One line for an error met while cleaning up (an OSError names its file)."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def undo(runner: Runner, journal: Journal) -> list[str]:
    """Remove the files and LVs a journal recorded (those that exist)."""
    problems = []
    for name in reversed(journal.files):
        try:
            runner.remove(Path(name))
        except OSError as exc:
            problems.append(f"cannot remove {name}: {exc}")
    existing: dict[str, lvm.LV] = {}
    if journal.lvs:
        try:
            existing = {lv.name: lv for lv in lvm.list_lvs(runner, journal.vg)}
        except ImgbaseError:
            existing = {}  # the VG itself is gone
    tag = f"{TXN_TAG}={journal.id}"
    for name in reversed(journal.lvs):
        lv = existing.get(name)
        if lv is None:
            continue
        if tag not in lv.tags:  # same name, but not made by this operation: never ours to remove
            problems.append(f"left {journal.vg}/{name} alone: it lacks the tag {tag}, so "
                            f"{journal.op} {journal.id} did not create it")
            continue
        try:  # a problem with one LV never stops the undo of the others
            for point in (mounts.own_mounts(lv.dev) if lv.dev else []):
                runner.run(["umount", point], check=False)
            lvm.remove(runner, journal.vg, [name])
        except (ImgbaseError, OSError) as exc:
            problems.append(f"cannot remove {journal.vg}/{name}: {problem_text(exc)}")
    return problems


def refuse_pending(journal_dir: Path | None = None) -> None:
    """Refuse to start an operation while an interrupted one has not been recovered."""
    for _path, journal in pending(journal_dir):
        if not journal.committed:
            raise ImgbaseError(f"an interrupted {journal.op} ({journal.id}, stopped at step {journal.step}) "
                               "has not been cleaned up; run `imgbase recover` first")


def finish(runner: Runner, journal: Journal, path: Path) -> None:
    """Clear the txn tag from the LVs a committed journal created, then delete it."""
    tag = f"{TXN_TAG}={journal.id}"
    for lv in lvm.list_lvs(runner, journal.vg):
        if tag in lv.tags:
            lvm.change_tags(runner, f"{journal.vg}/{lv.name}", delete=[tag])
    if not runner.dry:
        path.unlink(missing_ok=True)


def scan(journal_dir: Path | None = None) -> tuple[list[tuple[Path, Journal]], list[tuple[Path, str]]]:
    """Journals left behind by interrupted operations, oldest first, and the unreadable ones with why."""
    found, unreadable = [], []
    for path in sorted((journal_dir or paths.journal_dir()).glob("*.json")):
        try:
            found.append((path, Journal(**json.loads(path.read_text()))))
        except (OSError, ValueError, TypeError) as exc:
            unreadable.append((path, problem_text(exc)))
    return found, unreadable


def pending(journal_dir: Path | None = None) -> list[tuple[Path, Journal]]:
    """Journals left behind by interrupted operations, oldest first; an unreadable one is an error."""
    found, unreadable = scan(journal_dir)
    if unreadable:
        path, reason = unreadable[0]
        raise ImgbaseError(f"unreadable journal {path}: {reason}; move it away and run recover again")
    return found
