#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A test HTTP and HTTPS server for update channels: it serves a directory and misbehaves on request.

In-process (unit tests)::

    with ChannelServer(root, https_dir=tmp / "tls") as srv:
        srv.control.cut_once["/image"] = 1000     # the next GET of /image stops after 1000 bytes
        ... srv.url, srv.https_url, srv.cert, srv.requests ...

As a separate process (VM tests; the guest changes its behaviour by writing the control file)::

    python3 tests/channel_server.py --root DIR --bind 0.0.0.0 --port-file F [--https-cert-dir D]

It writes {"http": PORT, "https": PORT or null} to F once it listens, logs every request as one
JSON line to DIR/.requests.log and runs until SIGTERM.  Files whose name starts with a dot are
never served.  The control (the attributes of Control, or the same keys in DIR/.control.json,
which is re-read on each request and applied when its content changed):

- ignore_ranges: answer every GET with 200 and the whole file;
- no_validators: send neither ETag nor Last-Modified (so an If-Range never matches);
- cut_after: {path: N}: every response for path stops after N body bytes (the connection is closed);
- cut_once: {path: N}: the same for the next response only (the rule is then dropped);
- redirects: {path: absolute URL}: answer 302 to that URL;
- down: stop listening (connections are refused); false listens again on the same ports.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import email.utils
import itertools
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import urllib.parse
from dataclasses import dataclass, field, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CONTROL_FILE = ".control.json"
REQUEST_LOG = ".requests.log"
CHUNK = 64 << 10
#: How often a listener looks for shutdown (seconds): keeps "down" and teardown quick.
POLL = 0.02
#: The certificate's names: the loopback and the host as a qemu user-network guest sees it.
CERT_NAMES = "subjectAltName=IP:127.0.0.1,IP:10.0.2.2"
_RANGE = re.compile(r"bytes=(\d+)-(\d*)")


@dataclass
class Control:
    """How the server misbehaves; see the module docstring for each key."""

    ignore_ranges: bool = False
    no_validators: bool = False
    cut_after: dict[str, int] = field(default_factory=dict)
    cut_once: dict[str, int] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)
    down: bool = False

    @classmethod
    def from_json(cls, data: dict) -> Control:
        """A Control from the control file's object; an unknown key is an error, not ignored."""
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"{CONTROL_FILE}: unknown keys {sorted(unknown)}")
        return cls(**data)


@dataclass
class Answer:
    """What a GET or HEAD of a served file gets: the status, the byte range and the headers."""

    status: int
    start: int = 0
    length: int = 0
    headers: dict[str, str] = field(default_factory=dict)


def validators(path: Path) -> dict[str, str]:
    """The ETag (from size and mtime) and Last-Modified of a file."""
    st = path.stat()
    return {"ETag": f'"{st.st_size:x}-{st.st_mtime_ns:x}"',
            "Last-Modified": email.utils.formatdate(st.st_mtime, usegmt=True)}


def if_range_holds(if_range: str | None, tags: dict[str, str]) -> bool:
    """Whether an If-Range (absent, a strong ETag or a date) lets a Range apply."""
    if if_range is None:
        return True
    if if_range.startswith(("W/", '"')):
        return if_range == tags.get("ETag")
    return if_range == tags.get("Last-Modified")


def plan(size: int, range_header: str | None, if_range: str | None, tags: dict[str, str],
         ignore_ranges: bool) -> Answer:
    """The answer to a request for a file of size bytes: 200, 206 with Content-Range, or 416."""
    headers = {**tags, "Accept-Ranges": "none" if ignore_ranges else "bytes"}
    m = _RANGE.fullmatch(range_header or "")
    if ignore_ranges or not m or not if_range_holds(if_range, tags):
        return Answer(200, 0, size, {**headers, "Content-Length": str(size)})
    start = int(m.group(1))
    end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
    if start >= size or end < start:
        return Answer(416, headers={**headers, "Content-Range": f"bytes */{size}", "Content-Length": "0"})
    return Answer(206, start, end - start + 1, {**headers, "Content-Length": str(end - start + 1),
                                                "Content-Range": f"bytes {start}-{end}/{size}"})


