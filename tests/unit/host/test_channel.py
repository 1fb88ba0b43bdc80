# SPDX-License-Identifier: GPL-2.0-or-later
"""Channel indexes: strict parsing, natural version order, and fetching under the signature policy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host import channel
from org_ovirt_imgbased.host.channel import Entry, compare_versions, fetch_index, newest, parse_index, render_index
from org_ovirt_imgbased.host.signature import Trust, load_trust
from org_ovirt_imgbased.runner import Runner
from tests import gpgkeys
from tests.channel_server import ChannelServer

publisher = gpgkeys.publisher
stranger = gpgkeys.stranger

URL = "https://updates.example.org/ch/index.json"
SHA = "ab" * 32


def image(**changes) -> dict:
    """One valid image entry, with some fields changed (None removes a field)."""
    item = {"version": "2.0", "name": "imgbased-v2.squashfs", "url": "imgbased-v2.squashfs", "size": 123456,
            "sha256": SHA, "signature": "imgbased-v2.squashfs.sig"}
    item.update(changes)
    return {k: v for k, v in item.items() if v is not None}


def index_text(*images: dict, **top) -> str:
    """An index holding images (default: one valid image)."""
    return json.dumps({"format": "imgbased-channel/1", "images": list(images or [image()]), **top})


def test_a_valid_index_resolves_relative_urls():
    """Relative url and signature are resolved against the index; absolute ones are kept."""
    text = index_text(image(), image(version="1.9", name="v1.img", url="https://cdn.example.org/v1.img",
                                     signature=None))
    index = parse_index(text, URL)
    assert index.url == URL
    assert index.entries == (
        Entry("2.0", "imgbased-v2.squashfs", "https://updates.example.org/ch/imgbased-v2.squashfs", 123456, SHA,
              "https://updates.example.org/ch/imgbased-v2.squashfs.sig"),
        Entry("1.9", "v1.img", "https://cdn.example.org/v1.img", 123456, SHA, None))
    assert newest(index).version == "2.0"
    assert parse_index(index_text(), "/srv/ch/index.json").entries[0].url == "/srv/ch/imgbased-v2.squashfs"


@pytest.mark.parametrize(("text", "problem"), [
    ("{not json", "is not JSON (Expecting property name enclosed in double quotes at line 1 column 2)"),
    ("[]", "is not a JSON object"),
    (index_text(format="imgbased-channel/2"), "has format 'imgbased-channel/2', not 'imgbased-channel/1'"),
    (json.dumps({"format": "imgbased-channel/1"}), "lacks the field 'images'"),
    (index_text(extra=1), "has the unknown field 'extra'; known fields: format, images"),
    (json.dumps({"format": "imgbased-channel/1", "images": {}}), "images is not a list"),
    (index_text("v2"), "image 1 is not a JSON object"),
    (index_text(image(sha256=None)), "image 1 (version '2.0') lacks the field 'sha256'"),
    (index_text(image(colour="red")), "image 1 (version '2.0') has the unknown field 'colour'"),
    (index_text(image(size=0)), "size 0 is not a whole number of bytes above 0"),
    (index_text(image(size="12")), "size '12' is not a whole number"),
    (index_text(image(size=True)), "size True is not a whole number"),
    (index_text(image(size=1.5)), "size 1.5 is not a whole number"),
    (index_text(image(sha256="AB" * 32)), "is not 64 lowercase hex digits"),
    (index_text(image(sha256="ab" * 31)), "is not 64 lowercase hex digits"),
    (index_text(image(version="")), "version '' is empty or contains whitespace"),
    (index_text(image(version="2.0 beta")), "image 1 (version '2.0 beta'): version '2.0 beta' is empty or"),
    (index_text(image(version=2)), "image 1: version is not a string"),
    (index_text(image(name="../v2.img")), "name '../v2.img' must be a plain file name"),
    (index_text(image(name=".hidden")), "name '.hidden' must be a plain file name"),
    (index_text(image(url="ftp://x.example/v2")), "url 'ftp://x.example/v2' has the scheme 'ftp'"),
    (index_text(image(signature="data:,x")), "signature 'data:,x' has the scheme 'data'"),
    (index_text(image(signature=5)), "signature is not a string"),
    (index_text(image(), image(version="2.00", name="b.img")), "version '2.0' and '2.00' are the same"),
    (index_text(image(), image(version="3")), "name 'imgbased-v2.squashfs' and 'imgbased-v2.squashfs' are"),
])
def test_bad_indexes_are_one_line_errors_naming_the_index_and_field(text, problem):
    """Every malformed index is refused in one line that names the index URL and what is wrong."""
    with pytest.raises(ImgbaseError) as err:
        parse_index(text, URL)
    message = str(err.value)
    assert "\n" not in message and f"channel index {URL}" in message
    assert problem in message


@pytest.mark.parametrize(("older", "newer"), [
    ("1.9", "1.10"), ("1.9", "2"), ("1.2.3", "1.2.10"), ("4.5.0", "4.5.0-20261201"),
    ("4.5.0-20261130", "4.5.0-20261201"), ("1.0a", "1.0b"), ("v9", "v10"),
])
def test_versions_are_ordered_naturally(older, newer):
    """Digit runs compare as numbers; a longer version with the same start is newer."""
    assert compare_versions(older, newer) == -1
    assert compare_versions(newer, older) == 1
    assert compare_versions(newer, newer) == 0


def test_newest_of_an_index_and_of_none():
    """newest picks the highest version, not the last or the longest string; an empty index is an error."""
    images = [image(version=v, name=f"{v}.img") for v in ("1.10", "1.9", "1.2")]
    assert newest(parse_index(index_text(*images), URL)).version == "1.10"
    with pytest.raises(ImgbaseError, match=f"{URL} lists no images"):
        newest(parse_index(json.dumps({"format": "imgbased-channel/1", "images": []}), URL))


def test_render_is_sorted_deterministic_and_reads_back():
    """render_index sorts by version and keys; parse_index reads exactly what it wrote."""
    entries = [Entry("1.10", "b.img", "b.img", 2, SHA), Entry("1.9", "a.img", "a.img", 1, SHA, "a.img.sig")]
    text = render_index(entries)
    assert text == render_index(list(reversed(entries)))
    assert [e["version"] for e in json.loads(text)["images"]] == ["1.9", "1.10"]
    assert text.startswith('{\n  "format": "imgbased-channel/1",') and text.endswith("}\n")
    back = parse_index(text, "file:///srv/ch/index.json")
    assert [(e.version, e.url, e.signature) for e in back.entries] == [
        ("1.9", "file:///srv/ch/a.img", "file:///srv/ch/a.img.sig"), ("1.10", "file:///srv/ch/b.img", None)]
    with pytest.raises(ImgbaseError, match="size 0 is not"):
        render_index([Entry("1", "a.img", "a.img", 0, SHA)])


@pytest.mark.parametrize(("given", "expect"), [
    ("https://h.example/ch", "https://h.example/ch/index.json"),
    ("https://h.example/ch/", "https://h.example/ch/index.json"),
    ("https://h.example/ch/index.json", "https://h.example/ch/index.json"),
    ("https://h.example", "https://h.example/index.json"),
    ("/srv/ch", "/srv/ch/index.json"),
    ("file:///srv/ch/", "file:///srv/ch/index.json"),
])
def test_the_channel_url_names_the_directory_or_its_index(given, expect):
    """With or without a trailing slash, or index.json itself."""
    assert channel.index_url(given) == expect


@pytest.mark.parametrize(("url", "problem"), [
    ("ftp://h.example/ch", "has the scheme 'ftp'"), ("https:///ch", "names no host"),
    ("", "is empty"), ("/srv/my ch", "contains whitespace")])
def test_bad_channel_urls(url, problem):
    """A channel URL with another scheme, no host or whitespace is refused before any request."""
    with pytest.raises(ImgbaseError, match=problem):
        channel.index_url(url)


# --- fetching a channel ---------------------------------------------------------------------------

@pytest.fixture()
def published(tmp_path, publisher) -> Path:
    """A channel directory with an index signed by the publisher."""
    directory = tmp_path / "ch"
    directory.mkdir()
    (directory / "index.json").write_text(index_text())
    publisher.sign(directory / "index.json")
    return directory


@pytest.fixture()
def trust(tmp_path, publisher) -> Trust:
    """The publisher's key installed in a trusted directory."""
    return load_trust(directory=gpgkeys.install(tmp_path / "trusted.d", publisher))


