# SPDX-License-Identifier: GPL-2.0-or-later
"""Helpers for the /etc merge tests: two image roots laid out from small file maps."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest

from org_ovirt_imgbased.host.persist import FACTORY_ETC, apply_plan, plan_etc
from org_ovirt_imgbased.runner import Runner

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="changing ownership needs root")
PASSWD = "root:x:0:0:root:/root:/bin/bash\npolkitd:x:997:997::/:/sbin/nologin\n"
GROUP = "root:x:0:\nwheel:x:10:\npolkitd:x:997:\n"
WANTS = "systemd/system/multi-user.target.wants"
V1 = {
    "passwd": PASSWD, "group": GROUP,
    "hosts": "127.0.0.1 localhost\n", "motd": "v1 motd\n", "chrony.conf": "pool v1\n",
    "ssh/sshd_config": "PermitRootLogin no\n", "obsolete.conf": "old\n",
    f"{WANTS}/chronyd.service": ("link", "/usr/lib/systemd/system/chronyd.service"),
    f"{WANTS}/sshd.service": ("link", "/usr/lib/systemd/system/sshd.service"),
    "lvm/lvm.conf": "devices { }\n",
}
V2 = {**V1, "motd": "v2 motd\n", "chrony.conf": "pool v2\n", "new-in-v2.conf": "hello\n"}


def put(root: Path, rel: str, spec) -> None:
    """Create one entry: text or bytes content, ('link', target) or ('dir', mode)."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(spec, tuple) and spec[0] == "link":
        os.symlink(spec[1], path)
    elif isinstance(spec, tuple) and spec[0] == "dir":
        path.mkdir(exist_ok=True)
        path.chmod(spec[1])
    else:
        path.write_bytes(spec.encode() if isinstance(spec, str) else spec)
        path.chmod(0o644)


def make_image(root: Path, files: dict, factory: bool = True) -> Path:
    """Lay out an image root: /etc and (optionally) its factory copy, same content."""
    for rel, spec in files.items():
        put(root / "etc", rel, spec)
        if factory:
            put(root / FACTORY_ETC, rel, spec)
    return root


def make_layers(tmp_path: Path) -> tuple[Path, Path]:
    """An old layer from V1 and a new one from V2."""
    return make_image(tmp_path / "old", V1), make_image(tmp_path / "new", V2)


def run(old: Path, new: Path, policy: str = "keep-local", persist=()):
    """Plan and apply with a real runner; return the report."""
    report = plan_etc(old, new, policy, persist=list(persist))
    apply_plan(report, old, new, Runner(out=io.StringIO()))
    return report


def actions(report) -> dict[str, str]:
    """Entry actions by path (account record notes left out)."""
    return {e.path: e.action for e in report.entries if e.action != "record"}


def snapshot(root: Path) -> dict:
    """Every entry under root with kind, metadata, content and mtime."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            data = None
            if stat.S_ISREG(st.st_mode):
                data = Path(path).read_bytes()
            elif stat.S_ISLNK(st.st_mode):
                data = os.readlink(path)
            out[path] = (st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns, data)
    return out
