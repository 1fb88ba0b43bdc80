# SPDX-License-Identifier: GPL-2.0-or-later
"""Network delivery of `imgbase update`: the channel check, download_only, and prepare from the channel and staging."""

from __future__ import annotations

import hashlib
import json

import pytest

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host import delivery
from org_ovirt_imgbased.host.delivery import Request
from tests.unit.host.delivery.common import (
    DATA,
    NAME,
    OTHER_SHA,
    SHA,
    VERSION,
    base,
    gets,
    listing,
    one_line,
    publish,
)

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

