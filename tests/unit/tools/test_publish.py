# SPDX-License-Identifier: GPL-2.0-or-later
"""image-tools/publish end to end: a channel that signature.py verifies and channel.py parses."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from org_ovirt_imgbased.host import channel, signature
from org_ovirt_imgbased.runner import Runner
from tests import gpgkeys
from tests.repo import ROOT

publisher = gpgkeys.publisher
PUBLISH = ROOT / "image-tools" / "publish"


def publish(key: gpgkeys.Key, directory: Path, *args: str) -> subprocess.CompletedProcess:
    """Run image-tools/publish with the key's GnuPG home."""
    return subprocess.run([sys.executable, str(PUBLISH), str(directory), "--key", key.fingerprint,
                           "--gnupg-home", str(key.home), *args], capture_output=True, text=True, timeout=120)


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    """The single error line of a failed run (exit 1, no traceback)."""
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("publish: error: ")
    return proc.stderr


@pytest.fixture()
def images(tmp_path) -> Path:
    """A directory with two images (one versioned by a sidecar) and a file that is no image."""
    directory = tmp_path / "channel"
    directory.mkdir()
    (directory / "imgbased-v1.squashfs").write_bytes(os.urandom(200_000))
    (directory / "imgbased-v2.img").write_bytes(os.urandom(1_500_000))
    (directory / "imgbased-v2.img.json").write_text('{"version": "1.10", "built": "today"}')
    (directory / "README").write_text("not an image\n")
    return directory


def test_publish_writes_a_channel_that_verifies_and_parses(images, publisher, tmp_path):
    """Index and every image signature verify with gpgv; sizes and sha256 match; the order is natural."""
    proc = publish(publisher, images, "--version", "imgbased-v1.squashfs=1.9")
    assert proc.returncode == 0, proc.stderr
    trust = signature.load_trust(directory=gpgkeys.install(tmp_path / "trusted.d", publisher))
    index_path = images / "index.json"
    assert signature.verify_file(Runner(), trust, index_path, images / "index.json.sig", "index") == \
        publisher.fingerprint
    index = channel.parse_index(index_path.read_text(), str(index_path))
    assert [e.version for e in index.entries] == ["1.9", "1.10"]
    assert channel.newest(index).name == "imgbased-v2.img"
    for entry in index.entries:
        data = images / entry.name
        assert entry.url == str(data) and entry.signature == f"{data}.sig"
        assert (entry.size, entry.sha256) == (data.stat().st_size, hashlib.sha256(data.read_bytes()).hexdigest())
        assert signature.verify_file(Runner(), trust, data, Path(entry.signature), entry.name) == \
            publisher.fingerprint
    assert sorted(p.name for p in images.iterdir()) == [
        "README", "imgbased-v1.squashfs", "imgbased-v1.squashfs.sig", "imgbased-v2.img", "imgbased-v2.img.json",
        "imgbased-v2.img.sig", "index.json", "index.json.sig"]
    assert f"{index_path}: 2 image(s), signed by {publisher.fingerprint}" in proc.stdout


def test_base_url_makes_absolute_urls(images, publisher):
    """--base-url names images and signatures under it."""
    proc = publish(publisher, images, "--version", "imgbased-v1.squashfs=1.9", "--base-url",
                   "https://cdn.example.org/imgbased")
    assert proc.returncode == 0, proc.stderr
    items = json.loads((images / "index.json").read_text())["images"]
    assert items[0]["url"] == "https://cdn.example.org/imgbased/imgbased-v1.squashfs"
    assert items[0]["signature"] == "https://cdn.example.org/imgbased/imgbased-v1.squashfs.sig"


def test_a_missing_version_is_one_line_and_writes_nothing(images, publisher):
    """An image with neither --version nor a sidecar names the file and both ways to give a version."""
    before = sorted(p.name for p in images.iterdir())
    message = one_line_error(publish(publisher, images))
    assert f"no version for {images / 'imgbased-v1.squashfs'}" in message
    assert "--version imgbased-v1.squashfs=VERSION" in message and "imgbased-v1.squashfs.json" in message
    assert sorted(p.name for p in images.iterdir()) == before


@pytest.mark.parametrize(("args", "problem"), [
    (["--version", "imgbased-v1.squashfs"], "is not NAME=VERSION"),
    (["--version", "other.img=2"], "names other.img, which is not an image"),
    (["--version", "imgbased-v1.squashfs=1 9"], "version '1 9' is empty or contains whitespace"),
    (["--version", "imgbased-v1.squashfs=1.10"], "version '1.10' and '1.10' are the same"),
    (["--version", "imgbased-v1.squashfs=1", "--base-url", "ftp://x/"], "--base-url 'ftp://x/' is not"),
])
def test_bad_arguments_are_one_line_and_leave_the_directory_alone(images, publisher, args, problem):
    """Bad versions and URLs are refused in one line; no signature or temporary file is left."""
    before = sorted(p.name for p in images.iterdir())
    assert problem in one_line_error(publish(publisher, images, *args))
    assert sorted(p.name for p in images.iterdir()) == before


def test_an_unknown_key_is_gpgs_one_line_error(images, publisher, tmp_path):
    """Signing with a key the GnuPG home does not hold reports gpg's reason."""
    proc = subprocess.run([sys.executable, str(PUBLISH), str(images), "--key", "nobody@example.org",
                           "--gnupg-home", str(publisher.home), "--version", "imgbased-v1.squashfs=1"],
                          capture_output=True, text=True, timeout=120)
    assert "gpg failed (exit 2): gpg: skipped \"nobody@example.org\": No secret key" in one_line_error(proc)
    assert not (images / "index.json").exists() and not (images / "imgbased-v1.squashfs.sig").exists()


def test_a_directory_without_images(tmp_path, publisher):
    """An empty directory or a missing one is named."""
    assert "holds no *.squashfs or *.img file" in one_line_error(publish(publisher, tmp_path))
    assert "is not a directory" in one_line_error(publish(publisher, tmp_path / "missing"))


def test_help_explains_the_tool():
    """--help shows the docstring: versions, signing, what a host installs."""
    proc = subprocess.run([sys.executable, str(PUBLISH), "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert "NAME=VERSION" in proc.stdout and "trusted.d" in proc.stdout and "index.json.sig" in proc.stdout
