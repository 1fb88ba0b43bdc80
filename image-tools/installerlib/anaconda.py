# SPDX-License-Identifier: GPL-2.0-or-later
"""The real anaconda 38 in the live installer root: its source, locale, fixed paths and shims.

anaconda runs from its source tree through PYTHONPATH (image-tools/anaconda-env unpacks it from
third_party with its generated version.py, bytecode and a compiled en_US.UTF-8 locale).  The
paths anaconda fixes are laid out as it expects them: /usr/share/anaconda/dbus (its bus
configuration and the Boss and module services), /usr/libexec/anaconda/start-module and
/etc/anaconda/anaconda.conf.  The launcher, anaconda-run, is a file of the recipe's overlay: it
imports pyanaconda, so it is installer content, not build library.  The addon is not here: it comes
with the updates image.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from imagelib.common import TOOLS_DIR, ImgbaseError, run

ANACONDA_ENV = TOOLS_DIR / "anaconda-env"
OUTCOME = Path(__file__).with_name("outcome.py")
# Inside the root.  stage2 sets PYTHONPATH, LOCPATH and LIBBLOCKDEV_CONFIG_DIR to these.
SRC_DIR = "usr/lib/imgbased-installer/anaconda"
LOCALE_DIR = "usr/lib/imgbased-installer/locale"
BLOCKDEV_DIR = "usr/lib/imgbased-installer/libblockdev"
DBUS_DIR = "usr/share/anaconda/dbus"
ADDONS_DIR = "usr/share/anaconda/addons"
# The launcher is the recipe's own file (overlay/usr/libexec/imgbased-installer/anaconda-run).
RUN_LAUNCHER = "usr/libexec/imgbased-installer/anaconda-run"
RUN_OUTCOME = "usr/libexec/imgbased-installer/outcome"
MPATHCONF = "usr/sbin/mpathconf"
MPATHCONF_SHIM = "#!/bin/sh\n# A Fedora-only tool blivet's scan calls on every disk; no multipath: a no-op.\nexit 0\n"
BLOCKDEV_DEFAULT = "etc/libblockdev/conf.d/00-default.cfg"
# What the import check loads: the launcher's calls and the modules dbus-daemon starts.
IMPORTS = ["meh", "dasbus", "blivet", "pykickstart", "simpleline", "langtable", "productmd", "rpm", "systemd",
           "pyanaconda.startup_utils", "pyanaconda.core.startup.dbus_launcher", "pyanaconda.payload.live",
           "pyanaconda.ui.lib.storage", "pyanaconda.installation", "pyanaconda.modules.boss.boss",
           "pyanaconda.modules.storage.storage", "pyanaconda.modules.payloads.payloads"]


def source_dir() -> Path:
    """The anaconda directory image-tools/anaconda-env prepared (src/ and locale/ inside)."""
    res = run([ANACONDA_ENV, "--print"], check=False)
    lines = res.stdout.strip().splitlines()
    if res.returncode != 0 or not lines:
        err = [ln for ln in res.stderr.splitlines() if ln.strip()]
        raise ImgbaseError(f"image-tools/anaconda-env failed: {err[-1] if err else 'no output'}")
    path = Path(lines[-1])
    for rel in ("src/pyanaconda/version.py", "src/data/dbus/anaconda-bus.conf", "locale/en_US.UTF-8"):
        if not (path / rel).exists():
            raise ImgbaseError(f"{path} has no {rel}: remove it and rerun image-tools/anaconda-env")
    return path


def plain_lvm(text: str) -> str:
    """A libblockdev configuration with lvm-dbus dropped from the [lvm] sonames (the plain plugin stays)."""
    out, section = [], ""
    for line in text.splitlines():
        head = re.match(r"\s*\[(\w+)\]", line)
        if head:
            section = head.group(1)
        elif section == "lvm" and line.strip().startswith("sonames="):
            names = [n for n in line.split("=", 1)[1].strip().split(";") if n and "lvm-dbus" not in n]
            line = "sonames=" + ";".join(names or ["libbd_lvm.so.2"])
        out.append(line)
    return "\n".join(out) + "\n"


def _copy(src: Path, dest: Path, mode: int = 0o644) -> None:
    """Copy one file into the root with mode."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dest)
    dest.chmod(mode)


def _write(dest: Path, text: str, mode: int = 0o644) -> None:
    """Write one file into the root with mode."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(text)
    dest.chmod(mode)


def add_fixed_paths(root: Path, src: Path) -> list[str]:
    """Lay out anaconda's bus configuration, the Boss and module services, start-module and anaconda.conf."""
    dbus = root / DBUS_DIR
    _copy(src / "data/dbus/anaconda-bus.conf", dbus / "anaconda-bus.conf")
    names = []
    for f in sorted((src / "data/dbus").glob("org.fedoraproject.Anaconda.*")):
        _copy(f, dbus / ("services" if f.suffix == ".service" else "confs") / f.name)
        names.append(f.name)
    _copy(src / "scripts/start-module", root / "usr/libexec/anaconda/start-module", 0o755)
    _copy(src / "data/anaconda.conf", root / "etc/anaconda/anaconda.conf")
    (root / ADDONS_DIR).mkdir(parents=True, exist_ok=True)
    return names


def add_shims(root: Path) -> None:
    """The no-op mpathconf and a libblockdev configuration naming the plain lvm plugin."""
    _write(root / MPATHCONF, MPATHCONF_SHIM, 0o755)
    default = root / BLOCKDEV_DEFAULT
    text = default.read_text() if default.is_file() else "[lvm]\nsonames=libbd_lvm.so.2\n"
    _write(root / BLOCKDEV_DIR / "00-default.cfg", plain_lvm(text))


def add_anaconda(root: Path) -> list[str]:
    """Put anaconda's source, locale, fixed paths, shims and the outcome helper into root."""
    env = source_dir()
    dest = root / SRC_DIR / "pyanaconda"
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(env / "src/pyanaconda", dest, symlinks=True)
    shutil.rmtree(root / LOCALE_DIR, ignore_errors=True)
    shutil.copytree(env / "locale", root / LOCALE_DIR, symlinks=True)
    services = add_fixed_paths(root, env / "src")
    add_shims(root)
    _copy(OUTCOME, root / RUN_OUTCOME, 0o755)
    return services


def import_check_argv() -> list[str]:
    """The command (inside the root) that imports what anaconda-run and the modules need."""
    return ["env", f"PYTHONPATH=/{SRC_DIR}:/{ADDONS_DIR}", f"LOCPATH=/{LOCALE_DIR}", "LANG=en_US.UTF-8",
            "python3", "-c", "import " + ", ".join(IMPORTS)]
