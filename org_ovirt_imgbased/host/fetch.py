# SPDX-License-Identifier: GPL-2.0-or-later
"""Fetch a kickstart or a payload named by URL (file://, http://, https:// or a plain path)."""

from __future__ import annotations

import shutil
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from org_ovirt_imgbased.errors import ImgbaseError

CHUNK = 1 << 20


def local_path(url: str) -> Path | None:
    """The local file a URL names (file:// or a plain path), or None for a remote URL."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme in ("", "file"):
        return Path(urllib.parse.unquote(parsed.path))
    return None


def fetch(url: str, workdir: Path, progress: bool = False) -> Path:
    """Return a local file holding url's content: the file itself, or a download into workdir."""
    path = local_path(url)
    if path is not None:
        if not path.is_file():
            raise ImgbaseError(f"{url}: no such file")
        return path
    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in ("http", "https"):
        raise ImgbaseError(f"{url}: unsupported URL scheme {scheme!r}; use http://, https:// or file://")
    name = Path(urllib.parse.urlparse(url).path).name or "download"
    workdir.mkdir(parents=True, exist_ok=True)
    target = workdir / name
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(target, "wb") as out:
            _copy(response, out, int(response.headers.get("Content-Length") or 0), progress, name)
    except (urllib.error.URLError, OSError) as exc:
        target.unlink(missing_ok=True)
        reason = getattr(exc, "reason", None) or exc
        raise ImgbaseError(f"cannot download {url}: {reason}") from None
    return target


def _copy(src, dst, total: int, progress: bool, name: str) -> None:
    """Copy a response to a file, printing progress now and then."""
    done, shown = 0, time.monotonic()
    while chunk := src.read(CHUNK):
        dst.write(chunk)
        done += len(chunk)
        if progress and time.monotonic() - shown > 2:
            shown = time.monotonic()
            pct = f" ({100 * done // total}%)" if total else ""
            print(f"downloading {name}: {done >> 20} MiB{pct}", file=sys.stderr, flush=True)


def fetch_text(url: str) -> str:
    """Read a small text file (a kickstart) from url."""
    path = local_path(url)
    if path is not None:
        try:
            return path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ImgbaseError(f"cannot read {path}: {exc.strerror}") from None
    tmp = Path("/run/imgbased") / "ks"
    try:
        return fetch(url, tmp).read_text(encoding="utf-8")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
