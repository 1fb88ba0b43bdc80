# SPDX-License-Identifier: GPL-2.0-or-later
"""The test channel server itself: the behaviours the download tests (and the VM tests) rely on."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests.channel_server import CONTROL_FILE, REQUEST_LOG, ChannelServer
from tests.repo import ROOT

DATA = bytes(range(256)) * 40


@pytest.fixture
def srv(tmp_path):
    """A channel serving DATA as /image, over http and https."""
    (tmp_path / "root").mkdir()
    (tmp_path / "root/image").write_bytes(DATA)
    with ChannelServer(tmp_path / "root", https_dir=tmp_path / "tls") as server:
        yield server


def get(url: str, **headers: str):
    """GET url; return (status, headers, body) for a 2xx or 3xx-not-followed, or the HTTPError's."""
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers, exc.read()


def raw(srv: ChannelServer, method: str, path: str) -> tuple[int, dict, bytes]:
    """One request with the path sent as it is (no client-side normalising, no redirect)."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.http.port, timeout=30)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, dict(response.headers), response.read()
    finally:
        conn.close()


def test_get_and_head_send_validators_and_length(srv):
    """GET and HEAD: ETag, Last-Modified, Accept-Ranges and the length; HEAD has no body."""
    status, headers, body = get(srv.url + "/image")
    assert (status, body) == (200, DATA)
    assert headers["ETag"].startswith('"') and headers["Last-Modified"].endswith("GMT")
    assert headers["Accept-Ranges"] == "bytes" and headers["Content-Length"] == str(len(DATA))
    status, head, body = raw(srv, "HEAD", "/image")
    assert (status, body, head["ETag"]) == (200, b"", headers["ETag"])


def test_range_with_if_range_is_honoured_only_when_the_validator_matches(srv):
    """A matching ETag or date gives 206 with Content-Range; a stale one the whole file; past the end 416."""
    _, headers, _ = get(srv.url + "/image")
    for tag in (headers["ETag"], headers["Last-Modified"]):
        status, part, body = get(srv.url + "/image", Range="bytes=1000-", **{"If-Range": tag})
        assert (status, body, part["Content-Range"]) == (206, DATA[1000:], f"bytes 1000-{len(DATA) - 1}/{len(DATA)}")
    assert get(srv.url + "/image", Range="bytes=1000-", **{"If-Range": '"stale"'})[::2] == (200, DATA)
    status, part, _ = get(srv.url + "/image", Range=f"bytes={len(DATA)}-")
    assert (status, part["Content-Range"]) == (416, f"bytes */{len(DATA)}")
    assert [r["status"] for r in srv.wait_for_requests(5)] == [200, 206, 206, 200, 416]


def test_ignore_ranges_and_no_validators(srv):
    """ignore_ranges answers a Range with the whole file; no_validators drops ETag and Last-Modified."""
    srv.control.ignore_ranges = True
    assert get(srv.url + "/image", Range="bytes=10-")[::2] == (200, DATA)
    srv.control.no_validators = True
    _, headers, _ = get(srv.url + "/image")
    assert "ETag" not in headers and "Last-Modified" not in headers


def test_cut_once_cuts_the_next_response_only_and_cut_after_every_one(srv):
    """The body stops after N bytes (the connection closes); a cut_once rule is then used up."""
    srv.control.cut_once["/image"] = 700
    with pytest.raises(http.client.IncompleteRead) as cut:
        get(srv.url + "/image")
    assert len(cut.value.partial) == 700
    assert get(srv.url + "/image")[2] == DATA
    srv.control.cut_after["/image"] = 300
    for _ in range(2):
        with pytest.raises(http.client.IncompleteRead):
            get(srv.url + "/image")
    assert [r["sent"] for r in srv.wait_for_requests(4)] == [700, len(DATA), 300, 300]


def test_redirect_and_hidden_files(srv):
    """A redirects entry answers 302 with its Location; dot files and paths out of the root are 404."""
    srv.control.redirects["/old"] = srv.url + "/image"
    status, headers, _ = raw(srv, "GET", "/old")
    assert (status, headers["Location"]) == (302, srv.url + "/image")
    (srv.root / CONTROL_FILE).write_text("{}")
    for path in (f"/{CONTROL_FILE}", "/../root/image", "/missing"):
        assert raw(srv, "GET", path)[0] == 404


def test_down_refuses_connections_and_up_listens_on_the_same_port(srv):
    """down closes the listening sockets; false opens them again with the same URLs."""
    url, https_url = srv.url, srv.https_url
    srv.down = True
    with pytest.raises(urllib.error.URLError, match="refused"):
        get(url + "/image")
    srv.down = False
    assert (srv.url, srv.https_url) == (url, https_url)
    assert get(url + "/image")[2] == DATA


@pytest.mark.parametrize("trusted", [True, False])
def test_https_works_for_a_client_trusting_the_certificate_through_ssl_cert_file(srv, trusted):
    """Python's default TLS context (a fresh process) honours SSL_CERT_FILE; without it the cert is refused."""
    env = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    if trusted:
        env["SSL_CERT_FILE"] = str(srv.cert)
    code = "import sys, urllib.request; sys.stdout.write(str(len(urllib.request.urlopen(sys.argv[1]).read())))"
    proc = subprocess.run([sys.executable, "-c", code, srv.https_url + "/image"], env=env, capture_output=True,
                          text=True, timeout=60)
    if trusted:
        assert (proc.returncode, proc.stdout) == (0, str(len(DATA)))
    else:
        assert proc.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in proc.stderr


def wait_for(predicate, what: str, seconds: float = 60):
    """Poll predicate until it is true (the script's startup, its control-file watch)."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for {what}")
        time.sleep(0.05)


def test_script_mode_ports_control_file_log_and_sigterm(tmp_path):
    """As a process: the port file, the control file (cut, down), the request log, and a clean SIGTERM."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "image").write_bytes(DATA)
    ports = tmp_path / "ports.json"
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests/channel_server.py"), "--root", str(root),
                             "--port-file", str(ports), "--https-cert-dir", str(tmp_path / "tls")])
    try:
        wait_for(ports.exists, "the port file")
        url = f"http://127.0.0.1:{json.loads(ports.read_text())['http']}/image"
        assert json.loads(ports.read_text())["https"] > 0
        (root / CONTROL_FILE).write_text(json.dumps({"cut_once": {"/image": 100}}))
        with pytest.raises(http.client.IncompleteRead):
            get(url)
        assert get(url)[2] == DATA
        (root / CONTROL_FILE).write_text(json.dumps({"down": True}))
        wait_for(lambda: _refused(url), "the server to go down")
        (root / CONTROL_FILE).write_text(json.dumps({"down": False}))
        wait_for(lambda: not _refused(url), "the server to come up")
        log = [json.loads(line) for line in (root / REQUEST_LOG).read_text().splitlines()]
        assert [(e["path"], e["status"], e["sent"]) for e in log[:2]] == [("/image", 200, 100),
                                                                         ("/image", 200, len(DATA))]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0


def _refused(url: str) -> bool:
    """Whether a connection to url is refused."""
    try:
        get(url)
    except urllib.error.URLError:
        return True
    return False
