# SPDX-License-Identifier: GPL-2.0-or-later
"""imagelib: build the bootable test OS images and liveimg payloads (image-tools)."""

from __future__ import annotations
