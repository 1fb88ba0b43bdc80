# SPDX-License-Identifier: GPL-2.0-or-later
"""The service tests import the real anaconda 38.23.4 source tree that image-tools/anaconda-env set up."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.repo import ROOT


def _anaconda_src() -> str:
    """anaconda's source tree in the cache (set up by `make setup`)."""
    out = subprocess.run([str(ROOT / "image-tools/anaconda-env"), "--print"], capture_output=True,
                         text=True, check=True).stdout
    return os.path.join(out.strip().splitlines()[-1], "src")


SRC = _anaconda_src()
sys.path.insert(0, SRC)
os.environ.setdefault("ANACONDA_CONFIG_TMP", os.path.join(SRC, "data/anaconda.conf"))
