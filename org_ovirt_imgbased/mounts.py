"""Temporary mounts that are always undone, even when the work inside fails."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from . import paths
from .errors import ImgbaseError
from .runner import Runner


@contextlib.contextmanager
def mounted(runner: Runner, source: str, options: str = "", fstype: str | None = None,
            readonly_query: bool = False, failure: str | None = None) -> Iterator[Path]:
    """Mount source on a fresh directory under /run/imgbased and yield it.

    readonly_query marks mounts that change nothing on disk (a read-only look
    into an image), which run even in dry mode.  failure, if given, replaces the
    start of the error message when the mount itself fails.
    """
    base = paths.run_dir()
    base.mkdir(parents=True, exist_ok=True)
    target = Path(tempfile.mkdtemp(prefix="mnt-", dir=base))
    cmd = ["mount"]
    if fstype:
        cmd += ["-t", fstype]
    if options:
        cmd += ["-o", options]
    try:
        try:
            runner.run([*cmd, source, str(target)], readonly=readonly_query)
        except ImgbaseError as exc:
            if failure is None:
                raise
            raise ImgbaseError(f"{failure}: {exc}", detail=exc.detail) from None
        try:
            yield target
        finally:
            runner.run(["umount", str(target)], readonly=readonly_query)
    finally:
        with contextlib.suppress(OSError):
            target.rmdir()
