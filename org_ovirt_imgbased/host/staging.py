# SPDX-License-Identifier: GPL-2.0-or-later
"""The staging directory: downloaded images waiting to be applied, each described by a JSON record.

A staged image is <dir>/<name> with its record <dir>/<name>.json (url, name, version, sha256,
size, the signature file <name>.sig kept beside it so that the apply can verify it again offline,
the signer's fingerprint, and when it was downloaded).  The record is written last and atomically,
so it only ever names complete files, and removing a staged image removes exactly the files its
record names.  Interrupted downloads are <name>.part with <name>.part.json (see host.download).
"""

from __future__ import annotations

import functools
import json
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from org_ovirt_imgbased import paths
from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host import download, image, signature
from org_ovirt_imgbased.runner import Runner

RECORD_SUFFIX = ".json"
SIGNATURE_SUFFIX = signature.SUFFIX
#: Endings a staged image's name may not have: they would be read as another staged file.
RESERVED_SUFFIXES = (RECORD_SUFFIX, SIGNATURE_SUFFIX, download.PART_SUFFIX)
#: The longest name: <name>.part.json must still fit a file name (255 bytes).
MAX_NAME = 200


@dataclass(frozen=True)
class Staged:
    """A complete, checked download and what its record says about it."""

    directory: Path
    name: str
    url: str
    version: str
    sha256: str
    size: int
    signature: str | None  # the file name of the detached signature beside the image, if any
    signer: str | None  # the fingerprint of the key that signed it, if it was verified
    downloaded_at: str  # ISO 8601, UTC

    @property
    def path(self) -> Path:
        """The image file."""
        return self.directory / self.name

    @property
    def record_path(self) -> Path:
        """The JSON record."""
        return self.directory / (self.name + RECORD_SUFFIX)

    def files(self) -> list[Path]:
        """Every file this staged image consists of, the record last."""
        sig = [self.directory / self.signature] if self.signature else []
        return [self.path, *sig, self.record_path]

    def as_json(self) -> dict:
        """The record's content (also the --json view)."""
        return {"url": self.url, "name": self.name, "version": self.version, "sha256": self.sha256,
                "size": self.size, "signature": self.signature, "signer": self.signer,
                "downloaded_at": self.downloaded_at}


@dataclass(frozen=True)
class Broken:
    """A record that cannot be used, and why."""

    path: Path
    reason: str


@dataclass(frozen=True)
class Partial:
    """An interrupted download: its .part file, the bytes present, and what its description says."""

    directory: Path
    name: str
    present: int
    url: str | None
    expected_size: int | None

    def files(self) -> list[Path]:
        """The partial bytes and their description."""
        dest = self.directory / self.name
        return [download.part_path(dest), download.sidecar_path(dest)]


def check_name(name: str) -> str:
    """Return name if it can name a staged image: one plain file name, no leading dot, no reserved ending."""
    bad = (not name or "/" in name or "\0" in name or "\n" in name or name.startswith(".")
           or name.endswith(RESERVED_SUFFIXES) or len(name.encode()) > MAX_NAME)
    if bad:
        raise ImgbaseError(f"{name!r} cannot name a staged image: use a plain file name of at most {MAX_NAME} "
                           f"bytes, without '/' or a leading '.', not ending in {', '.join(RESERVED_SUFFIXES)}")
    return name


def staging_dir(runner: Runner | None = None) -> Path:
    """The staging directory (IMGBASED_STATE_DIR/images), created root-only (0700) when missing."""
    path = paths.staging_dir()
    (runner or Runner()).makedirs(path, 0o700)
    return path


def save(runner: Runner, directory: Path, name: str, *, url: str, version: str, sha256: str, size: int,
         signature: bytes | None = None, signer: str | None = None, downloaded_at: str | None = None) -> Staged:
    """Record the downloaded image directory/name: its signature file first, then its record, both atomically."""
    staged = Staged(Path(directory), check_name(name), url, version, sha256.lower(), size,
                    name + SIGNATURE_SUFFIX if signature is not None else None, signer,
                    downloaded_at or datetime.now(timezone.utc).isoformat(timespec="seconds"))
    problem = _invalid(staged.as_json(), name) or (None if runner.dry else _image_problem(staged))
    if problem:
        raise ImgbaseError(f"cannot record the staged image {staged.path}: {problem}")
    if signature is not None:
        runner.write_file(staged.directory / staged.signature, signature)
    runner.write_file(staged.record_path, json.dumps(staged.as_json(), indent=1) + "\n")
    return staged


def _invalid(data: dict, name: str) -> str | None:
    """What is wrong with a record's fields (for the image called name), or None."""
    checks = {"url": isinstance(data.get("url"), str) and data["url"] != "",
              "name": data.get("name") == name,
              "version": isinstance(data.get("version"), str) and data["version"] != "",
              "sha256": isinstance(data.get("sha256"), str) and image.is_sha256(data["sha256"]),
              "size": type(data.get("size")) is int and data["size"] >= 0,
              "signature": data.get("signature") in (None, name + SIGNATURE_SUFFIX),
              "signer": data.get("signer") is None or isinstance(data["signer"], str),
              "downloaded_at": isinstance(data.get("downloaded_at"), str)}
    wrong = [key for key, ok in checks.items() if not ok]
    return f"missing or wrong {', '.join(wrong)}" if wrong else None


