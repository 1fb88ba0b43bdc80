# SPDX-License-Identifier: GPL-2.0-or-later
"""The imgbased lock: re-entrant in one process, a clear failure against another."""

from __future__ import annotations

import subprocess
import time

import pytest

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host.lock import locked


def test_lock_is_reentrant_in_one_process(tmp_path):
    """Nested use in one process does not deadlock."""
    path = tmp_path / "lock"
    with locked(path, wait=0.5), locked(path, wait=0.5):
        assert path.read_text().strip().isdigit()


def test_second_process_fails_clearly(tmp_path):
    """While another process holds the lock, we wait, then fail with a one-line message."""
    path = tmp_path / "lock"
    holder = subprocess.Popen(["flock", "-o", str(path), "sleep", "10"])
    try:
        time.sleep(0.3)
        with pytest.raises(ImgbaseError, match="another imgbase is running"), locked(path, wait=0.5):
            pass
    finally:
        holder.kill()
        holder.wait()
    with locked(path, wait=0.5):
        pass
