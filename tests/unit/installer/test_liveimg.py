# SPDX-License-Identifier: GPL-2.0-or-later
"""The liveimg's signature, checked in the read that hashes it: imgbase-install's download and anaconda's check.

Real gpgv over keys made by tests.gpgkeys; the image is served over http by tests.channel_server.
"""

from __future__ import annotations

import pytest

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.installer import install, liveimg, target
from org_ovirt_imgbased.installer.kickstart import AddonConfig
from org_ovirt_imgbased.runner import Runner
from tests import gpgkeys
from tests.fakes import FakeRunner
from tests.unit.installer import signed
from tests.unit.installer.signed import DATA, IMAGE, SHA, STRANGER_SIG, UNSIGNED, WRONG_SIG

publisher = gpgkeys.publisher
stranger = gpgkeys.stranger
served = signed.served
trusted = signed.trusted
no_keys = signed.no_keys


def fetched(config: AddonConfig, url: str, workdir):
    """imgbase-install's verify step: download url into workdir through its checks; the result and progress."""
    lines: list[str] = []
    return install.fetch_liveimg(config, url, Runner(), workdir, lines.append), lines


def refusal(config: AddonConfig, url: str, workdir) -> str:
    """The one-line error of imgbase-install's verify step."""
    with pytest.raises(ImgbaseError) as err:
        fetched(config, url, workdir)
    message = str(err.value)
    assert message and "\n" not in message
    return message


# ---- which trust and which signature ------------------------------------------------------------

def test_the_policy_follows_the_section_then_the_installers_keys(trusted, tmp_path, monkeypatch):
    """--signature-policy wins; --signature alone means required; else required only with a trusted key."""
    assert liveimg.trust(AddonConfig(signature_policy="if-present")).policy == "if-present"
    assert liveimg.trust(AddonConfig()).policy == "required"
    monkeypatch.setenv("IMGBASED_TRUSTED_DIR", str(tmp_path / "empty"))
    assert liveimg.trust(AddonConfig()).policy == "off"
    assert liveimg.trust(AddonConfig(signature="https://e.com/x.sig")).policy == "required"


# ---- imgbase-install: download.download with the verifier --------------------------------------

def test_a_good_signature_is_checked_in_the_one_read_that_downloads(served, trusted, publisher, tmp_path):
    """--signature given: plain http without a checksum is fine, the image is read once, the signer named."""
    config = AddonConfig(signature=served.url(IMAGE + ".sig"))
    got, lines = fetched(config, served.url(IMAGE), tmp_path / "work")
    assert (got.sha256, got.signer, got.path.read_bytes()) == (SHA, publisher.fingerprint, DATA)
    assert served.gets(IMAGE) == 1
    assert any("and checking its signature" in line for line in lines)
    assert any(f"signature by {publisher.fingerprint} is good" in line for line in lines)


def test_the_policy_finds_the_signature_beside_the_image(served, trusted, publisher, tmp_path):
    """With a trusted key and no --signature, IMAGE.sig is checked, as imgbase update does; with the checksum."""
    got, _ = fetched(AddonConfig(checksum=f"sha256:{SHA}"), served.url(IMAGE), tmp_path / "work")
    assert got.signer == publisher.fingerprint and served.gets(IMAGE + ".sig") == 1


def test_a_local_image_is_checked_where_it_is(served, trusted, publisher, tmp_path):
    """A file:// liveimg and a path signature: read in place, nothing copied into the work directory."""
    path = served.root / IMAGE
    got, _ = fetched(AddonConfig(signature=f"{path}.sig"), f"file://{path}", tmp_path / "work")
    assert got.path == path and got.signer == publisher.fingerprint
    assert not (tmp_path / "work").exists()


@pytest.mark.parametrize("sig, words", [
    (WRONG_SIG, "bad signature on"),
    (STRANGER_SIG, "which is not trusted"),
])
def test_a_bad_or_untrusted_signature_is_refused_and_nothing_is_kept(served, trusted, stranger, tmp_path, sig, words):
    """The signature is checked as the bytes arrive; a refused image is not left in the work directory."""
    work = tmp_path / "work"
    message = refusal(AddonConfig(signature=served.url(sig)), served.url(IMAGE), work)
    assert words in message and served.url(IMAGE) in message
    assert sorted(p.name for p in work.iterdir()) == []


@pytest.mark.parametrize("policy", [None, "required"])
def test_a_missing_signature_under_required_is_refused_before_the_image_is_read(served, trusted, tmp_path, policy):
    """The default policy with a trusted key is required: an unsigned image is refused, not downloaded."""
    config = AddonConfig(checksum=f"sha256:{SHA}", signature_policy=policy)
    message = refusal(config, served.url(UNSIGNED), tmp_path / "work")
    assert "has no signature and the signature policy is required" in message
    assert served.gets(UNSIGNED) == 0


