# SPDX-License-Identifier: GPL-2.0-or-later
"""Updates over the network on real LVM: a signed channel served by the host, seen from the guest.

``make check-vm`` runs the VM tier under tests/vm/with-channel-server and vm-run --reach-host:
the test server listens on the host's loopback (the guest's 10.0.2.2) and serves a directory
in /tmp that the guest shares, so a test publishes a channel there with image-tools/publish and
a test key made now, steers the server through its control file and reads its request log.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import gpgkeys
from tests.lvmhelp import lvs
from tests.repo import ROOT
from tests.vm.bootfix import booted_tool, unmount_boot
from tests.vm.payloads import Imgbase, one_line_error, shared_payloads

publisher, stranger = gpgkeys.publisher, gpgkeys.stranger
PUBLISH = ROOT / "image-tools" / "publish"
SERVED = os.environ.get("IMGBASED_TEST_CHANNEL_DIR")
HTTP = os.environ.get("IMGBASED_TEST_CHANNEL_HTTP", "")
HTTPS = os.environ.get("IMGBASED_TEST_CHANNEL_HTTPS", "")
CA = os.environ.get("IMGBASED_TEST_CHANNEL_CA", "")


@pytest.fixture(scope="module", autouse=True)
def _need_server():
    """Inside the VM lab the server must be there (make check-vm starts it); elsewhere skip."""
    if SERVED and Path(SERVED).is_dir():
        return
    if os.environ.get("IMGBASED_IN_VM") == "1":
        pytest.fail("no test channel server: run the VM tier with `make check-vm`")
    pytest.skip("needs the test channel server (make check-vm)")


class Server:
    """The host's test server as the guest sees it: its directory, its control and its log."""

    def __init__(self) -> None:
        """Start from a clean control and an empty log."""
        self.root = Path(SERVED or "")
        self.control({})
        self.log_mark = self._size()

    def _size(self) -> int:
        """The request log's size now."""
        try:
            return (self.root / ".requests.log").stat().st_size
        except FileNotFoundError:
            return 0

    def control(self, settings: dict) -> None:
        """Replace the server's control (written atomically: it re-reads the file per request)."""
        tmp = self.root / ".control.json.tmp"
        tmp.write_text(json.dumps(settings))
        tmp.rename(self.root / ".control.json")

    def requests(self) -> list[dict]:
        """The requests logged since this object was made (or since the last mark())."""
        with open(self.root / ".requests.log", "rb") as f:
            f.seek(self.log_mark)
            return [json.loads(line) for line in f.read().decode().splitlines() if line.strip()]

    def mark(self) -> None:
        """Forget the requests so far."""
        self.log_mark = self._size()


@pytest.fixture
def server():
    """The server, reset; its control is cleared again afterwards."""
    srv = Server()
    yield srv
    srv.control({})


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """v1 and v2 payloads (the liveimg squashfs is what a channel serves)."""
    return shared_payloads(tmp_path_factory, "1"), shared_payloads(tmp_path_factory, "2")


