# SPDX-License-Identifier: GPL-2.0-or-later
"""The payload of an imgbased install: --liveimg on the %addon line or the liveimg command, nothing else.

``resolve_payload`` works on any pykickstart handler (the full one of ``parse_kickstart``, or the
smaller one of anaconda's kickstart specification, which has only the commands it lists:
``payload_command_classes``).  A payload command that is not a liveimg (``url``, ``ostreesetup``,
``cdrom``...) is refused with its line, because imgbased needs a whole file-system image.  A
plain-http liveimg is refused too unless a checksum or a certain signature check
(``integrity_problem``) proves it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from pykickstart.version import DEFAULT_VERSION

from org_ovirt_imgbased.host import fetch
from org_ovirt_imgbased.installer.kickstart import values as kv
from org_ovirt_imgbased.installer.kickstart.config import ADDON_NAME, AddonConfig, KickstartLineError

# Payload commands that are not a liveimg: refused, with their line.
OTHER_PAYLOADS = ("url", "cdrom", "harddrive", "nfs", "hmc", "ostreesetup", "ostreecontainer", "bootc")


@dataclass
class PayloadSource:
    """Where the payload came from: --liveimg on the header or the liveimg command."""

    url: str
    checksum: str | None
    lineno: int | None
    origin: str  # "addon" (--liveimg) or "liveimg" (the command)
    proxy: str | None = None
    noverifyssl: bool = False



def integrity_problem(url: str, checksum: str | None, signed: bool) -> str | None:
    """Why url cannot be installed as it is (host.fetch's rule), unless a signature check vouches for it."""
    problem = None if signed else fetch.integrity_problem(url, checksum)
    return f"{problem}, or sign it (%addon {ADDON_NAME} --signature=URL)" if problem else None


def payload_command_classes(version: int = DEFAULT_VERSION) -> dict[str, type]:
    """pykickstart's classes of liveimg and the other payload commands, for a kickstart specification."""
    from pykickstart.handlers.control import commandMap

    commands = commandMap[version]
    return {name: commands[name] for name in ("liveimg", *OTHER_PAYLOADS) if name in commands}


def resolve_payload(section: AddonConfig, header_lineno: int | None, handler: Any,
                    source: str = "kickstart") -> tuple[AddonConfig, PayloadSource]:
    """Find the liveimg payload (--liveimg or the liveimg command) and refuse other payloads.

    handler is any pykickstart handler; commands it does not have are treated as absent.
    Returns the section with liveimg_url/checksum filled in, and where they came from.
    """
    for name in OTHER_PAYLOADS:
        cmd = getattr(handler, name, None)
        if cmd is not None and getattr(cmd, "seen", False):
            raise KickstartLineError(cmd.lineno, f"the {name} payload cannot be used with %addon {ADDON_NAME}: "
                                     "it needs a liveimg (liveimg --url=URL, or --liveimg=URL)", source)
    live = getattr(handler, "liveimg", None)
    live = live if live is not None and getattr(live, "seen", False) else None
    if live is not None:
        payload = _from_liveimg_command(live, source)
        if section.liveimg_url:
            payload = _merge_addon_payload(section, header_lineno, payload, source)
    elif section.liveimg_url:
        payload = PayloadSource(section.liveimg_url, section.checksum, header_lineno, "addon")
    else:
        raise KickstartLineError(header_lineno, "no payload: add --liveimg=URL to this %addon line "
                                                "or a 'liveimg --url=URL' command", source)
    problem = integrity_problem(payload.url, payload.checksum, section.signature_certain)
    if problem:
        raise KickstartLineError(payload.lineno, problem, source)
    return dataclasses.replace(section.copy(), liveimg_url=payload.url, checksum=payload.checksum), payload


def _from_liveimg_command(live: Any, source: str) -> PayloadSource:
    """Check the liveimg command's URL and checksum."""
    try:
        url = kv.check_liveimg_url(live.url or "")
        checksum = kv.parse_checksum(live.checksum) if live.checksum else None
    except ValueError as exc:
        raise KickstartLineError(live.lineno, f"liveimg: {exc}", source) from None
    return PayloadSource(url, checksum, live.lineno, "liveimg", live.proxy or None, bool(live.noverifyssl))


def _merge_addon_payload(section: AddonConfig, header_lineno: int | None, live: PayloadSource,
                         source: str) -> PayloadSource:
    """Both --liveimg and the liveimg command: fine only if they agree."""
    if live.url != section.liveimg_url:
        raise KickstartLineError(live.lineno, f"liveimg --url={live.url} and --liveimg={section.liveimg_url} "
                                              f"(line {header_lineno}) name different payloads; keep one", source)
    if live.checksum and section.checksum and live.checksum != section.checksum:
        raise KickstartLineError(live.lineno, f"the liveimg checksum differs from --checksum on line "
                                              f"{header_lineno}; keep one", source)
    return dataclasses.replace(live, checksum=section.checksum or live.checksum, origin="addon",
                               lineno=header_lineno)
