# SPDX-License-Identifier: GPL-2.0-or-later
"""Hooks: executables called at update events.

Executables in ``/etc/imgbased/hooks.d/`` and ``/usr/lib/imgbased/hooks.d/``
run in name order, called as ``HOOK EVENT ARG...``.  A file in /etc
overrides one of the same name in /usr/lib (as with systemd units).  Events:
``pre-update`` (a failure aborts the update before anything is created),
``new-layer-added``, ``post-update`` and ``base-removed`` (failures there
are reported as warnings).  A hook that cannot be started (missing interpreter,
no ``#!`` line) has failed like any other.  Hooks run as root, so a hook, or a
hook directory, that is not owned by root (or the user running imgbase) or is
writable by group or others is skipped with a warning naming it; so is a hook
directory with such a directory above it, up to / (a sticky directory such as /tmp
may be writable by others: they cannot replace what they do not own).  A hook still running after
``[hooks] timeout`` seconds (300 by default) is killed with its process group, and counts as failed.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from org_ovirt_imgbased import paths
from org_ovirt_imgbased.errors import CommandTimeout, ImgbaseError
from org_ovirt_imgbased.host.config import DEFAULT_HOOK_TIMEOUT
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
        unsafe = _unsafe(directory) or _unsafe_parents(directory)
        if unsafe:
            log.warning("warning: skipping the hook directory %s: %s", directory, unsafe)
            continue
        for path in directory.iterdir():
            if path.is_file() and os.access(path, os.X_OK) and not path.name.startswith("."):
                unsafe = _unsafe(path)
                if unsafe:
                    log.warning("warning: skipping the hook %s: %s", path, unsafe)
                    chosen.pop(path.name, None)
                    continue
                chosen[path.name] = path
    return [chosen[name] for name in sorted(chosen)]


def _unsafe(path: Path) -> str | None:
    """Why root must not run path (or what is in it), or None: owner and write permissions."""
    return _owner_problem(path, "it", "it")


def _owner_problem(path: Path, what: str, fix: str, sticky_ok: bool = False) -> str | None:
    """The one ownership rule: owned by root (or us), not writable by group or others."""
    try:
        st = os.stat(path)
    except OSError as exc:
        return f"cannot check {'it' if what == 'it' else what}: {exc.strerror or exc}"
    if st.st_uid not in (0, os.geteuid()):
        return f"{what} is owned by uid {st.st_uid}, not root; chown root {fix}"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not (sticky_ok and st.st_mode & stat.S_ISVTX):
        return f"{what} is writable by group or others; chmod go-w {fix}"
    return None


def _unsafe_parents(directory: Path) -> str | None:
    """Why a directory above directory (as given and as resolved, up to /) lets others swap it, or None."""
    given = Path(os.path.abspath(directory))
    real = Path(os.path.realpath(directory))
    for parent in dict.fromkeys([*given.parents, *real.parents]):
        problem = _owner_problem(parent, f"the directory {parent} above it", str(parent), sticky_ok=True)
        if problem:
            return problem
    return None


def run(event: str, *args: str, runner: Runner, dirs: tuple[Path, ...] | None = None,
        timeout: float = DEFAULT_HOOK_TIMEOUT) -> None:
    """Run every hook for event, each for at most timeout seconds; pre-* failures raise, others only warn."""
    if event not in EVENTS:
        raise ValueError(f"unknown hook event {event}")
    for hook in find_hooks(dirs):
        try:
            res = runner.run([str(hook), event, *args], check=False, timeout=timeout)
        except CommandTimeout:
            status = f"timed out after {timeout:g} s"
            reason = "it was killed; make it finish sooner or raise [hooks] timeout in /etc/imgbased.conf"
        except (ImgbaseError, OSError) as exc:  # bad interpreter, no #! line (ENOEXEC), ...
            status = "cannot be started"
            reason = (exc.strerror or str(exc)) if isinstance(exc, OSError) else \
                "not found (is the interpreter on its #! line installed?)"
        else:
            if res.returncode == 0:
                continue
            status = f"exit {res.returncode}"
            reason = (res.stderr.strip().splitlines() or ["no error output"])[-1]
        if event.startswith("pre-"):
            raise ImgbaseError(f"{event} hook {hook} failed ({status}): {reason}; nothing was changed")
        log.warning("warning: %s hook %s failed (%s): %s", event, hook, status, reason)
