# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared pytest set-up: make the checkout importable without installing it."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "image-tools"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
