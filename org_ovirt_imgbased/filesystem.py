"""Filesystem chores on LVs: check, fresh UUID, read the UUID."""

from __future__ import annotations

from .errors import ImgbaseError
from .runner import Runner


def fsck(runner: Runner, device: str) -> None:
    """Run a forced e2fsck that repairs; fail only on uncorrected errors (exit >= 4)."""
    res = runner.run(["e2fsck", "-f", "-y", device], check=False)
    if res.returncode >= 4:
        raise ImgbaseError(f"e2fsck found errors it could not fix on {device} (exit {res.returncode})",
                           detail=res.stdout + res.stderr)


def new_uuid(runner: Runner, device: str) -> None:
    """Give an ext4 filesystem a fresh random UUID (a thin snapshot keeps its origin's)."""
    fsck(runner, device)
    runner.run(["tune2fs", "-U", "random", device])


def fs_uuid(runner: Runner, device: str) -> str:
    """Read a filesystem's UUID with blkid (probing, not the cache)."""
    return runner.query(["blkid", "-p", "-s", "UUID", "-o", "value", device], check=False).strip()