def publish(key: gpgkeys.Key, name: str, image: Path, version: str) -> tuple[Path, str]:
    """A channel directory NAME served by the host holding image as version; (dir, URL)."""
    directory = Path(SERVED or "") / name
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir()
    shutil.copyfile(image, directory / image.name)
    proc = subprocess.run([sys.executable, str(PUBLISH), str(directory), "--key", key.fingerprint, "--gnupg-home",
                           str(key.home), "--version", f"{image.name}={version}"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return directory, f"{HTTP}/{name}/"


@pytest.fixture(scope="module")
def host(module_loop_disk, tmp_path_factory, images, publisher):
    """One host for the module, on Base-0.1 from v1, trusting the publisher (the tests run in order)."""
    work = tmp_path_factory.mktemp("chanhost")
    vg = f"tvg{os.getpid() % 100000}c"
    tool = booted_tool(module_loop_disk, vg, work)
    tool.env["IMGBASED_TRUSTED_DIR"] = str(gpgkeys.install(work / "trusted", publisher))
    tool.env["SSL_CERT_FILE"] = CA
    tool.config = work / "imgbased.conf"
    tool("base", "--add", str(images[0].liveimg))
    tool("layer", "--add")
    tool.boot_into("Base-0.1")
    yield tool
    unmount_boot(tool.boot_dir)


def follow(tool: Imgbase, url: str, policy: str = "") -> None:
    """Point the host's configuration at a channel (and a signature policy)."""
    tool.config.write_text(f"[update]\nchannel = {url}\n" + (f"signature = {policy}\n" if policy else ""))


def run(tool: Imgbase, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """imgbase with the host's configuration file, as its own process (urllib, gpgv, a clean env)."""
    return tool("--config", str(tool.config), *args, check=check, process=True)


def image_gets(requests: list[dict], name: str) -> list[dict]:
    """The GET requests for a file called name."""
    return [r for r in requests if r["method"] == "GET" and r["path"].endswith("/" + name)]


def staged_files(tool: Imgbase) -> list[str]:
    """The files in the host's staging directory."""
    staged = Path(tool.env["IMGBASED_STATE_DIR"]) / "images"
    return sorted(p.name for p in staged.glob("*")) if staged.is_dir() else []


def test_tampered_unknown_key_unsigned_and_redirected_images_make_nothing(host, images, publisher, stranger,
                                                                          server):
    """A flipped byte, a stranger's signature, no signature under required, a scheme-changing redirect:
    one line each, no LV, nothing staged."""
    v2 = images[1].liveimg
    flipped, flipped_url = publish(publisher, "flipped", v2, "2.0")
    data = bytearray((flipped / v2.name).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (flipped / v2.name).write_bytes(bytes(data))
    _, stranger_url = publish(stranger, "stranger", v2, "2.0")
    unsigned, unsigned_url = publish(publisher, "unsigned", v2, "2.0")
    (unsigned / (v2.name + ".sig")).unlink()
    before = set(lvs(host.vg))
    for url, words in {flipped_url: ("sha256", "corrupt"), stranger_url: ("not trusted",),
                       unsigned_url: ("no signature",)}.items():
        follow(host, url, "required")
        line = one_line_error(run(host, "update", check=False))
        assert any(w in line for w in words), (url, line)
        assert set(lvs(host.vg)) == before, (url, line)
    redirects = {f"{HTTPS}/flipped/moved.squashfs": f"{HTTP}/stranger/{v2.name}",
                 f"{HTTP}/flipped/moved.squashfs": f"ftp://10.0.2.2/stranger/{v2.name}"}
    for start, target in redirects.items():
        server.control({"redirects": {"/flipped/moved.squashfs": target}})
        line = one_line_error(run(host, "update", "--signature", f"{HTTP}/stranger/{v2.name}.sig", start,
                                  check=False))
        assert "another scheme" in line and target in line, line
    assert set(lvs(host.vg)) == before
    assert [n for n in staged_files(host) if not n.endswith((".part", ".part.json"))] == []


def test_check_reads_only_the_index(host, images, publisher, server):
    """--check says a newer image is there (exit 0) without downloading it."""
    v2 = images[1].liveimg
    _, url = publish(publisher, "signed", v2, "2.0")
    follow(host, url)
    found = run(host, "update", "--check", check=False)
    assert found.returncode == 0 and "update available" in found.stdout, found.stdout + found.stderr
    assert image_gets(server.requests(), v2.name) == [], "--check downloaded the image"


def test_a_cut_download_resumes_with_a_range_request(host, images, server):
    """--download-only cut mid-image: one line, no LV; the rerun asks for the rest only, then stages it."""
    v2 = images[1].liveimg
    size, cut = v2.stat().st_size, v2.stat().st_size // 3
    before = set(lvs(host.vg))
    server.control({"cut_once": {f"/signed/{v2.name}": cut}})
    line = one_line_error(run(host, "update", "--download-only", check=False))
    assert "interrupted" in line and "again" in line, line
    run(host, "update", "--download-only")
    gets = image_gets(server.requests(), v2.name)
    whole, rest = [g for g in gets if not g.get("range")], [g for g in gets if g.get("range")]
    assert len(whole) == 1 and len(rest) == 1, gets
    assert rest[0]["range"] == f"bytes={cut}-" and rest[0]["status"] == 206, gets
    assert whole[0]["sent"] == cut and sum(g["sent"] for g in gets) == size, (gets, size)
    assert set(lvs(host.vg)) == before
    assert f"staged: {v2.name} version 2.0" in run(host, "layout").stdout
    assert f"staged {v2.name} version 2.0" in run(host, "check").stdout


def test_the_staged_image_applies_with_the_server_down(host, images, server):
    """With the server stopped, `imgbase update` applies the staged image, re-verified, and tags the base."""
    v2 = images[1].liveimg
    server.control({"down": True})
    assert one_line_error(run(host, "update", "--check", check=False)), "the server is still up"
    done = json.loads(run(host, "update", "--json").stdout)
    assert done["new_base"] == "Base-1" and done["delivered"]["staged"]["version"] == "2.0", done
    tags = lvs(host.vg)["Base-1"]["lv_tags"].split(",")
    digest = hashlib.sha256(v2.read_bytes()).hexdigest()
    assert {f"imgbased:source={v2.name}", "imgbased:version=2.0", f"imgbased:sha256={digest}"} <= set(tags), tags
    assert staged_files(host) == [], "the applied download was not garbage-collected"
    server.control({})
    again = run(host, "update", "--check", check=False)
    assert again.returncode == 3 and "up to date" in again.stdout, again.stdout + again.stderr
