# SPDX-License-Identifier: GPL-2.0-or-later
"""The resumable image download: checks, resume and start-over rules, redirects, space, progress, verifier."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
from pathlib import Path

import pytest

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host import download
from org_ovirt_imgbased.host.download import CORRUPT, range_total
from org_ovirt_imgbased.host.progress import Progress
from tests.channel_server import ChannelServer

#: Two and a half chunks, so a transfer crosses chunk borders and a cut lands inside one.
DATA = random.Random(7).randbytes(5 * download.CHUNK // 2)
SHA = hashlib.sha256(DATA).hexdigest()
CUT = download.CHUNK + 12345


class FakeVerifier:
    """Records the bytes it is fed and how it ended; finish() fails when told to."""

    def __init__(self, fail: bool = False) -> None:
        """Start with nothing fed."""
        self.fed, self.fail, self.ended = bytearray(), fail, None

    def update(self, chunk: bytes) -> None:
        """Keep the bytes."""
        assert self.ended is None, "fed after the end"
        self.fed += chunk

    def finish(self) -> str:
        """The fingerprint, or a bad signature."""
        self.ended = "finished"
        if self.fail:
            raise ImgbaseError("bad signature")
        return "FPR"

    def abort(self) -> None:
        """Note the abort."""
        self.ended = "aborted"


class Factory:
    """A verifier factory that keeps every verifier it made."""

    def __init__(self, fail: bool = False) -> None:
        """Make verifiers that fail at finish when fail is set."""
        self.made: list[FakeVerifier] = []
        self.fail = fail

    def __call__(self) -> FakeVerifier:
        """A new verifier."""
        self.made.append(FakeVerifier(self.fail))
        return self.made[-1]


@pytest.fixture
def root(tmp_path) -> Path:
    """The served directory, holding DATA as image and image2."""
    path = tmp_path / "root"
    path.mkdir()
    (path / "image").write_bytes(DATA)
    (path / "image2").write_bytes(DATA)
    return path


@pytest.fixture
def srv(root):
    """An http channel serving root."""
    with ChannelServer(root) as server:
        yield server


@pytest.fixture
def tls(root, tmp_path, monkeypatch):
    """An http and https channel serving root, its certificate trusted through SSL_CERT_FILE."""
    with ChannelServer(root, https_dir=tmp_path / "tls") as server:
        monkeypatch.setenv("SSL_CERT_FILE", str(server.cert))
        yield server


@pytest.fixture
def dest(tmp_path) -> Path:
    """Where the image goes, in a staging directory not made yet."""
    return tmp_path / "images" / "image"


def interrupted(srv: ChannelServer, dest: Path, cut: int = CUT, **kwargs) -> ImgbaseError:
    """Run a download that the server cuts after cut bytes; return its error."""
    srv.control.cut_once["/image"] = cut
    before = len(srv.requests)
    with pytest.raises(ImgbaseError, match="was interrupted") as err:
        download.download(srv.url + "/image", dest, **kwargs)
    srv.wait_for_requests(before + 1)  # the cut request is logged before the next one starts
    return err.value


def listing(path: Path) -> list[str]:
    """The names in a directory."""
    return sorted(os.listdir(path))


def test_a_full_download_is_checked_and_renamed(srv, dest):
    """The bytes land at dest only, with their sha256 and the server's validators."""
    got = download.download(srv.url + "/image", dest, expected_sha256=SHA.upper(), expected_size=len(DATA))
    assert dest.read_bytes() == DATA and listing(dest.parent) == ["image"]
    assert (got.path, got.sha256, got.size, got.resumed_from, got.sent) == (dest, SHA, len(DATA), 0, len(DATA))
    assert got.etag and got.last_modified and got.signer is None
    assert json.loads(json.dumps(got.as_json()))["path"] == str(dest)
    assert [(r["range"], r["status"]) for r in srv.wait_for_requests(1)] == [(None, 200)]
    assert dest.parent.stat().st_mode & 0o777 == 0o700


def test_a_wrong_sha256_removes_the_partial_and_says_so(srv, dest):
    """One line naming the URL, the sha256 expected and got; nothing is left behind."""
    with pytest.raises(ImgbaseError) as err:
        download.download(srv.url + "/image", dest, expected_sha256="0" * 64)
    assert str(err.value) == f"checksum mismatch for {srv.url}/image: expected sha256 {'0' * 64}, got {SHA}; {CORRUPT}"
    assert listing(dest.parent) == []


def test_an_announced_size_that_differs_is_refused_before_the_body(srv, dest):
    """A Content-Length other than the channel's size stops the download at once."""
    wrong = f"size mismatch for .*: expected size {len(DATA) + 1}, got {len(DATA)}; {CORRUPT}"
    with pytest.raises(ImgbaseError, match=wrong):
        download.download(srv.url + "/image", dest, expected_size=len(DATA) + 1)
    assert listing(dest.parent) == []


