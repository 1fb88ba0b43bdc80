# SPDX-License-Identifier: GPL-2.0-or-later
"""A signed update channel for the VM lab, published and served the way a site would.

A throw-away OpenPGP key (gpg, ed25519, no passphrase) signs the channel that
``image-tools/publish`` writes; Python's own static file server (``python3 -m http.server``)
serves it on the host's loopback, which a guest booted with ``--reach-host`` reaches as
10.0.2.2.  Nothing here is imgbased-specific serving: any static web server would do.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .common import VmError

REPO = Path(__file__).resolve().parents[2]
PUBLISH = REPO / "image-tools/publish"
GUEST_HOST = "10.0.2.2"
_SERVING = re.compile(r"Serving HTTP on \S+ port (\d+)")


def gpg(home: Path, *args: str | Path) -> str:
    """Run gpg in batch mode with its own home; its stdout."""
    argv = ["gpg", "--batch", "--yes", "--quiet", "--homedir", str(home), *map(str, args)]
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=120).stdout


def signing_key(home: Path, uid: str = "imgbased test channel <channel@example.org>") -> str:
    """Make an ed25519 signing key without passphrase in a new GnuPG home; its fingerprint."""
    home.mkdir(mode=0o700, parents=True)
    gpg(home, "--passphrase", "", "--pinentry-mode", "loopback", "--quick-gen-key", uid, "ed25519", "sign", "never")
    listing = gpg(home, "--with-colons", "--list-secret-keys")
    return next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))


def stop_agent(home: Path) -> None:
    """End the gpg-agent that gpg started for home."""
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], capture_output=True, check=False)


@dataclass(frozen=True)
class Channel:
    """A served channel: its URL as the guest sees it, and the public key a host must trust."""

    url: str
    key: Path
    directory: Path


def publish(work: Path, images: dict[Path, str]) -> tuple[Path, Path, str]:
    """Copy images into work/channel and publish them (image → version); (dir, gnupg home, fingerprint)."""
    home, directory = work / "gnupg", work / "channel"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    shutil.rmtree(home, ignore_errors=True)
    fingerprint = signing_key(home)
    versions = []
    for image, version in images.items():
        shutil.copyfile(image, directory / image.name)
        versions += ["--version", f"{image.name}={version}"]
    proc = subprocess.run([sys.executable, str(PUBLISH), str(directory), "--key", fingerprint, "--gnupg-home",
                           str(home), *versions], capture_output=True, text=True)
    if proc.returncode != 0:
        raise VmError(f"image-tools/publish failed: {proc.stderr.strip()}")
    return directory, home, fingerprint


@contextlib.contextmanager
def served(work: Path, images: dict[Path, str], share: Path) -> Iterator[Channel]:
    """Publish images as a channel and serve it over HTTP on the loopback; the key goes into share."""
    directory, home, fingerprint = publish(work, images)
    key = share / "channel-key.gpg"
    key.write_bytes(subprocess.run(["gpg", "--batch", "--homedir", str(home), "--export", fingerprint],
                                   capture_output=True, check=True).stdout)
    server = subprocess.Popen([sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1", "--directory",
                               str(directory), "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = _port(server)
        yield Channel(f"http://{GUEST_HOST}:{port}/", key, directory)
    finally:
        server.terminate()
        server.wait(10)
        stop_agent(home)


def _port(server: subprocess.Popen, wait: float = 30) -> int:
    """The port the static server printed when it started listening."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        line = server.stdout.readline() if server.stdout else ""
        found = _SERVING.search(line)
        if found:
            return int(found.group(1))
        if not line and server.poll() is not None:
            break
    raise VmError("the channel's HTTP server did not start")
