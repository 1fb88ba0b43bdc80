# SPDX-License-Identifier: GPL-2.0-or-later
"""Update channels: a directory on any static web server (or a local one) listing images.

A channel holds ``index.json``, its detached OpenPGP signature ``index.json.sig`` and the
images.  ``image-tools/publish`` writes it; the index is::

    {
      "format": "imgbased-channel/1",
      "images": [
        {"name": "imgbased-v2.squashfs",       # file name: no slash, no leading dot
         "sha256": "<64 lowercase hex>",
         "signature": "imgbased-v2.squashfs.sig",  # optional: the image's detached signature
         "size": 123456,                       # bytes, a whole number > 0
         "url": "imgbased-v2.squashfs",        # relative to the index, or http/https/file URL
         "version": "2.0"}                     # no whitespace; unique
      ]
    }

Nothing else is accepted: unknown or missing fields are errors.  Versions are ordered
naturally (runs of digits as numbers: 1.10 > 1.9 > 1.2, 4.5.0-20261201 > 4.5.0); two versions
that compare equal (1.0 and 1.00) are duplicates.  A channel URL names the directory (with or
without a trailing slash) or its index.json directly; the signature is the index URL plus
``.sig``.
"""

from __future__ import annotations

import json
import re
import tempfile
import urllib.error
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host import fetch, image, signature
from org_ovirt_imgbased.host.storage import lvm
from org_ovirt_imgbased.runner import Runner

FORMAT = "imgbased-channel/1"
INDEX_NAME = "index.json"
SIGNATURE_SUFFIX = signature.SUFFIX
URL_SCHEMES = ("http", "https", "file")
REQUIRED_FIELDS = ("version", "name", "url", "size", "sha256")
OPTIONAL_FIELDS = ("signature",)
#: The most imgbased reads for an index or its signature.
INDEX_LIMIT = fetch.TEXT_LIMIT
SIGNATURE_LIMIT = 64 * 1024
#: The version given to an image downloaded by URL alone (no channel says its version).
UNVERSIONED = "sha256."
_RUN_RX = re.compile(r"[0-9]+|[^0-9]+")


@dataclass(frozen=True)
class Entry:
    """One image a channel lists; url and signature are absolute once parsed."""

    version: str
    name: str
    url: str
    size: int
    sha256: str
    signature: str | None = None


@dataclass(frozen=True)
class Index:
    """A parsed channel index: where it was read and its images in index order."""

    url: str
    entries: tuple[Entry, ...]


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """The natural sort key of a version: runs of digits compare as numbers, after text."""
    return tuple((1, int(run)) if run.isdigit() else (0, run) for run in _RUN_RX.findall(version))


def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1 as version a is older than, equal to or newer than b (natural ordering)."""
    ka, kb = version_key(a), version_key(b)
    return (ka > kb) - (ka < kb)


def newest(index: Index) -> Entry:
    """The entry with the highest version."""
    if not index.entries:
        raise ImgbaseError(f"{index.url} lists no images; publish one with image-tools/publish")
    return max(index.entries, key=lambda e: version_key(e.version))


def base_versions(layout) -> list[dict]:
    """Each base's name and its sha256 and version tags, oldest first (layout: a host Layout)."""
    return [{"base": b.name, "sha256": lvm.tag_value(b.lv.tags, "imgbased:sha256"),
             "version": lvm.tag_value(b.lv.tags, "imgbased:version")} for b in layout.bases]


def is_newer(sha256: str, version: str, bases: list[dict]) -> bool:
    """Whether an image is newer than every base: none has its sha256, and it is above the newest version tag.

    An image without a version (downloaded by URL: UNVERSIONED + digest) is newer when no base has it.
    """
    if any(b["sha256"] == sha256 for b in bases):
        return False
    if version.startswith(UNVERSIONED):
        return True
    versions = [b["version"] for b in bases if b["version"]]
    return not versions or compare_versions(version, max(versions, key=version_key)) > 0