def make_certificate(directory: Path) -> Path:
    """Generate a self-signed certificate for the test addresses (cert.pem, key.pem); return cert.pem."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "2", "-subj", "/CN=imgbased-test", "-addext", CERT_NAMES,
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert


class _Handler(BaseHTTPRequestHandler):
    """Answers GET and HEAD from the channel's directory under the channel's current control."""

    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        """Answer a GET."""
        self._answer(body=True)

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's name
        """Answer a HEAD."""
        self._answer(body=False)

    def _answer(self, body: bool) -> None:
        """Send the status, headers and (for GET) the body, then log the request."""
        channel = self.server.channel
        arrived = channel.arrival()
        control = channel.reload_control()
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        self.close_connection = True
        target, sent = channel.resolve(path), 0
        if path in control.redirects:
            status = self._send_head(Answer(302, headers={"Location": control.redirects[path]}))
        elif target is None:
            status = self._send_head(Answer(404))
        else:
            tags = {} if control.no_validators else validators(target)
            answer = plan(target.stat().st_size, self.headers.get("Range"), self.headers.get("If-Range"),
                          tags, control.ignore_ranges)
            status = self._send_head(answer)
            if body:
                sent = self._send_body(target, answer, channel.cut_for(path))
        channel.log_request({"scheme": self.server.scheme, "method": self.command, "path": path,
                             "range": self.headers.get("Range"), "if_range": self.headers.get("If-Range"),
                             "status": status, "sent": sent}, arrived)

    def _send_head(self, answer: Answer) -> int:
        """Send the status line and headers (a body-less answer says Content-Length: 0)."""
        self.send_response(answer.status)
        for name, value in {"Content-Length": "0", **answer.headers, "Connection": "close"}.items():
            self.send_header(name, value)
        self.end_headers()
        return answer.status

    def _send_body(self, target: Path, answer: Answer, cut: int | None) -> int:
        """Send the answer's byte range of target, stopping after cut bytes; return the bytes sent."""
        todo = answer.length if cut is None else min(cut, answer.length)
        sent = 0
        with open(target, "rb") as src, contextlib.suppress(OSError):  # the client may hang up
            src.seek(answer.start)
            while sent < todo and (chunk := src.read(min(CHUNK, todo - sent))):
                self.wfile.write(chunk)
                sent += len(chunk)
            self.wfile.flush()
        return sent

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - http.server's name
        """Stay quiet: the request log says what happened."""


class _HTTPServer(ThreadingHTTPServer):
    """One listener of a channel: plain, or TLS with the handshake in the request's thread."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], channel: ChannelServer, tls: ssl.SSLContext | None) -> None:
        """Listen on address for channel; with tls, every connection is wrapped in it."""
        self.channel, self.tls = channel, tls
        self.scheme = "https" if tls else "http"
        super().__init__(address, _Handler)

    def finish_request(self, request, client_address) -> None:
        """Handle one connection, first completing the TLS handshake when this listener is https."""
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        try:
            wrapped = self.tls.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return  # a client that does not trust the certificate hangs up during the handshake
        with wrapped:
            super().finish_request(wrapped, client_address)

    def handle_error(self, request, client_address) -> None:
        """A client that went away is no error of the server's: keep the test output clean."""


class _Listener:
    """A port that can be closed and opened again (the same port number) for "server down" tests."""

    def __init__(self, channel: ChannelServer, bind: str, port: int, tls: ssl.SSLContext | None) -> None:
        """Remember where to listen; open() starts listening."""
        self.channel, self.bind, self.port, self.tls = channel, bind, port, tls
        self.httpd: _HTTPServer | None = None

    def open(self) -> None:
        """Listen (on a random port the first time, when port is 0) and serve in a thread."""
        if self.httpd is None:
            self.httpd = _HTTPServer((self.bind, self.port), self.channel, self.tls)
            self.port = self.httpd.server_address[1]
            threading.Thread(target=self.httpd.serve_forever, args=(POLL,), daemon=True).start()

    def close(self) -> None:
        """Stop serving and close the listening socket: new connections are refused."""
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None


