# SPDX-License-Identifier: GPL-2.0-or-later
"""Images delivered over the network: ask the channel, download into staging, verify, hand over.

``imgbase update`` calls this before its transaction.  What it hands over is a local file and
the sha256 of the one read that brought it (the download hashes and feeds gpgv the same chunks),
so the update never reads the image a second time to verify it.

* A channel (``[update] channel``) is a signed ``index.json``; its newest image is taken when
  it is newer than every base: not the sha256 of a base, and of a higher version than the
  newest ``imgbased:version`` tag.
* A URL is downloaded into ``paths.staging_dir()`` (a directory on /var, a data volume), with
  ``URL.sig`` (or ``--signature``) checked under the signature policy.  A plain-http image
  that is neither checksummed nor signature-checked is refused unless allowed explicitly.
* A local file is read where it is; its signature (``FILE.sig`` or ``--signature``) is checked
  in the same read when the policy asks for it.
* A staged image is applied without the network, re-verified against its record and its
  signature first.
"""

from __future__ import annotations

import re
import tempfile
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host import channel, config, download, fetch, image, signature, staging
from org_ovirt_imgbased.host.context import Context
from org_ovirt_imgbased.host.progress import Progress
from org_ovirt_imgbased.host.update import Origin
from org_ovirt_imgbased.units import human

#: Exit status of `update --check`: a newer image is available / the host is up to date.
EXIT_AVAILABLE, EXIT_UP_TO_DATE = 0, 3
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_+.\-/=!:&#]")


@dataclass(frozen=True)
class Request:
    """What the operator asked for: an image (path or URL) or none (the channel), and its checks."""

    image: str | None = None
    checksum: str | None = None
    signature: str | None = None
    allow_unverified: bool = False
    progress: bool = False


@dataclass
class Found:
    """The answer of `update --check`."""

    channel: str
    available: bool
    newest: dict | None
    current: dict = field(default_factory=dict)

    @property
    def exit_status(self) -> int:
        """0 when a newer image is available, 3 when up to date."""
        return EXIT_AVAILABLE if self.available else EXIT_UP_TO_DATE

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"channel": self.channel, "available": self.available, "newest": self.newest,
                "current": self.current}

    def render(self) -> str:
        """One line for people."""
        if self.newest is None:
            return f"{self.channel} lists no image"
        image = f"{self.newest['name']} version {self.newest['version']} ({human(self.newest['size'])})"
        if self.available:
            return f"update available: {image}"
        return f"up to date: the channel's newest image is {image}, not newer than {self.current.get('base')}"


@dataclass
class Prepared:
    """What the update applies: a local file and what is known of it, or nothing (up to date)."""

    path: Path | None = None
    checksum: str | None = None
    origin: Origin | None = None
    up_to_date: bool = False
    note: str = ""
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"image": str(self.path) if self.path else None, "up_to_date": self.up_to_date,
                "note": self.note, **self.details}

    def render(self) -> str:
        """One line for people."""
        return self.note


@dataclass
class StagedResult:
    """What `update --download-only` left in the staging directory."""

    staged: staging.Staged
    download: dict

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"staged": self.staged.as_json(), "download": self.download}

    def render(self) -> str:
        """One line for people."""
        s = self.staged
        signed = f", signed by {s.signer}" if s.signer else ""
        return (f"downloaded {s.name} version {s.version} ({human(s.size)}, sha256 {s.sha256}{signed}) into "
                f"{s.directory}; `imgbase update` applies it, without the network")


def _trust(ctx: Context) -> tuple[config.Config, signature.Trust]:
    """The configuration and the signature trust in force."""
    cfg = config.load_config(ctx.config_path)
    return cfg, signature.load_trust(cfg.signature_policy)


def _channel_url(cfg: config.Config) -> str:
    """The configured channel, or a one-line error saying how to configure one."""
    if not cfg.channel:
        raise ImgbaseError(f"no channel is configured: set `channel = URL` in the [update] section of "
                           f"{cfg.source or config.DEFAULT_CONFIG_PATH}, or give an IMAGE")
    return cfg.channel


def _bases(ctx: Context) -> list[dict]:
    """Each base's name, sha256 and version tags (oldest first)."""
    layout = ctx.layout()
    return channel.base_versions(layout)


def _entry_dict(entry: channel.Entry) -> dict:
    """JSON-ready form of a channel entry."""
    return {"name": entry.name, "version": entry.version, "size": entry.size, "sha256": entry.sha256,
            "url": entry.url}


