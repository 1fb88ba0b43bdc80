# SPDX-License-Identifier: GPL-2.0-or-later
"""Reading the ``%addon org_ovirt_imgbased`` section: line by line for anaconda, or a whole kickstart.

``SectionReader`` turns the header and body lines into an ``AddonConfig`` (anaconda's
``AddonData`` feeds it line by line); ``parse_kickstart`` reads a whole kickstart with
pykickstart's real parser, our ``ImgbasedAddonSection`` replacing pykickstart's ``NullSection``
for ``%addon`` and handing every other addon to a ``NullSection``, then resolves the payload
(payload.py).  ``read_section``, ``section_from_lines`` and ``check_config`` are the three ways
in for callers that hold text, lines or a config built in code.
"""

from __future__ import annotations

import os
import re
import shlex
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pykickstart.errors import KickstartError, KickstartParseError
from pykickstart.options import KSOptionParser
from pykickstart.parser import KickstartParser
from pykickstart.sections import NullSection, Section
from pykickstart.version import DEFAULT_VERSION, makeVersion

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host.fetch import read_text_file
from org_ovirt_imgbased.installer.disk.model import lv_name_for
from org_ovirt_imgbased.installer.kickstart import values as kv
from org_ovirt_imgbased.installer.kickstart.config import ADDON_NAME, AddonConfig, KickstartLineError
from org_ovirt_imgbased.installer.kickstart.payload import PayloadSource, resolve_payload

OPTIONS = ("--vg", "--pool", "--disk", "--boot-size", "--pool-size", "--grow", "--base-size",
            "--liveimg", "--checksum", "--signature", "--signature-policy", "--keep", "--no-layout")


class SectionReader:
    """Builds an AddonConfig from a header and body lines, one call per kickstart line."""

    def __init__(self, source: str = "kickstart") -> None:
        """Start with the defaults; source names the file in error messages."""
        self.source = source
        self.header_lineno: int | None = None
        self.config = AddonConfig()
        self._volumes: dict[str, int | None] = {}
        self._lv_names: dict[str, str] = {}
        self._persist: dict[str, int | None] = {}
        self.header_text: str | None = None
        self._current: str | None = None  # the line being read, quoted in errors

    def _fail(self, lineno: int | None, reason: str) -> KickstartLineError:
        """Make the error for a line."""
        return KickstartLineError(lineno, reason, self.source, self._current)

    def header(self, args: list[str], lineno: int | None = None) -> None:
        """Handle the options after ``%addon org_ovirt_imgbased``."""
        self.header_lineno = lineno
        self.header_text = self._current = " ".join(["%addon", ADDON_NAME, *(shlex.quote(a) for a in args)])
        _check_repeats(args, lambda reason: self._fail(lineno, reason))
        try:
            ns = _header_parser().parse_args(args=list(args), lineno=lineno)
        except KickstartLineError:
            raise
        except KickstartParseError as exc:
            raise self._fail(lineno, f"%addon {ADDON_NAME}: {exc.message}") from None
        try:
            _apply_header(self.config, ns)
        except ValueError as exc:
            raise self._fail(lineno, str(exc)) from None

    def line(self, text: str, lineno: int | None = None) -> None:
        """Handle one body line: volume, persist, blank or comment."""
        self._current = text.strip()
        try:
            words = shlex.split(text, comments=True)
        except ValueError as exc:
            raise self._fail(lineno, f"cannot split {text.strip()!r}: {exc}") from None
        if not words:
            return
        if words[0] == "volume":
            self._volume(words[1:], lineno)
        elif words[0] == "persist":
            self._persist_line(words[1:], lineno)
        else:
            raise self._fail(lineno, f"unknown line {text.strip()!r}: expected 'volume MOUNTPOINT SIZE' "
                                     "or 'persist PATH'")

    def _volume(self, words: list[str], lineno: int | None) -> None:
        """Handle ``volume MOUNTPOINT SIZE``."""
        if len(words) != 2:
            raise self._fail(lineno, "volume needs a mount point and a size: volume /var 5GiB")
        try:
            mountpoint = kv.check_mountpoint(words[0])
            size = kv.parse_ks_size(words[1], kv.MIN_VOLUME_SIZE)
        except ValueError as exc:
            raise self._fail(lineno, f"volume: {exc}") from None
        if mountpoint in self._volumes:
            raise self._fail(lineno, f"duplicate volume {mountpoint} (first on line {self._volumes[mountpoint]})")
        name = lv_name_for(mountpoint)
        if name in self._lv_names or name == self.config.pool:
            other = self._lv_names.get(name, f"the pool {self.config.pool}")
            raise self._fail(lineno, f"volume {mountpoint} would get the LV name {name}, already used by {other}")
        if re.match(r"^Base-\d", name):
            raise self._fail(lineno, f"volume {mountpoint} would get the LV name {name}, "
                                     "which looks like an imgbased base")
        self._volumes[mountpoint] = lineno
        self._lv_names[name] = mountpoint
        self.config.volumes.append((mountpoint, size))

    def _persist_line(self, words: list[str], lineno: int | None) -> None:
        """Handle ``persist PATH``."""
        if len(words) != 1:
            raise self._fail(lineno, "persist needs exactly one path: persist /root/.ssh")
        try:
            path = kv.check_persist_path(words[0])
        except ValueError as exc:
            raise self._fail(lineno, f"persist: {exc}") from None
        if path in self._persist:
            raise self._fail(lineno, f"duplicate persist {path} (first on line {self._persist[path]})")
        self._persist[path] = lineno
        self.config.persist.append(path)

    def finish(self) -> AddonConfig:
        """Return the config read so far (called at %end)."""
        return self.config


