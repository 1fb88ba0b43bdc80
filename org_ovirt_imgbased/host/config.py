# SPDX-License-Identifier: GPL-2.0-or-later
"""Reading ``/etc/imgbased.conf``: retention, update source and policies, persist list, pool limit.

The file is INI style (configparser, no interpolation, keys case-insensitive)::

    [gc]
    keep = 2                    # bases to keep, a whole number >= 1

    [update]
    conflict-policy = keep-local  # or keep-new
    channel = https://updates.example.org/imgbased/   # the channel `imgbase update` reads:
                                # an http, https or file URL, or an absolute path
    signature = required        # or if-present, off; unset: required when a key is in
                                # /etc/imgbased/trusted.d, else off

    [persist]
    paths = /root/.ssh          # absolute paths or globs, separated by spaces or newlines;
            "/srv/my files"     # quote a path that contains spaces

    [pool]
    max-fill-percent = 90       # safe thin pool fill level, 50..99

    [hooks]
    timeout = 300               # seconds a hook may run before it is killed, 1..86400

``#`` starts a comment, also after a value (after whitespace).  A missing file gives the
defaults.  Unknown sections and keys are refused (a typo such as ``kep = 3`` must not be
ignored silently), as is every bad value; the error names the file, the section, the key and
what is accepted.
"""

from __future__ import annotations

import configparser
import re
import shlex
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from org_ovirt_imgbased import defaults
from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host import channel, signature

DEFAULT_CONFIG_PATH = defaults.CONFIG_PATH
DEFAULT_GC_KEEP = defaults.KEEP
CONFLICT_POLICIES = ("keep-local", "keep-new")
DEFAULT_CONFLICT_POLICY = "keep-local"
DEFAULT_PERSIST_PATHS: tuple[str, ...] = ()
DEFAULT_MAX_FILL_PERCENT = 90
MIN_FILL_PERCENT = 50
MAX_FILL_PERCENT = 99
DEFAULT_HOOK_TIMEOUT = 300
MAX_HOOK_TIMEOUT = 86400
# Top-level directories a persist path may not name: pseudo filesystems, and /boot, which is
# shared by every layer anyway.
FORBIDDEN_PERSIST_TOPS = ("proc", "sys", "dev", "run", "boot")

KNOWN_KEYS = {
    "gc": ("keep",),
    "update": ("conflict-policy", "channel", "signature"),
    "persist": ("paths",),
    "pool": ("max-fill-percent",),
    "hooks": ("timeout",),
}
_INT_RX = re.compile(r"[0-9]{1,9}")
# configparser would copy the keys of [DEFAULT] into every section; imgbased has no such section.
_NO_DEFAULT_SECTION = "imgbased: no default section"


@dataclass(frozen=True)
class Config:
    """The settings imgbased reads from its configuration file."""

    gc_keep: int = DEFAULT_GC_KEEP
    conflict_policy: str = DEFAULT_CONFLICT_POLICY
    persist_paths: tuple[str, ...] = DEFAULT_PERSIST_PATHS
    max_fill_percent: int = DEFAULT_MAX_FILL_PERCENT
    hook_timeout: int = DEFAULT_HOOK_TIMEOUT
    channel: str | None = None
    signature_policy: str | None = None
    source: str = ""


