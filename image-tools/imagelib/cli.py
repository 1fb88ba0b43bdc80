# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared command-line plumbing for the image-tools executables."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from .common import ImgbaseError


def make_parser(prog: str, doc: str, usage: str | None = None) -> argparse.ArgumentParser:
    """Return an argument parser whose --help shows the tool's docstring."""
    return argparse.ArgumentParser(prog=prog, description=doc, usage=usage,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def run_main(prog: str, body: Callable[[], int]) -> int:
    """Run body, turning expected failures into a one-line error and exit code 1."""
    try:
        return body()
    except ImgbaseError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
