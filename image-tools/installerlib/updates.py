# SPDX-License-Identifier: GPL-2.0-or-later
"""The addon's anaconda updates image: `make updates-img` into a chosen file, and what it holds.

The image is a gzip'd newc cpio of `make install DESTDIR=` (the addon under
/usr/share/anaconda/addons, its D-Bus files, /etc/anaconda/conf.d/90-imgbased.conf); the
installer's initramfs lays its files over the live root when booted with inst.updates=URL.
"""

from __future__ import annotations

import gzip
import subprocess
import tempfile
from pathlib import Path

from imagelib.common import REPO_DIR, ImgbaseError, run

ADDON_INIT = "usr/share/anaconda/addons/org_ovirt_imgbased/__init__.py"
ADDON_SERVICE = "usr/share/anaconda/dbus/services/org.fedoraproject.Anaconda.Addons.OvirtImgbased.service"


def build_updates(out: Path, repo: Path = REPO_DIR) -> Path:
    """Build the updates image into out with the Makefile's updates-img target; return out."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="imgbased-updates-") as tmp:
        res = run(["make", "-s", "-C", repo, "updates-img", f"UPDATES_IMG={out.resolve()}",
                   f"UPDATES_DIR={Path(tmp) / 'tree'}"], check=False)
    if res.returncode != 0:
        lines = [ln for ln in (res.stderr + res.stdout).splitlines() if ln.strip()]
        raise ImgbaseError(f"make updates-img failed: {lines[-1] if lines else 'no output'}")
    missing = [p for p in (ADDON_INIT, ADDON_SERVICE) if p not in members(out)]
    if missing:
        raise ImgbaseError(f"{out.name} lacks {', '.join(missing)}: check the Makefile's install target")
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
