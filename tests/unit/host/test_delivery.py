# SPDX-License-Identifier: GPL-2.0-or-later
"""Network delivery of `imgbase update`: channel check, download into staging, verification, staged apply.

Everything runs on the host: a published (signed) channel served by tests.channel_server, keys
made by tests.gpgkeys, and a fake context whose layout is just bases with LV tags.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host import delivery, signature
from org_ovirt_imgbased.host.delivery import Request
from org_ovirt_imgbased.runner import Runner
from tests import gpgkeys
from tests.channel_server import ChannelServer
from tests.repo import ROOT

publisher = gpgkeys.publisher
stranger = gpgkeys.stranger

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


# --- check ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("bases", "available"), [
    ((base("Image-1.0", OTHER_SHA, "1.0"),), True),
    ((), True),
    ((base("Image-1.0", OTHER_SHA),), True),
    ((base("Image-1.0", OTHER_SHA, "1.0"), base("Image-2.0", SHA)), False),
    ((base("Image-10.0", OTHER_SHA, "10.0"),), False),  # natural order: 10.0 > 2.0 although "1" < "2"
    ((base("Image-2.0", OTHER_SHA, "2.0"),), False),
], ids=["older-version", "no-base", "untagged-base", "same-sha256", "natural-order", "same-version"])
def test_check_compares_the_newest_image_with_every_base(make_ctx, srv, publisher, bases, available):
    """Available unless a base has its sha256 or a version tag at least as high; only the index is read."""
    found = delivery.check(make_ctx(*bases, keys=[publisher]), Request())
    assert found.available is available
    assert found.exit_status == (0 if available else 3)
    assert found.channel == srv.url + "/index.json"
    assert (found.newest["version"], found.newest["sha256"], found.newest["size"]) == (VERSION, SHA, len(DATA))
    assert found.render().startswith("update available: " if available else "up to date: ")
    assert found.current == ({"base": bases[-1].name, "sha256": found.current["sha256"],
                              "version": found.current["version"]} if bases else {})
    assert json.loads(json.dumps(found.to_dict()))["available"] is available
    assert sorted(r["path"] for r in srv.requests) == ["/index.json", "/index.json.sig"]


def test_check_of_an_unsigned_index_is_refused_when_a_key_is_trusted(make_ctx, srv, channel_dir, publisher):
    """With a trusted key the index must be signed: a missing index.json.sig is one line, no image read."""
    (channel_dir / "index.json.sig").unlink()
    with pytest.raises(ImgbaseError) as err:
        delivery.check(make_ctx(keys=[publisher]), Request())
    assert "index.json has no signature" in one_line(err)
    assert gets(srv) == []


def test_check_without_a_channel_says_how_to_configure_one(make_ctx):
    """No [update] channel and no IMAGE: one line naming the configuration file."""
    ctx = make_ctx(channel=None)
    with pytest.raises(ImgbaseError) as err:
        delivery.check(ctx, Request())
    assert f"no channel is configured: set `channel = URL` in the [update] section of {ctx.config_path}" \
        in one_line(err)


# --- download_only ----------------------------------------------------------------------------------

def test_download_only_stages_image_signature_and_record_once(make_ctx, srv, state, channel_dir, publisher):
    """Image, .sig and record land in staging; the record names version, sha256, signer; a rerun reuses them."""
    ctx = make_ctx(base("Image-1.0", OTHER_SHA, "1.0"), keys=[publisher])
    result = delivery.download_only(ctx, Request())
    assert listing(state) == [NAME, f"{NAME}.json", f"{NAME}.sig"]
    assert (state / NAME).read_bytes() == DATA
    assert (state / f"{NAME}.sig").read_bytes() == (channel_dir / f"{NAME}.sig").read_bytes()
    record = json.loads((state / f"{NAME}.json").read_text())
    assert (record["version"], record["sha256"], record["size"]) == (VERSION, SHA, len(DATA))
    assert (record["signer"], record["signature"], record["url"]) == (publisher.fingerprint, f"{NAME}.sig",
                                                                      f"{srv.url}/{NAME}")
    assert result.staged.path == state / NAME and result.download["sha256"] == SHA
    assert f"signed by {publisher.fingerprint}" in result.render()
    assert len(gets(srv)) == 1 and len(gets(srv, f"{NAME}.sig")) == 1
    again = delivery.download_only(ctx, Request())
    assert again.download == {"url": f"{srv.url}/{NAME}", "already_staged": True}
    assert again.staged == result.staged
    assert len(gets(srv)) == 1 and len(gets(srv, f"{NAME}.sig")) == 1
    assert listing(state) == [NAME, f"{NAME}.json", f"{NAME}.sig"]


def test_download_only_of_a_local_file_says_to_apply_it(make_ctx, channel_dir):
    """A local IMAGE needs no download: one line saying how to apply it."""
    path = str(channel_dir / NAME)
    with pytest.raises(ImgbaseError) as err:
        delivery.download_only(make_ctx(), Request(image=path))
    assert one_line(err) == f"{path} is already local: apply it with `imgbase update {path}`"


def test_a_stranger_signature_on_a_channel_image_is_refused(make_ctx, srv, state, channel_dir, publisher,
                                                            stranger):
    """The index is the publisher's but the image is signed by a stranger: refused naming the key, nothing kept."""
    stranger.sign(channel_dir / NAME, channel_dir / f"{NAME}.sig")
    with pytest.raises(ImgbaseError) as err:
        delivery.download_only(make_ctx(keys=[publisher]), Request())
    message = one_line(err)
    assert f"{srv.url}/{NAME} is signed by key" in message and "which is not trusted" in message
    assert stranger.fingerprint[-16:] in message
    assert len(gets(srv)) == 1
    assert listing(state) == []


