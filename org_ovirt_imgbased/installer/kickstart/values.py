# SPDX-License-Identifier: GPL-2.0-or-later
"""Checks for the values of the %addon org_ovirt_imgbased section, shared by the kickstart and the TUI.

Every check takes the text an operator wrote and either returns the normalised
value or raises ``ValueError`` with a one-line reason (the caller adds the
kickstart line number or re-prompts).  Standard library only.

Sizes: a number with an optional unit.  A plain number means MiB (the
kickstart convention of ``part --size``); ``K``/``KiB``, ``M``/``MiB``,
``G``/``GiB``, ``T``/``TiB`` are binary units and ``KB``/``MB``/``GB``/``TB``
decimal ones, case-insensitive, fractions allowed (``1.5G``).  A size is
rounded down to whole MiB, and ``format_size`` writes it back exactly
(``1GiB``, ``1536MiB``), so a written kickstart reads back to the same bytes.
"""

from __future__ import annotations

import posixpath
import re
from urllib.parse import urlsplit

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host import image, signature
from org_ovirt_imgbased.host.fetch import REMOTE_SCHEMES
from org_ovirt_imgbased.host.storage import lvm
from org_ovirt_imgbased.units import GiB, MiB, TiB, parse_size

MIN_BOOT_SIZE = 256 * MiB
MIN_VOLUME_SIZE = 32 * MiB
#: What a liveimg URL may use: what the fetcher downloads from, and local files.
LIVEIMG_SCHEMES = (*REMOTE_SCHEMES, "file")
# Parts of the tree that the image (or the kernel) owns: never a separate data volume.
IMAGE_OWNED = ("/usr", "/etc", "/boot", "/proc", "/sys", "/dev", "/run", "/bin", "/sbin", "/lib", "/lib64")
_DISK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:+-]*$")


def parse_ks_size(text: str, minimum: int = MiB) -> int:
    """Parse a size (plain numbers are MiB), round down to whole MiB, and enforce a minimum."""
    try:
        value = parse_size(text, default_unit="m")
    except ImgbaseError as exc:
        raise ValueError(str(exc)) from None
    value = value // MiB * MiB
    if value < minimum:
        raise ValueError(f"size {text!r} is too small: give at least {format_size(minimum)}")
    return value


def format_size(value: int) -> str:
    """Write bytes exactly with the largest binary unit that divides them: 1GiB, 1536MiB."""
    for unit, name in ((TiB, "TiB"), (GiB, "GiB"), (MiB, "MiB"), (1024, "KiB")):
        if value and value % unit == 0:
            return f"{value // unit}{name}"
    return f"{value}B"


def check_lvm_name(text: str, what: str) -> str:
    """Return text if it is a usable LVM VG or LV name (lvm.name_problem); what names it in the error."""
    problem = lvm.name_problem(text)
    if problem:
        raise ValueError(f"{what} {text!r} is not a valid LVM name: {problem}")
    return text


def check_disk(text: str) -> str:
    """Return text if it names a disk: a kernel name (vda) or a /dev path."""
    if text.startswith("/dev/") and len(text) > 5 and not any(ch.isspace() for ch in text):
        return text
    if _DISK_NAME.match(text):
        return text
    raise ValueError(f"disk {text!r} is not a disk name: give a name such as vda or a path under /dev/")


def disk_path(disk: str) -> str:
    """The device path for a disk given as a kernel name or a path."""
    return disk if disk.startswith("/") else f"/dev/{disk}"


def _check_abs_path(text: str, what: str) -> str:
    """Require an absolute, normalised path without control characters."""
    if not text.startswith("/"):
        raise ValueError(f"{what} {text!r} must be an absolute path")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise ValueError(f"{what} {text!r} contains control characters")
    if posixpath.normpath(text) != text or text.startswith("//") or "/../" in text + "/":
        raise ValueError(f"{what} {text!r} is not normalised: remove trailing, doubled or . and .. parts")
    return text


def check_mountpoint(text: str) -> str:
    """Return text if it can be a data volume's mount point (not /, not a part of the image)."""
    _check_abs_path(text, "mount point")
    if text == "/":
        raise ValueError("a volume on / is not allowed: / is the imgbased layer made from the image")
    if any(ch.isspace() for ch in text):
        raise ValueError(f"mount point {text!r} contains white space")
    for owned in IMAGE_OWNED:
        if text == owned or text.startswith(owned + "/"):
            raise ValueError(f"a volume on {text} is not allowed: {owned} belongs to the image "
                             "(or is a partition or kernel file system)")
    return text


def check_persist_path(text: str) -> str:
    """Return text if it can be a persisted path (absolute, normalised, not /)."""
    _check_abs_path(text, "persist path")
    if text == "/":
        raise ValueError("persist / is not allowed: name the files or directories to keep")
    return text


def parse_checksum(text: str) -> str:
    """Check a checksum (image.checksum_problem) and return the normal form sha256:<lower hex>."""
    problem = image.checksum_problem(text)
    if problem:
        raise ValueError(f"checksum {text!r}: {problem}")
    return f"sha256:{image.parse_checksum(text)}"


def check_liveimg_url(text: str) -> str:
    """Return text if it is an http(s)/file URL or an absolute path of a liveimg payload."""
    return _check_file_url(text, "payload", "liveimg", "image")


def check_signature_url(text: str) -> str:
    """Return text if it is an http(s)/file URL or an absolute path of the liveimg's detached signature."""
    return _check_file_url(text, "signature", "signature", "signature")


def _check_file_url(text: str, what: str, kind: str, thing: str) -> str:
    """Return text if it is an http(s)/file URL or an absolute path naming one file (what, a kind, a thing)."""
    if not text or any(ch.isspace() for ch in text):
        raise ValueError(f"{what} {text!r} must be a URL or an absolute path without spaces")
    if text.startswith("/"):
        return _check_abs_path(text, f"{what} path")
    parts = urlsplit(text)
    if parts.scheme not in LIVEIMG_SCHEMES:
        raise ValueError(f"{what} {text!r} is not a {kind} URL: use http://, https://, "
                         "file:/// or an absolute path")
    if parts.scheme == "file" and parts.netloc not in ("", "localhost"):
        raise ValueError(f"{what} {text!r} names a host in a file URL; use file:///path/to/{thing}")
    if parts.scheme == "file" and not parts.path.startswith("/"):
        raise ValueError(f"{what} {text!r} needs an absolute path: file:///path/to/{thing}")
    if parts.scheme != "file" and not parts.netloc:
        raise ValueError(f"{what} {text!r} names no host")
    if not parts.path or parts.path.endswith("/"):
        raise ValueError(f"{what} {text!r} names no {thing} file")
    return text


def check_signature_policy(text: str) -> str:
    """Return text if it is a signature policy (host.signature's: required, if-present, off)."""
    if text not in signature.POLICIES:
        raise ValueError(f"policy {text!r} is not one of {', '.join(signature.POLICIES)}")
    return text


def check_keep(text: str) -> int:
    """Parse how many bases to keep: a whole number of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"keep {text!r} must be a whole number of at least 1")
    return int(text)
