# SPDX-License-Identifier: GPL-2.0-or-later
"""Guest side: what anaconda expects at fixed paths, staged on a tmpfs and bound into place.

The outer process stages the addon (``make install DESTDIR=``), anaconda's D-Bus files,
start-module, anaconda.conf with the conf.d drop-ins, and the shims (a no-op mpathconf, a
libblockdev plugin configuration); the inner process, in its private mount namespace, binds
them over /usr/share/anaconda, /usr/libexec/anaconda and /etc/anaconda (``place_paths``).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

from tests.anaconda.guest_disk import sh

REPO = Path(__file__).resolve().parents[2]
# The installer root's drop-in: the modules an imgbased install runs, no SELinux (Debian).
TEST_DROPIN = REPO / "image-tools/installer-recipe/overlay/etc/anaconda/conf.d/99-imgbased-installer.conf"
# Where the inner process finds each staged directory (relative to the stage) at run time.
BIND_MOUNTS = [
    ("share", "/usr/share/anaconda"),
    ("libexec", "/usr/libexec/anaconda"),
    ("etc", "/etc/anaconda"),
]


def stage_tree(stage: Path, anaconda_src: Path) -> dict[str, Any]:
    """Build the staged /usr/share/anaconda, /usr/libexec/anaconda and /etc/anaconda trees."""
    dest = stage / "dest"
    sh("make", "-s", "-C", str(REPO), "install", f"DESTDIR={dest}")
    share = stage / "share"
    shutil.copytree(dest / "usr/share/anaconda", share)
    dbus = share / "dbus"
    shutil.copy2(anaconda_src / "data/dbus/anaconda-bus.conf", dbus / "anaconda-bus.conf")
    for f in sorted((anaconda_src / "data/dbus").glob("org.fedoraproject.Anaconda.*")):
        sub = "services" if f.suffix == ".service" else "confs"
        shutil.copy2(f, dbus / sub / f.name)
    libexec = stage / "libexec"
    libexec.mkdir()
    shutil.copy2(anaconda_src / "scripts/start-module", libexec / "start-module")
    (libexec / "start-module").chmod(0o755)
    etc = stage / "etc"
    (etc / "conf.d").mkdir(parents=True)
    shutil.copy2(anaconda_src / "data/anaconda.conf", etc / "anaconda.conf")
    product = sorted((dest / "etc/anaconda/conf.d").glob("90-imgbased*")) if (dest / "etc/anaconda/conf.d").is_dir() \
        else []
    for f in product:
        shutil.copy2(f, etc / "conf.d" / f.name)
    shutil.copy2(TEST_DROPIN, etc / "conf.d" / TEST_DROPIN.name)
    return {"dropins": sorted(p.name for p in (etc / "conf.d").iterdir()),
            "addon_files": sorted(str(p.relative_to(dest)) for p in (dest / "usr/share/anaconda/dbus").rglob("*.*"))}


def stage_shims(stage: Path) -> Path:
    """A bin directory for PATH: mpathconf is a no-op."""
    bindir = stage / "bin"
    bindir.mkdir()
    (bindir / "mpathconf").write_text("#!/bin/sh\n# Fedora-only tool blivet calls on every disk: no-op.\nexit 0\n")
    (bindir / "mpathconf").chmod(0o755)
    return bindir


def stage_blockdev_conf(stage: Path) -> Path:
    """A libblockdev config that lists the plain lvm plugin instead of lvm-dbus."""
    conf = stage / "libblockdev"
    conf.mkdir()
    default = Path("/etc/libblockdev/conf.d/00-default.cfg")
    text = default.read_text() if default.exists() else "[lvm]\nsonames=libbd_lvm.so.2\n"
    (conf / "00-default.cfg").write_text(text)
    return conf


def inner_env(stage: Path, anaconda_dir: Path) -> dict[str, str]:
    """The environment anaconda runs with."""
    env = dict(os.environ)
    env.update({
        # start-module runs `python3 -m MODULE`: this venv's python3 (dasbus, blivet, meh).
        "PATH": f"{stage / 'bin'}:{Path(sys.prefix) / 'bin'}:/usr/sbin:/usr/bin:/sbin:/bin",
        "PYTHONPATH": f"{anaconda_dir / 'src'}:/usr/share/anaconda/addons:{REPO}",
        "LOCPATH": str(anaconda_dir / "locale"),
        "LANG": "en_US.UTF-8",
        "LIBBLOCKDEV_CONFIG_DIR": str(stage / "libblockdev"),
        "TMPDIR": "/tmp",
    })
    # Bytecode: anaconda's is precompiled in its cache (image-tools/anaconda-env), the venv's by pip.
    env.pop("PYTHONPYCACHEPREFIX", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def place_paths(stage: Path) -> None:
    """Bind the staged trees over anaconda's fixed paths and /tmp to the stage's tmp directory.

    The stage is on the guest's /run (a tmpfs, safe for the bus socket): anaconda's logs in /tmp
    outlive the namespace, so the outer process finds them even when anaconda ended abruptly.
    """
    for rel, target in BIND_MOUNTS:
        os.makedirs(target, exist_ok=True)
        sh("mount", "--bind", str(stage / rel), target)
    tmp = stage / "tmp"
    tmp.mkdir(exist_ok=True)
    tmp.chmod(0o1777)
    sh("mount", "--bind", str(tmp), "/tmp")