def _check_repeats(args: list[str], fail) -> None:
    """Refuse an option given twice (argparse would silently keep the last)."""
    seen: set[str] = set()
    for arg in args:
        name = arg.split("=", 1)[0]
        if name in OPTIONS:
            if name in seen:
                raise fail(f"{name} is given twice")
            seen.add(name)


def _header_parser() -> KSOptionParser:
    """The option parser of the %addon header line."""
    op = KSOptionParser(prog=f"%addon {ADDON_NAME}", description="imgbased layout and payload",
                        version=DEFAULT_VERSION, allow_abbrev=False)
    for name in ("--vg", "--pool", "--disk", "--boot-size", "--pool-size", "--base-size",
                 "--liveimg", "--checksum", "--signature", "--signature-policy", "--keep"):
        op.add_argument(name, dest=name[2:].replace("-", "_"), default=None, version=DEFAULT_VERSION,
                        help=name)
    for name in ("--grow", "--no-layout"):
        op.add_argument(name, dest=name[2:].replace("-", "_"), action="store_true", default=False,
                        version=DEFAULT_VERSION, help=name)
    return op


def _apply_header(cfg: AddonConfig, ns: Any) -> None:
    """Check each header value and store it in cfg; raise ValueError naming the option."""
    if ns.pool_size is not None and ns.grow:
        raise ValueError("--pool-size and --grow conflict: give a fixed pool size or --grow, not both")
    if ns.checksum is not None and ns.liveimg is None:
        raise ValueError("--checksum needs --liveimg (the liveimg command takes its own --checksum)")
    if ns.signature is not None and ns.signature_policy == "off":
        raise ValueError("--signature and --signature-policy=off conflict: nothing would check the signature; "
                         "remove one")
    checks = (("vg", lambda v: kv.check_lvm_name(v, "--vg")),
              ("pool", lambda v: kv.check_lvm_name(v, "--pool")),
              ("disk", kv.check_disk),
              ("boot_size", lambda v: kv.parse_ks_size(v, kv.MIN_BOOT_SIZE)),
              ("pool_size", kv.parse_ks_size),
              ("base_size", kv.parse_ks_size),
              ("liveimg", kv.check_liveimg_url),
              ("checksum", kv.parse_checksum),
              ("signature", kv.check_signature_url),
              ("signature_policy", kv.check_signature_policy),
              ("keep", kv.check_keep))
    for attr, check in checks:
        value = getattr(ns, attr)
        if value is None:
            continue
        try:
            setattr(cfg, "liveimg_url" if attr == "liveimg" else attr, check(value))
        except ValueError as exc:
            raise ValueError(f"--{attr.replace('_', '-')}: {exc}") from None
    cfg.no_layout = ns.no_layout


class ImgbasedAddonSection(Section):
    """pykickstart Section for %addon: ours goes to a SectionReader, other addons to a NullSection."""

    sectionOpen = "%addon"
    allLines = True

    def __init__(self, handler, source: str = "kickstart", **kwargs) -> None:
        """Register for %addon; keep a NullSection for the other addons."""
        super().__init__(handler, **kwargs)
        self.source = source
        self._others = NullSection(handler, sectionOpen="%addon")
        self._reader: SectionReader | None = None
        self._lineno = 0
        self.config: AddonConfig | None = None
        self.header_lineno: int | None = None

    def handleHeader(self, lineno, args) -> None:
        """Start our section, or pass another addon's header on."""
        super().handleHeader(lineno, args)
        self._reader = None
        if len(args) < 2:
            raise KickstartLineError(lineno, "%addon needs an addon name", self.source)
        if args[1] != ADDON_NAME:
            self._others.handleHeader(lineno, args)
            return
        if self.header_lineno is not None:
            raise KickstartLineError(lineno, f"a second %addon {ADDON_NAME} section "
                                             f"(the first is on line {self.header_lineno})", self.source)
        self.header_lineno = self._lineno = lineno
        self._reader = SectionReader(self.source)
        self._reader.header(args[2:], lineno)

    def handleLine(self, line) -> None:
        """Count the line and hand it to whoever owns the current section."""
        if self._reader is None:
            self._others.handleLine(line)
            return
        self._lineno += 1
        self._reader.line(line, self._lineno)

    def finalize(self) -> None:
        """At %end: keep our config, or let the NullSection record the other addon."""
        if self._reader is None:
            self._others.finalize()
            return
        self.config = self._reader.finish()
        self._reader = None


