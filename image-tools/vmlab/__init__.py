# SPDX-License-Identifier: GPL-2.0-or-later
"""The VM lab: run commands or boot disks in qemu with Debian's kernel."""
