# SPDX-License-Identifier: GPL-2.0-or-later
"""OpenPGP detached signatures of images and channel indexes, checked by gpgv.

imgbased does no cryptography itself: ``gpgv --status-fd 1 --homedir EMPTY --keyring K ... SIG -``
checks the signature while the data streams through its stdin (the downloader hashes the same
chunks, so an image is read once), and its status lines are turned into one-line errors.

Trusted keys are the ``*.gpg`` and ``*.asc`` files in ``paths.trusted_dir()`` (default
/etc/imgbased/trusted.d).  gpgv 2.2 reads only binary keyrings (an armored one gives
"invalid packet" and NO_PUBKEY), so a file that starts with an armor header is dearmored here
(base64 with a CRC24 line: an encoding, no cryptography) into the private temporary home of each
check; ``gpg --export`` output is passed as it is.  The temporary home is empty and private, so
neither ~/.gnupg nor its trustedkeys.gpg is ever read or written.

Policies: ``required`` (every image and index must carry a good signature), ``if-present``
(check a signature when there is one) and ``off``.  Without a configured policy it is
``required`` when a trusted key is installed, else ``off``.
"""

from __future__ import annotations

import base64
import binascii
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from org_ovirt_imgbased import paths
from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.runner import Feed, Runner
from org_ovirt_imgbased.units import MiB

POLICIES = ("required", "if-present", "off")
#: A detached signature sits beside its file (or URL) with this suffix: IMAGE.sig, index.json.sig.
SUFFIX = ".sig"
KEY_SUFFIXES = (".gpg", ".asc")
ARMOR_BEGIN = "-----BEGIN PGP PUBLIC KEY BLOCK-----"
ARMOR_END = "-----END PGP PUBLIC KEY BLOCK-----"
CHUNK = MiB
_STATUS = "[GNUPG:] "
_NO_PUBKEY_RC = "9"


@dataclass(frozen=True)
class Trust:
    """The trusted key files and the signature policy in force."""

    directory: Path
    keyrings: tuple[Path, ...]
    policy: str


def load_trust(policy: str | None = None, directory: Path | None = None) -> Trust:
    """The keys in the trusted directory and the effective policy (None: the default rule)."""
    directory = Path(directory or paths.trusted_dir())
    if policy is not None and policy not in POLICIES:
        raise ImgbaseError(f"signature policy {policy!r} is not valid; use {', '.join(POLICIES)}")
    keyrings = _key_files(directory)
    return Trust(directory, keyrings, policy or ("required" if keyrings else "off"))


def _key_files(directory: Path) -> tuple[Path, ...]:
    """The key files of directory (a missing directory holds none); other names are ignored."""
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return ()
    except OSError as exc:
        raise ImgbaseError(f"cannot read the trusted key directory {directory}: {exc.strerror}") from None
    found = []
    for name in names:
        path = directory / name
        if name.startswith(".") or not name.endswith(KEY_SUFFIXES):
            continue
        if not path.is_file():  # a directory, a fifo or a dangling symlink
            raise ImgbaseError(f"trusted key {path} is not a regular file; put the key file itself there "
                               "(gpg --export KEYID > FILE.gpg) or remove it")
        found.append(path.resolve())
    return tuple(found)


def needs_check(trust: Trust, signed: bool, shown: str) -> bool:
    """Whether shown's signature must be checked; refuse what the policy cannot accept."""
    if trust.policy == "off" or (trust.policy == "if-present" and not signed):
        return False
    if not trust.keyrings:
        raise _no_keys(trust, shown)
    if not signed:
        raise ImgbaseError(f"{shown} has no signature and the signature policy is required; ask the "
                           "publisher for a signed image or channel (image-tools/publish)")
    return True


def signature_url(url: str, given: str | None, trust: Trust) -> str | None:
    """Where url's detached signature is looked for: the one given, else url + SUFFIX unless the policy is off."""
    return given or (url + SUFFIX if trust.policy != "off" else None)


