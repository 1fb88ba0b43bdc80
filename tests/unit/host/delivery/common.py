# SPDX-License-Identifier: GPL-2.0-or-later
"""What the delivery tests share: the channel's content, a fake context, small helpers (fixtures: conftest).

Everything runs on the host: a published (signed) channel served by tests.channel_server, keys
made by tests.gpgkeys, and a fake context whose layout is just bases with LV tags.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest

from org_ovirt_imgbased.runner import Runner
from tests import gpgkeys
from tests.channel_server import ChannelServer
from tests.repo import ROOT

PUBLISH = ROOT / "image-tools" / "publish"
NAME = "imgbased-v2.squashfs"
VERSION = "2.0"
DATA = os.urandom(300_000)
SHA = hashlib.sha256(DATA).hexdigest()
PLAIN = b"plain image bytes\n" * 5000
PLAIN_SHA = hashlib.sha256(PLAIN).hexdigest()
OTHER_SHA = "cd" * 32


@dataclass
class FakeContext:
    """The part of a host Context that delivery uses: runner, config_path and layout()."""

    runner: Runner
    config_path: Path
    bases: list = field(default_factory=list)

    def layout(self) -> SimpleNamespace:
        """A layout holding only the bases (all channel.base_versions reads)."""
        return SimpleNamespace(bases=self.bases)


def base(name: str, sha256: str | None = None, version: str | None = None) -> SimpleNamespace:
    """A base whose LV carries the sha256 and version tags given."""
    tags = [f"imgbased:sha256={sha256}"] * bool(sha256) + [f"imgbased:version={version}"] * bool(version)
    return SimpleNamespace(name=name, lv=SimpleNamespace(tags=["imgbased:base", *tags]))


def publish(key: gpgkeys.Key, directory: Path, *args: str) -> None:
    """Run image-tools/publish on directory with the key's GnuPG home."""
    proc = subprocess.run([sys.executable, str(PUBLISH), str(directory), "--key", key.fingerprint,
                           "--gnupg-home", str(key.home), *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def one_line(err: pytest.ExceptionInfo) -> str:
    """The message of an ImgbaseError, checked to be one line."""
    message = str(err.value)
    assert message and "\n" not in message
    return message


def listing(path: Path) -> list[str]:
    """The names in a directory (none when it is missing)."""
    return sorted(os.listdir(path)) if path.is_dir() else []


def gets(srv: ChannelServer, name: str = NAME) -> list[dict]:
    """The GET requests the server logged for /name."""
    return [r for r in srv.requests if r["method"] == "GET" and r["path"] == f"/{name}"]