def test_a_channel_image_without_its_signature_is_refused(make_ctx, srv, state, channel_dir, publisher):
    """Policy required (a key is trusted): an image whose .sig is gone is not downloaded at all."""
    (channel_dir / f"{NAME}.sig").unlink()
    with pytest.raises(ImgbaseError) as err:
        delivery.download_only(make_ctx(keys=[publisher]), Request())
    assert f"{srv.url}/{NAME} has no signature and the signature policy is required" in one_line(err)
    assert gets(srv) == [] and listing(state) == []


# --- prepare: the channel and staging ---------------------------------------------------------------

def test_prepare_applies_a_staged_image_without_the_network(make_ctx, srv, state, publisher, verifications):
    """Downloaded earlier, applied now with the server down: re-verified, origin from the record."""
    ctx = make_ctx(base("Image-1.0", OTHER_SHA, "1.0"), keys=[publisher])
    delivery.download_only(ctx, Request())
    assert verifications == [publisher.fingerprint, publisher.fingerprint]  # index, image
    srv.down = True
    got = delivery.prepare(ctx, Request())
    assert verifications[2:] == [publisher.fingerprint]  # the staged image's signature, checked again
    assert (got.path, got.checksum, got.up_to_date) == (state / NAME, None, False)
    assert got.origin.sha256 == SHA == hashlib.sha256(got.path.read_bytes()).hexdigest()
    assert f"imgbased:version={VERSION}" in got.origin.tags and f"imgbased:source={NAME}" in got.origin.tags
    assert got.render() == f"{NAME} version {VERSION}, signature by {publisher.fingerprint} checked"
    assert got.to_dict()["staged"]["sha256"] == SHA


def test_prepare_from_downloaded_applies_the_staged_image(make_ctx, srv, state, publisher):
    """--from-downloaded takes the staged image (no IMAGE allowed), also with the server down."""
    ctx = make_ctx(keys=[publisher])
    delivery.download_only(ctx, Request())
    srv.down = True
    assert delivery.prepare(ctx, Request(), from_downloaded=True).path == state / NAME
    with pytest.raises(ImgbaseError) as err:
        delivery.prepare(ctx, Request(image=str(state / NAME)), from_downloaded=True)
    assert "--from-downloaded takes no IMAGE" in one_line(err)


def test_prepare_from_downloaded_with_nothing_staged(make_ctx, state):
    """Nothing newer staged: one line naming the staging directory."""
    with pytest.raises(ImgbaseError) as err:
        delivery.prepare(make_ctx(), Request(), from_downloaded=True)
    assert f"no downloaded image newer than every base in {state}" in one_line(err)


