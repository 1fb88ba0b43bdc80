"""The layering library imports with the standard library alone (no site-packages), as on a host."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ["cli", "layers", "update", "recover", "gc", "check", "diff", "bootloader", "persist", "image",
           "boothook", "hooks", "txn", "fstab", "chroot", "fetch"]


def test_library_needs_no_site_packages():
    """python -S (no site-packages at all) can import every library module and run --help."""
    code = "; ".join(f"import org_ovirt_imgbased.{m}" for m in LIBRARY)
    subprocess.run([sys.executable, "-S", "-c", code], cwd=ROOT, check=True)
    out = subprocess.run([sys.executable, "-S", "-m", "org_ovirt_imgbased", "--help"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    assert "update" in out and "rollback" in out
