# SPDX-License-Identifier: GPL-2.0-or-later
"""Fixtures of the delivery tests: a published (signed) channel and its server, staging, trust, a context."""

from __future__ import annotations

from pathlib import Path

import pytest

from org_ovirt_imgbased.host import signature
from org_ovirt_imgbased.runner import Runner
from tests import gpgkeys
from tests.channel_server import ChannelServer
from tests.unit.host.delivery.common import DATA, NAME, PLAIN, VERSION, FakeContext, publish

publisher = gpgkeys.publisher
stranger = gpgkeys.stranger

@pytest.fixture
def state(tmp_path, monkeypatch) -> Path:
    """The staging directory (IMGBASED_STATE_DIR/images) of an empty state directory."""
    monkeypatch.setenv("IMGBASED_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state" / "images"


@pytest.fixture
def trusted(tmp_path, monkeypatch) -> Path:
    """An empty trusted key directory (signature policy off until a key is installed)."""
    directory = tmp_path / "trusted.d"
    directory.mkdir()
    monkeypatch.setenv("IMGBASED_TRUSTED_DIR", str(directory))
    return directory


@pytest.fixture
def channel_dir(tmp_path, publisher) -> Path:
    """A channel with one image (version 2.0) and a plain file, published and signed by publisher."""
    directory = tmp_path / "channel"
    directory.mkdir()
    (directory / NAME).write_bytes(DATA)
    (directory / "plain.bin").write_bytes(PLAIN)
    publish(publisher, directory, "--version", f"{NAME}={VERSION}")
    return directory


@pytest.fixture
def srv(channel_dir):
    """The channel served over http."""
    with ChannelServer(channel_dir) as server:
        yield server


@pytest.fixture
def make_ctx(tmp_path, state, trusted, srv):
    """Make a fake context: the channel configured (or not), bases, keys trusted, dry or not."""
    def make(*bases, keys=(), channel: str | None = "default", dry: bool = False) -> FakeContext:
        gpgkeys.install(trusted, *keys)
        conf = tmp_path / "imgbased.conf"
        url = srv.url + "/" if channel == "default" else channel
        conf.write_text(f"[update]\nchannel = {url}\n" if url else "")
        return FakeContext(Runner(dry=dry), conf, list(bases))
    return make


@pytest.fixture
def verifications(monkeypatch) -> list[str]:
    """The signers every gpgv check delivery starts reports (a spy on signature.Verifier)."""
    signers: list[str] = []

    class Spy(signature.Verifier):
        """A Verifier that notes the fingerprint it returns."""

        def finish(self) -> str:
            """The signer, noted."""
            signers.append(super().finish())
            return signers[-1]

    monkeypatch.setattr(signature, "Verifier", Spy)
    return signers
