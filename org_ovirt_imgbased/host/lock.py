# SPDX-License-Identifier: GPL-2.0-or-later
"""One imgbase operation at a time: an flock on a lock file in /run."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from org_ovirt_imgbased import paths
from org_ovirt_imgbased.errors import ImgbaseError


def _holder(f) -> str:
    """The pid recorded by the current lock holder, for the error message."""
    f.seek(0)
    pid = f.read().strip()
    return f"pid {pid}" if pid.isdigit() else "another process"


_depth = 0  # the lock is re-entrant within one process (update calls gc, which locks too)


@contextlib.contextmanager
def locked(path: Path | None = None, wait: float | None = None) -> Iterator[None]:
    """Hold the imgbased lock; wait up to wait seconds, then fail clearly."""
    global _depth
    path = path or paths.lock_path()
    wait = paths.lock_wait() if wait is None else wait
    if _depth:
        _depth += 1
        try:
            yield
        finally:
            _depth -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ImgbaseError(f"another imgbase is running ({_holder(f)} holds {path}); "
                                       "wait for it to finish and try again") from None
                time.sleep(0.2)
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        _depth = 1
        try:
            yield
        finally:
            _depth = 0
            f.truncate(0)
            fcntl.flock(f, fcntl.LOCK_UN)
