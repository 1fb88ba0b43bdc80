# SPDX-License-Identifier: GPL-2.0-or-later
"""OpenPGP signatures checked by the real gpgv against keys made at test time."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host import signature
from org_ovirt_imgbased.host.signature import Trust, Verifier, load_trust, needs_check, verify_file
from org_ovirt_imgbased.runner import Runner
from tests import gpgkeys

publisher = gpgkeys.publisher
stranger = gpgkeys.stranger


@pytest.fixture()
def trusted(tmp_path, publisher) -> Trust:
    """A trusted directory holding the publisher's binary key."""
    return load_trust(directory=gpgkeys.install(tmp_path / "trusted.d", publisher))


@pytest.fixture()
def image(tmp_path, publisher) -> Path:
    """A 3 MiB image with odd-sized content and the publisher's signature beside it."""
    path = tmp_path / "v2.squashfs"
    path.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    publisher.sign(path)
    return path


def sig(path: Path) -> Path:
    """The detached signature beside path."""
    return path.with_name(path.name + ".sig")


def refused(trust: Trust, data: Path, signature_path: Path, shown: str = "https://x.example/v2.squashfs") -> str:
    """The one-line error verify_file raises."""
    with pytest.raises(ImgbaseError) as err:
        verify_file(Runner(), trust, data, signature_path, shown)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_good_signature_gives_the_publishers_fingerprint(trusted, image, publisher):
    """A good signature by a trusted key returns that key's fingerprint."""
    assert verify_file(Runner(), trusted, image, sig(image), "v2.squashfs") == publisher.fingerprint


def test_a_flipped_byte_is_a_bad_signature(trusted, image, publisher):
    """One changed byte gives a bad-signature error naming the image and the key."""
    raw = bytearray(image.read_bytes())
    raw[1000] ^= 1
    image.write_bytes(bytes(raw))
    message = refused(trusted, image, sig(image))
    assert message.startswith(f"bad signature on https://x.example/v2.squashfs by key {publisher.fingerprint}")
    assert "do not use it" in message


def test_a_signature_by_an_unknown_key_is_not_trusted(trusted, image, stranger):
    """A signature by a key not in the trusted directory names that key and the directory."""
    stranger.sign(image)
    message = refused(trusted, image, sig(image))
    assert f"signed by key {stranger.fingerprint} which is not trusted" in message
    assert str(trusted.directory) in message and "install the publisher's key there" in message


def test_garbage_or_empty_signature_file_is_not_a_signature(trusted, image):
    """A .sig that holds no OpenPGP data (NODATA) says so, and gpgv's early exit breaks nothing."""
    for content in (b"<html>404 not found</html>\n", b""):
        sig(image).write_bytes(content)
        assert "the signature file of https://x.example/v2.squashfs is not an OpenPGP signature" in \
            refused(trusted, image, sig(image))


def test_missing_signature_file(trusted, image):
    """A signature path that does not exist is named."""
    sig(image).unlink()
    assert "is missing" in refused(trusted, image, sig(image))


def test_armored_keys_are_dearmored(tmp_path, image, publisher):
    """gpgv reads only binary keyrings; an .asc key (armor headers and CRC24 included) still works."""
    directory = tmp_path / "asc.d"
    directory.mkdir()
    armored = publisher.export(directory / "publisher.asc", armor=True)
    assert armored.read_bytes().startswith(b"-----BEGIN PGP PUBLIC KEY BLOCK-----")
    (directory / "README").write_text("keys go here\n")
    trust = load_trust(directory=directory)
    assert trust.keyrings == (armored.resolve(),)
    assert verify_file(Runner(), trust, image, sig(image), "v2") == publisher.fingerprint
    assert signature.dearmor(armored.read_text(), "k") == publisher.gpg("--export", publisher.fingerprint)


def test_damaged_armor_is_refused(tmp_path, image, publisher):
    """A changed base64 character fails the CRC24 line; a block without end is refused."""
    directory = tmp_path / "asc.d"
    directory.mkdir()
    armored = publisher.export(directory / "publisher.asc", armor=True)
    lines = armored.read_text().splitlines()
    body = next(i for i, line in enumerate(lines) if i > 2 and len(line) > 40)
    lines[body] = ("B" if lines[body][0] != "B" else "C") + lines[body][1:]
    armored.write_text("\n".join(lines) + "\n")
    with pytest.raises(ImgbaseError, match="armored but fails its CRC24 checksum"):
        verify_file(Runner(), load_trust(directory=directory), image, sig(image), "v2")
    with pytest.raises(ImgbaseError, match="armored but has no end line"):
        signature.dearmor("\n".join(lines[:-1]), "k")


def test_crc24_of_known_input():
    """The armor checksum of a fixed input matches the RFC 4880 algorithm's value."""
    assert signature.crc24(b"") == 0xB704CE
    assert signature.crc24(b"123456789") == 0x21CF02


def test_streaming_in_chunks_equals_the_file_check(trusted, image, publisher):
    """Odd-sized chunks through Verifier give the same fingerprint as verify_file."""
    data = image.read_bytes()
    with Verifier(Runner(), trusted, sig(image), "v2") as verifier:
        for start in range(0, len(data), 777_777):
            verifier.update(data[start:start + 777_777])
        assert verifier.finish() == verify_file(Runner(), trusted, image, sig(image), "v2") == publisher.fingerprint


