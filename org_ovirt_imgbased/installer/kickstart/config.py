# SPDX-License-Identifier: GPL-2.0-or-later
"""The ``%addon org_ovirt_imgbased`` kickstart section: parse, validate, write back.

Syntax (one header line, then body lines, then ``%end``)::

    %addon org_ovirt_imgbased [--vg=HostVG] [--pool=pool00] [--disk=vda] [--boot-size=1GiB]
           [--pool-size=SIZE | --grow] [--base-size=SIZE] [--liveimg=URL [--checksum=sha256:HEX]]
           [--signature=URL] [--signature-policy=required|if-present|off] [--keep=2] [--no-layout]
    volume /var 5GiB
    volume /var/log 8GiB
    persist /root/.ssh
    %end

Header options (each at most once):

``--vg``, ``--pool``
    LVM names of the volume group and thin pool (defaults HostVG, pool00).
``--disk``
    the target disk, as a kernel name (``vda``) or a ``/dev/...`` path.  Without it the caller
    chooses (``imgbase-install --disk``, or the text UI).
``--boot-size``
    the /boot partition (default 1GiB, at least 256MiB).
``--pool-size`` / ``--grow``
    a fixed thin pool size, or grow the pool over the free space (the default).  Not both.
``--base-size``
    the virtual size of each Base LV (default: chosen by the installer from the image).
``--liveimg``, ``--checksum``
    the payload: a liveimg (squashfs with ``LiveOS/rootfs.img``, or an ext4 image) as an
    http(s) or file URL or an absolute path, and its ``sha256:HEX`` (bare hex is accepted).
    Without ``--liveimg`` the standard ``liveimg --url=URL [--checksum=HEX]`` command of the
    same kickstart is used.  Any other payload command (``url``, ``ostreesetup``, ``cdrom``...)
    is an error: imgbased needs a whole-filesystem image.
``--signature``
    the liveimg's detached OpenPGP signature (binary or armored ``gpg --detach-sign`` output), as
    an http(s) or file URL or an absolute path.  The signature is checked in the same read as the
    checksum, before the disk is touched (``imgbase-install``: while it downloads the image;
    anaconda: in the addon's check before storage is written), against the keys in
    ``/etc/imgbased/trusted.d`` of the system that installs (inside anaconda: the installer's
    environment, from its root or an updates image); a missing, bad or untrusted signature stops
    the installation.  Without ``--signature`` no signature is read, unless the policy checks
    signatures: then ``LIVEIMG-URL.sig`` is, as ``imgbase update`` does.
``--signature-policy``
    ``required`` (the image must carry a good signature by a trusted key), ``if-present`` (check
    it when there is one) or ``off``.  The default is ``required`` with ``--signature``, else
    ``required`` when the installing system has a trusted key, else ``off``.  ``--signature``
    with ``off`` is an error.  A plain-http liveimg without a checksum is refused unless the
    section makes a signature check certain (``--signature`` or ``--signature-policy=required``).
``--keep``
    how many bases ``imgbase gc`` keeps (default 2, at least 1).
``--no-layout``
    do not partition the disk or create the VG and pool: they exist already (made by other
    kickstart commands or by hand); only deploy into them.

Body lines: ``volume MOUNTPOINT SIZE`` (a thin data volume; not on ``/`` nor on a part of the
image such as /usr, /etc or /boot; each mount point and LV name once) and ``persist PATH`` (a path
carried into every new layer on update).  Blank lines and ``#`` comments are ignored.  Sizes are
described in values.py (``512MiB``, ``1G``, ``1.5GiB``; a plain number is MiB).

Every error is a ``KickstartLineError``: an ``ImgbaseError`` whose one-line message starts with
``<file> line N:``, and at the same time a pykickstart ``KickstartParseError`` (``lineno``,
``message``) so that pykickstart and anaconda report it like their own errors.

``section.parse_kickstart`` reads a whole kickstart with pykickstart's real parser; our section class
replaces pykickstart's ``NullSection`` for ``%addon`` and hands every other addon to a
``NullSection``, so those are kept as pykickstart keeps them.  ``ksvalidator`` (which knows only
the ``NullSection``) accepts the same files.  The payload rules are in payload.py, the value
rules in values.py; this module is the model (``AddonConfig``) and how it is written back.
"""