@pytest.fixture()
def server(published, tmp_path) -> Iterator[ChannelServer]:
    """The channel's parent directory over http and https on the loopback."""
    with ChannelServer(published.parent, https_dir=tmp_path / "tls") as srv:
        yield srv


def test_a_signed_local_channel_is_read(published, trust):
    """Required policy, a good signature: the entries are resolved against the index file."""
    index = fetch_index(Runner(), str(published), trust)
    assert index.url == f"{published}/index.json"
    assert index.entries[0].url == f"{published}/imgbased-v2.squashfs"


def test_a_changed_index_is_refused(published, trust):
    """An index edited after signing (a version changed) is a bad signature naming the index."""
    path = published / "index.json"
    path.write_text(path.read_text().replace('"2.0"', '"9.0"'))
    with pytest.raises(ImgbaseError, match=f"bad signature on file://{path} by key"):
        fetch_index(Runner(), f"file://{published}/index.json", trust)


def test_required_policy_refuses_an_unsigned_index(published, trust):
    """No index.json.sig under required is a one-line error naming the index."""
    (published / "index.json.sig").unlink()
    with pytest.raises(ImgbaseError, match=f"{published}/index.json has no signature and the signature policy"):
        fetch_index(Runner(), str(published), trust)


def test_if_present_checks_only_a_signature_that_exists(published, trust, stranger):
    """if-present: a missing signature passes, one by a stranger does not."""
    loose = Trust(trust.directory, trust.keyrings, "if-present")
    stranger.sign(published / "index.json")
    with pytest.raises(ImgbaseError, match=f"signed by key {stranger.fingerprint} which is not trusted"):
        fetch_index(Runner(), str(published), loose)
    (published / "index.json.sig").unlink()
    assert fetch_index(Runner(), str(published), loose).entries[0].version == "2.0"


