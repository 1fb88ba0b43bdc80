# SPDX-License-Identifier: GPL-2.0-or-later
"""Storage plumbing: LVM through the lvm2 CLI, pool and /boot space, filesystems, fstab, mounts."""
