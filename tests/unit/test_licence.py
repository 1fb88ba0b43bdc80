# SPDX-License-Identifier: GPL-2.0-or-later
"""The licence: a LICENSE file and an SPDX line at the top of every source file."""

from __future__ import annotations

import subprocess

from tests.repo import ROOT

SPDX = "SPDX-License-Identifier: GPL-2.0-or-later"


def source_files() -> list[str]:
    """Tracked Python files, scripts with a shebang, and Makefiles."""
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    found = []
    for name in filter(None, out.decode().split("\0")):
        path = ROOT / name
        if not path.is_file():
            continue
        head = path.read_bytes()[:2]
        if name.endswith(".py") or head == b"#!" or path.name == "Makefile":
            found.append(name)
    return found


def test_licence_file_and_spdx_lines():
    """LICENSE is the GPL version 2; every source file says GPL-2.0-or-later in its first lines."""
    licence = (ROOT / "LICENSE").read_text()
    assert "GNU GENERAL PUBLIC LICENSE" in licence and "Version 2, June 1991" in licence
    files = source_files()
    assert len(files) > 150
    missing = [f for f in files if SPDX not in "\n".join((ROOT / f).read_text(errors="replace").splitlines()[:3])]
    assert missing == []