def test_an_interrupted_download_resumes_with_a_range_request(srv, dest):
    """The rerun asks for the rest only: the two runs receive the file's bytes exactly once."""
    err = interrupted(srv, dest, expected_sha256=SHA)
    assert "\n" not in str(err) and str(err).endswith("; run the same command again to resume it")
    assert "after 1.0 MiB of 2.5 MiB" in str(err)
    assert download.part_path(dest).read_bytes() == DATA[:CUT]
    side = download.read_sidecar(download.sidecar_path(dest))
    assert side["url"] == srv.url + "/image" and side["etag"] and side["expected_sha256"] == SHA
    got = download.download(srv.url + "/image", dest, expected_sha256=SHA)
    assert (got.resumed_from, got.sent, got.sha256) == (CUT, len(DATA) - CUT, SHA)
    assert dest.read_bytes() == DATA and listing(dest.parent) == ["image"]
    log = srv.wait_for_requests(2)
    assert [(r["range"], r["if_range"], r["status"]) for r in log] == [(None, None, 200),
                                                                      (f"bytes={CUT}-", side["etag"], 206)]
    assert sum(r["sent"] for r in log) == len(DATA)


@pytest.mark.parametrize("change", ["ignore_ranges", "replace_file"])
def test_a_server_that_cannot_continue_sends_it_all_again(srv, dest, root, change):
    """A 200 to the Range request (ranges ignored, or the file changed: If-Range fails) restarts from zero."""
    interrupted(srv, dest)
    new = DATA
    if change == "ignore_ranges":
        srv.control.ignore_ranges = True
    else:
        new = DATA[::-1]
        (root / "image").write_bytes(new)
        os.utime(root / "image", ns=(1, 1))  # another mtime whatever the clock's resolution
    got = download.download(srv.url + "/image", dest)
    assert (got.resumed_from, got.sent, got.sha256) == (0, len(new), hashlib.sha256(new).hexdigest())
    assert dest.read_bytes() == new
    second = srv.wait_for_requests(2)[1]
    assert (second["range"], second["status"]) == (f"bytes={CUT}-", 200)


def test_without_validators_an_interruption_keeps_nothing_and_the_rerun_starts_over(srv, dest):
    """No ETag and no Last-Modified: nothing can be resumed safely, so nothing is kept."""
    srv.control.no_validators = True
    err = interrupted(srv, dest)
    assert "so the same command again starts it over" in str(err) and listing(dest.parent) == []
    assert download.download(srv.url + "/image", dest).sent == len(DATA)
    assert srv.wait_for_requests(2)[1]["range"] is None


def test_a_partial_of_another_url_or_expectation_is_not_resumed(srv, dest):
    """The description names another URL, or another expected size: start over, without a Range."""
    interrupted(srv, dest)
    assert download.download(srv.url + "/image2", dest).resumed_from == 0
    interrupted(srv, dest, expected_size=len(DATA))
    with pytest.raises(ImgbaseError, match=f"expected size {len(DATA) - 1}, got {len(DATA)}"):
        download.download(srv.url + "/image", dest, expected_size=len(DATA) - 1)
    assert [r["range"] for r in srv.wait_for_requests(4)] == [None] * 4


def test_an_earlier_run_without_expectations_is_resumed_with_them(srv, dest):
    """Expectations added on the rerun (the channel now lists a sha256) do not contradict the partial."""
    interrupted(srv, dest)
    assert download.download(srv.url + "/image", dest, expected_sha256=SHA).resumed_from == CUT


def test_a_range_the_server_cannot_satisfy_starts_over(srv, dest):
    """A 416 (the partial is longer than the file) is a fresh download, not an error."""
    interrupted(srv, dest)
    with open(download.part_path(dest), "ab") as part:
        part.write(b"x" * len(DATA))
    got = download.download(srv.url + "/image", dest)
    assert (got.resumed_from, got.sha256) == (0, SHA)
    assert [r["status"] for r in srv.wait_for_requests(3)] == [200, 416, 200]


@pytest.mark.parametrize("header,offset,total", [("bytes 100-999/1000", 100, 1000), ("bytes 0-999/1000", 100, None),
                                                 ("bytes 100-998/1000", 100, None), ("bytes */1000", 100, None),
                                                 (None, 100, None), ("bytes 100-999/*", 100, None)])
def test_a_content_range_counts_only_when_it_continues_exactly_there(header, offset, total):
    """A 206 that starts elsewhere, stops short or is malformed is not a continuation."""
    assert range_total(header, offset) == total


