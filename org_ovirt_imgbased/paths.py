# SPDX-License-Identifier: GPL-2.0-or-later
"""Where imgbased keeps its few files, overridable through the environment (tests, chroots).

Read at call time, not import time, so one process can serve several test set-ups.
IMGBASED_LOCK, IMGBASED_LOCK_WAIT, IMGBASED_RUN_DIR, IMGBASED_STATE_DIR,
IMGBASED_HOOKS_DIRS, IMGBASED_TRUSTED_DIR and IMGBASED_CMDLINE override the defaults below.
"""

from __future__ import annotations

import os
from pathlib import Path


def lock_path() -> Path:
    """The lock file that serialises imgbase operations."""
    return Path(os.environ.get("IMGBASED_LOCK", "/run/imgbased.lock"))


def lock_wait() -> float:
    """Seconds a second imgbase waits for the lock before giving up."""
    return float(os.environ.get("IMGBASED_LOCK_WAIT", "10"))


def run_dir() -> Path:
    """Scratch mount points and other runtime files."""
    return Path(os.environ.get("IMGBASED_RUN_DIR", "/run/imgbased"))


def journal_dir() -> Path:
    """The transaction journal (on /var, so it survives a crash and a reboot)."""
    return Path(os.environ.get("IMGBASED_STATE_DIR", "/var/lib/imgbased")) / "journal"


def staging_dir() -> Path:
    """Downloaded images waiting to be applied (on /var, a data volume: never in a new LV)."""
    return Path(os.environ.get("IMGBASED_STATE_DIR", "/var/lib/imgbased")) / "images"


def trusted_dir() -> Path:
    """The OpenPGP public keys whose signatures imgbased accepts for images and channels."""
    return Path(os.environ.get("IMGBASED_TRUSTED_DIR", "/etc/imgbased/trusted.d"))


def hook_dirs() -> tuple[Path, ...]:
    """Hook directories, earlier ones overriding later ones."""
    value = os.environ.get("IMGBASED_HOOKS_DIRS", "/etc/imgbased/hooks.d:/usr/lib/imgbased/hooks.d")
    return tuple(Path(p) for p in value.split(":") if p)


def cmdline() -> Path:
    """The kernel command line that names the running layer."""
    return Path(os.environ.get("IMGBASED_CMDLINE", "/proc/cmdline"))
