# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared helpers for the VM lab: errors, logging and the cache directory."""

from __future__ import annotations

import os
import sys
from pathlib import Path


class VmError(Exception):
    """A VM lab failure with a one-line, actionable message."""


def log(msg: str) -> None:
    """Print a progress line for the VM lab on stderr."""
    print(f"vm-run: {msg}", file=sys.stderr, flush=True)


def cache_dir() -> Path:
    """Return the cache directory shared by all VM lab runs (outside the repo)."""
    env = os.environ.get("IMGBASED_CACHE")
    if env:
        path = Path(env)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        path = Path(xdg) / "imgbased"
    path.mkdir(parents=True, exist_ok=True)
    return path


def parse_size(text: str) -> int:
    """Parse a size such as 512M, 8G or 1GiB into bytes."""
    units = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    raw = text.strip().lower().removesuffix("ib").removesuffix("b")
    num, unit = raw, ""
    if raw and raw[-1] in units:
        num, unit = raw[:-1], raw[-1]
    try:
        value = float(num)
    except ValueError:
        raise VmError(f"bad size {text!r}: use a number with K, M, G or T, e.g. 8G") from None
    if value <= 0:
        raise VmError(f"bad size {text!r}: it must be positive")
    return int(value * units[unit])
