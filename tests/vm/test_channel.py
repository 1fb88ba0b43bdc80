# SPDX-License-Identifier: GPL-2.0-or-later
"""Updates over the network on real LVM: a signed channel served by the host, seen from the guest.

``make check-vm`` runs the VM tier under tests/vm/with-channel-server and vm-run --reach-host:
the test server listens on the host's loopback (the guest's 10.0.2.2) and serves a directory
in /tmp that the guest shares, so a test publishes a channel there with image-tools/publish and
a test key made now, steers the server through its control file and reads its request log.
"""

from __future__ import annotations

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
from tests.vm.payloads import Imgbase, build_payloads, one_line_error

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
    top = tmp_path_factory.mktemp("chanimages")
    return build_payloads(top / "1", "1"), build_payloads(top / "2", "2")


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


def host_with_trust(loop_disk, vg_name: str, tmp_path: Path, images, key: gpgkeys.Key, channel_url: str) -> Imgbase:
    """A host on Base-0.1 from v1 that trusts key and follows channel_url."""
    tool = booted_tool(loop_disk, vg_name, tmp_path)
    tool.env["IMGBASED_TRUSTED_DIR"] = str(gpgkeys.install(tmp_path / "trusted", key))
    tool.env["SSL_CERT_FILE"] = CA
    conf = tmp_path / "imgbased.conf"
    conf.write_text(f"[update]\nchannel = {channel_url}\n")
    tool.config = conf
    tool("base", "--add", str(images[0].liveimg))
    tool("layer", "--add")
    tool.boot_into("Base-0.1")
    return tool


