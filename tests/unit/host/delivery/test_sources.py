# SPDX-License-Identifier: GPL-2.0-or-later
"""Network delivery of `imgbase update` from a URL, a local file, and under --dry."""

from __future__ import annotations

from pathlib import Path

import pytest

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host import delivery
from org_ovirt_imgbased.host.delivery import Request
from tests.channel_server import ChannelServer
from tests.unit.host.delivery.common import (
    DATA,
    PLAIN,
    PLAIN_SHA,
    SHA,
    gets,
    listing,
    one_line,
)

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