def check(ctx: Context, request: Request) -> Found:
    """Fetch only the channel's index and say whether it has an image newer than every base."""
    cfg, trust = _trust(ctx)
    url = request.image or _channel_url(cfg)
    index = channel.fetch_index(ctx.runner, url, trust, request.allow_unverified)
    bases = _bases(ctx)
    current = bases[-1] if bases else {}
    if not index.entries:
        return Found(index.url, False, None, current)
    entry = channel.newest(index)
    return Found(index.url, channel.is_newer(entry.sha256, entry.version, bases), _entry_dict(entry), current)


def download_only(ctx: Context, request: Request) -> StagedResult:
    """Download and verify an image (the channel's newest, or request.image) into staging."""
    cfg, trust = _trust(ctx)
    _refuse_dry(ctx)
    if request.image and not _is_remote(request.image):
        raise ImgbaseError(f"{request.image} is already local: apply it with `imgbase update {request.image}`")
    if request.image:
        return _deliver_url(ctx, trust, request)
    index = channel.fetch_index(ctx.runner, _channel_url(cfg), trust, request.allow_unverified)
    if not index.entries:
        raise ImgbaseError(f"{index.url} lists no image; nothing to download")
    return _deliver_entry(ctx, trust, channel.newest(index), request)


def prepare(ctx: Context, request: Request, from_downloaded: bool = False, dry_run: bool = False) -> Prepared:
    """The local image the update applies, verified, with its origin; or up to date."""
    cfg, trust = _trust(ctx)
    if from_downloaded:
        if request.image:
            raise ImgbaseError("--from-downloaded takes no IMAGE: it applies the newest staged image")
        staged = _newest_staged(ctx)
        if staged is None:
            raise ImgbaseError(f"no downloaded image newer than every base in {staging.staging_dir()}; "
                               "download one with `imgbase update --download-only`")
        return _from_staged(ctx, trust, staged)
    if request.image and not _is_remote(request.image):
        return _local(ctx, trust, request)
    if dry_run or ctx.runner.dry:
        raise ImgbaseError("a dry run does not download: run `imgbase update --download-only` first, then "
                           "`imgbase update --dry-run --from-downloaded`")
    if request.image:
        return _just_delivered(ctx, trust, _deliver_url(ctx, trust, request))
    staged = _newest_staged(ctx)
    if staged is not None:  # downloaded earlier (--download-only): no network needed
        return _from_staged(ctx, trust, staged)
    index = channel.fetch_index(ctx.runner, _channel_url(cfg), trust, request.allow_unverified)
    entry = channel.newest(index) if index.entries else None
    if entry is None or not channel.is_newer(entry.sha256, entry.version, _bases(ctx)):
        shown = f"{entry.name} version {entry.version}" if entry else "no image"
        return Prepared(up_to_date=True, note=f"up to date: {index.url} lists {shown}, not newer than every base",
                        details={"channel": index.url})
    return _just_delivered(ctx, trust, _deliver_entry(ctx, trust, entry, request))


def _is_remote(image: str) -> bool:
    """Whether image is a URL to download (not a path or file:// URL)."""
    return _local_path(image) is None


def _local_path(image: str) -> Path | None:
    """The file image names: a plain path as it is (even with '#' or '?'), or a file:// URL's path."""
    return Path(image) if "://" not in image else fetch.local_path(image)


def _refuse_dry(ctx: Context) -> None:
    """A download writes the staging directory: not under --dry."""
    if ctx.runner.dry:
        raise ImgbaseError("--dry does not download; run without it to stage the image")


def _newest_staged(ctx: Context) -> staging.Staged | None:
    """The newest complete download that is newer than every base, if any."""
    directory = staging.staging_dir(ctx.runner)
    bases = _bases(ctx)
    fresh = [s for s in staging.list_staged(directory) if channel.is_newer(s.sha256, s.version, bases)]
    return staging.newest(fresh, channel.compare_versions)


def _fetch_signature(url: str | None, work: Path) -> Path | None:
    """The detached signature at url (a local copy), or None when there is none."""
    if not url:
        return None
    return channel.fetch_small(url, work, channel.SIGNATURE_LIMIT, "signature")


def _deliver_entry(ctx: Context, trust: signature.Trust, entry: channel.Entry, request: Request) -> StagedResult:
    """Download a channel image into staging, checking its size, sha256 and signature in one read."""
    return _deliver(ctx, trust, entry.url, entry.name, entry.version, entry.signature, request,
                    entry.sha256, entry.size)


def _deliver_url(ctx: Context, trust: signature.Trust, request: Request) -> StagedResult:
    """Download an image named by URL into staging (its signature: --signature, else URL.sig)."""
    url = request.image or ""
    name = Path(urllib.parse.urlsplit(url).path).name
    if not name:
        raise ImgbaseError(f"{url} names no file; give the image's URL")
    sig_url = signature.signature_url(url, request.signature, trust)
    expected = _bare(request.checksum) if request.checksum else None
    return _deliver(ctx, trust, url, name, "", sig_url, request, expected, None)


