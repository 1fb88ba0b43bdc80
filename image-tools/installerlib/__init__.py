"""installerlib: build the imgbased PXE installer (kernel, initramfs, live root) and lay out a PXE tree."""

from __future__ import annotations