def load_config(path: Path = DEFAULT_CONFIG_PATH) -> Config:
    """Read the configuration file; a missing file gives the defaults."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Config(source=str(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise ImgbaseError(f"cannot read {path}: {exc}; fix the file or its permissions") from None
    return parse_config(text, str(path))


def parse_config(text: str, source: str = str(DEFAULT_CONFIG_PATH)) -> Config:
    """Parse configuration text; source names the file in error messages."""
    parser = configparser.ConfigParser(interpolation=None, strict=True, inline_comment_prefixes=("#",),
                                       default_section=_NO_DEFAULT_SECTION)
    try:
        parser.read_string(text, source=source)
    except configparser.Error as exc:
        reason = " ".join(str(exc).split())
        raise ImgbaseError(f"{source}: syntax error: {reason}; use INI syntax ([section] and key = value)") \
            from None
    _check_known(parser, source)
    return Config(
        gc_keep=_int_value(parser, source, "gc", "keep", DEFAULT_GC_KEEP, 1, None),
        conflict_policy=_policy_value(parser, source),
        persist_paths=_persist_value(parser, source),
        max_fill_percent=_int_value(parser, source, "pool", "max-fill-percent", DEFAULT_MAX_FILL_PERCENT,
                                    MIN_FILL_PERCENT, MAX_FILL_PERCENT),
        hook_timeout=_int_value(parser, source, "hooks", "timeout", DEFAULT_HOOK_TIMEOUT, 1, MAX_HOOK_TIMEOUT),
        channel=_channel_value(parser, source),
        signature_policy=_signature_value(parser, source),
        source=source,
    )


def _check_known(parser: configparser.ConfigParser, source: str) -> None:
    """Refuse sections and keys imgbased does not know."""
    for section in parser.sections():
        if section not in KNOWN_KEYS:
            raise ImgbaseError(f"{source}: unknown section [{section}]; known sections: "
                               f"{', '.join('[' + s + ']' for s in KNOWN_KEYS)}")
        for key in parser.options(section):
            if key not in KNOWN_KEYS[section]:
                raise ImgbaseError(f"{source}: unknown key [{section}] {key}; known keys in "
                                   f"[{section}]: {', '.join(KNOWN_KEYS[section])}")


def _raw(parser: configparser.ConfigParser, section: str, key: str) -> str | None:
    """The stripped value of a key, or None when it is not set."""
    if not parser.has_option(section, key):
        return None
    return parser.get(section, key).strip()


def _int_value(parser: configparser.ConfigParser, source: str, section: str, key: str, default: int,
               low: int, high: int | None) -> int:
    """A whole number within [low, high] (high None: no upper limit)."""
    raw = _raw(parser, section, key)
    if raw is None:
        return default
    accepted = f"a whole number from {low} to {high}" if high is not None else \
        f"a whole number of {low} or more"
    value = int(raw) if _INT_RX.fullmatch(raw) else None
    if value is None or value < low or (high is not None and value > high):
        raise ImgbaseError(f"{source}: [{section}] {key} = {raw!r} is not valid; use {accepted} "
                           f"(default {default})")
    return value


def _policy_value(parser: configparser.ConfigParser, source: str) -> str:
    """The /etc conflict policy."""
    raw = _raw(parser, "update", "conflict-policy")
    if raw is None:
        return DEFAULT_CONFLICT_POLICY
    if raw not in CONFLICT_POLICIES:
        raise ImgbaseError(f"{source}: [update] conflict-policy = {raw!r} is not valid; use "
                           f"{' or '.join(CONFLICT_POLICIES)} (default {DEFAULT_CONFLICT_POLICY})")
    return raw


def _channel_value(parser: configparser.ConfigParser, source: str) -> str | None:
    """The default update channel: an http, https or file URL, or an absolute path."""
    raw = _raw(parser, "update", "channel")
    if raw is None:
        return None
    problem = channel.url_problem(raw)
    if not problem and not urllib.parse.urlsplit(raw).scheme and not raw.startswith("/"):
        problem = "is neither a URL nor an absolute path"
    if problem:
        raise ImgbaseError(f"{source}: [update] channel = {raw!r} {problem}; use an http://, https:// or "
                           "file:// URL or an absolute path (default: none)")
    return raw


def _signature_value(parser: configparser.ConfigParser, source: str) -> str | None:
    """The signature policy; None leaves the default (required when a key is trusted, else off)."""
    raw = _raw(parser, "update", "signature")
    if raw is not None and raw not in signature.POLICIES:
        raise ImgbaseError(f"{source}: [update] signature = {raw!r} is not valid; use "
                           f"{', '.join(signature.POLICIES)} (default: required when a key is trusted, else off)")
    return raw


def _persist_value(parser: configparser.ConfigParser, source: str) -> tuple[str, ...]:
    """The persist list: absolute paths or globs, shell-style quoting allowed."""
    raw = _raw(parser, "persist", "paths")
    if raw is None:
        return DEFAULT_PERSIST_PATHS
    try:
        items = shlex.split(raw, comments=False, posix=True)
    except ValueError as exc:
        raise ImgbaseError(f"{source}: [persist] paths: {exc}; close the quote or remove it") from None
    for item in items:
        problem = persist_path_problem(item)
        if problem:
            raise ImgbaseError(f"{source}: [persist] paths: {item!r} {problem}")
    return tuple(dict.fromkeys(items))


def persist_path_problem(item: str) -> str:
    """Why item cannot be a persist path (empty string when it is fine)."""
    accepted = "use absolute paths or globs such as /root/.ssh or /etc/ssh/ssh_host_*"
    if not item.startswith("/"):
        return f"is not an absolute path; {accepted}"
    parts = [p for p in item.split("/") if p]
    if not parts:
        return f"would persist the whole root; {accepted}"
    if ".." in parts or "." in parts:
        return f"contains '.' or '..'; {accepted} without them"
    if parts[0] in FORBIDDEN_PERSIST_TOPS:
        return (f"is under /{parts[0]}, which is never persisted; {accepted} outside "
                f"{', '.join('/' + t for t in FORBIDDEN_PERSIST_TOPS)}")
    if "\0" in item:
        return f"contains a NUL byte; {accepted}"
    return ""
