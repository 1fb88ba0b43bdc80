# SPDX-License-Identifier: GPL-2.0-or-later
"""Hooks: executables called at update events.

Executables in ``/etc/imgbased/hooks.d/`` and ``/usr/lib/imgbased/hooks.d/``
run in name order, called as ``HOOK EVENT ARG...``.  A file in /etc
overrides one of the same name in /usr/lib (as with systemd units).  Events:
``pre-update`` (a failure aborts the update before anything is created),
``new-layer-added``, ``post-update`` and ``base-removed`` (failures there
are reported as warnings).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from org_ovirt_imgbased import paths
from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.runner import Runner

log = logging.getLogger(__name__)

EVENTS = ("pre-update", "new-layer-added", "post-update", "base-removed")


def find_hooks(dirs: tuple[Path, ...] | None = None) -> list[Path]:
    """Executable hooks, earlier directories overriding later ones by file name."""
    dirs = paths.hook_dirs() if dirs is None else dirs
    chosen: dict[str, Path] = {}
    for directory in reversed(dirs):
        if not directory.is_dir():
            continue
        for path in directory.iterdir():
            if path.is_file() and os.access(path, os.X_OK) and not path.name.startswith("."):
                chosen[path.name] = path
    return [chosen[name] for name in sorted(chosen)]


def run(event: str, *args: str, runner: Runner, dirs: tuple[Path, ...] | None = None) -> None:
    """Run every hook for event; pre-* failures raise, others only warn."""
    if event not in EVENTS:
        raise ValueError(f"unknown hook event {event}")
    for hook in find_hooks(dirs):
        res = runner.run([str(hook), event, *args], check=False)
        if res.returncode == 0:
            continue
        reason = (res.stderr.strip().splitlines() or ["no error output"])[-1]
        if event.startswith("pre-"):
            raise ImgbaseError(f"{event} hook {hook} failed (exit {res.returncode}): {reason}; "
                               "nothing was changed")
        log.warning("warning: %s hook %s failed (exit %d): %s", event, hook, res.returncode, reason)
