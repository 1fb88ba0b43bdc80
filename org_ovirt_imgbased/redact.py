# SPDX-License-Identifier: GPL-2.0-or-later
"""Credentials never reach a log or a message: the userinfo of a URL (``user:pass@``) is masked.

The one helper: ImgbaseError masks its message and detail, the CLIs' log handler masks every
record, and the command runner masks the command lines it logs.
"""

from __future__ import annotations

import logging
import re

#: scheme://userinfo@ : the userinfo is everything up to the last '@' before the host part ends.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^\s/?#]*@)")
MASK = "***@"


def redact(text: str) -> str:
    """text with the userinfo of every URL in it replaced by ***."""
    return _USERINFO.sub(lambda m: m.group("scheme") + MASK, text) if "@" in text else text


class RedactFilter(logging.Filter):
    """A log filter that masks URL credentials in the formatted message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the record's message by its redacted form; never drops a record."""
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
