# SPDX-License-Identifier: GPL-2.0-or-later
"""When a layer's new UUID can skip the full e2fsck."""

from __future__ import annotations

import subprocess

from org_ovirt_imgbased.host.storage.filesystem import is_clean

HEADER = """Filesystem state:         {state}
Filesystem features:      has_journal ext_attr extent 64bit {extra}metadata_csum
Last mount time:          {mounted}
Last checked:             Sun Nov 22 02:36:12 2026
"""


def header(state="clean", extra="", mounted="n/a") -> str:
    """A dumpe2fs -h excerpt."""
    return HEADER.format(state=state, extra=extra, mounted=mounted)


def test_clean_unmounted_or_checked_since_mount():
    """Never mounted, or checked after the last mount, and clean: no fsck needed."""
    assert is_clean(header())
    assert is_clean(header(mounted="Sun Nov 22 01:00:00 2026"))


def test_needs_fsck():
    """Not clean, a journal to replay, or mounted after the last check: fsck first."""
    assert not is_clean(header(state="not clean"))
    assert not is_clean(header(extra="needs_recovery "))
    assert not is_clean(header(mounted="Sun Nov 22 03:00:00 2026"))
    assert not is_clean("")


def test_real_fresh_filesystem_is_clean(tmp_path):
    """A filesystem fresh from mkfs.ext4 reads as clean through the real dumpe2fs."""
    img = tmp_path / "fs.img"
    subprocess.run(["mkfs.ext4", "-q", "-F", str(img), "16M"], check=True)
    out = subprocess.run(["dumpe2fs", "-h", str(img)], capture_output=True, text=True,
                         env={"LC_ALL": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}).stdout
    assert is_clean(out)
