# SPDX-License-Identifier: GPL-2.0-or-later
"""The addon's anaconda updates image: `make updates-img` into a chosen file, and what it holds.

The image is a gzip'd newc cpio of `make install DESTDIR=` (the addon under
/usr/share/anaconda/addons, its D-Bus files, /etc/anaconda/conf.d/90-imgbased.conf); the
installer's initramfs lays its files over the live root when booted with inst.updates=URL.

Trusted keys (the Makefile's TRUSTED_KEYS=) go in as etc/imgbased/trusted.d/NAME: inside anaconda
they are the installer's own trusted keys, so the addon checks the liveimg's signature with them.
A site does the same: `make updates-img TRUSTED_KEYS=publisher.gpg` (a `gpg --export KEYID`
file, or an armored one named *.asc), then serves the image as its inst.updates=.
"""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from imagelib.common import REPO_DIR, ImgbaseError, run

ADDON_INIT = "usr/share/anaconda/addons/org_ovirt_imgbased/__init__.py"
ADDON_SERVICE = "usr/share/anaconda/dbus/services/org.fedoraproject.Anaconda.Addons.OvirtImgbased.service"
TRUSTED_DIR = "etc/imgbased/trusted.d"  # paths.trusted_dir() inside the installer
KEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*\.(?:gpg|asc)")


def key_member(key: Path) -> str:
    """Where a trusted key file lands in the updates image."""
    return f"{TRUSTED_DIR}/{key.name}"


def stage_keys(keys: Sequence[Path], dest: Path) -> list[Path]:
    """Copy the trusted key files into dest (names the addon reads, once each); return the copies."""
    if keys and any(c.isspace() for c in str(dest)):  # make splits TRUSTED_KEYS= at white space
        raise ImgbaseError(f"the temporary directory {dest} has white space in its path: set TMPDIR elsewhere")
    copies: list[Path] = []
    for key in map(Path, keys):
        if not KEY_NAME.fullmatch(key.name):
            raise ImgbaseError(f"trusted key {key}: name it NAME.gpg (gpg --export) or NAME.asc (armored), "
                               "letters, digits and ._+- only: the addon reads only those")
        if not key.is_file():
            raise ImgbaseError(f"trusted key {key}: no such file")
        if any(c.name == key.name for c in copies):
            raise ImgbaseError(f"two trusted keys are named {key.name}: give each its own name")
        dest.mkdir(parents=True, exist_ok=True)
        copies.append(Path(shutil.copyfile(key, dest / key.name)))
    return copies


def build_updates(out: Path, repo: Path = REPO_DIR, trusted_keys: Sequence[Path] = ()) -> Path:
    """Build the updates image into out with the Makefile's updates-img target (and TRUSTED_KEYS=); return out."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="imgbased-updates-") as tmp:
        keys = stage_keys(trusted_keys, Path(tmp) / "keys")
        res = run(["make", "-s", "-C", repo, "updates-img", f"UPDATES_IMG={out.resolve()}",
                   f"UPDATES_DIR={Path(tmp) / 'tree'}", "TRUSTED_KEYS=" + " ".join(map(str, keys))], check=False)
    if res.returncode != 0:
        lines = [ln for ln in (res.stderr + res.stdout).splitlines() if ln.strip()]
        raise ImgbaseError(f"make updates-img failed: {lines[-1] if lines else 'no output'}")
    wanted = (ADDON_INIT, ADDON_SERVICE, *(key_member(k) for k in keys))
    missing = [p for p in wanted if p not in members(out)]
    if missing:
        raise ImgbaseError(f"{out.name} lacks {', '.join(missing)}: check the Makefile's install and updates-img "
                           "targets")
    return out


def members(img: Path) -> list[str]:
    """The paths in an updates image (relative, without the leading ./)."""
    try:
        raw = gzip.decompress(img.read_bytes())
    except (OSError, EOFError) as exc:
        raise ImgbaseError(f"{img} is not a gzip'd cpio archive: {exc}") from None
    res = subprocess.run(["cpio", "-t", "--quiet"], input=raw, capture_output=True, check=False)
    if res.returncode != 0:
        raise ImgbaseError(f"{img} is not a gzip'd cpio archive: {res.stderr.decode(errors='replace').strip()}")
    names = (ln.removeprefix("./") for ln in res.stdout.decode().splitlines())
    return [n for n in names if n and n != "."]
