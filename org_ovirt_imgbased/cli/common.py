# SPDX-License-Identifier: GPL-2.0-or-later
"""What every command-line front-end shares: result shapes, common options, logging, exit status.

``imgbase`` (cli/) and ``imgbase-install`` (installer/cli.py) both use this, so both keep one
exit-status contract: an expected failure (ImgbaseError) is one line on stderr and exit 1,
an interrupt is exit 130, anything else is one line and exit 70 (a traceback with --debug).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import traceback
from collections.abc import Callable
from typing import Any, Optional

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.redact import RedactFilter, redact

#: What a verb handler returns: (JSON-ready data, text), or None for nothing to print; a third
#: item, when present, is the exit status of a verb whose answer is its status (update --check).
Result = Optional[tuple[Any, ...]]

#: The package logger: every module logs to a child of it (logging.getLogger(__name__)).
log = logging.getLogger("org_ovirt_imgbased")


class ReportedFailure(ImgbaseError):
    """The verb already printed its report; the message is the one-line summary of what failed."""


def json_flag(p: argparse.ArgumentParser) -> None:
    """Add the --json option."""
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def one_of(p: argparse.ArgumentParser, required: bool = True) -> argparse._MutuallyExclusiveGroup:
    """A group of mutually exclusive actions."""
    return p.add_mutually_exclusive_group(required=required)


def print_result(data: Any, text: str, as_json: bool) -> None:
    """Print a result: JSON with --json, else its text."""
    print(json.dumps(data, indent=2, sort_keys=True) if as_json else text, flush=True)


def setup_logging(prog: str, debug: bool) -> None:
    """Send imgbased's log to stderr as `prog: message`; other libraries' logs only on errors."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{prog}: %(message)s"))
    handler.addFilter(RedactFilter())  # no URL credentials in any log line
    for old in list(log.handlers):  # idempotent: main() may run more than once in a process
        log.removeHandler(old)
    log.addHandler(handler)
    log.setLevel(logging.DEBUG if debug else logging.WARNING)
    log.propagate = False
    logging.basicConfig(level=logging.ERROR, format=f"{prog}: %(name)s: %(message)s", stream=sys.stderr)
    for other in logging.getLogger().handlers:
        if not any(isinstance(f, RedactFilter) for f in other.filters):
            other.addFilter(RedactFilter())


def guarded(prog: str, debug: bool, body: Callable[[], int]) -> int:
    """Run a CLI body: expected errors as one line (exit 1), others without a traceback unless debug."""
    try:
        return body()
    except ImgbaseError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        if debug and exc.detail:
            print(exc.detail.rstrip(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - last resort: one line, the traceback only with --debug
        print(f"{prog}: internal error: {type(exc).__name__}: {redact(str(exc))} (rerun with --debug for "
              "details)", file=sys.stderr)
        if debug:
            traceback.print_exc()
        return 70
