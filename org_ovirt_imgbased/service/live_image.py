# SPDX-License-Identifier: GPL-2.0-or-later
"""The liveimg anaconda's Payloads module will install: read it, or set it from the spoke.

anaconda owns the payload: the kickstart's ``liveimg`` command configures its live-image
source, and anaconda downloads, verifies and copies it.  The addon's tasks read the source's
URL and checksum when they run (the spoke may have changed them since the kickstart was read);
the text spoke sets them where anaconda keeps them.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyanaconda.core.constants import PAYLOAD_TYPE_LIVE_IMAGE, SOURCE_TYPE_LIVE_IMAGE
from pyanaconda.modules.common.constants.services import PAYLOADS
from pyanaconda.modules.common.structures.live_image import LiveImageConfigurationData

from org_ovirt_imgbased.errors import ImgbaseError


@dataclass(frozen=True)
class LiveImage:
    """The liveimg source anaconda will install from."""

    url: str
    checksum: str | None


def _source_proxy():
    """The D-Bus proxy of the active payload's live-image source, or None."""
    payloads = PAYLOADS.get_proxy()
    path = payloads.ActivePayload
    if not path:
        return None
    payload = PAYLOADS.get_proxy(path)
    if payload.Type != PAYLOAD_TYPE_LIVE_IMAGE:
        return None
    for source_path in payload.Sources:
        source = PAYLOADS.get_proxy(source_path)
        if source.Type == SOURCE_TYPE_LIVE_IMAGE:
            return source
    return None


def current() -> LiveImage | None:
    """The liveimg anaconda will install, or None when its payload is not a live image."""
    source = _source_proxy()
    if source is None:
        return None
    data = LiveImageConfigurationData.from_structure(source.Configuration)
    return LiveImage(data.url, data.checksum or None) if data.url else None


def set_current(url: str, checksum: str | None) -> None:
    """Point anaconda's live-image source at url, with checksum (bare sha256 hex) or none."""
    source = _source_proxy()
    if source is None:
        raise ImgbaseError("anaconda's payload is not a live image: add `liveimg --url=URL` to the kickstart")
    data = LiveImageConfigurationData.from_structure(source.Configuration)
    data.url = url
    data.checksum = checksum or ""
    source.Configuration = LiveImageConfigurationData.to_structure(data)
