# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared plumbing for image-tools: paths, progress lines, the command runner, the build lock."""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

TOOLS_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = TOOLS_DIR.parent
RECIPE_DIR = TOOLS_DIR / "image-recipe"

for _p in (str(REPO_DIR), str(TOOLS_DIR)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from vmlab.common import cache_dir  # noqa: E402

from org_ovirt_imgbased.errors import ImgbaseError  # noqa: E402
from org_ovirt_imgbased.runner import Result, Runner  # noqa: E402

__all__ = ["ImgbaseError", "Result", "Runner", "REPO_DIR", "RECIPE_DIR", "TOOLS_DIR", "image_cache",
           "log", "run", "build_lock", "Timer", "require_root"]

_RUNNER = Runner()


def log(msg: str) -> None:
    """Print a progress line on stderr (stdout is kept for results)."""
    print(f"image-tools: {msg}", file=sys.stderr, flush=True)


def run(argv: Sequence[str | os.PathLike], *, check: bool = True, env: dict[str, str] | None = None,
        input: str | None = None) -> Result:
    """Run one external command through the project's Runner, capturing its output."""
    return _RUNNER.run([str(a) for a in argv], check=check, env=env, input=input)


def image_cache() -> Path:
    """Return the directory holding cached base trees, images and liveimgs (outside the repo)."""
    path = cache_dir() / "image"
    path.mkdir(parents=True, exist_ok=True)
    return path


def require_root(what: str) -> None:
    """Fail with a clear message unless running as root."""
    if os.geteuid() != 0:
        raise ImgbaseError(f"{what} needs root (debootstrap, chroot and ownership); run it with sudo")


@contextlib.contextmanager
def build_lock() -> Iterator[None]:
    """Hold the image cache lock so two sessions never build the same image at once."""
    path = image_cache() / ".lock"
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log("another image build is running; waiting for it")
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class Timer:
    """Measure and report the wall time of named build phases."""

    def __init__(self) -> None:
        """Start with no phases recorded."""
        self.phases: dict[str, float] = {}

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the enclosed block and log its duration."""
        log(f"{name} ...")
        start = time.monotonic()
        yield
        took = time.monotonic() - start
        self.phases[name] = self.phases.get(name, 0.0) + took
        log(f"{name}: {took:.1f}s")
