# SPDX-License-Identifier: GPL-2.0-or-later
"""installerlib: build the imgbased PXE installer (kernel, initramfs, live root) and lay out a PXE tree."""

from __future__ import annotations
