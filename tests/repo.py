# SPDX-License-Identifier: GPL-2.0-or-later
"""Where the checkout is, for tests that read the repository's own files."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
