# SPDX-License-Identifier: GPL-2.0-or-later
"""Downloads: same-scheme redirects only, UTF-8 kickstarts, one-line errors (server on the loopback)."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import threading

import pytest

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host import download, fetch
from tests.channel_server import ChannelServer


class Handler(http.server.BaseHTTPRequestHandler):
    """/file serves bytes; /to-ftp and /to-file redirect to other schemes; /to-file-ok to /file."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        """Answer one request."""
        targets = {"/to-ftp": "ftp://127.0.0.1:1/image", "/to-file": "file:///etc/passwd", "/to-same": "/file"}
        if self.path in targets:
            self.send_response(302)
            self.send_header("Location", targets[self.path])
            self.end_headers()
            return
        if self.path == "/endless.ks":  # no Content-Length: only the bytes read can tell the size
            self.send_response(200)
            self.end_headers()
            with contextlib.suppress(OSError):  # the client hangs up once it has read enough
                for _ in range(3):
                    self.wfile.write(b"#" * (1 << 20))
            return
        body = {"/file": b"payload bytes", "/latin1.ks": "rootpw caf\xe9\n".encode("latin-1"),
                "/big.ks": b"#" * (2 << 20)}.get(self.path)
        self.send_response(200 if body else 404)
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        self.wfile.write(body or b"")

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's name
        """Answer a HEAD: 200 for /file, else 404."""
        self.send_response(200 if self.path == "/file" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        """Keep the test output quiet."""


@pytest.fixture(scope="module")
def server():
    """An HTTP server on 127.0.0.1, for this module's tests only."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.mark.parametrize("path,words", [("/to-ftp", "another scheme \\(http to ftp\\)"),
                                        ("/to-file", "Redirection to url 'file:///etc/passwd' is not allowed")])
def test_redirect_to_another_scheme_is_refused(server, tmp_path, path, words):
    """A redirect that changes the scheme is refused in one line naming the URLs."""
    with pytest.raises(ImgbaseError, match=words):
        fetch.fetch(server + path, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_redirect_on_the_same_scheme_is_followed(server, tmp_path):
    """http to http is an ordinary redirect."""
    assert fetch.fetch(server + "/to-same", tmp_path).read_bytes() == b"payload bytes"


def test_ftp_is_refused_before_any_request(tmp_path):
    """Only http, https and file are fetched."""
    with pytest.raises(ImgbaseError, match="unsupported URL scheme 'ftp'"):
        fetch.fetch("ftp://127.0.0.1:1/image", tmp_path)


def test_kickstart_that_is_not_utf8_is_a_one_line_error(server, tmp_path, monkeypatch):
    """Over http or from a file, a Latin-1 kickstart names the first bad byte."""
    monkeypatch.setenv("IMGBASED_RUN_DIR", str(tmp_path / "run"))
    with pytest.raises(ImgbaseError, match="/latin1.ks is not UTF-8 text \\(byte 0xe9 at offset 10\\)") as err:
        fetch.fetch_text(server + "/latin1.ks")
    assert str(err.value).startswith(f"kickstart {server}/latin1.ks ")
    local = tmp_path / "latin1.ks"
    local.write_bytes("rootpw caf\xe9\n".encode("latin-1"))
    with pytest.raises(ImgbaseError, match="kickstart .*latin1.ks is not UTF-8 text"):
        fetch.fetch_text(str(local))
    assert list((tmp_path / "run").iterdir()) == []


@pytest.mark.parametrize("path", ["/big.ks", "/endless.ks"])
def test_fetch_text_is_capped(server, tmp_path, monkeypatch, path):
    """A text file over 1 MiB (announced or only streamed) is one line naming the URL and the limit."""
    monkeypatch.setenv("IMGBASED_RUN_DIR", str(tmp_path / "run"))
    with pytest.raises(ImgbaseError) as err:
        fetch.fetch_text(server + path)
    message = str(err.value)
    assert f"{server}{path} is larger than 1 MiB" in message and "\n" not in message
    assert list((tmp_path / "run").iterdir()) == []


def test_fetch_text_caps_a_local_file(tmp_path):
    """A local file over the limit is refused the same way, without reading all of it."""
    big = tmp_path / "big.ks"
    big.write_bytes(b"#" * ((1 << 20) + 1))
    with pytest.raises(ImgbaseError, match="big.ks is larger than 1 MiB"):
        fetch.fetch_text(str(big))
    big.write_bytes(b"#" * (1 << 20))
    assert len(fetch.fetch_text(str(big))) == 1 << 20


def test_stream_sha256_hashes_what_the_server_sends(server, tmp_path):
    """The digest of an http URL and of a file:// URL, read once and kept nowhere."""
    local = tmp_path / "image"
    local.write_bytes(b"payload bytes")
    want = hashlib.sha256(b"payload bytes").hexdigest()
    assert download.check_stream(server + "/file")[0] == want
    assert download.check_stream(f"file://{local}")[0] == want
    assert list(tmp_path.iterdir()) == [local]


@pytest.mark.parametrize("url,words", [("/missing", "cannot read .*404"),
                                       ("ftp://127.0.0.1:1/x", "unsupported URL scheme"),
                                       ("file:///nonexistent/image", "no such file")])
def test_stream_sha256_errors_are_one_line(server, url, words):
    """A 404, a refused scheme or a missing file: one line naming the URL."""
    with pytest.raises(ImgbaseError, match=words) as err:
        download.check_stream(server + url if url.startswith("/") else url)
    assert "\n" not in str(err.value)


def test_reachable_problem_names_why(server, tmp_path):
    """A served file and an existing file pass; a 404, a missing file and a dead port are named."""
    (tmp_path / "f").write_bytes(b"x")
    assert fetch.reachable_problem(server + "/file") is None
    assert fetch.reachable_problem(f"file://{tmp_path / 'f'}") is None
    assert "404" in fetch.reachable_problem(server + "/missing")
    assert "no such file" in fetch.reachable_problem(f"file://{tmp_path / 'g'}")
    assert "does not answer" in fetch.reachable_problem("http://127.0.0.1:1/image", timeout=2)


@pytest.mark.parametrize("header,length", [("123", 123), ("0", 0), (None, None), ("", None), ("x", None),
                                           ("-5", None)])
def test_content_length_is_a_number_or_unknown(header, length):
    """A missing, empty, negative or non-numeric Content-Length is unknown, not zero."""
    assert fetch.content_length(header) == length


def test_ssl_cert_file_is_read_at_each_request(tmp_path, monkeypatch):
    """The opener is made per request, so a certificate trusted after import is honoured (https)."""
    (tmp_path / "root").mkdir()
    (tmp_path / "root/file").write_bytes(b"payload bytes")
    with ChannelServer(tmp_path / "root", https_dir=tmp_path / "tls") as srv:
        monkeypatch.delenv("SSL_CERT_DIR", raising=False)
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
        with pytest.raises(ImgbaseError, match="CERTIFICATE_VERIFY_FAILED"):
            download.check_stream(srv.https_url + "/file")
        monkeypatch.setenv("SSL_CERT_FILE", str(srv.cert))
        assert download.check_stream(srv.https_url + "/file")[0] == hashlib.sha256(b"payload bytes").hexdigest()