@dataclass
class KickstartResult:
    """A parsed kickstart: the effective config, the section as written, the payload."""

    config: AddonConfig  # what to install: the section with the payload filled in
    section: AddonConfig  # exactly what the %addon section says (for writing back)
    payload: PayloadSource | None
    header_lineno: int | None
    handler: Any  # the pykickstart handler with every other command
    warnings: list[str] = field(default_factory=list)

    def to_kickstart(self) -> str:
        """The whole kickstart as pykickstart writes it (with its defaults, such as a bootloader
        line), followed by our section."""
        return f"{self.handler}\n{self.section.to_kickstart()}"


def _load(source: str | os.PathLike, name: str | None) -> tuple[str, str, Path | None]:
    """Return (text, name for messages, path or None); a str with a newline is text, else a path."""
    if isinstance(source, str) and "\n" in source:
        return source, name or "kickstart", None
    path = Path(source)
    return read_text_file(path, "kickstart"), name or path.name, path


def parse_kickstart(text_or_path: str | os.PathLike, *, name: str | None = None,
                    require_payload: bool = True) -> KickstartResult:
    """Parse a kickstart (text, or a path) with pykickstart plus our %addon section.

    A ``str`` containing a newline is kickstart text; any other ``str`` or a Path is a file
    (its %include paths are relative to it).  name replaces the file name in messages.  Raises
    KickstartLineError (an ImgbaseError) naming the line, or ImgbaseError when there is no
    %addon org_ovirt_imgbased section.
    """
    text, name, path = _load(text_or_path, name)
    handler = makeVersion(DEFAULT_VERSION)
    parser = KickstartParser(handler)
    section = ImgbasedAddonSection(handler, source=name)
    parser.registerSection(section)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if path is None:
                parser.readKickstartFromString(text)
            else:
                parser.readKickstart(str(path))
        except KickstartLineError:
            raise
        except KickstartError as exc:
            raise KickstartLineError(exc.lineno, _one_line(exc.message), name) from None
        except UnicodeDecodeError as exc:  # an %include'd file that is not UTF-8
            raise ImgbaseError(f"{name}: an included file is not UTF-8 text ({exc.reason}); "
                               "save it as UTF-8") from None
    notes = [_one_line(str(w.message)) for w in caught if issubclass(w.category, UserWarning)]
    if section.config is None:
        raise ImgbaseError(f"{name} has no %addon {ADDON_NAME} section; add one (see kickstarts/standalone-auto.ks)")
    config, payload = section.config, None
    if require_payload:
        config, payload = resolve_payload(section.config, section.header_lineno, handler, name)
    return KickstartResult(config, section.config, payload, section.header_lineno, handler, notes)


def _one_line(text: Any) -> str:
    """Collapse a pykickstart message onto one line."""
    return " ".join(str(text).split()) or "unreadable kickstart"


def section_from_lines(header_args: list[str], lines: list[str], lineno_offset: int = 1,
                       source: str = "kickstart") -> AddonConfig:
    """Build a config from the header arguments after the addon name and the body lines.

    lineno_offset is the line number of the %addon header; body line i is on
    lineno_offset + 1 + i.  Raises KickstartLineError.
    """
    reader = SectionReader(source)
    reader.header(header_args, lineno_offset)
    for i, line in enumerate(lines):
        reader.line(line, lineno_offset + 1 + i)
    return reader.finish()


def read_section(text: str, source: str = "kickstart") -> AddonConfig:
    """Read the %addon section out of kickstart text (the payload may be absent)."""
    result = parse_kickstart(text if "\n" in text else text + "\n", name=source, require_payload=False)
    return result.section


def check_config(config: AddonConfig) -> None:
    """Validate a config built in code, by writing and reading it back; raise ImgbaseError."""
    again = read_section(config.to_kickstart(), source="settings")
    if again != config:
        raise ImgbaseError("the settings do not survive a kickstart round trip; "
                           "check sizes are whole MiB")
