"""Temporary mounts that are always undone, even when the work inside fails."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from . import mountinfo, paths
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


def _device_number(device: str) -> tuple[int, int] | None:
    """The (major, minor) of a block device node, or None if it is not one."""
    try:
        rdev = os.stat(device).st_rdev
    except OSError:
        return None
    return (os.major(rdev), os.minor(rdev)) if rdev else None


@contextlib.contextmanager
def mounted_volume(runner: Runner, device: str, writable: bool = False, options: str | None = None,
                   readonly_query: bool = False) -> Iterator[Path]:
    """Mount a volume's filesystem, read-only unless writable, even if it is in use already.

    A filesystem that is mounted somewhere (the running layer at /, say) cannot
    be mounted again with other flags, so its existing mount is bind-mounted
    instead; the bind shows that filesystem only, without the mounts below it.
    options replaces the plain "ro"/"rw" when the device is mounted afresh.
    """
    number = _device_number(device)
    whole = mountinfo.whole_mount_of(mountinfo.read(), number) if number else None
    if whole is None:
        source, how = device, options or ("rw" if writable else "ro")
    else:
        source, how = whole.mountpoint, "bind" if writable else "bind,ro"
    with mounted(runner, source, how, readonly_query=readonly_query) as target:
        yield target