def url_problem(url: str) -> str:
    """Why url cannot name a channel, an image or a signature (empty string when it is fine)."""
    parts = urllib.parse.urlsplit(url)
    if not url or any(c.isspace() for c in url):
        return "is empty or contains whitespace"
    if parts.scheme and parts.scheme not in URL_SCHEMES:
        return f"has the scheme {parts.scheme!r}; use http://, https:// or file://"
    if parts.scheme in ("http", "https") and not parts.netloc:
        return "names no host"
    return ""


def parse_index(text: str, url: str) -> Index:
    """Parse and validate index text read from url; relative URLs are resolved against url."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImgbaseError(f"channel index {url} is not JSON ({exc.msg} at line {exc.lineno} column "
                           f"{exc.colno}); publish the channel with image-tools/publish") from None
    if not isinstance(data, dict):
        raise ImgbaseError(f"channel index {url} is not a JSON object; publish it with image-tools/publish")
    _check_fields(data, ("format", "images"), (), f"channel index {url}")
    if data["format"] != FORMAT:
        raise ImgbaseError(f"channel index {url} has format {data['format']!r}, not {FORMAT!r}; this "
                           "imgbased reads only that format: republish it or update imgbased")
    if not isinstance(data["images"], list):
        raise ImgbaseError(f"channel index {url}: images is not a list")
    entries = tuple(_entry(item, url, number) for number, item in enumerate(data["images"], 1))
    _check_unique(entries, url)
    return Index(url, entries)


def _check_fields(data: dict, required: tuple[str, ...], optional: tuple[str, ...], where: str) -> None:
    """Refuse a missing required field or one that is not known."""
    missing = [f for f in required if f not in data]
    if missing:
        raise ImgbaseError(f"{where} lacks the field {missing[0]!r}; give {', '.join(required)}")
    extra = sorted(set(data) - set(required) - set(optional))
    if extra:
        raise ImgbaseError(f"{where} has the unknown field {extra[0]!r}; known fields: "
                           f"{', '.join(required + optional)}")


def _entry(item: object, url: str, number: int) -> Entry:
    """Validate one image of the index and resolve its URLs."""
    where = f"channel index {url}: image {number}"
    if not isinstance(item, dict):
        raise ImgbaseError(f"{where} is not a JSON object")
    if isinstance(item.get("version"), str):
        where += f" (version {item['version']!r})"
    _check_fields(item, REQUIRED_FIELDS, OPTIONAL_FIELDS, where)
    for field in ("version", "name", "url", "sha256", *(f for f in OPTIONAL_FIELDS if f in item)):
        if not isinstance(item[field], str):
            raise ImgbaseError(f"{where}: {field} is not a string")
    problem = _value_problem(item)
    if problem:
        raise ImgbaseError(f"{where}: {problem}")
    sig = item.get("signature")
    return Entry(item["version"], item["name"], urllib.parse.urljoin(url, item["url"]), item["size"],
                 item["sha256"], urllib.parse.urljoin(url, sig) if sig is not None else None)


def _value_problem(item: dict) -> str:
    """What is wrong with the values of an image entry whose fields are present and typed."""
    version, name, size = item["version"], item["name"], item["size"]
    if not version or any(c.isspace() for c in version):
        return f"version {version!r} is empty or contains whitespace; use a version such as 4.5.0"
    if not name or "/" in name or name.startswith(".") or "\0" in name:
        return f"name {name!r} must be a plain file name (no slash, not starting with a dot)"
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        return f"size {size!r} is not a whole number of bytes above 0"
    if not image.is_sha256(item["sha256"]):
        return f"sha256 {item['sha256']!r} is not 64 lowercase hex digits"
    for field in ("url", "signature"):
        if field in item and url_problem(item[field]):
            return f"{field} {item[field]!r} {url_problem(item[field])}"
    return ""


def _check_unique(entries: tuple[Entry, ...], url: str) -> None:
    """Refuse two images with equal versions (naturally compared) or the same name."""
    for attr, key in (("version", lambda e: version_key(e.version)), ("name", lambda e: e.name)):
        seen: dict[object, Entry] = {}
        for entry in entries:
            first = seen.setdefault(key(entry), entry)
            if first is not entry:
                raise ImgbaseError(f"channel index {url}: {attr} {getattr(first, attr)!r} and "
                                   f"{getattr(entry, attr)!r} are the same; give each image its own")


def render_index(entries: list[Entry] | tuple[Entry, ...], source: str = INDEX_NAME) -> str:
    """The index text for entries: sorted by version, keys sorted, validated by parse_index."""
    images = []
    for entry in sorted(entries, key=lambda e: version_key(e.version)):
        item = {"version": entry.version, "name": entry.name, "url": entry.url, "size": entry.size,
                "sha256": entry.sha256}
        if entry.signature is not None:
            item["signature"] = entry.signature
        images.append(item)
    text = json.dumps({"format": FORMAT, "images": images}, indent=2, sort_keys=True) + "\n"
    parse_index(text, source)
    return text


def index_url(url: str) -> str:
    """The URL of a channel's index.json: url itself when it names one, else the file in the directory."""
    problem = url_problem(url)
    if problem:
        raise ImgbaseError(f"channel URL {url!r} {problem}")
    parts = urllib.parse.urlsplit(url)
    if parts.path.rsplit("/", 1)[-1] == INDEX_NAME:
        return url
    return urllib.parse.urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/" + INDEX_NAME))


