# SPDX-License-Identifier: GPL-2.0-or-later
"""The GRUB environment block: ``saved_entry``, ``next_entry`` and our pending-try marker.

The file is ``<boot>/grub2/grubenv`` (Fedora, RHEL) or ``<boot>/grub/grubenv`` (Debian),
whichever directory exists; an explicit path wins.  It is read and changed only through
``grub-editenv`` / ``grub2-editenv`` (whichever is installed) via the Runner, so dry mode
prints the changes instead of making them.  ``grub-editenv FILE list`` creates a missing
file, so a missing file is read as empty without running it.

Changes are written by imgbased itself, never in place: ``grub-editenv set`` truncates and
rewrites the same inode, so a crash or power cut there leaves a torn block that GRUB cannot
load.  A new 1024-byte block (GRUB's format: the header line, ``name=value`` lines, ``#``
padding) is written beside the file, fsynced and renamed over it, one write per change of
any number of variables.  A write killed before its rename leaves its temporary file
(``.grubenv.<12 hex>.tmp``); the next write removes such files, and only those.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.runner import Runner, stale_temps

SAVED = "saved_entry"
NEXT = "next_entry"
TRY = "imgbased_try"
EDITENV_NAMES = ("grub-editenv", "grub2-editenv")
BLOCK_SIZE = 1024
HEADER = "# GRUB Environment Block\n"


def grub_dir(boot_dir: Path = Path("/boot")) -> Path:
    """The GRUB directory under boot_dir: grub2/ if it exists, else grub/ if it exists.

    With neither, grub2/ when only grub2-editenv is installed (a Fedora-like host), else grub/.
    """
    boot_dir = Path(boot_dir)
    for name in ("grub2", "grub"):
        if (boot_dir / name).is_dir():
            return boot_dir / name
    only_grub2 = shutil.which("grub2-editenv") and not shutil.which("grub-editenv")
    return boot_dir / ("grub2" if only_grub2 else "grub")


def grubenv_path(boot_dir: Path = Path("/boot"), explicit: Path | None = None) -> Path:
    """The grubenv file: the explicit path if given, else grubenv in grub_dir(boot_dir)."""
    if explicit is not None:
        return Path(explicit)
    return grub_dir(boot_dir) / "grubenv"


def editenv_command(path: Path | None = None) -> str:
    """The installed editenv tool; grub2-editenv first when the file lives in a grub2/ dir."""
    names = EDITENV_NAMES
    if path is not None and Path(path).parent.name == "grub2":
        names = tuple(reversed(names))
    for name in names:
        if shutil.which(name):
            return name
    raise ImgbaseError("neither grub-editenv nor grub2-editenv is installed; install grub-common "
                       "(Debian) or grub2-tools-minimal (Fedora)")


def render_block(values: Mapping[str, str]) -> bytes:
    """The 1024-byte environment block GRUB reads for values (backslashes escaped as GRUB does)."""
    body = HEADER + "".join(f"{name}={value.replace(chr(92), chr(92) * 2)}\n" for name, value in values.items())
    raw = body.encode()
    if len(raw) > BLOCK_SIZE:
        raise ImgbaseError(f"the grubenv variables need {len(raw)} bytes, more than GRUB's {BLOCK_SIZE}-byte "
                           "block; unset some with grub-editenv FILE unset NAME")
    return raw + b"#" * (BLOCK_SIZE - len(raw))


def parse_list(text: str) -> dict[str, str]:
    """Parse ``grub-editenv list`` output: one ``name=value`` per line."""
    env: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and name:
            env[name] = value
    return env


class GrubEnv:
    """One grubenv file, read and changed through grub-editenv."""

    def __init__(self, runner: Runner, path: Path) -> None:
        """Bind to a runner and a grubenv path."""
        self.runner = runner
        self.path = Path(path)

    @classmethod
    def at(cls, runner: Runner, boot_dir: Path = Path("/boot"), explicit: Path | None = None) -> GrubEnv:
        """The grubenv of boot_dir (or the explicit file)."""
        return cls(runner, grubenv_path(boot_dir, explicit))

    def _tool(self) -> str:
        """The editenv command for this file."""
        return editenv_command(self.path)

    def read(self) -> dict[str, str]:
        """All variables; empty when the file does not exist yet."""
        if not self.path.is_file():
            return {}
        return parse_list(self.runner.query([self._tool(), str(self.path), "list"]))

    def get(self, name: str) -> str | None:
        """One variable, or None when unset or empty."""
        return self.read().get(name) or None

    def set(self, values: Mapping[str, str]) -> None:
        """Set variables (creating the file and its directory if needed)."""
        self.change(values)

    def unset(self, names: Iterable[str]) -> None:
        """Unset variables; does nothing for a missing file or no names."""
        self.change({}, names)

    def change(self, values: Mapping[str, str], unset: Iterable[str] = ()) -> None:
        """Set values and unset names in one atomic write of the whole block.

        The block is written to a temporary file beside grubenv, fsynced and renamed over it
        (over the file a symlinked grubenv points at), so a crash leaves the old or the new one.
        """
        names = [n for n in unset if n]
        for name, value in values.items():
            if "=" in name or not name or "\n" in value or "\n" in name:
                raise ImgbaseError(f"bad grubenv assignment {name!r}={value!r}")
        if not values and (not names or not self.path.is_file()):
            return
        current = self.read()
        new = {k: v for k, v in current.items() if k not in names}
        new.update(values)
        if new == current and self.path.is_file():
            return
        block = render_block(new)
        target = Path(os.path.realpath(self.path))
        for leftover in stale_temps(target):  # from a write that was killed before its rename
            try:
                self.runner.remove(leftover)
            except OSError as exc:
                raise ImgbaseError(f"cannot remove {leftover}, left by an interrupted grubenv write: "
                                   f"{exc.strerror or exc}; remove it by hand") from None
        if self.runner.dry:
            what = [f"set {' '.join(f'{k}={v}' for k, v in values.items())}" if values else "",
                    f"unset {' '.join(names)}" if names else ""]
            self.runner.plan(f"write {target}: {'; '.join(w for w in what if w)}")
            return
        self.runner.makedirs(target.parent)
        mode = stat.S_IMODE(target.stat().st_mode) if target.is_file() else 0o644
        try:
            self.runner.write_file(target, block, mode=mode)
        except OSError as exc:
            raise ImgbaseError(f"cannot write {target}: {exc.strerror or exc}") from None