def test_a_server_that_is_down_keeps_the_partial_for_later(srv, dest):
    """A refused connection is one line; the bytes already there stay and a later run resumes."""
    interrupted(srv, dest)
    srv.down = True
    with pytest.raises(ImgbaseError, match=f"cannot download {srv.url}/image: .*refused"):
        download.download(srv.url + "/image", dest)
    assert download.part_path(dest).stat().st_size == CUT
    srv.down = False
    assert download.download(srv.url + "/image", dest).resumed_from == CUT


def test_https_with_a_trusted_certificate(tls, dest):
    """https works with the certificate in SSL_CERT_FILE (read at each download)."""
    assert download.download(tls.https_url + "/image", dest, expected_sha256=SHA).sha256 == SHA


@pytest.mark.parametrize("frm,to", [("http", "https"), ("https", "http")])
def test_a_redirect_to_another_scheme_is_refused(tls, dest, frm, to):
    """http to https and https to http are refused in one line naming both URLs."""
    base = {"http": tls.url, "https": tls.https_url}
    tls.control.redirects["/moved"] = base[to] + "/image"
    with pytest.raises(ImgbaseError) as err:
        download.download(base[frm] + "/moved", dest)
    assert str(err.value) == (f"{base[frm]}/moved redirects to {base[to]}/image, another scheme ({frm} to {to}); "
                              "refused: give the final URL")
    assert listing(dest.parent) == []


def test_a_redirect_on_the_same_scheme_is_followed_also_when_resuming(srv, dest):
    """http to http: followed, with the Range and If-Range of a resume kept."""
    srv.control.redirects["/moved"] = srv.url + "/image"
    srv.control.cut_once["/image"] = CUT
    with pytest.raises(ImgbaseError, match="interrupted"):
        download.download(srv.url + "/moved", dest)
    got = download.download(srv.url + "/moved", dest)
    assert (got.url, got.resumed_from, got.sha256) == (srv.url + "/moved", CUT, SHA)
    assert [(r["path"], r["status"]) for r in srv.wait_for_requests(4)][2:] == [("/moved", 302), ("/image", 206)]


class FakeStatvfs:
    """What os.statvfs says about an almost full filesystem."""

    f_bavail, f_frsize = 10, 4096


def test_a_download_that_does_not_fit_is_refused_before_any_byte(srv, dest, monkeypatch):
    """The staging filesystem needs the remaining bytes and a margin; the error names the directory and sizes."""
    monkeypatch.setattr(download.os, "statvfs", lambda path: FakeStatvfs())
    with pytest.raises(ImgbaseError) as err:
        download.download(srv.url + "/image", dest)
    assert str(err.value) == (f"not enough space in {dest.parent} for {srv.url}/image: needs 18.5 MiB, 40.0 KiB "
                              "free; free some space there and run the same command again")
    assert listing(dest.parent) == []


def test_progress_is_silent_when_stderr_is_not_a_terminal(srv, dest):
    """Nothing is printed to a stream that is not a terminal; the summary is there all the same."""
    out = io.StringIO()
    progress = Progress("image", stream=out)
    download.download(srv.url + "/image", dest, progress=progress)
    assert out.getvalue() == ""
    summary = json.loads(json.dumps(progress.summary()))
    assert (summary["done"], summary["total"], summary["resumed_from"]) == (len(DATA), len(DATA), 0)


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        """Yes."""
        return True


def test_progress_on_a_terminal_is_one_updating_line():
    """Lines start with a carriage return, are drawn at most once per interval, and end with a newline."""
    now = [0.0]
    out = Terminal()
    progress = Progress("image", stream=out, interval=1.0, clock=lambda: now[0])
    progress.start(4 * download.CHUNK, download.CHUNK)
    for done in (2, 3):
        now[0] += 2.0
        progress.update(done * download.CHUNK)
        progress.update(done * download.CHUNK)  # the same instant: not drawn again
    progress.end()
    lines = out.getvalue().split("\r")[1:]
    assert lines[0] == "image: 2.0 MiB of 4.0 MiB (50%), 512.0 KiB/s, 4 s left"
    assert len(lines) == 3 and lines[-1].startswith("image: 3.0 MiB of 4.0 MiB (75%)") and lines[-1].endswith("\n")


@pytest.mark.parametrize("form", ["path", "file-url"])
def test_a_local_file_is_read_in_place_once(tmp_path, dest, form):
    """No copy: the file itself is returned with its sha256, and the verifier gets its bytes."""
    local = tmp_path / "local.img"
    local.write_bytes(DATA)
    factory = Factory()
    url = str(local) if form == "path" else f"file://{local}"
    got = download.download(url, dest, expected_sha256=SHA, verifier=factory)
    assert (got.path, got.sha256, got.size, got.signer) == (local, SHA, len(DATA), "FPR")
    assert [bytes(v.fed) for v in factory.made] == [DATA] and not dest.parent.exists()