def _bare(checksum: str) -> str:
    """The hex digest of a --checksum value."""
    return image.parse_checksum(checksum)


def _deliver(ctx: Context, trust: signature.Trust, url: str, name: str, version: str, sig_url: str | None,
             request: Request, sha256: str | None, size: int | None) -> StagedResult:
    """Fetch the signature, then the image into staging (resumable), then record it."""
    _refuse_dry(ctx)
    directory = staging.staging_dir(ctx.runner)
    staging.check_name(name)
    done = next((s for s in staging.list_staged(directory) if s.name == name and sha256 in (None, s.sha256)
                 and s.url == url), None)
    if done is not None:  # downloaded before: the apply re-verifies it
        return StagedResult(done, {"url": url, "already_staged": True})
    with tempfile.TemporaryDirectory(prefix="imgbased-sig-") as tmp:
        sig = _fetch_signature(sig_url, Path(tmp))
        verifier = signature.verifier_factory(ctx.runner, trust, sig, url)
        if verifier is None and sha256 is None and urllib.parse.urlsplit(url).scheme == "http" \
                and not request.allow_unverified:
            raise ImgbaseError(f"{url} is plain http with neither a checksum nor a checked signature: anything "
                               "on the way can change it; add --checksum=sha256:HEX or a signature, serve it "
                               "over https, or pass --allow-unverified")
        progress = Progress(name) if request.progress else None
        got = download.download(url, directory / name, expected_sha256=sha256, expected_size=size,
                                verifier=verifier, progress=progress)
        sig_bytes = sig.read_bytes() if (sig is not None and verifier is not None) else None
    staged = staging.save(ctx.runner, directory, name, url=url, version=version or _version_of(got.sha256),
                          sha256=got.sha256, size=got.size, signature=sig_bytes, signer=got.signer)
    return StagedResult(staged, got.as_json())


def _version_of(sha256: str) -> str:
    """A version for an image given by URL alone (no channel): unversioned, named by its digest."""
    return channel.UNVERSIONED + sha256[:12]


def _just_delivered(ctx: Context, trust: signature.Trust, result: StagedResult) -> Prepared:
    """The image this run downloaded (verified in that read), or one staged before (re-verified now)."""
    return _from_staged(ctx, trust, result.staged, verified=not result.download.get("already_staged"))


def _from_staged(ctx: Context, trust: signature.Trust, staged: staging.Staged, verified: bool = False) -> Prepared:
    """A staged image as the update's input; re-read once (hash and signature) unless just downloaded."""
    sha256, signer = staged.sha256, staged.signer
    if not verified:
        sig = staged.directory / staged.signature if staged.signature else None
        verifier = signature.verifier_factory(ctx.runner, trust, sig, str(staged.path))
        got = download.download(_local_url(staged.path), staged.path, expected_sha256=staged.sha256,
                                expected_size=staged.size, verifier=verifier)
        sha256, signer = got.sha256, got.signer
    origin = Origin(sha256, origin_tags(staged.name, staged.version))
    signed = f", signature by {signer} checked" if signer else ""
    return Prepared(staged.path, None, origin, note=f"{staged.name} version {staged.version}{signed}",
                    details={"staged": staged.as_json()})


def _local(ctx: Context, trust: signature.Trust, request: Request) -> Prepared:
    """A local image: its signature checked in the same read as its hash when the policy asks."""
    path = _local_path(request.image or "") or Path(request.image or "")
    sig = Path(request.signature) if request.signature else Path(f"{path}{channel.SIGNATURE_SUFFIX}")
    signed = sig.is_file() and not path.is_dir()
    if request.signature and not sig.is_file():
        raise ImgbaseError(f"signature {request.signature}: no such file")
    verifier = signature.verifier_factory(ctx.runner, trust, sig if signed else None, str(path))
    if verifier is None:
        return Prepared(path, request.checksum)
    got = download.download(_local_url(path), path,
                            expected_sha256=_bare(request.checksum) if request.checksum else None, verifier=verifier)
    return Prepared(path, None, Origin(got.sha256, origin_tags(path.name, None)),
                    note=f"{path.name}: signature by {got.signer} checked")


def _local_url(path: Path) -> str:
    """path as download() reads it back: itself, or a file:// URL when it has URL characters (#, ?, %)."""
    return str(path) if fetch.local_path(str(path)) == path else path.absolute().as_uri()


def origin_tags(name: str, version: str | None) -> tuple[str, ...]:
    """The LV tags naming where a base's image came from (lvm2's tag characters only)."""
    tags = [f"imgbased:source={_TAG_UNSAFE.sub('_', name)[:200]}"]
    if version:
        tags.append(f"imgbased:version={_TAG_UNSAFE.sub('_', version)[:120]}")
    return tuple(tags)