def _image_problem(staged: Staged) -> str | None:
    """What is wrong with the image a record names (missing, not a file, another size), or None."""
    try:
        st = os.lstat(staged.path)
    except FileNotFoundError:
        return f"its image {staged.path} is missing"
    if not stat.S_ISREG(st.st_mode):
        return f"its image {staged.path} is not a regular file"
    if st.st_size != staged.size:
        return f"its image {staged.path} is {st.st_size} bytes, the record says {staged.size}"
    return None


def _signature_problem(staged: Staged) -> str | None:
    """Why the signature file a record names is not there, or None."""
    if staged.signature and not (staged.directory / staged.signature).is_file():
        return f"its signature {staged.directory / staged.signature} is missing"
    return None


def load(record: Path) -> Staged | Broken:
    """The staged image a record describes, or why it cannot be used."""
    name = record.name[:-len(RECORD_SUFFIX)]
    try:
        data = json.loads(record.read_text())
    except OSError as exc:
        problem = f"it cannot be read ({exc.strerror})"
    except ValueError as exc:
        problem = f"it is not JSON ({exc})"
    else:
        problem = _invalid(data, name) if isinstance(data, dict) else "it is not a JSON object"
    if problem is None:
        staged = Staged(record.parent, name, data["url"], data["version"], data["sha256"], data["size"],
                        data.get("signature"), data.get("signer"), data["downloaded_at"])
        problem = _image_problem(staged) or _signature_problem(staged)
        if problem is None:
            return staged
    return Broken(record, f"the staged image record {record} is broken: {problem}; remove it and download the "
                          "image again")


def _records(directory: Path) -> list[Path]:
    """The record files in directory (a missing directory has none)."""
    return [directory / n for n in _names(directory)
            if n.endswith(RECORD_SUFFIX) and not n.endswith(download.SIDECAR_SUFFIX) and not n.startswith(".")]


def _names(directory: Path) -> list[str]:
    """The entries of directory, sorted (none when it is missing)."""
    try:
        return sorted(os.listdir(directory))
    except FileNotFoundError:
        return []


def scan(directory: Path) -> tuple[list[Staged], list[Broken]]:
    """The usable staged images (sorted by name) and the broken records in directory."""
    found = [load(record) for record in _records(Path(directory))]
    return [s for s in found if isinstance(s, Staged)], [b for b in found if isinstance(b, Broken)]


def list_staged(directory: Path) -> list[Staged]:
    """The usable staged images in directory, sorted by name (broken records left out: see scan)."""
    return scan(directory)[0]


def partials(directory: Path) -> list[Partial]:
    """The interrupted downloads in directory: each .part file with the bytes present and its description."""
    directory = Path(directory)
    found = []
    for n in _names(directory):
        path = directory / n
        if n.endswith(download.PART_SUFFIX) and not n.startswith(".") and path.is_file():
            name = n[:-len(download.PART_SUFFIX)]
            side = download.read_sidecar(download.sidecar_path(directory / name)) or {}
            size = side.get("expected_size")
            url = side.get("url")
            found.append(Partial(directory, name, path.stat().st_size, url if isinstance(url, str) else None,
                                 size if type(size) is int else None))
    return found


def newest(staged: Iterable[Staged], compare: Callable[[str, str], int]) -> Staged | None:
    """The staged image with the highest version under compare (cmp-style); the latest download on a tie."""
    by_version = functools.cmp_to_key(compare)
    return max(staged, key=lambda s: (by_version(s.version), s.downloaded_at), default=None)


def remove(item: Staged | Partial, runner: Runner) -> None:
    """Remove exactly the files a staged image (or partial download) consists of, nothing else."""
    files = item.files()
    odd = [p for p in files if p.is_dir() and not p.is_symlink()]
    if odd:
        raise ImgbaseError(f"{odd[0]} is a directory, not a file of a staged image; nothing removed: remove it "
                           "yourself if it is not needed")
    for path in files:
        runner.remove(path)


def problems(directory: Path) -> list[str]:
    """What imgbase check reports: broken records, and files that belong to no record or download."""
    directory = Path(directory)
    staged, broken = scan(directory)
    claimed = {p.name for s in staged for p in s.files()}
    for b in broken:
        name = b.path.name[:-len(RECORD_SUFFIX)]
        claimed |= {b.path.name, name, name + SIGNATURE_SUFFIX}
    claimed |= {p.name for part in partials(directory) for p in part.files()}
    strays = [f"{directory / n} belongs to no staged image or download; remove it" for n in _names(directory)
              if n not in claimed]
    return [b.reason for b in broken] + strays