def fetch_index(runner: Runner, url: str, trust: signature.Trust, allow_unverified: bool = False) -> Index:
    """Read a channel's index, check index.json.sig under the trust policy, and parse it."""
    where = index_url(url)
    with tempfile.TemporaryDirectory(prefix="imgbased-channel-") as tmp:
        work = Path(tmp)
        path = fetch_small(where, work, INDEX_LIMIT, "channel index")
        if path is None:
            raise ImgbaseError(f"channel index {where} does not exist; check the channel URL (the directory "
                               "image-tools/publish wrote)")
        text = fetch.read_text_file(path, "channel index", shown=where, limit=INDEX_LIMIT)
        sig = None
        if trust.policy != "off":
            sig = fetch_small(where + SIGNATURE_SUFFIX, work, SIGNATURE_LIMIT, "signature")
        verified = signature.needs_check(trust, sig is not None, where)
        if verified:  # the very bytes parsed below, not the file read again
            with signature.Verifier(runner, trust, sig, where) as verifier:
                verifier.update(text.encode("utf-8"))
                verifier.finish()
    if not verified and urllib.parse.urlsplit(where).scheme == "http" and not allow_unverified:
        raise ImgbaseError(f"channel index {where} is plain http and not signed (signature policy "
                           f"{trust.policy}): anything on the way could change it; sign the channel and "
                           f"install its key in {trust.directory}, or pass --allow-unverified")
    return parse_index(text, where)


def fetch_small(url: str, workdir: Path, limit: int, what: str) -> Path | None:
    """A local file with url's content (at most limit bytes), or None when it does not exist."""
    local = fetch.local_path(url)
    if local is not None:
        return local if local.is_file() else None
    target = workdir / Path(urllib.parse.urlsplit(url).path).name
    try:
        with fetch.opener().open(url, timeout=fetch.TIMEOUT) as response:
            data = response.read(limit + 1)
    except urllib.error.HTTPError as exc:
        if exc.code in (404, 410):
            return None
        raise ImgbaseError(f"cannot download {what} {url}: {fetch.reason(exc)}") from None
    except (urllib.error.URLError, OSError) as exc:  # HTTPError is one of these: caught above
        raise ImgbaseError(f"cannot download {what} {url}: {fetch.reason(exc)}") from None
    if len(data) > limit:
        raise fetch.too_large(url, what, limit)
    target.write_bytes(data)
    return target