def test_a_tampered_staged_image_is_refused(make_ctx, srv, state, publisher):
    """One flipped byte in the staged file (same size): one line, the image is not applied."""
    ctx = make_ctx(keys=[publisher])
    delivery.download_only(ctx, Request())
    srv.down = True
    with open(state / NAME, "r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0x01]))
    with pytest.raises(ImgbaseError) as err:
        delivery.prepare(ctx, Request())
    assert f"expected sha256 {SHA}, got " in one_line(err)


def test_a_staged_signature_replaced_by_a_strangers_is_refused(make_ctx, srv, state, publisher, stranger):
    """The apply checks the staged .sig again: another key's signature there is refused."""
    ctx = make_ctx(keys=[publisher])
    delivery.download_only(ctx, Request())
    srv.down = True
    stranger.sign(state / NAME, state / f"{NAME}.sig")
    with pytest.raises(ImgbaseError) as err:
        delivery.prepare(ctx, Request())
    assert "which is not trusted" in one_line(err) and stranger.fingerprint[-16:] in str(err.value)


def test_prepare_is_up_to_date_when_a_base_has_the_newest_image(make_ctx, srv, state, publisher):
    """The channel's newest is a base's image: up to date, nothing downloaded."""
    got = delivery.prepare(make_ctx(base("Image-2.0", SHA, VERSION), keys=[publisher]), Request())
    assert (got.up_to_date, got.path, got.origin) == (True, None, None)
    assert got.render() == (f"up to date: {srv.url}/index.json lists {NAME} version {VERSION}, not newer than "
                            "every base")
    assert got.to_dict()["channel"] == f"{srv.url}/index.json"
    assert gets(srv) == [] and gets(srv, f"{NAME}.sig") == []
    assert listing(state) == []


def test_prepare_downloads_the_channels_newer_image(make_ctx, srv, state, publisher, verifications):
    """No staged image: the newest is downloaded, verified in that one read, and handed over."""
    got = delivery.prepare(make_ctx(base("Image-1.0", OTHER_SHA, "1.0"), keys=[publisher]), Request())
    assert (got.path, got.origin.sha256) == (state / NAME, SHA)
    assert verifications == [publisher.fingerprint, publisher.fingerprint]  # index, image: not read again
    assert len(gets(srv)) == 1


def test_a_staged_image_older_than_a_base_is_not_applied(make_ctx, srv, state, publisher):
    """Once a base has the staged image, prepare asks the channel again (and is up to date)."""
    ctx = make_ctx(keys=[publisher])
    delivery.download_only(ctx, Request())
    ctx.bases = [base("Image-2.0", SHA, VERSION)]
    assert delivery.prepare(ctx, Request()).up_to_date
    assert len(gets(srv)) == 1


def test_a_name_with_url_characters_is_applied_from_staging(make_ctx, srv, state, channel_dir, publisher):
    """A channel image named with '#' stages and is re-read from staging under its own name."""
    odd = "imgbased#3.squashfs"
    (channel_dir / odd).write_bytes(DATA[::-1])
    publish(publisher, channel_dir, "--version", f"{NAME}={VERSION}", "--version", f"{odd}=3.0")
    ctx = make_ctx(keys=[publisher])
    delivery.download_only(ctx, Request())
    assert (state / odd).read_bytes() == DATA[::-1]
    srv.down = True
    got = delivery.prepare(ctx, Request())
    assert (got.path, got.origin.sha256) == (state / odd, hashlib.sha256(DATA[::-1]).hexdigest())


def test_an_image_downloaded_by_url_is_applied_by_a_later_update(make_ctx, srv, state, publisher):
    """download_only(URL) says `imgbase update` applies it without the network: it should, over a versioned base."""
    publisher.sign(srv.root / "plain.bin")
    ctx = make_ctx(base("Image-2.0", SHA, VERSION), keys=[publisher], channel=None)
    result = delivery.download_only(ctx, Request(image=f"{srv.url}/plain.bin"))
    assert "`imgbase update` applies it, without the network" in result.render()
    srv.down = True
    assert delivery.prepare(ctx, Request(), from_downloaded=True).path == state / "plain.bin"


# --- prepare and download_only: URLs ----------------------------------------------------------------

def test_plain_http_without_checksum_or_signature_is_refused(make_ctx, srv, state):
    """Policy off (no trusted key), plain http, no checksum: refused before the download."""
    with pytest.raises(ImgbaseError) as err:
        delivery.prepare(make_ctx(), Request(image=f"{srv.url}/plain.bin"))
    message = one_line(err)
    assert message.startswith(f"{srv.url}/plain.bin is plain http with neither a checksum nor a checked signature")
    assert "--allow-unverified" in message
    assert gets(srv, "plain.bin") == [] and listing(state) == []


def test_plain_http_with_allow_unverified_downloads(make_ctx, srv, state):
    """--allow-unverified takes the plain-http image; its version is its digest's start."""
    got = delivery.prepare(make_ctx(), Request(image=f"{srv.url}/plain.bin", allow_unverified=True))
    assert (got.path, got.origin.sha256) == (state / "plain.bin", PLAIN_SHA)
    assert (state / "plain.bin").read_bytes() == PLAIN
    assert f"imgbased:version=sha256.{PLAIN_SHA[:12]}" in got.origin.tags
    assert "imgbased:source=plain.bin" in got.origin.tags
    assert gets(srv, "plain.bin.sig") == []  # policy off: no signature is asked for


def test_plain_http_with_a_checksum_downloads_and_a_wrong_one_is_refused(make_ctx, srv, state):
    """A --checksum makes plain http acceptable; bytes that do not match it are refused and not kept."""
    ctx = make_ctx()
    url = f"{srv.url}/plain.bin"
    with pytest.raises(ImgbaseError) as err:
        delivery.download_only(ctx, Request(image=url, checksum="sha256:" + "0" * 64))
    assert f"{url}: expected sha256 {'0' * 64}, got {PLAIN_SHA}" in one_line(err)
    assert listing(state) == []
    result = delivery.download_only(ctx, Request(image=url, checksum="sha256:" + PLAIN_SHA.upper()))
    assert (result.staged.sha256, result.staged.signer) == (PLAIN_SHA, None)
    assert listing(state) == ["plain.bin", "plain.bin.json"]


def test_https_without_checksum_or_signature_downloads(tmp_path, make_ctx, channel_dir, state, monkeypatch):
    """https needs neither: the transport is authenticated."""
    with ChannelServer(channel_dir, https_dir=tmp_path / "tls") as tls:
        monkeypatch.setenv("SSL_CERT_FILE", str(tls.cert))
        result = delivery.download_only(make_ctx(), Request(image=f"{tls.https_url}/plain.bin"))
    assert (result.staged.sha256, result.staged.url) == (PLAIN_SHA, f"{tls.https_url}/plain.bin")


def test_a_signed_url_is_checked_against_url_sig(make_ctx, srv, state, publisher, stranger, channel_dir):
    """An image URL with a trusted key: URL.sig is fetched and checked; a stranger's is refused."""
    stranger.sign(channel_dir / "plain.bin")
    ctx = make_ctx(keys=[publisher])
    with pytest.raises(ImgbaseError) as err:
        delivery.download_only(ctx, Request(image=f"{srv.url}/plain.bin"))
    assert "which is not trusted" in one_line(err)
    assert listing(state) == []
    publisher.sign(channel_dir / "plain.bin")
    result = delivery.download_only(ctx, Request(image=f"{srv.url}/plain.bin"))
    assert (result.staged.signer, result.staged.signature) == (publisher.fingerprint, "plain.bin.sig")


# --- prepare: local files ---------------------------------------------------------------------------

@pytest.fixture
def local_image(tmp_path) -> Path:
    """An image file on the host, without a signature."""
    path = tmp_path / "local" / "imgbased-local.squashfs"
    path.parent.mkdir()
    path.write_bytes(PLAIN)
    return path


def test_a_local_image_without_a_signature_is_refused_when_a_key_is_trusted(make_ctx, local_image, publisher):
    """Policy required and no FILE.sig: one line saying there is no signature."""
    with pytest.raises(ImgbaseError) as err:
        delivery.prepare(make_ctx(keys=[publisher]), Request(image=str(local_image)))
    assert f"{local_image} has no signature" in one_line(err)


def test_a_local_image_with_a_good_signature_is_prepared_with_its_origin(make_ctx, local_image, publisher,
                                                                         state):
    """FILE.sig beside it is checked in the one read that hashes it; the file is not copied."""
    publisher.sign(local_image)
    got = delivery.prepare(make_ctx(keys=[publisher]), Request(image=str(local_image)))
    assert (got.path, got.checksum, got.up_to_date) == (local_image, None, False)
    assert got.origin.sha256 == PLAIN_SHA
    assert got.origin.tags == (f"imgbased:source={local_image.name}",)
    assert publisher.fingerprint in got.note
    assert listing(state) == []


def test_a_local_image_with_a_strangers_signature_is_refused(make_ctx, local_image, publisher, stranger):
    """--signature names the file; a stranger's signature there is refused; a missing one is one line."""
    sig = stranger.sign(local_image, local_image.with_name("other.sig"))
    ctx = make_ctx(keys=[publisher])
    with pytest.raises(ImgbaseError) as err:
        delivery.prepare(ctx, Request(image=str(local_image), signature=str(sig)))
    assert "which is not trusted" in one_line(err)
    with pytest.raises(ImgbaseError) as err:
        delivery.prepare(ctx, Request(image=str(local_image), signature=str(sig) + ".gone"))
    assert one_line(err) == f"signature {sig}.gone: no such file"


def test_a_local_image_under_policy_off_is_passed_on_as_before(make_ctx, local_image):
    """No trusted key: Prepared(path, checksum) with no origin, the checksum left to the update."""
    got = delivery.prepare(make_ctx(), Request(image=str(local_image), checksum="sha256:" + "0" * 64))
    assert (got.path, got.checksum, got.origin, got.up_to_date) == (local_image, "sha256:" + "0" * 64, None,
                                                                      False)
    assert delivery.prepare(make_ctx(), Request(image=local_image.as_uri())).path == local_image


def test_a_signed_local_file_url_with_an_escaped_hash_is_read_under_its_name(make_ctx, tmp_path, publisher):
    """file:///.../a%23b.img names a#b.img: the signed read opens that file, not a."""
    path = tmp_path / "a#b.img"
    path.write_bytes(PLAIN)
    publisher.sign(path)
    got = delivery.prepare(make_ctx(keys=[publisher]), Request(image=path.as_uri()))
    assert (got.path, got.origin.sha256) == (path, PLAIN_SHA)


# --- dry runs ---------------------------------------------------------------------------------------

def test_a_dry_runner_does_not_download(make_ctx, srv, state, publisher):
    """--dry: download_only and prepare of a URL or of the channel refuse in one line, reading nothing."""
    ctx = make_ctx(keys=[publisher], dry=True)
    with pytest.raises(ImgbaseError) as err:
        delivery.download_only(ctx, Request())
    assert one_line(err) == "--dry does not download; run without it to stage the image"
    for request in (Request(), Request(image=f"{srv.url}/plain.bin")):
        with pytest.raises(ImgbaseError) as err:
            delivery.prepare(ctx, request)
        assert one_line(err).startswith("a dry run does not download: run `imgbase update --download-only`")
    with pytest.raises(ImgbaseError, match="a dry run does not download"):
        delivery.prepare(make_ctx(keys=[publisher]), Request(), dry_run=True)
    assert srv.requests == [] and not state.exists()


def test_a_plain_path_with_a_hash_sign_is_that_file_not_a_url(make_ctx, tmp_path, publisher):
    """`imgbase update /srv/a#1.img`: a path is never parsed as a URL (no fragment cut off)."""
    odd = tmp_path / "node#1.img"
    odd.write_bytes(DATA)
    prepared = delivery.prepare(make_ctx(), Request(image=str(odd)))
    assert prepared.path == odd and prepared.origin is None
    publisher.sign(odd)
    signed = delivery.prepare(make_ctx(keys=[publisher]), Request(image=str(odd)))
    assert signed.path == odd and signed.origin.sha256 == SHA