def test_a_named_signature_that_is_not_there_is_refused(served, trusted, tmp_path):
    """--signature naming nothing is an error even under if-present (it was asked for)."""
    config = AddonConfig(signature=served.url("nothing.sig"), signature_policy="if-present")
    assert "--signature= on the %addon line" in refusal(config, served.url(IMAGE), tmp_path / "work")
    assert served.gets(IMAGE) == 0


def test_a_signature_without_trusted_keys_says_where_to_put_them(served, no_keys, tmp_path):
    """--signature with no key installed: the error names the trusted directory."""
    message = refusal(AddonConfig(signature=served.url(IMAGE + ".sig")), served.url(IMAGE), tmp_path / "work")
    assert f"no trusted key in {no_keys}" in message


def test_if_present_without_a_signature_downloads_unchecked(served, trusted, tmp_path):
    """if-present and no IMAGE.sig: the checksum alone proves the image."""
    got, _ = fetched(AddonConfig(checksum=SHA, signature_policy="if-present"), served.url(UNSIGNED), tmp_path / "w")
    assert (got.sha256, got.signer) == (SHA, None)


def test_plain_http_without_checksum_or_checked_signature_is_refused_unread(served, no_keys, tmp_path):
    """The integrity rule stays: nothing proves such an image, so it is not even requested."""
    message = refusal(AddonConfig(), served.url(IMAGE), tmp_path / "work")
    assert "is plain http without a checksum" in message and "--signature=URL" in message
    assert served.gets(IMAGE) == 0


def test_a_wrong_checksum_is_refused_even_with_a_good_signature(served, trusted, tmp_path):
    """The checksum is compared in the same read."""
    message = refusal(AddonConfig(checksum="0" * 64), served.url(IMAGE), tmp_path / "work")
    assert f"expected sha256 {'0' * 64}, got {SHA}" in message


def test_a_bad_signature_stops_imgbase_install_before_the_disk_is_planned(served, trusted, tmp_path, monkeypatch):
    """install() fetches and checks the payload first: a bad signature never reaches the disk."""
    monkeypatch.setattr(install, "plan", lambda *a, **k: pytest.fail("the disk was planned"))
    config = AddonConfig(disk="vda", liveimg_url=served.url(IMAGE), signature=served.url(WRONG_SIG))
    runner = FakeRunner()
    with pytest.raises(ImgbaseError, match="bad signature on"):
        install.install(config, runner, [], lambda line: None)
    assert runner.commands() == []


# ---- anaconda's check before storage: one streaming read, nothing kept -------------------------

def test_the_anaconda_check_reads_checksum_and_signature_in_one_read(served, trusted):
    """verify_payload streams the image once through sha256 and gpgv and returns the digest."""
    config = AddonConfig(signature=served.url(IMAGE + ".sig"))
    assert target.verify_payload(served.url(IMAGE), SHA, config) == SHA
    assert served.gets(IMAGE) == 1
    assert target.verify_payload(served.url(IMAGE), None, config) == SHA  # the signature alone


@pytest.mark.parametrize("sig, words", [(WRONG_SIG, "bad signature on"), (STRANGER_SIG, "which is not trusted")])
def test_the_anaconda_check_refuses_a_bad_signature(served, trusted, stranger, sig, words):
    """A signature that does not vouch for the bytes stops the check, with the checksum right or absent."""
    for checksum in (SHA, None):
        with pytest.raises(ImgbaseError, match=words):
            target.verify_payload(served.url(IMAGE), checksum, AddonConfig(signature=served.url(sig)))


def test_the_anaconda_check_reads_nothing_when_nothing_is_to_be_checked(served, no_keys):
    """No checksum and no signature policy: no read at all (anaconda downloads the image itself)."""
    assert target.verify_payload(served.url(IMAGE), None, AddonConfig()) is None
    assert served.gets(IMAGE) == 0


def test_the_anaconda_check_refuses_an_unsigned_image_under_required(served, trusted):
    """A trusted key and no signature beside the image: refused before anything is written."""
    with pytest.raises(ImgbaseError, match="has no signature and the signature policy is required"):
        target.verify_payload(served.url(UNSIGNED), SHA, AddonConfig())


def test_the_anaconda_check_says_in_one_line_when_the_image_cannot_be_read(served, trusted):
    """A missing image, or a connection that closes early, is named as such (not as a bad signature)."""
    config = AddonConfig(signature=served.url(IMAGE + ".sig"))
    with pytest.raises(ImgbaseError, match=r"cannot read http://.*/missing.squashfs: HTTP 404"):
        target.verify_payload(served.url("missing.squashfs"), SHA, config)
    served.srv.control.cut_once[f"/{IMAGE}"] = 1000
    with pytest.raises(ImgbaseError, match=r"cannot read http://.*: the connection closed after 1000 B of"):
        target.verify_payload(served.url(IMAGE), SHA, config)