def run(tool: Imgbase, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """imgbase with the host's configuration file, as its own process (urllib, gpgv, a clean env)."""
    return tool("--config", str(tool.config), *args, check=check, process=True)


def image_gets(requests: list[dict], name: str) -> list[dict]:
    """The GET requests for a file called name."""
    return [r for r in requests if r["method"] == "GET" and r["path"].endswith("/" + name)]


def test_signed_channel_check_then_update(loop_disk, vg_name, tmp_path, images, publisher, server):
    """--check reads only the index (exit 0: newer; 3: up to date); the update tags image, version, sha256."""
    v2 = images[1].liveimg
    _, url = publish(publisher, "signed", v2, "2.0")
    tool = host_with_trust(loop_disk, vg_name, tmp_path, images, publisher, url)
    try:
        found = run(tool, "update", "--check", check=False)
        assert found.returncode == 0 and "update available" in found.stdout, found.stdout + found.stderr
        assert image_gets(server.requests(), v2.name) == [], "--check downloaded the image"
        run(tool, "update")
        row = lvs(vg_name)["Base-1"]
        tags = row["lv_tags"].split(",")
        assert f"imgbased:source={v2.name}" in tags and "imgbased:version=2.0" in tags, tags
        digest = __import__("hashlib").sha256(v2.read_bytes()).hexdigest()
        assert f"imgbased:sha256={digest}" in tags, tags
        assert len(image_gets(server.requests(), v2.name)) == 1
        again = run(tool, "update", "--check", check=False)
        assert again.returncode == 3 and "up to date" in again.stdout, again.stdout + again.stderr
        staged = Path(tool.env["IMGBASED_STATE_DIR"]) / "images"
        assert not (staged / v2.name).exists(), "the applied download was not garbage-collected"
    finally:
        unmount_boot(tool.boot_dir)


def test_tampered_unknown_key_and_unsigned_images_never_become_a_base(loop_disk, vg_name, tmp_path, images,
                                                                      publisher, stranger, server):
    """A flipped byte, a stranger's signature and no signature under required: one line each, no LV."""
    v2 = images[1].liveimg
    flipped, flipped_url = publish(publisher, "flipped", v2, "2.0")
    data = bytearray((flipped / v2.name).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (flipped / v2.name).write_bytes(bytes(data))
    _, stranger_url = publish(stranger, "stranger", v2, "2.0")
    unsigned, unsigned_url = publish(publisher, "unsigned", v2, "2.0")
    (unsigned / (v2.name + ".sig")).unlink()
    tool = host_with_trust(loop_disk, vg_name, tmp_path, images, publisher, flipped_url)
    try:
        before = set(lvs(vg_name))
        cases = {flipped_url: ("sha256", "corrupt"), stranger_url: ("not trusted",), unsigned_url: ("no signature",)}
        for url, words in cases.items():
            tool.config.write_text(f"[update]\nchannel = {url}\nsignature = required\n")
            line = one_line_error(run(tool, "update", check=False))
            assert any(w in line for w in words), (url, line)
            assert set(lvs(vg_name)) == before, (url, line)
        staged = Path(tool.env["IMGBASED_STATE_DIR"]) / "images"
        assert not [p for p in staged.glob("*") if not p.name.endswith((".part", ".part.json"))], \
            sorted(p.name for p in staged.glob("*"))
    finally:
        unmount_boot(tool.boot_dir)


def test_cut_download_resumes_with_a_range_request(loop_disk, vg_name, tmp_path, images, publisher, server):
    """The connection closes mid-image: one-line error, no LV; the rerun asks for the rest only."""
    v2 = images[1].liveimg
    directory, url = publish(publisher, "resume", v2, "2.0")
    tool = host_with_trust(loop_disk, vg_name, tmp_path, images, publisher, url)
    size, cut = v2.stat().st_size, v2.stat().st_size // 3
    try:
        before = set(lvs(vg_name))
        server.control({"cut_once": {f"/resume/{v2.name}": cut}})
        line = one_line_error(run(tool, "update", check=False))
        assert "interrupted" in line and "again" in line, line
        assert set(lvs(vg_name)) == before
        run(tool, "update")
        gets = image_gets(server.requests(), v2.name)
        whole, rest = [g for g in gets if not g.get("range")], [g for g in gets if g.get("range")]
        assert len(whole) == 1 and len(rest) == 1, gets
        assert rest[0]["range"] == f"bytes={cut}-" and rest[0]["status"] == 206, gets
        assert whole[0]["sent"] == cut and sum(g["sent"] for g in gets) == size, (gets, size)
        assert "Base-1.1" in lvs(vg_name)
    finally:
        unmount_boot(tool.boot_dir)


def test_download_only_then_apply_with_the_server_down(loop_disk, vg_name, tmp_path, images, publisher, server):
    """--download-only stages the image (listed by layout and check); the apply needs no network."""
    v2 = images[1].liveimg
    _, url = publish(publisher, "staged", v2, "2.0")
    tool = host_with_trust(loop_disk, vg_name, tmp_path, images, publisher, url)
    try:
        before = set(lvs(vg_name))
        out = run(tool, "update", "--download-only").stdout
        assert "downloaded" in out and set(lvs(vg_name)) == before, out
        assert f"staged: {v2.name} version 2.0" in run(tool, "layout").stdout
        assert f"staged {v2.name} version 2.0" in run(tool, "check").stdout
        server.control({"down": True})
        assert one_line_error(run(tool, "update", "--check", check=False)), "the server is still up"
        done = json.loads(run(tool, "update", "--json").stdout)
        assert done["new_base"] == "Base-1" and done["delivered"]["staged"]["version"] == "2.0", done
        assert "imgbased:version=2.0" in lvs(vg_name)["Base-1"]["lv_tags"]
    finally:
        server.control({})
        unmount_boot(tool.boot_dir)


@pytest.mark.parametrize("scheme_change", ["https-to-http", "http-to-ftp"])
def test_redirect_to_another_scheme_is_refused(loop_disk, vg_name, tmp_path, images, publisher, server,
                                               scheme_change):
    """A redirect that changes the scheme is refused in one line naming both URLs; nothing is made."""
    v2 = images[1].liveimg
    _, url = publish(publisher, "redirect", v2, "2.0")
    tool = host_with_trust(loop_disk, vg_name, tmp_path, images, publisher, url)
    try:
        if scheme_change == "https-to-http":
            start, target = f"{HTTPS}/redirect/moved.squashfs", f"{HTTP}/redirect/{v2.name}"
        else:
            start, target = f"{HTTP}/redirect/moved.squashfs", f"ftp://10.0.2.2/redirect/{v2.name}"
        server.control({"redirects": {"/redirect/moved.squashfs": target}})
        before = set(lvs(vg_name))
        line = one_line_error(run(tool, "update", "--signature", f"{HTTP}/redirect/{v2.name}.sig", start,
                                  check=False))
        assert "another scheme" in line and target in line, line
        assert set(lvs(vg_name)) == before
    finally:
        unmount_boot(tool.boot_dir)
