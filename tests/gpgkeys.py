# SPDX-License-Identifier: GPL-2.0-or-later
"""OpenPGP test keys made at test time with gpg: the one place tests make, export and sign with keys.

Each key lives in its own throw-away GnuPG home (ed25519, no passphrase: made in milliseconds).
``stop()`` ends the gpg-agent that gpg started for that home.  Unit tests and the VM tests use the
same helpers, so a key made here verifies wherever imgbased runs gpgv.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from vmlab import channel


@dataclass(frozen=True)
class Key:
    """A signing key: its GnuPG home and its fingerprint."""

    home: Path
    fingerprint: str

    def gpg(self, *args: str | Path, input: bytes | None = None) -> bytes:
        """Run gpg in batch mode in this key's home and return its stdout."""
        argv = ["gpg", "--batch", "--yes", "--quiet", "--homedir", str(self.home), *map(str, args)]
        return subprocess.run(argv, input=input, capture_output=True, check=True, timeout=60).stdout

    def export(self, path: Path, armor: bool = False) -> Path:
        """Write the public key to path (binary, or ASCII-armored) and return path."""
        path.write_bytes(self.gpg("--export", *(["--armor"] if armor else []), self.fingerprint))
        return path

    def sign(self, data: Path, signature: Path | None = None) -> Path:
        """Write a detached binary signature of data (default data.sig) and return its path."""
        signature = signature or data.with_name(data.name + ".sig")
        self.gpg("--local-user", self.fingerprint, "--detach-sign", "--output", signature, data)
        return signature

    def stop(self) -> None:
        """End the gpg-agent of this key's home (gpg starts one for key generation and signing)."""
        channel.stop_agent(self.home)


def make_key(home: Path, uid: str = "Test Publisher <publisher@example.org>") -> Key:
    """Generate an ed25519 signing key without passphrase in a new GnuPG home."""
    return Key(home, channel.signing_key(home, uid))


def install(directory: Path, *keys: Key) -> Path:
    """A trusted key directory (as /etc/imgbased/trusted.d) holding the keys' binary exports."""
    directory.mkdir(parents=True, exist_ok=True)
    for number, key in enumerate(keys):
        key.export(directory / f"key{number}.gpg")
    return directory


@pytest.fixture(scope="module")
def publisher(tmp_path_factory) -> Iterator[Key]:
    """The trusted publisher's key, one per test module."""
    key = make_key(tmp_path_factory.mktemp("gpg") / "publisher")
    yield key
    key.stop()


@pytest.fixture(scope="module")
def stranger(tmp_path_factory) -> Iterator[Key]:
    """A second key nobody trusts."""
    key = make_key(tmp_path_factory.mktemp("gpg") / "stranger", "Stranger <stranger@example.org>")
    yield key
    key.stop()