from __future__ import annotations

import dataclasses
import shlex
from dataclasses import dataclass, field

from pykickstart.errors import KickstartParseError

from org_ovirt_imgbased import defaults
from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.installer.kickstart import values as kv
from org_ovirt_imgbased.redact import redact

ADDON_NAME = "org_ovirt_imgbased"
class KickstartLineError(ImgbaseError, KickstartParseError):
    """A kickstart problem on one line: ImgbaseError for our code, KickstartParseError for pykickstart."""

    def __init__(self, lineno: int | None, reason: str, source: str = "kickstart", text: str | None = None) -> None:
        """Say where (source, line) and what is wrong, in one line; text quotes the line itself.

        anaconda prints a module's kickstart error without its line number, so the message
        quotes the line (``text``) when the caller knows it.
        """
        where = f"{source} line {lineno}" if lineno else source
        if text:
            reason = f"{reason} (in `{text}`)"
        ImgbaseError.__init__(self, f"{where}: {reason}")
        self.value = redact(f"{where}: {reason}")
        self.lineno = lineno
        self.message = redact(reason)


@dataclass
class AddonConfig:
    """The content of one %addon org_ovirt_imgbased section (sizes in bytes)."""

    vg: str = defaults.VG
    pool: str = defaults.POOL
    disk: str | None = None
    boot_size: int = defaults.BOOT_SIZE
    pool_size: int | None = None
    base_size: int | None = None
    liveimg_url: str | None = None
    checksum: str | None = None
    signature: str | None = None
    signature_policy: str | None = None  # None: required with a signature, else the trust's default rule
    keep: int = defaults.KEEP
    no_layout: bool = False
    volumes: list[tuple[str, int]] = field(default_factory=list)
    persist: list[str] = field(default_factory=list)

    @property
    def grow(self) -> bool:
        """True when the pool grows over the free space (no fixed --pool-size)."""
        return self.pool_size is None

    @property
    def signature_certain(self) -> bool:
        """Whether the section makes the install check a signature or stop (--signature, or policy required)."""
        return bool(self.signature) or self.signature_policy == "required"

    def copy(self) -> AddonConfig:
        """A deep copy that can be edited without touching this one."""
        return dataclasses.replace(self, volumes=list(self.volumes), persist=list(self.persist))

    def header_args(self) -> list[str]:
        """The header options, in the order to_kickstart writes them."""
        args = [f"--vg={self.vg}", f"--pool={self.pool}"]
        if self.disk:
            args.append(f"--disk={self.disk}")
        args.append(f"--boot-size={kv.format_size(self.boot_size)}")
        args.append("--grow" if self.grow else f"--pool-size={kv.format_size(self.pool_size)}")
        if self.base_size is not None:
            args.append(f"--base-size={kv.format_size(self.base_size)}")
        if self.liveimg_url:
            args.append(f"--liveimg={self.liveimg_url}")
        if self.checksum:
            args.append(f"--checksum={self.checksum}")
        if self.signature:
            args.append(f"--signature={self.signature}")
        if self.signature_policy:
            args.append(f"--signature-policy={self.signature_policy}")
        args.append(f"--keep={self.keep}")
        if self.no_layout:
            args.append("--no-layout")
        return args

    def body_lines(self) -> list[str]:
        """The volume and persist lines, without newlines."""
        lines = [f"volume {shlex.quote(mp)} {kv.format_size(size)}" for mp, size in self.volumes]
        return lines + [f"persist {shlex.quote(path)}" for path in self.persist]

    def to_kickstart(self) -> str:
        """The %addon section text; reading it back gives an equal AddonConfig."""
        header = " ".join(["%addon", ADDON_NAME, *(shlex.quote(arg) for arg in self.header_args())])
        return "\n".join([header, *self.body_lines(), "%end"]) + "\n"


