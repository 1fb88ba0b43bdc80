# SPDX-License-Identifier: GPL-2.0-or-later
"""Fetch a kickstart or a payload named by URL (file://, http://, https:// or a plain path)."""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from org_ovirt_imgbased import paths
from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.units import MiB, human

CHUNK = MiB
#: The most fetch_text reads: a kickstart, a checksum or a manifest is far smaller than this.
TEXT_LIMIT = MiB
#: The schemes imgbased downloads from; everything else is refused before any request.
REMOTE_SCHEMES = ("http", "https")
#: Seconds a request may wait for the server to connect or to send the next bytes.
TIMEOUT = 60


class _SameSchemeRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to the same scheme: never https to http, never to ftp or file."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        """Refuse a redirect that changes the scheme, in one line naming both URLs."""
        old, new = urllib.parse.urlsplit(req.full_url).scheme, urllib.parse.urlsplit(newurl).scheme
        if new != old:
            raise ImgbaseError(f"{req.full_url} redirects to {newurl}, another scheme ({old} to {new}); "
                               "refused: give the final URL")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def opener() -> urllib.request.OpenerDirector:
    """A URL opener that follows redirects only to the same scheme.

    Built per call, not at import, so that SSL_CERT_FILE and the proxy variables are read when the
    request is made (Python 3.12 and later fix the TLS context when the handler is built).
    """
    return urllib.request.build_opener(_SameSchemeRedirects)


def local_path(url: str) -> Path | None:
    """The local file a URL names (file:// or a plain path), or None for a remote URL."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme in ("", "file"):
        return Path(urllib.parse.unquote(parsed.path))
    return None


def integrity_problem(url: str, checksum: str | None) -> str | None:
    """Why url cannot be installed as it is: plain http without a checksum proves nothing."""
    if urllib.parse.urlsplit(url).scheme == "http" and not checksum:
        return (f"{url} is plain http without a checksum: anything on the way can change it; add "
                "--checksum=sha256:HEX, or serve it over https")
    return None


def fetch(url: str, workdir: Path, progress: bool = False, limit: int | None = None,
          what: str = "file") -> Path:
    """Return a local file holding url's content: the file itself, or a download into workdir.

    With limit, a download larger than limit bytes (what names it in the error) is refused.
    """
    path = local_path(url)
    if path is not None:
        if not path.is_file():
            raise ImgbaseError(f"{url}: no such file")
        return path
    check_remote(url)
    name = Path(urllib.parse.urlparse(url).path).name or "download"
    workdir.mkdir(parents=True, exist_ok=True)
    target = workdir / name
    try:
        with opener().open(url, timeout=TIMEOUT) as response, open(target, "wb") as out:
            total = content_length(response.headers.get("Content-Length")) or 0
            if limit is not None and total > limit:
                raise too_large(url, what, limit)
            _copy(response, out, total, progress, name, limit, lambda: too_large(url, what, limit))
    except (urllib.error.URLError, OSError) as exc:
        target.unlink(missing_ok=True)
        raise ImgbaseError(f"cannot download {url}: {reason(exc)}") from None
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target


def open_stream(url: str):
    """A binary stream of what url serves (a local file, or http(s) with same-scheme redirects only).

    Errors while opening are one line, and so is a response that ends before its Content-Length;
    the caller reads it (and says what another failed read means).
    """
    path = local_path(url)
    if path is not None and not path.is_file():
        raise ImgbaseError(f"{url}: no such file")
    try:
        stream = _open_for_reading(url, path)
    except (urllib.error.URLError, OSError) as exc:
        raise ImgbaseError(f"cannot read {url}: {reason(exc)}") from None
    return stream if path is not None else _Announced(stream, url)


class _Announced:
    """A response that refuses to end before its Content-Length (urllib just returns b"" early)."""

    def __init__(self, response, url: str) -> None:
        """Wrap an open response of url."""
        self._response, self._url, self._done = response, url, 0
        self._total = content_length(response.headers.get("Content-Length"))

    def read(self, size: int = -1) -> bytes:
        """The next bytes; b"" only at the announced end, else a one-line error."""
        chunk = self._response.read(size)
        self._done += len(chunk)
        if not chunk and size and self._total is not None and self._done < self._total:
            raise ImgbaseError(f"cannot read {self._url}: the connection closed after {human(self._done)} of "
                               f"{human(self._total)}; try again")
        return chunk

    def __enter__(self) -> _Announced:
        """The stream itself."""
        return self

    def __exit__(self, *exc) -> None:
        """Close the response."""
        self._response.close()


def _open_for_reading(url: str, path: Path | None):
    """A binary stream of a local file, or of a remote URL over the same-scheme opener."""
    if path is not None:
        return open(path, "rb")  # noqa: SIM115 - the caller's with-block closes it
    check_remote(url)
    return opener().open(url, timeout=TIMEOUT)


def reachable_problem(url: str, timeout: float = 10) -> str | None:
    """Why url cannot be read now (no such file, no answer, not 200), or None."""
    path = local_path(url)
    if path is not None:
        return None if path.is_file() else f"{url}: no such file"
    try:
        check_remote(url)
        request = urllib.request.Request(url, method="HEAD")
        with opener().open(request, timeout=timeout) as response:
            status = getattr(response, "status", 200)
    except ImgbaseError as exc:
        return str(exc)
    except urllib.error.HTTPError as exc:
        return f"{url} answers {reason(exc)}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"{url} does not answer: {reason(exc)}"
    return None if status == 200 else f"{url} answers {status}, not 200"


def reason(exc: BaseException) -> str:
    """A short reason for a failed request: the HTTP status, or the network error."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    return str(getattr(exc, "reason", None) or exc)


def check_remote(url: str) -> None:
    """Refuse a scheme imgbased does not download from."""
    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in REMOTE_SCHEMES:
        raise ImgbaseError(f"{url}: unsupported URL scheme {scheme!r}; use http://, https:// or file://")


def too_large(shown: str, what: str, limit: int | None) -> ImgbaseError:
    """The one-line error for a text file over its size limit."""
    return ImgbaseError(f"{what} {shown} is larger than {human(limit or 0, exact=True)}, the most imgbased "
                        f"reads for a {what}; check that the URL names a {what}, not an image")


def content_length(header: str | None) -> int | None:
    """The Content-Length a server announced, or None when it is missing or not a number."""
    try:
        value = int(header or "")
    except ValueError:
        return None
    return value if value >= 0 else None


def _copy(src, dst, total: int, progress: bool, name: str, limit: int | None = None,
          too_big=None) -> None:
    """Copy a response to a file, printing progress now and then; past limit bytes raise too_big()."""
    done, shown = 0, time.monotonic()
    while chunk := src.read(CHUNK):
        done += len(chunk)
        if limit is not None and done > limit:
            raise too_big()
        dst.write(chunk)
        if progress and time.monotonic() - shown > 2:
            shown = time.monotonic()
            pct = f" ({100 * done // total}%)" if total else ""
            print(f"downloading {name}: {done >> 20} MiB{pct}", file=sys.stderr, flush=True)


def read_text_file(path: Path, what: str = "file", shown: str | None = None, limit: int | None = None) -> str:
    """Read a UTF-8 text file; one that is not UTF-8 is a one-line error naming the first bad byte.

    shown replaces the path in messages (the URL a download came from); a file larger than
    limit bytes is refused without reading the rest.
    """
    shown = shown or str(path)
    try:
        with open(path, "rb") as f:
            raw = f.read() if limit is None else f.read(limit + 1)
    except OSError as exc:
        raise ImgbaseError(f"cannot read {what} {shown}: {exc.strerror}") from None
    if limit is not None and len(raw) > limit:
        raise too_large(shown, what, limit)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ImgbaseError(f"{what} {shown} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
                           f"{exc.start}); save it as UTF-8") from None


def fetch_text(url: str, limit: int = TEXT_LIMIT) -> str:
    """Read a small text file (a kickstart) from url: at most limit bytes, else a one-line error."""
    path = local_path(url)
    if path is not None:
        return read_text_file(path, "kickstart", limit=limit)
    tmp = Path(tempfile.mkdtemp(prefix="ks-", dir=_scratch()))
    try:
        return read_text_file(fetch(url, tmp, limit=limit, what="kickstart"), "kickstart", shown=url,
                              limit=limit)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _scratch() -> Path:
    """The runtime directory for downloads of small files (made if missing)."""
    path = paths.run_dir()
    path.mkdir(parents=True, exist_ok=True)
    return path