def verifier_factory(runner: Runner, trust: Trust, signature_path: Path | None,
                     shown: str) -> Callable[[], Verifier] | None:
    """A maker of streaming verifiers of shown (download's verifier=), or None when the policy checks none."""
    if not needs_check(trust, signature_path is not None, shown):
        return None
    return lambda: Verifier(runner, trust, signature_path, shown)


def _no_keys(trust: Trust, shown: str) -> ImgbaseError:
    """The one-line error for a signature that must be checked while no key is trusted."""
    return ImgbaseError(f"cannot check the signature of {shown}: no trusted key in {trust.directory} "
                        f"(policy {trust.policy}); install the publisher's key there "
                        "(gpg --export KEYID > FILE.gpg)")


def crc24(data: bytes) -> int:
    """The OpenPGP armor checksum (CRC-24, RFC 4880 section 6.1) of data."""
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def dearmor(text: str, shown: str) -> bytes:
    """The binary packets of every armored public key block in text, each checksum verified."""
    packets, lines = b"", iter(text.splitlines())
    for line in lines:
        if line.strip() == ARMOR_BEGIN:
            packets += _armor_block(lines, shown)
    if not packets:
        raise ImgbaseError(f"trusted key {shown} holds no public key block; export it again with "
                           "gpg --export KEYID > FILE.gpg")
    return packets


def _armor_block(lines, shown: str) -> bytes:
    """Decode one armored block up to its end line: headers, blank line, base64, =CRC24."""
    body: list[str] = []
    for raw in lines:
        line = raw.strip()
        if line == ARMOR_END:
            break
        body.append(line)
    else:
        raise _bad_armor(shown, "has no end line")
    if "" in body:  # armor headers (Comment:, Version:) end at the first blank line
        body = body[body.index("") + 1:]
    checksum = body.pop()[1:] if body and body[-1].startswith("=") else None
    try:
        data = base64.b64decode("".join(body), validate=True)
        expected = base64.b64decode(checksum, validate=True) if checksum is not None else None
        if expected is not None and int.from_bytes(expected, "big") != crc24(data):
            raise _bad_armor(shown, "fails its CRC24 checksum")
    except (binascii.Error, ValueError):
        raise _bad_armor(shown, "is not valid base64") from None
    return data


def _bad_armor(shown: str, problem: str) -> ImgbaseError:
    """The one-line error for a damaged armored key file."""
    return ImgbaseError(f"trusted key {shown} is armored but {problem}; export it again "
                        "(gpg --export KEYID > FILE.gpg)")


def _keyring_args(trust: Trust, home: Path) -> list[str]:
    """--keyring arguments for every trusted key; armored ones are dearmored into home first."""
    args = []
    for index, path in enumerate(trust.keyrings):
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ImgbaseError(f"cannot read trusted key {path}: {exc.strerror}") from None
        if raw.lstrip().startswith(ARMOR_BEGIN.encode()):
            path = home / f"key{index}.gpg"
            path.write_bytes(dearmor(raw.decode("ascii", errors="replace"), str(path)))
        args += ["--keyring", str(path)]
    return args


class Verifier:
    """Check a detached signature of data given in chunks: update() each one, then finish()."""

    def __init__(self, runner: Runner, trust: Trust, signature_path: Path, shown: str) -> None:
        """Start gpgv for signature_path; shown names the data (a URL or file name) in errors."""
        self.trust, self.shown = trust, shown
        if not trust.keyrings:
            raise _no_keys(trust, shown)
        if not Path(signature_path).is_file():
            raise ImgbaseError(f"the signature {signature_path} of {shown} is missing; fetch it with the image")
        self._home = tempfile.TemporaryDirectory(prefix="imgbased-gpgv-")
        try:
            argv = ["gpgv", "--homedir", self._home.name, "--status-fd", "1",
                    *_keyring_args(trust, Path(self._home.name)), str(signature_path), "-"]
            self._feed: Feed = runner.feed(argv, check=False, readonly=True)
        except BaseException:
            self._home.cleanup()
            raise

    def update(self, chunk: bytes) -> None:
        """Pass the next piece of the data to gpgv."""
        self._feed.write(chunk)

    def finish(self) -> str:
        """The signer's fingerprint when the signature is good and trusted, else a one-line error."""
        try:
            result = self._feed.finish()
        finally:
            self._home.cleanup()
        return outcome(result.stdout, result.stderr, result.returncode, self.trust, self.shown)

    def abort(self) -> None:
        """Stop gpgv without an error (the data will not be used)."""
        self._feed.kill()
        self._home.cleanup()

    def __enter__(self) -> Verifier:
        """The verifier itself."""
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        """Abort when the block raised or never called finish()."""
        if self._feed.result is None:
            self.abort()


