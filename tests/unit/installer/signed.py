# SPDX-License-Identifier: GPL-2.0-or-later
"""A liveimg served over http with good, foreign and wrong signatures, and the installer's trusted keys.

Fixtures for the installer's signature tests (imgbase-install and the anaconda check): take them
into a test module by name (``served = signed.served``), as with tests.gpgkeys.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import gpgkeys
from tests.channel_server import ChannelServer

DATA = os.urandom(200_000)
SHA = hashlib.sha256(DATA).hexdigest()
IMAGE = "rootfs.squashfs"  # signed by the publisher: rootfs.squashfs.sig
UNSIGNED = "unsigned.squashfs"  # the same bytes, no signature beside them
STRANGER_SIG = "stranger.sig"  # a good signature of IMAGE by a key nobody trusts
WRONG_SIG = "other.sig"  # the publisher's good signature of other bytes


@dataclass
class Served:
    """The server and its directory."""

    srv: ChannelServer
    root: Path

    def url(self, name: str) -> str:
        """The http URL of a served file."""
        return f"{self.srv.url}/{name}"

    def gets(self, name: str) -> int:
        """How many times a file was requested so far."""
        return sum(1 for r in self.srv.requests if r["path"] == f"/{name}" and r["method"] == "GET")


@pytest.fixture
def served(tmp_path, publisher, stranger) -> Iterator[Served]:
    """IMAGE (signed), UNSIGNED, STRANGER_SIG and WRONG_SIG over http."""
    root = tmp_path / "www"
    root.mkdir()
    (root / IMAGE).write_bytes(DATA)
    (root / UNSIGNED).write_bytes(DATA)
    (root / "other.bin").write_bytes(DATA[:-1] + b"!")
    publisher.sign(root / IMAGE)
    stranger.sign(root / IMAGE, root / STRANGER_SIG)
    publisher.sign(root / "other.bin", root / WRONG_SIG)
    with ChannelServer(root) as srv:
        yield Served(srv, root)


@pytest.fixture
def trusted(tmp_path, monkeypatch, publisher) -> Path:
    """The installer's trusted key directory holds the publisher's key."""
    directory = gpgkeys.install(tmp_path / "trusted.d", publisher)
    monkeypatch.setenv("IMGBASED_TRUSTED_DIR", str(directory))
    return directory


@pytest.fixture
def no_keys(tmp_path, monkeypatch) -> Path:
    """The installer trusts no key (its trusted directory does not exist)."""
    directory = tmp_path / "no-trusted.d"
    monkeypatch.setenv("IMGBASED_TRUSTED_DIR", str(directory))
    return directory
