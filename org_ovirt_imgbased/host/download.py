# SPDX-License-Identifier: GPL-2.0-or-later
"""Download an image into the staging directory: resumable, hashed and verified while it streams.

The bytes go to DEST.part, described by DEST.part.json (the URL, the server's ETag and
Last-Modified, what the channel expects); DEST appears only once size and sha256 match.  An
interrupted transfer keeps both, and the next download of the same URL hashes the bytes already
there and asks for the rest (Range with If-Range); a server that cannot continue from there sends
the whole file again, and everything is fed again from byte zero.  A local image (file:// or a
path) is not copied: it is read once where it is.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Protocol, Union

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host import fetch
from org_ovirt_imgbased.host.image import CORRUPT
from org_ovirt_imgbased.host.progress import Progress
from org_ovirt_imgbased.runner import Runner, fsync_dir
from org_ovirt_imgbased.units import MiB, human

CHUNK = MiB
PART_SUFFIX = ".part"
SIDECAR_SUFFIX = ".part.json"
#: Room kept free on the staging filesystem beyond the bytes still to come.
SPACE_MARGIN = 16 * MiB
#: Why bytes that are not the ones announced are refused.
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


class Verifier(Protocol):
    """A streaming signature check fed the same bytes as the hash (host.signature's verifier)."""

    def update(self, chunk: bytes) -> None:
        """Take the next bytes of the image."""

    def finish(self) -> str:
        """The signer's fingerprint; ImgbaseError for a bad signature."""

    def abort(self) -> None:
        """Give up: the bytes will not all come."""


#: A verifier, or (better) a callable making a fresh one, so a download that starts over can be verified.
VerifierSource = Union[Verifier, Callable[[], Verifier]]


@dataclass(frozen=True)
class Downloaded:
    """An image ready to apply: where it is, its sha256 and size, and what this run read."""

    path: Path
    url: str
    sha256: str
    size: int
    resumed_from: int = 0  # bytes already there from an earlier, interrupted run
    sent: int = 0  # bytes read from the source in this run
    etag: str | None = None
    last_modified: str | None = None
    signer: str | None = None  # the verifier's fingerprint, when one was given

    def as_json(self) -> dict:
        """A JSON-able summary (for --json)."""
        return {**asdict(self), "path": str(self.path)}


@dataclass(frozen=True)
class Expected:
    """What the channel announces for an image; None where it announces nothing."""

    sha256: str | None = None
    size: int | None = None

    def agrees(self, sha256: str | None, size: int | None) -> bool:
        """Whether an earlier run's expectations can be of the same image (none contradicts ours)."""
        return all(a is None or b is None or a == b for a, b in ((self.sha256, sha256), (self.size, size)))

    def check(self, url: str, size: int | None = None, sha256: str | None = None) -> None:
        """Refuse a size or sha256 that differs from the announced one, in one line naming both."""
        for what, want, got in (("size", self.size, size), ("sha256", self.sha256, sha256)):
            if want is not None and got is not None and want != got:
                raise ImgbaseError(f"{'checksum' if what == 'sha256' else what} mismatch for {url}: expected "
                                   f"{what} {want}, got {got}; {CORRUPT}")


def part_path(dest: Path) -> Path:
    """Where the bytes of dest gather until they are complete and checked."""
    return dest.with_name(dest.name + PART_SUFFIX)


def sidecar_path(dest: Path) -> Path:
    """The description of dest's partial download (URL, validators, what is expected)."""
    return dest.with_name(dest.name + SIDECAR_SUFFIX)


def read_sidecar(path: Path) -> dict | None:
    """A partial download's description, or None when it is missing or unreadable."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def validator(etag: str | None, last_modified: str | None) -> str | None:
    """What an If-Range can carry: a strong ETag, else Last-Modified, else None (no resume)."""
    if etag and not etag.startswith("W/"):
        return etag
    return last_modified or None


def range_total(header: str | None, offset: int) -> int | None:
    """The full size a 206's Content-Range announces when it continues exactly at offset, else None."""
    m = _CONTENT_RANGE.fullmatch((header or "").strip())
    if not m:
        return None
    start, end, total = (int(g) for g in m.groups())
    return total if start == offset and end == total - 1 else None


def check_space(directory: Path, url: str, needed: int, reclaimed: int = 0) -> None:
    """Refuse a download of needed more bytes that would not fit (with a margin) where it goes."""
    st = os.statvfs(directory)
    free = st.f_bavail * st.f_frsize + reclaimed
    if needed + SPACE_MARGIN > free:
        raise ImgbaseError(f"not enough space in {directory} for {url}: needs {human(needed + SPACE_MARGIN)}, "
                           f"{human(free)} free; free some space there and run the same command again")


class _Digest:
    """The sha256 and the verifier, fed the same bytes in the same order from byte zero."""

    def __init__(self, new_verifier: Callable[[], Verifier | None]) -> None:
        """Start at byte zero with a verifier from new_verifier (None: no signature check)."""
        self._new = new_verifier
        self.hash, self.size = hashlib.sha256(), 0
        self.verifier = new_verifier()
        self.rejected = False  # the verifier refused the bytes: they must not be kept

    def update(self, chunk: bytes) -> None:
        """Feed the next bytes."""
        self.hash.update(chunk)
        self.size += len(chunk)
        if self.verifier is not None:
            self._verifier_call(self.verifier.update, chunk)

    def restart(self) -> None:
        """Forget what was fed: a new hash and a fresh verifier (the old one aborted)."""
        if self.size:
            self.abort()
            self.__init__(self._new)

    def finish(self) -> str | None:
        """The signer's fingerprint (None without a verifier)."""
        verifier, self.verifier = self.verifier, None
        return None if verifier is None else self._verifier_call(verifier.finish)

    def abort(self) -> None:
        """Tell the verifier the bytes will not all come."""
        verifier, self.verifier = self.verifier, None
        if verifier is not None:
            verifier.abort()

    def _verifier_call(self, method, *args):
        """Call a verifier method, noting a refusal (ImgbaseError) before passing it on."""
        try:
            return method(*args)
        except ImgbaseError:
            self.rejected = True
            raise


def _factory(verifier: VerifierSource | None) -> tuple[Callable[[], Verifier | None], bool]:
    """A maker of verifiers for the argument, and whether it can make more than one (resume needs that)."""
    if verifier is None:
        return (lambda: None), True
    if hasattr(verifier, "update"):
        return (lambda: verifier), False
    return verifier, True


def _pump(read: Callable[[int], bytes], digest: _Digest, out=None, progress: Progress | None = None,
          most: int | None = None) -> None:
    """Move bytes from read to out (if any) and the digest until the end, or until past most bytes."""
    while (most is None or digest.size <= most) and (chunk := read(CHUNK)):
        if out is not None:
            out.write(chunk)
        digest.update(chunk)
        if progress is not None:
            progress.update(digest.size)


def download(url: str, dest: Path, *, expected_sha256: str | None = None, expected_size: int | None = None,
             verifier: VerifierSource | None = None, progress: Progress | None = None) -> Downloaded:
    """Fetch url to dest, resuming an interrupted run; a local file is checked in place instead.

    verifier is a callable returning a fresh streaming verifier (update/finish/abort), called again
    when the download starts over; a verifier object itself is accepted too, and then an earlier
    partial download is not resumed (the object cannot be fed from byte zero twice).
    """
    new_verifier, resumable = _factory(verifier)
    expected = Expected(expected_sha256.lower() if expected_sha256 else None, expected_size)
    progress = progress or Progress(url, enabled=False)
    local = fetch.local_path(url)
    if local is not None:
        return _read_local(url, local, expected, _Digest(new_verifier), progress)
    fetch.check_remote(url)
    return _Transfer(url, Path(dest), expected, _Digest(new_verifier), resumable, progress).run()


def _read_local(url: str, path: Path, expected: Expected, digest: _Digest, progress: Progress) -> Downloaded:
    """A local image read once where it is (no copy): hashed, fed to the verifier and checked."""
    try:
        if not path.is_file():
            raise ImgbaseError(f"{url}: no such file")
        expected.check(url, size=path.stat().st_size)
        with open(path, "rb") as src:
            progress.start(os.fstat(src.fileno()).st_size)
            try:
                _pump(src.read, digest, progress=progress)
            finally:
                progress.end()
        expected.check(url, size=digest.size, sha256=digest.hash.hexdigest())
        signer = digest.finish()
    except OSError as exc:
        raise ImgbaseError(f"cannot read {url}: {exc.strerror or exc}") from None
    finally:
        digest.abort()
    return Downloaded(path, url, digest.hash.hexdigest(), digest.size, 0, digest.size, signer=signer)


def check_stream(url: str, verifier: VerifierSource | None = None) -> tuple[str, str | None]:
    """Read url once through sha256 and the verifier, keeping nothing: (its sha256, the signer or None)."""
    digest = _Digest(_factory(verifier)[0])
    try:
        with fetch.open_stream(url) as src:
            _pump(src.read, digest)
        return digest.hash.hexdigest(), digest.finish()
    except (OSError, http.client.HTTPException) as exc:
        raise ImgbaseError(f"cannot read {url}: {fetch.reason(exc)}") from None
    finally:
        digest.abort()


class _Transfer:
    """One run of a remote download into dest.part, continuing an earlier run where the server allows."""

    def __init__(self, url: str, dest: Path, expected: Expected, digest: _Digest, resumable: bool,
                 progress: Progress) -> None:
        """Prepare to fetch url to dest."""
        self.url, self.dest, self.expected, self.digest = url, dest, expected, digest
        self.resumable, self.progress = resumable, progress
        self.part, self.sidecar = part_path(dest), sidecar_path(dest)
        self.validator: str | None = None

    def run(self) -> Downloaded:
        """Download (or finish downloading) and check; the .part stays only when a rerun can resume it."""
        try:
            Runner().makedirs(self.dest.parent, 0o700)
            response, offset = self._open(self._already_there())
            with response:
                return self._receive(response, offset)
        except OSError as exc:  # the staging directory, not the network (that is said where it happens)
            self._give_up()
            raise ImgbaseError(f"cannot download {self.url} to {self.dest}: {exc.strerror or exc}") from None
        except BaseException:
            self._give_up()
            raise

    def _give_up(self) -> None:
        """Abort the verifier; drop the part when the verifier refused its bytes (they are never resumed)."""
        if self.digest.rejected:
            self._discard()
        self.digest.abort()

    def _already_there(self) -> int:
        """How many bytes of an earlier run to continue from (hashed now), or 0 with the stale part gone."""
        side = read_sidecar(self.sidecar) or {}
        have = self.part.stat().st_size if self.part.is_file() else 0
        same = side.get("url") == self.url and self.expected.agrees(side.get("expected_sha256"),
                                                                    side.get("expected_size"))
        self.validator = validator(side.get("etag"), side.get("last_modified")) if same else None
        too_long = self.expected.size is not None and have >= self.expected.size
        if not (self.resumable and self.validator and have) or too_long:
            self._discard()
            return 0
        with open(self.part, "rb") as src:
            _pump(src.read, self.digest)
        return self.digest.size

    def _open(self, offset: int) -> tuple[http.client.HTTPResponse, int]:
        """The response to continue from offset, or (the server cannot) the whole file from byte zero."""
        if offset:
            response = self._request(offset)
            if response is not None and response.status == 206 and \
                    range_total(response.headers.get("Content-Range"), offset) is not None:
                return response, offset
            self.digest.restart()
            if response is not None and response.status == 200:
                return response, 0  # the file changed, or the server ignores ranges: this is all of it
            if response is not None:
                response.close()
        response = self._request(0)
        if response.status != 200:
            response.close()
            raise ImgbaseError(f"cannot download {self.url}: it answers {response.status}, not 200")
        return response, 0

    def _request(self, offset: int) -> http.client.HTTPResponse | None:
        """GET the URL, from offset (If-Range: the validator) when offset > 0; None for a 416 to that."""
        headers = {"Range": f"bytes={offset}-", "If-Range": self.validator} if offset else {}
        try:
            return fetch.opener().open(urllib.request.Request(self.url, headers=headers), timeout=fetch.TIMEOUT)
        except urllib.error.HTTPError as exc:
            exc.close()
            if offset and exc.code == 416:
                return None
            raise ImgbaseError(f"cannot download {self.url}: {fetch.reason(exc)}") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            raise ImgbaseError(f"cannot download {self.url}: {fetch.reason(exc)}") from None

    def _receive(self, response: http.client.HTTPResponse, offset: int) -> Downloaded:
        """Stream the response's body onto the part after offset bytes, then check and finish."""
        etag, modified = response.headers.get("ETag"), response.headers.get("Last-Modified")
        self.validator = validator(etag, modified)
        total = (range_total(response.headers.get("Content-Range"), offset) if offset
                 else fetch.content_length(response.headers.get("Content-Length")))
        self._check(size=total)
        if total is not None or self.expected.size is not None:
            reclaimed = 0 if offset or not self.part.is_file() else self.part.stat().st_size
            check_space(self.dest.parent, self.url, (total or self.expected.size or 0) - offset, reclaimed)
        Runner().write_file(self.sidecar, json.dumps(
            {"url": self.url, "etag": etag, "last_modified": modified, "expected_sha256": self.expected.sha256,
             "expected_size": self.expected.size}, indent=1) + "\n", mode=0o600)
        with open(self.part, "r+b" if offset else "wb") as out:
            out.seek(offset)
            self._stream(response, out, offset, total)
        return self._finish(offset, etag, modified)

    def _stream(self, response: http.client.HTTPResponse, out, offset: int, total: int | None) -> None:
        """Copy the body to out through the digest; an early end keeps what came and says how to resume."""
        self.progress.start(total, offset)
        problem = None
        try:
            _pump(response.read, self.digest, out, self.progress, self.expected.size)
        except (OSError, http.client.HTTPException) as exc:
            problem = exc
        finally:
            out.flush()
            os.fsync(out.fileno())
            self.progress.end()
        if problem is not None or (total is not None and self.digest.size < total):
            raise self._interrupted(total, problem)

    def _interrupted(self, total: int | None, exc: BaseException | None) -> ImgbaseError:
        """The one-line error for a transfer that ended early; without a validator the part is dropped."""
        why = fetch.reason(exc) if isinstance(exc, OSError) else "the connection closed early"
        of = f" of {human(total)}" if total is not None else ""
        if self.validator:
            then = "run the same command again to resume it"
        else:
            self._discard()
            then = "the server sends no ETag or Last-Modified, so the same command again starts it over"
        return ImgbaseError(f"download of {self.url} was interrupted after {human(self.digest.size)}{of} "
                            f"({why}); {then}")

    def _finish(self, offset: int, etag: str | None, modified: str | None) -> Downloaded:
        """Check size, sha256 and signature, then rename the part to dest durably."""
        sha256 = self.digest.hash.hexdigest()
        self._check(size=self.digest.size, sha256=sha256)
        signer = self.digest.finish()
        os.replace(self.part, self.dest)
        fsync_dir(self.dest.parent)
        self.sidecar.unlink(missing_ok=True)
        fsync_dir(self.dest.parent)
        return Downloaded(self.dest, self.url, sha256, self.digest.size, offset, self.digest.size - offset,
                          etag, modified, signer)

    def _check(self, size: int | None = None, sha256: str | None = None) -> None:
        """Expected.check, dropping the part first when the bytes are not the announced ones."""
        try:
            self.expected.check(self.url, size=size, sha256=sha256)
        except ImgbaseError:
            self._discard()
            raise

    def _discard(self) -> None:
        """Remove the partial download and its description."""
        for path in (self.part, self.sidecar):
            path.unlink(missing_ok=True)