def test_a_local_file_with_the_wrong_sha256_is_refused_and_left_alone(tmp_path, dest):
    """The operator's file is never removed."""
    local = tmp_path / "local.img"
    local.write_bytes(DATA)
    with pytest.raises(ImgbaseError, match=CORRUPT):
        download.download(str(local), dest, expected_sha256="1" * 64)
    assert local.read_bytes() == DATA
    with pytest.raises(ImgbaseError, match="no such file"):
        download.download(str(tmp_path / "missing.img"), dest)


def test_the_verifier_gets_every_byte_in_order_across_a_resume(srv, dest):
    """The interrupted run's verifier is aborted; the rerun's is fed the part, then the rest, and finished."""
    factory = Factory()
    interrupted(srv, dest, verifier=factory)
    got = download.download(srv.url + "/image", dest, verifier=factory)
    assert [v.ended for v in factory.made] == ["aborted", "finished"]
    assert bytes(factory.made[0].fed) == DATA[:CUT] and bytes(factory.made[1].fed) == DATA
    assert (got.signer, got.resumed_from) == ("FPR", CUT)


def test_a_start_over_gets_a_fresh_verifier(srv, dest):
    """When the server sends everything again, the verifier that saw the part is aborted and a new one used."""
    factory = Factory()
    interrupted(srv, dest, verifier=factory)
    srv.control.ignore_ranges = True
    download.download(srv.url + "/image", dest, verifier=factory)
    assert [(v.ended, bytes(v.fed)) for v in factory.made[1:]] == [("aborted", DATA[:CUT]), ("finished", DATA)]


def test_a_verifier_object_is_fed_from_zero_without_a_resume(srv, dest):
    """An object (not a factory) cannot be fed twice: the partial is dropped and the file read whole."""
    interrupted(srv, dest)
    verifier = FakeVerifier()
    download.download(srv.url + "/image", dest, verifier=verifier)
    assert (bytes(verifier.fed), verifier.ended) == (DATA, "finished")
    assert srv.wait_for_requests(2)[1]["range"] is None


def test_a_bad_signature_leaves_nothing(srv, dest):
    """A verifier refusing at the end removes the partial: the bytes are complete but not trusted."""
    with pytest.raises(ImgbaseError, match="bad signature"):
        download.download(srv.url + "/image", dest, expected_sha256=SHA, verifier=Factory(fail=True))
    assert listing(dest.parent) == []


def test_an_unsupported_scheme_is_refused_before_any_request(dest):
    """ftp is not a channel."""
    with pytest.raises(ImgbaseError, match="unsupported URL scheme 'ftp'"):
        download.download("ftp://127.0.0.1:1/image", dest)
    assert not dest.parent.exists()


class StallingResponse(io.BytesIO):
    """A 200 response whose connection times out after its first chunk."""

    status = 200

    def __init__(self) -> None:
        """Announce all of DATA, hold one chunk of it."""
        super().__init__(DATA[:download.CHUNK])
        self.headers = {"Content-Length": str(len(DATA)), "ETag": '"e1"'}

    def read(self, size: int = -1) -> bytes:
        """The chunk, then a socket timeout."""
        chunk = super().read(size)
        if not chunk:
            raise TimeoutError("timed out")
        return chunk


def test_a_timeout_keeps_what_came_and_names_the_reason(dest, monkeypatch):
    """A socket error in the middle is an interruption like an early close: the part stays, resumable."""
    opener = type("Opener", (), {"open": lambda self, request, timeout: StallingResponse()})
    monkeypatch.setattr(download.fetch, "opener", opener)
    with pytest.raises(ImgbaseError) as err:
        download.download("http://channel.invalid/image", dest)
    assert str(err.value) == ("download of http://channel.invalid/image was interrupted after 1.0 MiB of 2.5 MiB "
                              "(timed out); run the same command again to resume it")
    assert download.part_path(dest).read_bytes() == DATA[:download.CHUNK]
    assert download.read_sidecar(download.sidecar_path(dest))["etag"] == '"e1"'


def test_a_staging_directory_that_cannot_be_made_is_one_line(srv, tmp_path):
    """A file where the directory should be: one line naming the destination, no traceback."""
    (tmp_path / "file").write_text("")
    with pytest.raises(ImgbaseError, match=f"cannot download {srv.url}/image to {tmp_path}/file/image: "):
        download.download(srv.url + "/image", tmp_path / "file" / "image")