def verify_file(runner: Runner, trust: Trust, data_path: Path, signature_path: Path, shown: str) -> str:
    """Check a file against its detached signature (read once, in 1 MiB chunks); the fingerprint."""
    with Verifier(runner, trust, signature_path, shown) as verifier:
        try:
            with open(data_path, "rb") as data:
                while chunk := data.read(CHUNK):
                    verifier.update(chunk)
        except OSError as exc:
            raise ImgbaseError(f"cannot read {shown}: {exc.strerror}") from None
        return verifier.finish()


def outcome(status: str, stderr: str, returncode: int, trust: Trust, shown: str) -> str:
    """Turn gpgv's status lines into the signer's fingerprint or a one-line error saying what to do."""
    lines = [ln[len(_STATUS):].split() for ln in status.splitlines() if ln.startswith(_STATUS)]
    words = {ln[0]: ln[1:] for ln in reversed(lines) if ln}  # the first line of each kind wins
    considered = [ln[1] for ln in lines if ln[:1] == ["KEY_CONSIDERED"] and len(ln) > 1]
    if "NEWSIG" not in words and "NODATA" in words:
        raise ImgbaseError(f"the signature file of {shown} is not an OpenPGP signature; fetch the "
                           "real .sig file or ask the publisher to sign again")
    if "BADSIG" in words:
        raise ImgbaseError(f"bad signature on {shown} by key {_key(words['BADSIG'], considered)}: it was "
                           "changed after signing (or the signature is another file's); do not use it")
    for word, problem in (("EXPKEYSIG", "has expired: install the publisher's renewed key"),
                          ("REVKEYSIG", "has been revoked: do not use it; ask the publisher for the new key"),
                          ("EXPSIG", "made a signature that has expired: ask the publisher to sign again")):
        if word in words:
            raise ImgbaseError(f"{shown} is signed by key {_key(words[word], considered)}, which {problem}")
    if "ERRSIG" in words:
        fields = words["ERRSIG"]
        key = fields[6] if len(fields) > 6 and fields[6] != "-" else _key(fields, considered)
        if fields[5:6] == [_NO_PUBKEY_RC]:
            raise ImgbaseError(f"{shown} is signed by key {key} which is not trusted (no key in "
                               f"{trust.directory} has it): install the publisher's key there")
        code = fields[5] if len(fields) > 5 else "?"
        raise ImgbaseError(f"cannot check the signature of {shown} by key {key} (gpgv error code {code}): "
                           f"{_first_line(stderr)}")
    if returncode == 0 and "VALIDSIG" in words:
        fields = words["VALIDSIG"]
        return fields[9] if len(fields) > 9 else fields[0]
    raise ImgbaseError(f"cannot check the signature of {shown}: gpgv exited {returncode}: {_first_line(stderr)}")


def _key(fields: list[str], considered: list[str]) -> str:
    """The fingerprint of the key a status line names by its long key id, or that key id."""
    keyid = fields[0] if fields else "?"
    return next((fpr for fpr in considered if fpr.endswith(keyid)), keyid)


def _first_line(text: str) -> str:
    """The first non-empty line of a command's stderr."""
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), "no error output")
