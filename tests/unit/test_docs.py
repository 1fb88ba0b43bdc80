# SPDX-License-Identifier: GPL-2.0-or-later
"""The generated man page and bash completion match the CLI, and `make install` lays files out."""

from __future__ import annotations

import subprocess
import sys

from tests.repo import ROOT as REPO_ROOT

ROOT = REPO_ROOT


def test_generated_docs_are_current():
    """data/imgbase.8 and the completion are what make-docs generates from the parser now."""
    proc = subprocess.run([sys.executable, str(ROOT / "image-tools/make-docs"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def complete(words: list[str]) -> list[str]:
    """Ask the bash completion function for candidates after words."""
    line = " ".join(words)
    script = (f"source {ROOT / 'data/bash-completion/imgbase'}\n"
              f"COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; _imgbase; printf '%s\\n' \"${{COMPREPLY[@]}}\"")
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout.split()


def test_completion_offers_verbs_and_options():
    """Verbs at the top level, the verb's own options after it."""
    assert {"layout", "update", "rollback", "--dry"} <= set(complete(["imgbase", "''"]))
    assert complete(["imgbase", "up"]) == ["update"]
    assert set(complete(["imgbase", "--dry", "boot", "--"])) >= {"--once", "--set-default", "--confirm"}


def test_make_install_puts_the_addon_in_anacondas_paths(tmp_path):
    """make install DESTDIR=... installs the package and the D-Bus files where anaconda looks."""
    subprocess.run(["make", "-s", "-C", str(ROOT), "install", f"DESTDIR={tmp_path}"], check=True,
                   capture_output=True)
    addon = tmp_path / "usr/share/anaconda/addons/org_ovirt_imgbased"
    assert (addon / "service/__main__.py").is_file() and (addon / "tui/spokes/imgbased.py").is_file()
    assert (addon / "categories/imgbased.py").is_file() and not list(addon.rglob("__pycache__"))
    dbus = tmp_path / "usr/share/anaconda/dbus"
    assert (dbus / "services/org.fedoraproject.Anaconda.Addons.OvirtImgbased.service").is_file()
    assert (dbus / "confs/org.fedoraproject.Anaconda.Addons.OvirtImgbased.conf").is_file()