class ChannelServer:
    """A directory served over http (and https with https_dir), with the misbehaviour of Control."""

    def __init__(self, root: Path, *, bind: str = "127.0.0.1", port: int = 0, https_dir: Path | None = None,
                 https_port: int = 0, log_file: Path | None = None) -> None:
        """Serve root; https_dir holds the generated certificate; log_file gets one JSON line a request."""
        self.root = Path(root).resolve()
        self.control = Control()
        self.requests: list[dict] = []  # in the order the requests arrived (not the order they ended)
        self._arrivals = itertools.count()
        self.log_file = log_file
        self.cert = make_certificate(Path(https_dir)) if https_dir else None
        self._lock = threading.Condition()
        self._control_text: str | None = None
        self.http = _Listener(self, bind, port, None)
        self.https = _Listener(self, bind, https_port, self._tls()) if self.cert else None
        self._host = "127.0.0.1" if bind in ("0.0.0.0", "") else bind

    def _tls(self) -> ssl.SSLContext:
        """The server-side TLS context with the generated certificate and key."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.cert.with_name("key.pem"))
        return context

    def __enter__(self) -> ChannelServer:
        """Start listening."""
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        """Stop listening."""
        self.stop()

    def listeners(self) -> list[_Listener]:
        """The http listener and, with a certificate, the https one."""
        return [self.http, *([self.https] if self.https else [])]

    def start(self) -> None:
        """Listen on every port."""
        for listener in self.listeners():
            listener.open()

    def stop(self) -> None:
        """Close every port."""
        for listener in self.listeners():
            listener.close()

    @property
    def down(self) -> bool:
        """Whether the server refuses connections."""
        return self.http.httpd is None

    @down.setter
    def down(self, value: bool) -> None:
        """Close every listening socket (True) or listen again on the same ports (False)."""
        if value:
            self.stop()
        else:
            self.start()

    @property
    def url(self) -> str:
        """The http base URL."""
        return f"http://{self._host}:{self.http.port}"

    @property
    def https_url(self) -> str:
        """The https base URL (with https_dir only)."""
        if self.https is None:
            raise RuntimeError("this ChannelServer was started without https_dir")
        return f"https://{self._host}:{self.https.port}"

    def ports(self) -> dict[str, int | None]:
        """The port numbers, as the script writes them to its port file."""
        return {"http": self.http.port, "https": self.https.port if self.https else None}

    def resolve(self, path: str) -> Path | None:
        """The served file for a URL path, or None (missing, a directory, hidden or outside root)."""
        parts = [p for p in path.split("/") if p]
        if not parts or any(p.startswith(".") for p in parts):
            return None
        target = self.root.joinpath(*parts)
        return target if target.is_file() else None

    def reload_control(self) -> Control:
        """Apply the control file when its content changed since the last look; return the control."""
        try:
            text = (self.root / CONTROL_FILE).read_text()
        except FileNotFoundError:
            text = None
        with self._lock:
            changed = text is not None and text != self._control_text
            if changed:
                try:
                    self.control = Control.from_json(json.loads(text))
                except ValueError as exc:  # half-written, or a typo: say so and keep the last control
                    print(f"channel_server: {CONTROL_FILE} not applied: {exc}", file=sys.stderr)
                    changed = False
                else:
                    self._control_text = text
            control = self.control
        if changed and control.down != self.down:
            self.down = control.down
        return control

    def cut_for(self, path: str) -> int | None:
        """After how many body bytes this response for path is cut (a cut_once rule is used up)."""
        with self._lock:
            once = self.control.cut_once.pop(path, None)
            return once if once is not None else self.control.cut_after.get(path)

    def arrival(self) -> int:
        """The next request's arrival number."""
        with self._lock:
            return next(self._arrivals)

    def log_request(self, entry: dict, arrived: int) -> None:
        """Keep one request's summary in requests (by arrival) and, in script mode, as a line of the log file."""
        with self._lock:
            entry["arrived"] = arrived
            bisect.insort(self.requests, entry, key=lambda e: e["arrived"])
            if self.log_file is not None:
                with open(self.log_file, "a") as log:
                    log.write(json.dumps(entry) + "\n")
            self._lock.notify_all()

    def wait_for_requests(self, count: int, timeout: float = 10) -> list[dict]:
        """The request log once it holds count entries (a client may finish reading before the log line)."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.requests) >= count, timeout):
                raise RuntimeError(f"{len(self.requests)} requests logged, {count} awaited: {self.requests}")
            return list(self.requests)


def _write_ports(path: Path, ports: dict) -> None:
    """Write the port file whole (a temporary file renamed), so a reader never sees half of it."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(ports) + "\n")
    os.replace(tmp, path)


def _watch(channel: ChannelServer, stop: threading.Event) -> None:
    """Re-read the control file a few times a second, so that down and up work with no request coming."""
    while not stop.wait(0.2):
        channel.reload_control()


def main(argv: list[str] | None = None) -> int:
    """Run the server until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="the directory to serve")
    parser.add_argument("--bind", default="127.0.0.1", help="the address to listen on")
    parser.add_argument("--port", type=int, default=0, help="the http port (default: a free one)")
    parser.add_argument("--https-port", type=int, default=0, help="the https port (default: a free one)")
    parser.add_argument("--https-cert-dir", type=Path, help="serve https too, with a certificate generated here")
    parser.add_argument("--port-file", type=Path, required=True, help="where to write the ports as JSON")
    args = parser.parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    channel = ChannelServer(args.root, bind=args.bind, port=args.port, https_dir=args.https_cert_dir,
                            https_port=args.https_port, log_file=args.root / REQUEST_LOG)
    with channel:
        _write_ports(args.port_file, channel.ports())
        _watch(channel, stop)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