def test_a_stream_missing_its_last_chunk_is_refused(trusted, image):
    """Streaming all but the last byte is a bad signature, not a pass."""
    data = image.read_bytes()
    with pytest.raises(ImgbaseError, match="bad signature"), Verifier(Runner(), trusted, sig(image), "v2") as v:
        v.update(data[:-1])
        v.finish()


def test_abort_stops_gpgv_without_error(trusted, image):
    """abort() kills gpgv mid-stream and raises nothing; leaving a with-block early does the same."""
    verifier = Verifier(Runner(), trusted, sig(image), "v2")
    verifier.update(b"x" * 1000)
    verifier.abort()
    with pytest.raises(RuntimeError), Verifier(Runner(), trusted, sig(image), "v2") as v:
        v.update(b"x")
        raise RuntimeError("download failed")
    assert v._feed.result is not None and v._feed.result.returncode != 0


def test_verification_runs_in_dry_mode(trusted, image, publisher):
    """gpgv only reads, so a dry run checks signatures for real (and a bad one still fails)."""
    assert verify_file(Runner(dry=True), trusted, image, sig(image), "v2") == publisher.fingerprint


def test_gpgv_gets_an_empty_private_home(trusted, image, monkeypatch, tmp_path):
    """HOME's ~/.gnupg is neither needed nor created."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    verify_file(Runner(), trusted, image, sig(image), "v2")
    assert list((tmp_path / "home").iterdir()) == []


def test_default_policy_follows_the_installed_keys(tmp_path, trusted, monkeypatch):
    """No policy set: required when a key is installed, off when none (or no directory)."""
    assert trusted.policy == "required"
    assert load_trust(directory=tmp_path / "missing") == Trust(tmp_path / "missing", (), "off")
    monkeypatch.setenv("IMGBASED_TRUSTED_DIR", str(trusted.directory))
    assert load_trust("if-present").keyrings == trusted.keyrings
    with pytest.raises(ImgbaseError, match="signature policy 'sometimes' is not valid; use required, if-present"):
        load_trust("sometimes")


def test_a_key_that_is_not_a_regular_file_is_refused(tmp_path):
    """A directory or a dangling symlink named like a key is an error; other names are ignored."""
    (tmp_path / "dir.gpg").mkdir()
    with pytest.raises(ImgbaseError, match="dir.gpg is not a regular file"):
        load_trust(directory=tmp_path)
    (tmp_path / "dir.gpg").rmdir()
    (tmp_path / "gone.asc").symlink_to(tmp_path / "nowhere")
    with pytest.raises(ImgbaseError, match="gone.asc is not a regular file"):
        load_trust(directory=tmp_path)
    (tmp_path / "gone.asc").unlink()
    (tmp_path / "notes.txt").write_text("x")
    assert load_trust(directory=tmp_path).keyrings == ()


@pytest.mark.parametrize(("policy", "keys", "signed", "expect"), [
    ("off", False, False, False),
    ("off", True, True, False),
    ("if-present", True, False, False),
    ("if-present", True, True, True),
    ("if-present", False, True, "no trusted key in"),
    ("required", True, True, True),
    ("required", True, False, "has no signature and the signature policy is required"),
    ("required", False, False, "no trusted key in"),
])
def test_policy_decides_what_is_checked(tmp_path, policy, keys, signed, expect):
    """needs_check: off skips, if-present checks what is signed, required refuses the unsigned."""
    trust = Trust(tmp_path, (tmp_path / "k.gpg",) if keys else (), policy)
    if isinstance(expect, bool):
        assert needs_check(trust, signed, "https://x.example/index.json") is expect
        return
    with pytest.raises(ImgbaseError) as err:
        needs_check(trust, signed, "https://x.example/index.json")
    assert expect in str(err.value) and "https://x.example/index.json" in str(err.value)


def test_status_lines_for_expired_revoked_and_unknown_outcomes(tmp_path):
    """Each gpgv status that is not a good signature becomes its own one-line error."""
    trust = Trust(tmp_path, (), "required")
    fpr = "A" * 40
    cases = [
        (f"[GNUPG:] NEWSIG\n[GNUPG:] KEY_CONSIDERED {fpr} 0\n[GNUPG:] EXPKEYSIG {'A' * 16} P\n", 0,
         f"signed by key {fpr}, which has expired"),
        ("[GNUPG:] NEWSIG\n[GNUPG:] REVKEYSIG 0123456789ABCDEF P\n", 0,
         "key 0123456789ABCDEF, which has been revoked"),
        ("[GNUPG:] NEWSIG\n[GNUPG:] ERRSIG 0123456789ABCDEF 22 8 00 1 4 -\n", 2, "(gpgv error code 4)"),
        ("[GNUPG:] NEWSIG\n", 2, "gpgv exited 2: boom"),
        (f"[GNUPG:] NEWSIG\n[GNUPG:] VALIDSIG {fpr} x\n", 1, "gpgv exited 1"),
    ]
    for status, code, expect in cases:
        with pytest.raises(ImgbaseError) as err:
            signature.outcome(status, "boom\n", code, trust, "img")
        assert expect in str(err.value)