def test_policy_off_skips_the_signature(published, trust):
    """off: even a garbage signature is never looked at (a local channel needs no --allow-unverified)."""
    (published / "index.json.sig").write_bytes(b"garbage")
    off = Trust(trust.directory, trust.keyrings, "off")
    assert len(fetch_index(Runner(), str(published), off).entries) == 1


def test_a_signed_https_channel_is_read(server, trust, monkeypatch):
    """Over https the index and its signature are downloaded and checked."""
    monkeypatch.setenv("SSL_CERT_FILE", str(server.cert))
    index = fetch_index(Runner(), server.https_url + "/ch", trust)
    assert index.entries[0].url == server.https_url + "/ch/imgbased-v2.squashfs"
    assert [r["path"] for r in server.requests] == ["/ch/index.json", "/ch/index.json.sig"]


def test_plain_http_unverified_needs_allow_unverified(server, trust, published):
    """Policy off over plain http is refused unless the caller allows it; a missing index is named."""
    off = Trust(trust.directory, trust.keyrings, "off")
    url = server.url + "/ch/"
    with pytest.raises(ImgbaseError, match="is plain http and not signed .*or pass --allow-unverified"):
        fetch_index(Runner(), url, off)
    assert fetch_index(Runner(), url, off, allow_unverified=True).entries[0].version == "2.0"
    assert fetch_index(Runner(), url, trust).entries[0].version == "2.0"
    (published / "index.json.sig").unlink()
    with pytest.raises(ImgbaseError, match="index.json has no signature"):
        fetch_index(Runner(), url, trust)
    with pytest.raises(ImgbaseError, match="channel index .*/nothing/index.json does not exist"):
        fetch_index(Runner(), url + "nothing", trust)


def test_an_oversized_index_is_refused(server, trust, monkeypatch):
    """An index larger than the limit is refused without reading it all."""
    monkeypatch.setattr(channel, "INDEX_LIMIT", 10)
    with pytest.raises(ImgbaseError, match="channel index http.*index.json is larger than"):
        fetch_index(Runner(), server.url + "/ch", trust)
