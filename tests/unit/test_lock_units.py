"""The imgbased lock (re-entrant, clear failure) and size parsing."""

from __future__ import annotations

import subprocess
import time

import pytest

from org_ovirt_imgbased.errors import ImgbaseError
from org_ovirt_imgbased.host.lock import locked
from org_ovirt_imgbased.units import human, parse_size


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


@pytest.mark.parametrize("text,value", [("512M", 512 << 20), ("1G", 1 << 30), ("1GiB", 1 << 30),
                                        ("1.5G", 3 << 29), ("10GB", 10**10), ("4096", 4096), ("2 T", 2 << 40)])
def test_parse_size(text, value):
    """Binary units by default, decimal with KB/MB/GB."""
    assert parse_size(text) == value


@pytest.mark.parametrize("bad", ["", "G", "-1G", "0", "1Q", "one"])
def test_parse_size_refuses(bad):
    """Nonsense sizes get a one-line hint."""
    with pytest.raises(ImgbaseError, match="bad size"):
        parse_size(bad)


def test_human():
    """Byte counts render with binary units."""
    assert (human(512), human(1536), human(3 << 30)) == ("512 B", "1.5 KiB", "3.0 GiB")
